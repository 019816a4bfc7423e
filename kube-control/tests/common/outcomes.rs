//! Test helpers shared by the stock controllers' tests: a stand-in kubelet that plays the
//! nodes, and a poll-until helper. Both run on `tokio::time`, so paused-clock tests drive
//! them.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, Pod,
    PodCondition,
};
use kube_api::client::{Api, Client, DeleteParams, ListParams, PostParams};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What the kubelet does with a pod once it runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Runs (Ready) until deleted.
    RunForever,
    /// Runs for the given time, then exits 0.
    Succeed(Duration),
    /// Runs for the given time, then exits with the code.
    Fail(Duration, i32),
}

/// What the kubelet saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// When each pod (by name) was first started.
    pub started: BTreeMap<String, Instant>,
    /// The most pods running at once.
    pub max_running: usize,
}

/// A stand-in kubelet for every pod of one namespace, bound or not: it starts pending pods
/// (phase Running, Ready, a pod IP), finishes them as `decide` says, and completes the
/// deletion of bound pods being deleted (as a kubelet does after their grace period).
pub struct Kubelet {
    task: JoinHandle<()>,
    seen: Arc<Mutex<Seen>>,
}

impl Kubelet {
    /// Starts playing the kubelet for `namespace`, polling every 100 ms.
    pub fn start(
        client: Client,
        namespace: &str,
        decide: impl Fn(&Pod) -> Outcome + Send + Sync + 'static,
    ) -> Self {
        let api: Api<Pod> = Api::namespaced(client, namespace);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut next_ip = 1u32;
            let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
            loop {
                if let Ok(list) = api.list(&ListParams::default()).await {
                    let mut running = 0;
                    for pod in list.items {
                        let name = pod.metadata.name.clone().unwrap_or_default();
                        let phase = pod
                            .status
                            .as_ref()
                            .and_then(|s| s.phase.clone())
                            .unwrap_or_default();
                        let terminal = phase == "Succeeded" || phase == "Failed";
                        if pod.metadata.deletion_timestamp.is_some() {
                            let bound = pod
                                .spec
                                .as_ref()
                                .and_then(|s| s.node_name.as_ref())
                                .is_some();
                            if bound && !terminal {
                                let force = DeleteParams {
                                    grace_period_seconds: Some(0),
                                    ..DeleteParams::default()
                                };
                                let _ = api.delete(&name, &force).await;
                            }
                            continue;
                        }
                        if terminal {
                            continue;
                        }
                        running += 1;
                        let started = s.lock().unwrap().started.get(&name).copied();
                        match started {
                            None => {
                                let outcome = decide(&pod);
                                outcomes.insert(name.clone(), outcome);
                                let ip = format!("10.244.{}.{}", next_ip / 250, next_ip % 250 + 1);
                                next_ip += 1;
                                if set_status(&api, pod, "Running", Some(ip), None).await {
                                    s.lock().unwrap().started.insert(name, Instant::now());
                                }
                            }
                            Some(at) => {
                                let (after, code) = match outcomes.get(&name) {
                                    Some(Outcome::Succeed(d)) => (*d, 0),
                                    Some(Outcome::Fail(d, c)) => (*d, *c),
                                    _ => continue,
                                };
                                if at.elapsed() >= after {
                                    let phase = if code == 0 { "Succeeded" } else { "Failed" };
                                    set_status(&api, pod, phase, None, Some(code)).await;
                                }
                            }
                        }
                    }
                    let mut seen = s.lock().unwrap();
                    seen.max_running = seen.max_running.max(running);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { task, seen }
    }

    /// What the kubelet saw so far.
    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Writes the pod's phase (Running with `ip`, or terminated with `exit_code`); false on a
/// conflict.
pub async fn set_status(
    api: &Api<Pod>,
    mut pod: Pod,
    phase: &str,
    ip: Option<String>,
    exit_code: Option<i32>,
) -> bool {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let containers: Vec<String> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let running = phase == "Running";
    let status = pod.status.get_or_insert_default();
    status.phase = Some(phase.to_owned());
    if let Some(ip) = ip {
        status.pod_ip = Some(ip);
    }
    let ready = if running { "True" } else { "False" };
    status.conditions = Some(vec![PodCondition {
        type_: "Ready".into(),
        status: ready.into(),
        ..PodCondition::default()
    }]);
    status.container_statuses = Some(
        containers
            .into_iter()
            .map(|c| ContainerStatus {
                name: c,
                ready: running,
                state: Some(if running {
                    ContainerState {
                        running: Some(ContainerStateRunning::default()),
                        ..ContainerState::default()
                    }
                } else {
                    ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            exit_code: exit_code.unwrap_or(0),
                            ..ContainerStateTerminated::default()
                        }),
                        ..ContainerState::default()
                    }
                }),
                ..ContainerStatus::default()
            })
            .collect(),
    );
    api.replace_status(&name, &PostParams::default(), &pod)
        .await
        .is_ok()
}

/// Polls `probe` every 100 ms until it returns `Some`, for at most `timeout`; panics with
/// `what` otherwise.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
