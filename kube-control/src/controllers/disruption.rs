//! The disruption controller (upstream's `DisruptionController`): keeps each
//! PodDisruptionBudget's status current — `expectedPods`, `currentHealthy`, `desiredHealthy`,
//! `disruptionsAllowed`, `disruptedPods`, `observedGeneration` and the `DisruptionAllowed`
//! condition — from the pods its selector matches and the scale of their controllers. The
//! eviction subresource reads that status and takes disruptions from it.
//!
//! - `minAvailable` as an integer: `desiredHealthy` is it, `expectedPods` the matching pods.
//! - `maxUnavailable`, or `minAvailable` as a percentage: `expectedPods` is the summed scale
//!   of the pods' controllers (ReplicaSet — its Deployment's when it has one —,
//!   ReplicationController, StatefulSet); percentages round up.
//! - A pod counts as healthy when Ready and not being deleted, and not recorded in
//!   `disruptedPods` (evicted, its deletion not yet seen) within the last two minutes.
//!
//! Deliberate difference: a matching pod without a controller counts as a scale of one
//! (upstream refuses to compute such a budget's percentage and reports `SyncFailed`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube_api::client::runtime::{Scope, SharedClock, Store, SystemClock};
use kube_api::client::{Api, PostParams};
use kube_core::selector::LabelSelector;
use tokio_util::sync::CancellationToken;

use super::StockController;
use super::int_or_percent;
use crate::context::ControllerContext;
use crate::controller::{Action, Controller, ObjectRef, default_error_policy};
use crate::owner::controller_of;

/// How long an eviction recorded in `disruptedPods` is waited for (upstream's
/// `DeletionTimeout`).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

/// Errors of a budget reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a controller's scale or writing the status failed; retried with back-off.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The client's error.
        #[source]
        source: kube_api::client::Error,
    },
    /// `minAvailable` or `maxUnavailable` is neither an integer nor a percentage.
    #[error("budget {budget}: {source}")]
    Spec {
        /// `namespace/name` of the budget.
        budget: String,
        /// Why.
        #[source]
        source: int_or_percent::Error,
    },
}

/// The stock controller `disruption`.
pub fn controller() -> StockController {
    StockController {
        name: "disruption",
        enabled_by_default: true,
        run: |ctx, token| Box::pin(run(ctx, token)),
    }
}

struct State {
    ctx: ControllerContext,
    pods: Store<Pod>,
    clock: SharedClock,
}

fn selector_of(pdb: &PodDisruptionBudget) -> LabelSelector {
    // As upstream, a nil or empty selector matches no pod.
    LabelSelector::from_api(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()))
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(LabelSelector::nothing)
}

/// Runs the controller until `token` is cancelled.
pub async fn run(ctx: ControllerContext, token: CancellationToken) {
    use futures::StreamExt;
    let client = ctx.client().clone();
    let pods = ctx.informer::<Pod>(Scope::all()).store().clone();
    let pdbs = ctx
        .informer::<PodDisruptionBudget>(Scope::all())
        .store()
        .clone();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        pods,
        clock: Arc::new(SystemClock),
    });
    Controller::new(
        Api::<PodDisruptionBudget>::all(client.clone()),
        Scope::all(),
    )
    .named("disruption")
    .shared(ctx.informers())
    .watches(Api::<Pod>::all(client), Scope::all(), move |pod: &Pod| {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        pdbs.list_namespace(ns)
            .iter()
            .filter(|pdb| selector_of(pdb).matches(&labels))
            .map(|pdb| ObjectRef::from_meta(&pdb.metadata))
            .collect()
    })
    .concurrency(2)
    .graceful_shutdown(token)
    .run(reconcile, default_error_policy, state)
    .for_each(|_| async {})
    .await;
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The summed scale of the controllers of `pods` (a pod without one counts 1).
async fn expected_scale(state: &State, ns: &str, pods: &[Arc<Pod>]) -> Result<i32, Error> {
    let client = state.ctx.client().clone();
    let mut controllers: BTreeMap<(String, String), i32> = BTreeMap::new();
    let mut orphans = 0;
    let api_err = |what: String| move |source| Error::Api { what, source };
    for pod in pods {
        let Some(owner) = controller_of(&pod.metadata) else {
            orphans += 1;
            continue;
        };
        let mut key = (owner.kind.clone(), owner.name.clone());
        if controllers.contains_key(&key) {
            continue;
        }
        let scale = match owner.kind.as_str() {
            "ReplicaSet" => {
                let rs = Api::<ReplicaSet>::namespaced(client.clone(), ns)
                    .get_opt(&owner.name)
                    .await
                    .map_err(api_err(format!("reading replicaset {ns}/{}", owner.name)))?;
                match rs {
                    None => 0,
                    Some(rs) => {
                        match controller_of(&rs.metadata).filter(|o| o.kind == "Deployment") {
                            Some(d) => {
                                key = ("Deployment".into(), d.name.clone());
                                if controllers.contains_key(&key) {
                                    continue;
                                }
                                Api::<Deployment>::namespaced(client.clone(), ns)
                                    .get_opt(&d.name)
                                    .await
                                    .map_err(api_err(format!(
                                        "reading deployment {ns}/{}",
                                        d.name
                                    )))?
                                    .and_then(|d| d.spec.replicas)
                                    .unwrap_or(1)
                            }
                            None => rs.spec.replicas.unwrap_or(1),
                        }
                    }
                }
            }
            "StatefulSet" => Api::<StatefulSet>::namespaced(client.clone(), ns)
                .get_opt(&owner.name)
                .await
                .map_err(api_err(format!("reading statefulset {ns}/{}", owner.name)))?
                .and_then(|s| s.spec.replicas)
                .unwrap_or(1),
            "ReplicationController" => Api::<ReplicationController>::namespaced(client.clone(), ns)
                .get_opt(&owner.name)
                .await
                .map_err(api_err(format!(
                    "reading replicationcontroller {ns}/{}",
                    owner.name
                )))?
                .and_then(|s| s.spec.and_then(|s| s.replicas))
                .unwrap_or(1),
            _ => {
                orphans += 1;
                continue;
            }
        };
        controllers.insert(key, scale);
    }
    Ok(controllers.values().sum::<i32>() + orphans)
}

