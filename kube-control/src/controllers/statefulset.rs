//! The statefulset controller (upstream's `StatefulSetController`): pods with stable names
//! `<set>-<ordinal>`, each with its claims `<claim>-<set>-<ordinal>` from the
//! `volumeClaimTemplates` (the PersistentVolumeClaim objects only; binding them is a
//! provisioner's business).
//!
//! - `OrderedReady` (the default): pods are created in ordinal order, each once the ones below
//!   it are Running and Ready, and removed from the highest ordinal down, one at a time and only
//!   while the rest are Running and Ready; `Parallel` creates and removes them all at once.
//! - Pods carry `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index` and
//!   `controller-revision-hash` (the name of the ControllerRevision of their template).
//! - `RollingUpdate` (the default) replaces, from the highest ordinal down to `partition`, one
//!   pod at a time, the pods not at the update revision, each once the others are Running and
//!   Ready; ordinals below the partition keep (and are recreated at) the current revision.
//!   `OnDelete` only recreates deleted pods at the update revision.
//! - Status: `replicas`, `readyReplicas`, `availableReplicas` (ready for `minReadySeconds`),
//!   `currentReplicas`, `updatedReplicas`, `currentRevision`, `updateRevision`,
//!   `observedGeneration`, `collisionCount`; `currentRevision` becomes the update revision once
//!   every pod is updated and ready, which is what `kubectl rollout status` waits for.
//!
//! Deliberate differences: `maxUnavailable` in the rolling update (an alpha feature upstream)
//! is not implemented (one pod at a time), nor the `persistentVolumeClaimRetentionPolicy`
//! (claims are always retained).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::jiff::Timestamp;
use kube_api::client::runtime::{Scope, Store};
use kube_api::client::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::StockController;
use super::history::{self, REVISION_HASH_LABEL};
use crate::context::ControllerContext;
use crate::controller::{Action, Controller, default_error_policy};
use crate::owner::{controller_owner_ref, is_controlled_by};

/// The label with a StatefulSet pod's name.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label with a StatefulSet pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// Errors of a StatefulSet reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pod, claim or status write failed; retried with back-off.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The client's error.
        #[source]
        source: kube_api::client::Error,
    },
    /// Revision bookkeeping failed.
    #[error(transparent)]
    History(#[from] history::Error),
    /// The set has no uid or name (it was not read from the server).
    #[error(transparent)]
    Owner(#[from] crate::owner::Error),
    /// A revision's data holds no pod template.
    #[error("controllerrevision {0} holds no pod template")]
    BadRevision(String),
}

/// The stock controller `statefulset`.
pub fn controller() -> StockController {
    StockController {
        name: "statefulset",
        enabled_by_default: true,
        run: |ctx, token| Box::pin(run(ctx, token)),
    }
}

struct State {
    ctx: ControllerContext,
    pods: Store<Pod>,
    revisions: Store<ControllerRevision>,
}

/// Runs the controller until `token` is cancelled.
pub async fn run(ctx: ControllerContext, token: CancellationToken) {
    use futures::StreamExt;
    let client = ctx.client().clone();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        pods: ctx.informer::<Pod>(Scope::all()).store().clone(),
        revisions: ctx
            .informer::<ControllerRevision>(Scope::all())
            .store()
            .clone(),
    });
    Controller::new(Api::<StatefulSet>::all(client.clone()), Scope::all())
        .named("statefulset")
        .shared(ctx.informers())
        .owns(Api::<Pod>::all(client.clone()), Scope::all())
        .owns(Api::<ControllerRevision>::all(client), Scope::all())
        .concurrency(2)
        .graceful_shutdown(token)
        .run(reconcile, default_error_policy, state)
        .for_each(|_| async {})
        .await;
}

/// Whether the pod is Running and Ready (upstream's `isRunningAndReady`).
pub fn running_and_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && status
            .into_iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Whether the pod has been Ready for `min_ready` by the wall clock `now`.
pub fn available(pod: &Pod, min_ready: Duration, now: Timestamp) -> bool {
    if !running_and_ready(pod) {
        return false;
    }
    if min_ready.is_zero() {
        return true;
    }
    pod.status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .find(|c| c.type_ == "Ready")
        .and_then(|c| c.last_transition_time.as_ref())
        .is_some_and(|t| {
            t.0.checked_add(min_ready)
                .is_ok_and(|ready_at| ready_at <= now)
        })
}

fn terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn failed(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
}

fn revision_of(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(REVISION_HASH_LABEL)
        .map(String::as_str)
}

