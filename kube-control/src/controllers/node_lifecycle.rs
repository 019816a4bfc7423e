//! The node-lifecycle controller (upstream's `NodeLifecycleController`, Lease-based): a node
//! whose Lease in `kube-node-lease` and Ready heartbeat stop changing for
//! `nodeMonitorGracePeriod` gets every condition `Unknown` (reason `NodeStatusUnknown`), its
//! pods' Ready condition `False` (`MarkPodsNotReady`), and the taints its conditions call for
//! (`TaintNodesByCondition` NoSchedule taints and the not-ready/unreachable NoExecute taints).
//! Taints the controller manages go again when the conditions clear.
//!
//! Like upstream, health is judged by when the controller last *saw* the Lease or the Ready
//! heartbeat change (a `tokio::time::Instant`, so tests run on a paused clock), never by the
//! timestamps written in them, so clock skew between nodes and the controller does not matter.
//!
//! Deliberate differences: NoExecute taints are applied at once to every unhealthy node; the
//! per-zone eviction rate limits (`--node-eviction-rate`, `--secondary-node-eviction-rate`,
//! `--unhealthy-zone-threshold`, the full-disruption mode) are not implemented.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, PodCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_api::client::runtime::{Clock, Scope, SharedClock, Store, SystemClock};
use kube_api::client::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::StockController;
use crate::context::ControllerContext;
use crate::controller::{Action, Controller, ObjectRef, default_error_policy};

/// The namespace of node Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// The taint of a node whose Ready condition is `Unknown`.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint of a node whose Ready condition is `False`.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint of a node under memory pressure.
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// The taint of a node under disk pressure.
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// The taint of a node under PID pressure.
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
/// The taint of a node whose network is unavailable.
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";
/// The taint of a node marked unschedulable (`spec.unschedulable`).
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Errors of a node reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing the node or one of its pods failed; the node is retried with back-off.
    #[error("updating {what}: {source}")]
    Write {
        /// What was being written.
        what: String,
        /// The client's error.
        #[source]
        source: kube_api::client::Error,
    },
}

/// The controller's settings (upstream's flags of the same names).
#[derive(Clone)]
pub struct Config {
    /// How long a node may go without a renewed Lease or Ready heartbeat before it is
    /// `Unknown` (`--node-monitor-grace-period`, default 40 s).
    pub node_monitor_grace_period: Duration,
    /// The wall clock stamped into conditions and taints (`lastTransitionTime`, `timeAdded`).
    pub clock: SharedClock,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            node_monitor_grace_period: Duration::from_secs(40),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("node_monitor_grace_period", &self.node_monitor_grace_period)
            .finish_non_exhaustive()
    }
}

/// The stock controller `node-lifecycle`, with the default [`Config`].
pub fn controller() -> StockController {
    StockController {
        name: "node-lifecycle",
        enabled_by_default: true,
        run: |ctx, token| Box::pin(run(ctx, token, Config::default())),
    }
}

/// What the controller last saw of a node's heartbeats, and when.
struct Health {
    observed: String,
    probe: Instant,
}

struct State {
    ctx: ControllerContext,
    config: Config,
    leases: Store<Lease>,
    pods: Store<Pod>,
    health: Mutex<BTreeMap<String, Health>>,
}

/// Runs node-lifecycle with `config` until `token` is cancelled.
pub async fn run(ctx: ControllerContext, token: CancellationToken, config: Config) {
    use futures::StreamExt;
    let leases = ctx
        .informer::<Lease>(Scope::namespace(NODE_LEASE_NAMESPACE))
        .store()
        .clone();
    let pods = ctx.informer::<Pod>(Scope::all()).store().clone();
    let client = ctx.client().clone();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        config,
        leases,
        pods,
        health: Mutex::new(BTreeMap::new()),
    });
    Controller::new(Api::<Node>::all(client.clone()), Scope::all())
        .named("node-lifecycle")
        .shared(ctx.informers())
        .watches(
            Api::<Lease>::namespaced(client, NODE_LEASE_NAMESPACE),
            Scope::namespace(NODE_LEASE_NAMESPACE),
            |lease: &Lease| {
                lease
                    .metadata
                    .name
                    .iter()
                    .map(|n| ObjectRef::new(n.clone()))
                    .collect()
            },
        )
        .graceful_shutdown(token)
        .run(reconcile, default_error_policy, state)
        .for_each(|_| async {})
        .await;
}