async fn reconcile(pdb: Arc<PodDisruptionBudget>, state: Arc<State>) -> Result<Action, Error> {
    let ns = pdb.metadata.namespace.clone().unwrap_or_default();
    let name = pdb.metadata.name.clone().unwrap_or_default();
    let budget = format!("{ns}/{name}");
    let selector = selector_of(&pdb);
    let pods: Vec<Arc<Pod>> = state
        .pods
        .list_namespace(&ns)
        .into_iter()
        .filter(|p| selector.matches(&p.metadata.labels.clone().unwrap_or_default()))
        .collect();
    let spec = pdb.spec.clone().unwrap_or_default();
    let spec_err = |source| Error::Spec {
        budget: budget.clone(),
        source,
    };
    let (expected, desired) = match (&spec.max_unavailable, &spec.min_available) {
        (Some(max), _) => {
            let expected = expected_scale(&state, &ns, &pods).await?;
            let max = int_or_percent::scaled(max, expected, true).map_err(spec_err)?;
            (expected, (expected - max).max(0))
        }
        (None, Some(IntOrString::Int(min))) => (i32::try_from(pods.len()).unwrap_or(0), *min),
        (None, Some(min)) => {
            let expected = expected_scale(&state, &ns, &pods).await?;
            (
                expected,
                int_or_percent::scaled(min, expected, true).map_err(spec_err)?,
            )
        }
        (None, None) => (i32::try_from(pods.len()).unwrap_or(0), 0),
    };

    // Evictions recorded by the eviction subresource whose deletion has not shown yet.
    let now = state.clock.now();
    let timeout = SignedDuration::try_from(DELETION_TIMEOUT).unwrap_or(SignedDuration::ZERO);
    let old = pdb.status.clone().unwrap_or_default();
    let mut disrupted: BTreeMap<String, Time> = BTreeMap::new();
    let mut next_check: Option<Timestamp> = None;
    for (pod_name, at) in old.disrupted_pods.iter().flatten() {
        let pod = pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(pod_name.as_str()));
        let Some(pod) = pod else { continue };
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let expires = at.0.checked_add(timeout).unwrap_or(at.0);
        if expires <= now {
            continue;
        }
        next_check = Some(next_check.map_or(expires, |n| n.min(expires)));
        disrupted.insert(pod_name.clone(), at.clone());
    }
    let healthy = i32::try_from(
        pods.iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && is_ready(p)
                    && !disrupted.contains_key(p.metadata.name.as_deref().unwrap_or_default())
            })
            .count(),
    )
    .unwrap_or(0);
    let allowed = (healthy - desired).max(0);
    let generation = pdb.metadata.generation;
    let (cond_status, reason) = if allowed > 0 {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    let mut conditions = old.conditions.clone().unwrap_or_default();
    let previous = conditions.iter().find(|c| c.type_ == "DisruptionAllowed");
    let transition = previous
        .filter(|c| c.status == cond_status)
        .map_or_else(|| Time(now), |c| c.last_transition_time.clone());
    conditions.retain(|c| c.type_ != "DisruptionAllowed");
    conditions.push(Condition {
        type_: "DisruptionAllowed".into(),
        status: cond_status.into(),
        reason: reason.into(),
        message: String::new(),
        observed_generation: generation,
        last_transition_time: transition,
    });
    let status = PodDisruptionBudgetStatus {
        current_healthy: Some(healthy),
        desired_healthy: Some(desired),
        disruptions_allowed: Some(allowed),
        expected_pods: Some(expected),
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        observed_generation: generation,
        conditions: Some(conditions),
    };
    let requeue = next_check.map(|at| {
        let d = at.duration_since(now);
        Duration::try_from(d).unwrap_or_default() + Duration::from_millis(1)
    });
    if pdb.status.as_ref() != Some(&status) {
        let mut next = (*pdb).clone();
        next.status = Some(status);
        Api::<PodDisruptionBudget>::namespaced(state.ctx.client().clone(), &ns)
            .replace_status(&name, &PostParams::default(), &next)
            .await
            .map_err(|source| Error::Api {
                what: format!("updating the status of budget {budget}"),
                source,
            })?;
    }
    // Scales of controllers are read, not watched: look again now and then.
    Ok(Action::requeue(
        requeue.map_or(Duration::from_secs(30), |r| r.min(Duration::from_secs(30))),
    ))
}