/// The revision data of a template, as upstream's `getPatch` stores it.
fn revision_data(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut t {
        m.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

fn template_of(revision: &ControllerRevision) -> Result<PodTemplateSpec, Error> {
    let name = revision.metadata.name.clone().unwrap_or_default();
    let mut t = revision
        .data
        .0
        .pointer("/spec/template")
        .cloned()
        .ok_or_else(|| Error::BadRevision(name.clone()))?;
    if let Value::Object(m) = &mut t {
        m.remove("$patch");
    }
    serde_json::from_value(t).map_err(|_| Error::BadRevision(name))
}

fn ordinal_of(set: &str, pod: &Pod) -> Option<i32> {
    pod.metadata
        .name
        .as_deref()?
        .strip_prefix(set)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

/// The pod of ordinal `ord` from `template` at `revision`.
fn new_pod(
    set: &StatefulSet,
    template: &PodTemplateSpec,
    revision: &str,
    ord: i32,
) -> Result<Pod, Error> {
    let set_name = set.metadata.name.clone().unwrap_or_default();
    let name = format!("{set_name}-{ord}");
    let mut meta = template.metadata.clone().unwrap_or_default();
    let mut labels = meta.labels.take().unwrap_or_default();
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ord.to_string());
    labels.insert(REVISION_HASH_LABEL.into(), revision.to_owned());
    meta.labels = Some(labels);
    meta.name = Some(name.clone());
    meta.generate_name = None;
    meta.namespace = set.metadata.namespace.clone();
    meta.owner_references = Some(vec![controller_owner_ref(set)?]);
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.hostname = Some(name.clone());
    spec.subdomain = set.spec.service_name.clone().filter(|s| !s.is_empty());
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    for claim in set.spec.volume_claim_templates.iter().flatten() {
        let claim_name = claim.metadata.name.clone().unwrap_or_default();
        volumes.retain(|v| v.name != claim_name);
        volumes.push(Volume {
            name: claim_name.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: format!("{claim_name}-{name}"),
                read_only: None,
            }),
            ..Volume::default()
        });
    }
    if volumes.is_empty() {
        spec.volumes = None;
    }
    Ok(Pod {
        metadata: meta,
        spec: Some(spec),
        status: None,
    })
}

/// Creates the claims of ordinal `ord` that do not exist yet.
async fn ensure_claims(state: &State, set: &StatefulSet, ord: i32) -> Result<(), Error> {
    let ns = set.metadata.namespace.clone().unwrap_or_default();
    let set_name = set.metadata.name.clone().unwrap_or_default();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(state.ctx.client().clone(), &ns);
    let selector_labels = set.spec.selector.match_labels.clone().unwrap_or_default();
    for template in set.spec.volume_claim_templates.iter().flatten() {
        let claim = template.metadata.name.clone().unwrap_or_default();
        let name = format!("{claim}-{set_name}-{ord}");
        let mut pvc = template.clone();
        pvc.metadata.name = Some(name.clone());
        pvc.metadata.namespace = Some(ns.clone());
        pvc.metadata.resource_version = None;
        pvc.metadata.uid = None;
        let mut labels = pvc.metadata.labels.take().unwrap_or_default();
        labels.extend(selector_labels.clone());
        pvc.metadata.labels = Some(labels);
        pvc.status = None;
        match api.create(&PostParams::default(), &pvc).await {
            Ok(_) => {}
            Err(e) if e.code() == Some(409) => {}
            Err(source) => {
                return Err(Error::Api {
                    what: format!("creating claim {ns}/{name}"),
                    source,
                });
            }
        }
    }
    Ok(())
}