/// The heartbeat fingerprint of a node: its Lease's renew time and its Ready heartbeat.
fn fingerprint(node: &Node, lease: Option<&Lease>) -> String {
    let renew = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    let lease_rv = lease
        .and_then(|l| l.metadata.resource_version.clone())
        .unwrap_or_default();
    let heartbeat = condition(node, "Ready")
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    format!("{renew}|{lease_rv}|{heartbeat}")
}

fn condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

async fn reconcile(node: Arc<Node>, state: Arc<State>) -> Result<Action, Error> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let grace = state.config.node_monitor_grace_period;
    let lease = state.leases.get_by_name(Some(NODE_LEASE_NAMESPACE), &name);
    let seen = fingerprint(&node, lease.as_deref());
    let now = Instant::now();
    let probe = {
        let mut health = state.health.lock().unwrap_or_else(|e| e.into_inner());
        let h = health.entry(name.clone()).or_insert_with(|| Health {
            observed: seen.clone(),
            probe: now,
        });
        if h.observed != seen {
            h.observed = seen;
            h.probe = now;
        }
        h.probe
    };
    let silent_for = now.saturating_duration_since(probe);
    let mut node = (*node).clone();
    let mut next = Action::requeue(grace.saturating_sub(silent_for) + Duration::from_millis(1));
    if silent_for >= grace {
        next = Action::await_change();
        if mark_unknown(&mut node, &*state.config.clock) {
            let nodes: Api<Node> = Api::all(state.ctx.client().clone());
            node = nodes
                .replace_status(&name, &PostParams::default(), &node)
                .await
                .map_err(|source| Error::Write {
                    what: format!("the status of node {name}"),
                    source,
                })?;
            tracing::info!(node = %name, "node stopped posting status: conditions Unknown");
        }
        // Idempotent, so a failed pass is completed by the retry. The pod cache is no trigger
        // of this controller, so it may still be listing.
        if !state.pods.has_synced() {
            return Ok(Action::requeue(Duration::from_secs(1)));
        }
        mark_pods_not_ready(&state, &name).await?;
    }
    sync_taints(&state, &node).await?;
    Ok(next)
}

/// Sets every condition (and a missing Ready) `Unknown`, as upstream; whether anything changed.
fn mark_unknown(node: &mut Node, clock: &dyn Clock) -> bool {
    let now = Time(clock.now());
    let status = node.status.get_or_insert_with(Default::default);
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let mut changed = false;
    for type_ in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
        if !conditions.iter().any(|c| c.type_ == type_) {
            conditions.push(NodeCondition {
                type_: type_.to_owned(),
                status: "Unknown".to_owned(),
                reason: Some("NodeStatusNeverUpdated".to_owned()),
                message: Some("Kubelet never posted node status.".to_owned()),
                last_heartbeat_time: None,
                last_transition_time: Some(now.clone()),
            });
            changed = true;
        }
    }
    for c in conditions.iter_mut() {
        if c.status != "Unknown" {
            c.status = "Unknown".to_owned();
            c.reason = Some("NodeStatusUnknown".to_owned());
            c.message = Some("Kubelet stopped posting node status.".to_owned());
            c.last_transition_time = Some(now.clone());
            changed = true;
        }
    }
    changed
}

/// Upstream's `MarkPodsNotReady`: the Ready condition of every pod on the node goes `False`.
async fn mark_pods_not_ready(state: &State, node: &str) -> Result<(), Error> {
    let now = Time(state.config.clock.now());
    for pod in state.pods.list() {
        let spec_node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        if spec_node != Some(node) || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let mut pod = (*pod).clone();
        let Some(conditions) = pod.status.as_mut().and_then(|s| s.conditions.as_mut()) else {
            continue;
        };
        let mut changed = false;
        for c in conditions.iter_mut().filter(|c| c.type_ == "Ready") {
            if c.status != "False" {
                *c = PodCondition {
                    status: "False".to_owned(),
                    last_transition_time: Some(now.clone()),
                    ..c.clone()
                };
                changed = true;
            }
        }
        if !changed {
            continue;
        }
        let (ns, name) = (
            pod.metadata.namespace.clone().unwrap_or_default(),
            pod.metadata.name.clone().unwrap_or_default(),
        );
        let pods: Api<Pod> = Api::namespaced(state.ctx.client().clone(), &ns);
        match pods
            .replace_status(&name, &PostParams::default(), &pod)
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Some(404) => {}
            Err(source) => {
                return Err(Error::Write {
                    what: format!("the status of pod {ns}/{name}"),
                    source,
                });
            }
        }
    }
    Ok(())
}

