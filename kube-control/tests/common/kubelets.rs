//! Test helpers that play the parts no controller plays: the kubelets of a few nodes (and,
//! for pods no one placed, the scheduler).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeStatus, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube_api::client::{Api, Client, DeleteParams, ListParams, PostParams, Request};
use serde_json::json;
use tokio::time::Instant;

/// Waits (on the paused clock) until `check` holds, failing after a minute of virtual time.
pub async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the async `check` holds.
pub async fn until_async<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(600);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The wall clock as a paused tokio clock moves it.
pub fn wall(origin: Instant) -> Timestamp {
    let base = Timestamp::from_second(1_800_000_000).unwrap();
    base.checked_add(origin.elapsed()).unwrap()
}

/// A set of kubelets, each alive or stopped, working every second of (virtual) time: an alive
/// one keeps its Node Ready and its Lease renewed, runs the pods bound to it (Running, Ready)
/// and finishes deleting them; unbound pods are bound to the first alive node whose name their
/// required node affinity allows. A stopped one does nothing.
#[derive(Clone)]
pub struct Kubelets {
    client: Client,
    alive: Arc<Mutex<BTreeMap<String, bool>>>,
    origin: Instant,
    /// Pods the kubelets do not make Ready (by name), to hold an ordered rollout.
    pub hold_ready: Arc<Mutex<Vec<String>>>,
}