async fn reconcile(set: Arc<StatefulSet>, state: Arc<State>) -> Result<Action, Error> {
    if set.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = set.metadata.namespace.clone().unwrap_or_default();
    let name = set.metadata.name.clone().unwrap_or_default();
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let client = state.ctx.client().clone();
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let spec = &set.spec;
    let status = set.status.clone().unwrap_or_default();

    // Revisions: the update revision is the current template's.
    let existing = history::owned(&state.revisions, &ns, &uid);
    let update = history::ensure(
        &client,
        &ns,
        &name,
        controller_owner_ref(&*set)?,
        spec.selector.match_labels.clone().unwrap_or_default(),
        revision_data(&spec.template),
        status.collision_count,
        &existing,
    )
    .await?;
    let update_name = update.metadata.name.clone().unwrap_or_default();
    let current = status
        .current_revision
        .as_deref()
        .and_then(|c| {
            existing
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(c))
                .map(|r| (**r).clone())
        })
        .unwrap_or_else(|| update.clone());
    let current_name = current.metadata.name.clone().unwrap_or_default();
    let update_template = template_of(&update)?;
    let current_template = template_of(&current)?;

    let replicas = spec.replicas.unwrap_or(1);
    let start = spec.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0);
    let parallel = spec.pod_management_policy.as_deref() == Some("Parallel");
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let on_delete = strategy.type_.as_deref() == Some("OnDelete");
    let partition = strategy
        .rolling_update
        .as_ref()
        .and_then(|r| r.partition)
        .unwrap_or(0);

    let mut pods: BTreeMap<i32, Arc<Pod>> = BTreeMap::new();
    for pod in state.pods.list_namespace(&ns) {
        if !is_controlled_by(&pod.metadata, &set.metadata) {
            continue;
        }
        if let Some(ord) = ordinal_of(&name, &pod) {
            pods.insert(ord, pod);
        }
    }

    let mut blocked = false;
    // Create (and replace failed) pods of the wanted ordinals, in order.
    for ord in start..start + replicas {
        match pods.get(&ord) {
            Some(pod) if failed(pod) && !terminating(pod) => {
                delete_pod(&pods_api, pod).await?;
                blocked = true;
                if !parallel {
                    break;
                }
            }
            Some(pod) => {
                if !parallel && (!running_and_ready(pod) || terminating(pod)) {
                    blocked = true;
                    break;
                }
            }
            None => {
                let (template, revision) = if !on_delete && ord - start < partition {
                    (&current_template, &current_name)
                } else {
                    (&update_template, &update_name)
                };
                ensure_claims(&state, &set, ord).await?;
                let pod = new_pod(&set, template, revision, ord)?;
                match pods_api.create(&PostParams::default(), &pod).await {
                    Ok(_) => {}
                    Err(e) if e.code() == Some(409) => {}
                    Err(source) => {
                        return Err(Error::Api {
                            what: format!("creating pod {ns}/{name}-{ord}"),
                            source,
                        });
                    }
                }
                blocked = true;
                if !parallel {
                    break;
                }
            }
        }
    }

    // Remove condemned pods, the highest ordinal first.
    if !blocked || parallel {
        let condemned: Vec<&Arc<Pod>> = pods
            .iter()
            .rev()
            .filter(|(ord, _)| **ord < start || **ord >= start + replicas)
            .map(|(_, p)| p)
            .collect();
        for pod in condemned {
            if terminating(pod) {
                if !parallel {
                    blocked = true;
                    break;
                }
                continue;
            }
            delete_pod(&pods_api, pod).await?;
            blocked = true;
            if !parallel {
                break;
            }
        }
    }

    // Rolling update: the highest ordinal not at the update revision, once the rest are
    // Running and Ready.
    if !blocked && !on_delete {
        for ord in (start + partition..start + replicas).rev() {
            let Some(pod) = pods.get(&ord) else { break };
            if revision_of(pod) != Some(update_name.as_str()) {
                if !terminating(pod) {
                    tracing::info!(pod = ?pod.metadata.name, revision = %update_name, "rolling update: replacing pod");
                    delete_pod(&pods_api, pod).await?;
                }
                break;
            }
            if !running_and_ready(pod) {
                break;
            }
        }
    }

    // Status.
    let min_ready =
        Duration::from_secs(u64::try_from(spec.min_ready_seconds.unwrap_or(0)).unwrap_or(0));
    let now = kube_api::client::runtime::Clock::now(&kube_api::client::runtime::SystemClock);
    let mut st = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        collision_count: status.collision_count,
        conditions: status.conditions.clone(),
        ..StatefulSetStatus::default()
    };
    let (mut ready, mut avail, mut cur, mut upd) = (0, 0, 0, 0);
    for pod in pods.values() {
        st.replicas += 1;
        if running_and_ready(pod) {
            ready += 1;
        }
        if available(pod, min_ready, now) {
            avail += 1;
        }
        if !terminating(pod) {
            if revision_of(pod) == Some(current_name.as_str()) {
                cur += 1;
            }
            if revision_of(pod) == Some(update_name.as_str()) {
                upd += 1;
            }
        }
    }
    st.ready_replicas = Some(ready);
    st.available_replicas = Some(avail);
    st.current_replicas = Some(cur);
    st.updated_replicas = Some(upd);
    st.current_revision = Some(current_name.clone());
    st.update_revision = Some(update_name.clone());
    // The rollout is complete: the update revision becomes current.
    if upd == replicas && ready == replicas && st.replicas == replicas {
        st.current_revision = Some(update_name.clone());
        st.current_replicas = Some(upd);
    }
    if set.status.as_ref() != Some(&st) {
        let mut next = (*set).clone();
        next.status = Some(st.clone());
        Api::<StatefulSet>::namespaced(client.clone(), &ns)
            .replace_status(&name, &PostParams::default(), &next)
            .await
            .map_err(|source| Error::Api {
                what: format!("updating the status of statefulset {ns}/{name}"),
                source,
            })?;
    }

    // History: keep revisionHistoryLimit unused revisions.
    let mut live: Vec<String> = pods
        .values()
        .filter_map(|p| revision_of(p).map(str::to_owned))
        .collect();
    live.push(update_name);
    live.extend(st.current_revision.clone());
    let limit = usize::try_from(spec.revision_history_limit.unwrap_or(10)).unwrap_or(10);
    history::prune(
        &client,
        &ns,
        &history::owned(&state.revisions, &ns, &uid),
        &live,
        limit,
    )
    .await?;

    if avail < ready {
        // Look again when the ready pods become available.
        return Ok(Action::requeue(min_ready.max(Duration::from_secs(1))));
    }
    Ok(Action::await_change())
}

async fn delete_pod(api: &Api<Pod>, pod: &Pod) -> Result<(), Error> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(404) => Ok(()),
        Err(source) => Err(Error::Api {
            what: format!("deleting pod {name}"),
            source,
        }),
    }
}