/// The taints the conditions (and `spec.unschedulable`) of `node` call for.
pub fn desired_taints(node: &Node) -> Vec<(&'static str, &'static str)> {
    let mut taints = Vec::new();
    match condition(node, "Ready").map(|c| c.status.as_str()) {
        Some("False") => {
            taints.push((TAINT_NOT_READY, "NoSchedule"));
            taints.push((TAINT_NOT_READY, "NoExecute"));
        }
        Some("Unknown") => {
            taints.push((TAINT_UNREACHABLE, "NoSchedule"));
            taints.push((TAINT_UNREACHABLE, "NoExecute"));
        }
        _ => {}
    }
    for (type_, key) in [
        ("MemoryPressure", TAINT_MEMORY_PRESSURE),
        ("DiskPressure", TAINT_DISK_PRESSURE),
        ("PIDPressure", TAINT_PID_PRESSURE),
        ("NetworkUnavailable", TAINT_NETWORK_UNAVAILABLE),
    ] {
        if condition(node, type_).is_some_and(|c| c.status == "True") {
            taints.push((key, "NoSchedule"));
        }
    }
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        taints.push((TAINT_UNSCHEDULABLE, "NoSchedule"));
    }
    taints
}

fn managed(taint: &Taint) -> bool {
    [
        TAINT_UNREACHABLE,
        TAINT_NOT_READY,
        TAINT_MEMORY_PRESSURE,
        TAINT_DISK_PRESSURE,
        TAINT_PID_PRESSURE,
        TAINT_NETWORK_UNAVAILABLE,
        TAINT_UNSCHEDULABLE,
    ]
    .contains(&taint.key.as_str())
        && (taint.effect == "NoSchedule" || taint.effect == "NoExecute")
}

/// Makes the managed taints of `node` match its conditions, keeping every other taint.
async fn sync_taints(state: &State, node: &Node) -> Result<(), Error> {
    let current: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let desired = desired_taints(node);
    let mut next: Vec<Taint> = current
        .iter()
        .filter(|t| {
            !managed(t)
                || desired
                    .iter()
                    .any(|(k, e)| t.key == *k && t.effect == *e && t.value.is_none())
        })
        .cloned()
        .collect();
    for (key, effect) in desired {
        if !next.iter().any(|t| t.key == key && t.effect == effect) {
            next.push(Taint {
                key: key.to_owned(),
                effect: effect.to_owned(),
                value: None,
                time_added: (effect == "NoExecute").then(|| Time(state.config.clock.now())),
            });
        }
    }
    if next == current {
        return Ok(());
    }
    let name = node.metadata.name.clone().unwrap_or_default();
    tracing::info!(node = %name, taints = ?next.iter().map(|t| format!("{}:{}", t.key, t.effect)).collect::<Vec<_>>(), "node taints follow its conditions");
    let nodes: Api<Node> = Api::all(state.ctx.client().clone());
    nodes
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"resourceVersion": node.metadata.resource_version},
                "spec": {"taints": next},
            })),
        )
        .await
        .map_err(|source| Error::Write {
            what: format!("the taints of node {name}"),
            source,
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{NodeSpec, NodeStatus};

    use super::*;

    fn node(ready: &str, pressure: bool) -> Node {
        let cond = |t: &str, s: &str| NodeCondition {
            type_: t.into(),
            status: s.into(),
            ..NodeCondition::default()
        };
        Node {
            spec: Some(NodeSpec::default()),
            status: Some(NodeStatus {
                conditions: Some(vec![
                    cond("Ready", ready),
                    cond("MemoryPressure", if pressure { "True" } else { "False" }),
                ]),
                ..NodeStatus::default()
            }),
            ..Node::default()
        }
    }

    #[test]
    fn taints_follow_conditions() {
        assert_eq!(desired_taints(&node("True", false)), vec![]);
        assert_eq!(
            desired_taints(&node("Unknown", false)),
            vec![
                (TAINT_UNREACHABLE, "NoSchedule"),
                (TAINT_UNREACHABLE, "NoExecute")
            ]
        );
        assert_eq!(
            desired_taints(&node("False", true)),
            vec![
                (TAINT_NOT_READY, "NoSchedule"),
                (TAINT_NOT_READY, "NoExecute"),
                (TAINT_MEMORY_PRESSURE, "NoSchedule")
            ]
        );
    }

    #[test]
    fn unknown_marks_every_condition_once() {
        let mut n = node("True", false);
        let clock = SystemClock;
        assert!(mark_unknown(&mut n, &clock));
        let conditions = n.status.as_ref().unwrap().conditions.as_ref().unwrap();
        assert!(conditions.iter().all(|c| c.status == "Unknown"));
        let ready = condition(&n, "Ready").unwrap();
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert!(!mark_unknown(&mut n, &clock));
    }
}