impl Kubelets {
    /// Starts the kubelets' loop (no nodes yet).
    pub fn start(client: Client) -> Self {
        let k = Self {
            client,
            alive: Arc::default(),
            origin: Instant::now(),
            hold_ready: Arc::default(),
        };
        let run = k.clone();
        tokio::spawn(async move {
            loop {
                run.tick().await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        k
    }

    /// Registers (or revives) node `name` and waits until it is Ready.
    pub async fn add_node(&self, name: &str) {
        self.add_node_with(name, |_| {}).await;
    }

    /// Registers node `name` after `edit` shapes it, and waits until it is Ready.
    pub async fn add_node_with(&self, name: &str, edit: impl FnOnce(&mut Node)) {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let mut node = Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some([("kubernetes.io/hostname".to_owned(), name.to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Node::default()
        };
        edit(&mut node);
        nodes.create(&PostParams::default(), &node).await.unwrap();
        self.set_alive(name, true);
        self.tick().await;
    }

    /// Stops (or restarts) the kubelet of `name`.
    pub fn set_alive(&self, name: &str, alive: bool) {
        self.alive.lock().unwrap().insert(name.to_owned(), alive);
    }

    fn alive_nodes(&self) -> Vec<String> {
        let alive = self.alive.lock().unwrap();
        alive
            .iter()
            .filter(|(_, a)| **a)
            .map(|(n, _)| n.clone())
            .collect()
    }

    async fn tick(&self) {
        let now = wall(self.origin);
        let alive = self.alive_nodes();
        for name in &alive {
            let _ = self.heartbeat(name, now).await;
        }
        let _ = self.run_pods(&alive, now).await;
    }

    async fn heartbeat(&self, name: &str, now: Timestamp) -> kube_api::client::Result<()> {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), "kube-node-lease");
        let spec = LeaseSpec {
            holder_identity: Some(name.into()),
            lease_duration_seconds: Some(40),
            renew_time: Some(MicroTime(now)),
            ..LeaseSpec::default()
        };
        match leases.get_opt(name).await? {
            Some(mut lease) => {
                lease.spec = Some(spec);
                leases.replace(name, &PostParams::default(), &lease).await?;
            }
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.into()),
                        namespace: Some("kube-node-lease".into()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec),
                };
                leases.create(&PostParams::default(), &lease).await?;
            }
        }
        let nodes: Api<Node> = Api::all(self.client.clone());
        let mut node = nodes.get(name).await?;
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        if !ready {
            let cond = |t: &str, s: &str, reason: &str| NodeCondition {
                type_: t.into(),
                status: s.into(),
                reason: Some(reason.into()),
                last_heartbeat_time: Some(Time(now)),
                last_transition_time: Some(Time(now)),
                ..NodeCondition::default()
            };
            node.status = Some(NodeStatus {
                conditions: Some(vec![
                    cond("Ready", "True", "KubeletReady"),
                    cond("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                    cond("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                    cond("PIDPressure", "False", "KubeletHasSufficientPID"),
                ]),
                ..node.status.unwrap_or_default()
            });
            nodes
                .replace_status(name, &PostParams::default(), &node)
                .await?;
        }
        Ok(())
    }

    async fn run_pods(&self, alive: &[String], now: Timestamp) -> kube_api::client::Result<()> {
        let all: Api<Pod> = Api::all(self.client.clone());
        let hold = self.hold_ready.lock().unwrap().clone();
        for pod in all.list(&ListParams::default()).await?.items {
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
            let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
            match node {
                None => {
                    if let Some(target) = alive.iter().find(|n| affinity_allows(&pod, n)) {
                        let binding = json!({
                            "apiVersion": "v1", "kind": "Binding",
                            "metadata": {"name": name, "namespace": ns},
                            "target": {"apiVersion": "v1", "kind": "Node", "name": target},
                        });
                        let request = Request::for_resource(
                            "",
                            "v1",
                            &format!("pods/{name}/binding"),
                            Some(&ns),
                        )
                        .create(
                            &PostParams::default(),
                            serde_json::to_vec(&binding).unwrap(),
                        )?;
                        let _ = self.client.request_bytes(request).await;
                    }
                }
                Some(node) if alive.contains(&node) => {
                    if pod.metadata.deletion_timestamp.is_some() {
                        let _ = pods
                            .delete(
                                &name,
                                &DeleteParams {
                                    grace_period_seconds: Some(0),
                                    ..DeleteParams::default()
                                },
                            )
                            .await;
                        continue;
                    }
                    let ready = !hold.contains(&name);
                    let status = pod.status.clone().unwrap_or_default();
                    let is_ready = status
                        .conditions
                        .iter()
                        .flatten()
                        .any(|c| c.type_ == "Ready" && c.status == "True");
                    if status.phase.as_deref() == Some("Running") && is_ready == ready {
                        continue;
                    }
                    let mut pod = pod;
                    let cond = |t: &str, s: bool| PodCondition {
                        type_: t.into(),
                        status: if s { "True" } else { "False" }.into(),
                        last_transition_time: Some(Time(now)),
                        ..PodCondition::default()
                    };
                    let mut st = status;
                    st.phase = Some("Running".into());
                    st.start_time = st.start_time.or(Some(Time(now)));
                    st.conditions = Some(vec![
                        cond("PodScheduled", true),
                        cond("Initialized", true),
                        cond("ContainersReady", ready),
                        cond("Ready", ready),
                    ]);
                    pod.status = Some(st);
                    let _ = pods
                        .replace_status(&name, &PostParams::default(), &pod)
                        .await;
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// Whether `pod`'s required node affinity on `metadata.name` (if any) allows `node`.
fn affinity_allows(pod: &Pod, node: &str) -> bool {
    let terms = pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|r| r.node_selector_terms.clone());
    let Some(terms) = terms else { return true };
    terms.iter().any(|t| {
        t.match_fields
            .iter()
            .flatten()
            .all(|f| f.key != "metadata.name" || f.values.iter().flatten().any(|v| v == node))
    })
}

/// A change a pod watch reported, as [`follow`] hands it on.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// A new pod.
    Added(&'a Pod),
    /// A live pod changed.
    Modified(&'a Pod),
    /// A pod was deleted or began terminating.
    Gone(&'a Pod),
}

/// Follows the pods' watch from the list `start`, handing `check` the live (not terminating)
/// pods by name after every change, until `check` says it is done. Unlike polling on a paused
/// clock (where virtual time can jump while a request is in flight), no state is missed.
pub async fn follow(
    pods: &Api<Pod>,
    start: k8s_openapi::List<Pod>,
    mut check: impl FnMut(&BTreeMap<String, Pod>, Change<'_>) -> bool,
) {
    use futures::StreamExt;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent;
    let rv = start.metadata.resource_version.clone().unwrap();
    let mut live: BTreeMap<String, Pod> = start
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| (p.metadata.name.clone().unwrap(), p))
        .collect();
    let mut events = pods
        .watch(&kube_api::client::WatchParams::default().after(&rv))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let event = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("timed out following the pods")
            .expect("the watch ended")
            .unwrap();
        let (pod, deleted) = match event {
            WatchEvent::Added(p) | WatchEvent::Modified(p) => (p, false),
            WatchEvent::Deleted(p) => (p, true),
            _ => continue,
        };
        let name = pod.metadata.name.clone().unwrap();
        let done = if deleted || pod.metadata.deletion_timestamp.is_some() {
            if live.remove(&name).is_none() {
                continue;
            }
            check(&live, Change::Gone(&pod))
        } else if live.insert(name, pod.clone()).is_some() {
            check(&live, Change::Modified(&pod))
        } else {
            check(&live, Change::Added(&pod))
        };
        if done {
            return;
        }
    }
}
