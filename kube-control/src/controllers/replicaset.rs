//! The replicaset controller (upstream's `pkg/controller/replicaset`): keeps `spec.replicas`
//! active pods matching each ReplicaSet's selector, owned by it, and reports their counts in
//! its status.
//!
//! Informers on ReplicaSets and pods feed one work queue of ReplicaSet keys. A sync claims the
//! pods (adopting matching orphans, releasing pods that stopped matching), creates missing pods
//! in slow-start batches or deletes surplus ones in upstream's preference order, and writes
//! the status. [`Expectations`] hold a ReplicaSet back until the informer has seen its own
//! creations and deletions, so a slow watch never makes it act twice.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::join_all;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube_api::client::runtime::{HandlerFuncs, Scope, Store};
use kube_api::client::workqueue::RateLimitingQueue;
use kube_api::client::{Api, DeleteParams, PostParams};
use kube_core::selector::label::LabelSelector;
use tokio_util::sync::CancellationToken;

use super::StockController;
use super::common::{
    self, Error, Expectations, Result, claim, controller_of, controller_ref, is_not_found,
    is_pod_active, is_pod_available, is_pod_ready, key_of, labels, pod_from_template, split_key,
};
use crate::context::ControllerContext;

/// The most pods one sync creates or deletes (upstream's `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;
/// Workers (upstream's `--concurrent-replicaset-syncs` default).
const WORKERS: usize = 5;

/// The stock controller entry.
pub fn controller() -> StockController {
    StockController {
        name: "replicaset",
        enabled_by_default: true,
        run: |ctx, shutdown| run(ctx, shutdown).boxed(),
    }
}

struct Shared {
    ctx: ControllerContext,
    rs: Store<ReplicaSet>,
    pods: Store<Pod>,
    expectations: Expectations,
    queue: RateLimitingQueue<String>,
}

impl Shared {
    /// The ReplicaSet a controller reference names, if cached with that uid.
    fn resolve(&self, namespace: &str, meta_ref: &OwnerReference) -> Option<Arc<ReplicaSet>> {
        if meta_ref.kind != "ReplicaSet" {
            return None;
        }
        self.rs
            .get_by_name(Some(namespace), &meta_ref.name)
            .filter(|rs| rs.metadata.uid.as_deref() == Some(meta_ref.uid.as_str()))
    }

    /// The ReplicaSets of the pod's namespace whose selector matches the pod.
    fn matching(&self, pod: &Pod) -> Vec<Arc<ReplicaSet>> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let pod_labels = labels(&pod.metadata);
        self.rs
            .list_namespace(ns)
            .into_iter()
            .filter(|rs| selector_of(rs).is_ok_and(|s| !s.is_empty() && s.matches(&pod_labels)))
            .collect()
    }

    fn enqueue(&self, rs: &ReplicaSet) {
        self.queue.add(key_of(rs));
    }

    fn on_pod_add(&self, pod: &Arc<Pod>) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        if common::is_deleting(&pod.metadata) {
            self.on_pod_delete(pod);
            return;
        }
        if let Some(r) = controller_of(&pod.metadata) {
            if let Some(rs) = self.resolve(ns, r) {
                self.expectations.creation_observed(&key_of(rs.as_ref()));
                self.enqueue(&rs);
            }
            return;
        }
        for rs in self.matching(pod) {
            self.enqueue(&rs);
        }
    }

    fn on_pod_update(&self, old: &Arc<Pod>, new: &Arc<Pod>) {
        if old.metadata.resource_version == new.metadata.resource_version {
            return;
        }
        let ns = new.metadata.namespace.as_deref().unwrap_or_default();
        if common::is_deleting(&new.metadata) {
            self.on_pod_delete(new);
            if old.metadata.labels != new.metadata.labels {
                self.on_pod_delete(old);
            }
            return;
        }
        let old_ref = controller_of(&old.metadata);
        let new_ref = controller_of(&new.metadata);
        if old_ref.map(|r| &r.uid) != new_ref.map(|r| &r.uid)
            && let Some(rs) = old_ref.and_then(|r| self.resolve(ns, r))
        {
            self.enqueue(&rs);
        }
        match new_ref {
            Some(r) => {
                if let Some(rs) = self.resolve(ns, r) {
                    self.enqueue(&rs);
                    let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
                    if min_ready > 0 && !is_pod_ready(old) && is_pod_ready(new) {
                        self.queue.add_after(
                            key_of(rs.as_ref()),
                            Duration::from_secs(min_ready as u64 + 1),
                        );
                    }
                }
            }
            None => {
                if old.metadata.labels != new.metadata.labels || old_ref.is_some() {
                    for rs in self.matching(new) {
                        self.enqueue(&rs);
                    }
                }
            }
        }
    }

    fn on_pod_delete(&self, pod: &Arc<Pod>) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        if let Some(rs) = controller_of(&pod.metadata).and_then(|r| self.resolve(ns, r)) {
            let rs_key = key_of(rs.as_ref());
            self.expectations
                .deletion_observed(&rs_key, &key_of(pod.as_ref()));
            self.queue.add(rs_key);
        }
    }
}

/// The ReplicaSet's selector (upstream: a nil selector selects nothing).
fn selector_of(rs: &ReplicaSet) -> Result<LabelSelector> {
    LabelSelector::from_api(Some(&rs.spec.selector))
        .map_err(|e| Error::Invalid(format!("invalid selector: {e}")))
}

/// Runs the controller until `shutdown`.
pub async fn run(ctx: ControllerContext, shutdown: CancellationToken) {
    let rs_informer = ctx.informer::<ReplicaSet>(Scope::all());
    let pod_informer = ctx.informer::<Pod>(Scope::all());
    common::add_controller_index(pod_informer.store());
    let shared = Arc::new(Shared {
        rs: rs_informer.store().clone(),
        pods: pod_informer.store().clone(),
        ctx: ctx.clone(),
        expectations: Expectations::default(),
        queue: RateLimitingQueue::named(
            "replicaset",
            kube_api::client::workqueue::default_controller_rate_limiter(),
        ),
    });
    let (a, u, d) = (shared.clone(), shared.clone(), shared.clone());
    let rs_reg = rs_informer.add_event_handler(
        HandlerFuncs::new()
            .on_add(move |rs: &Arc<ReplicaSet>, _| a.enqueue(rs))
            .on_update(move |_, rs: &Arc<ReplicaSet>| u.enqueue(rs))
            .on_delete(move |deleted| {
                let key = key_of(deleted.object().as_ref());
                d.expectations.delete(&key);
                d.queue.add(key);
            }),
    );
    let (a, u, d) = (shared.clone(), shared.clone(), shared.clone());
    let pod_reg = pod_informer.add_event_handler(
        HandlerFuncs::new()
            .on_add(move |p: &Arc<Pod>, _| a.on_pod_add(p))
            .on_update(move |o: &Arc<Pod>, n: &Arc<Pod>| u.on_pod_update(o, n))
            .on_delete(move |deleted| d.on_pod_delete(deleted.object())),
    );
    ctx.informers().start();
    let synced = async {
        rs_informer.wait_for_sync().await;
        pod_informer.wait_for_sync().await;
    };
    if common::wait_for_sync(&shutdown, synced).await {
        let s = shared.clone();
        common::run_workers(
            "replicaset",
            shared.queue.clone(),
            WORKERS,
            shutdown,
            move |key| {
                let s = s.clone();
                async move { sync(&s, &key).await }
            },
        )
        .await;
    }
    rs_reg.remove();
    pod_reg.remove();
}

async fn sync(s: &Shared, key: &str) -> Result<()> {
    let Some(rs) = s.rs.get(key) else {
        s.expectations.delete(key);
        return Ok(());
    };
    let (ns, name) = split_key(key);
    let selector = selector_of(&rs)?;
    let needs_sync = s.expectations.satisfied(key) && !common::is_deleting(&rs.metadata);
    let uid = rs.metadata.uid.as_deref().unwrap_or_default();
    let candidates: Vec<Arc<Pod>> = common::controlled_or_orphans(&s.pods, ns, uid)
        .into_iter()
        .filter(|p| is_pod_active(p))
        .collect();
    let client = s.ctx.client().clone();
    let pods = claim(
        |ns| Api::<Pod>::namespaced(client.clone(), ns),
        &Api::<ReplicaSet>::namespaced(client.clone(), ns),
        rs.as_ref(),
        &selector,
        candidates,
    )
    .await?;
    let manage = if needs_sync {
        manage_replicas(s, &rs, &pods).await
    } else {
        Ok(())
    };
    let now = s.ctx.now();
    let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
    let status = calculate_status(&rs, &pods, manage.as_ref().err(), now);
    let api: Api<ReplicaSet> = Api::namespaced(s.ctx.client().clone(), ns);
    let updated = if rs.status.as_ref() != Some(&status) {
        let mut new = (*rs).clone();
        new.status = Some(status.clone());
        match api.replace_status(name, &PostParams::default(), &new).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        status
    } else {
        status
    };
    manage?;
    let replicas = rs.spec.replicas.unwrap_or(1);
    if min_ready > 0
        && updated.ready_replicas.unwrap_or(0) == replicas
        && updated.available_replicas.unwrap_or(0) != replicas
    {
        s.queue
            .add_after(key.to_owned(), Duration::from_secs(min_ready as u64));
    }
    Ok(())
}

async fn manage_replicas(s: &Shared, rs: &Arc<ReplicaSet>, pods: &[Arc<Pod>]) -> Result<()> {
    let key = key_of(rs.as_ref());
    let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
    let rs_name = rs.metadata.name.as_deref().unwrap_or_default();
    let spec = &rs.spec;
    let replicas = spec.replicas.unwrap_or(1).max(0) as usize;
    let api: Api<Pod> = Api::namespaced(s.ctx.client().clone(), ns);
    let recorder = s.ctx.recorder("replicaset-controller");
    if pods.len() < replicas {
        let diff = (replicas - pods.len()).min(BURST_REPLICAS);
        let template = spec
            .template
            .clone()
            .ok_or_else(|| Error::Invalid("no pod template".into()))?;
        let pod = pod_from_template(&template, ns, rs_name, controller_ref(rs.as_ref()));
        s.expectations.expect_creations(&key, diff);
        // Slow start: batches of 1, 2, 4, ... so a failing create costs one call, not 500.
        let mut remaining = diff;
        let mut batch = 1;
        let mut errors = Vec::new();
        let post = PostParams::default();
        while remaining > 0 {
            let n = batch.min(remaining);
            let results = join_all((0..n).map(|_| api.create(&post, &pod))).await;
            let mut failed = 0;
            for r in results {
                match r {
                    Ok(created) => recorder.event_for(
                        rs.as_ref(),
                        kube_api::client::runtime::EventType::Normal,
                        "SuccessfulCreate",
                        "Create",
                        format!("Created pod: {}", created.metadata.name.unwrap_or_default()),
                    ),
                    Err(e) => {
                        failed += 1;
                        s.expectations.creation_observed(&key);
                        recorder.event_for(
                            rs.as_ref(),
                            kube_api::client::runtime::EventType::Warning,
                            "FailedCreate",
                            "Create",
                            format!("Error creating: {e}"),
                        );
                        errors.push(Error::Api(e));
                    }
                }
            }
            remaining -= n;
            if failed > 0 {
                // The skipped creations will never be observed.
                for _ in 0..remaining {
                    s.expectations.creation_observed(&key);
                }
                break;
            }
            batch *= 2;
        }
        return common::aggregate(errors).map_or(Ok(()), Err);
    }
    if pods.len() > replicas {
        let diff = (pods.len() - replicas).min(BURST_REPLICAS);
        let victims = pods_to_delete(pods, &related_pods(s, rs), diff);
        s.expectations
            .expect_deletions(&key, victims.iter().map(|p| key_of(p.as_ref())));
        let results = join_all(victims.iter().map(|p| {
            let name = p.metadata.name.clone().unwrap_or_default();
            let api = api.clone();
            async move { (api.delete(&name, &DeleteParams::default()).await, name) }
        }))
        .await;
        let mut errors = Vec::new();
        for ((r, name), p) in results.into_iter().zip(&victims) {
            match r {
                Ok(_) => recorder.event_for(
                    rs.as_ref(),
                    kube_api::client::runtime::EventType::Normal,
                    "SuccessfulDelete",
                    "Delete",
                    format!("Deleted pod: {name}"),
                ),
                Err(e) => {
                    s.expectations.deletion_observed(&key, &key_of(p.as_ref()));
                    if !is_not_found(&e) {
                        errors.push(Error::Api(e));
                    }
                }
            }
        }
        return common::aggregate(errors).map_or(Ok(()), Err);
    }
    Ok(())
}

/// The active pods of the ReplicaSet's namespace controlled by ReplicaSets with the same
/// controller (the ReplicaSet's siblings of one Deployment), for the node-spread rank.
fn related_pods(s: &Shared, rs: &ReplicaSet) -> Vec<Arc<Pod>> {
    let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
    let owner = controller_of(&rs.metadata).map(|r| r.uid.clone());
    let uids: Vec<String> = s
        .rs
        .list_namespace(ns)
        .into_iter()
        .filter(|o| {
            o.metadata.uid == rs.metadata.uid
                || (owner.is_some() && controller_of(&o.metadata).map(|r| r.uid.clone()) == owner)
        })
        .filter_map(|o| o.metadata.uid.clone())
        .collect();
    uids.iter()
        .flat_map(|uid| common::controlled_or_orphans(&s.pods, ns, uid))
        .filter(|p| is_pod_active(p))
        .filter(|p| controller_of(&p.metadata).is_some_and(|r| uids.contains(&r.uid)))
        .collect()
}

/// The `count` pods to delete first, in upstream's order (`ActivePodsWithRanks`): unassigned
/// before assigned; pending, unknown, then running; not ready before ready; more related pods
/// on the same node first; ready for less time first; more restarts first; newer first.
/// Differs from upstream: no logarithmic bucketing of ready times; names break ties.
pub fn pods_to_delete(pods: &[Arc<Pod>], related: &[Arc<Pod>], count: usize) -> Vec<Arc<Pod>> {
    let mut on_node: BTreeMap<&str, usize> = BTreeMap::new();
    for p in related {
        if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            *on_node.entry(n).or_default() += 1;
        }
    }
    let node = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty())
    };
    let phase_rank = |p: &Pod| match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 3,
    };
    let restarts = |p: &Pod| -> i32 {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map(|c| c.iter().map(|c| c.restart_count).sum())
            .unwrap_or(0)
    };
    let mut sorted: Vec<Arc<Pod>> = pods.to_vec();
    sorted.sort_by(|a, b| {
        let (na, nb) = (node(a), node(b));
        na.is_some()
            .cmp(&nb.is_some())
            .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
            .then_with(|| is_pod_ready(a).cmp(&is_pod_ready(b)))
            .then_with(|| {
                let ra = na
                    .as_deref()
                    .and_then(|n| on_node.get(n))
                    .copied()
                    .unwrap_or(0);
                let rb = nb
                    .as_deref()
                    .and_then(|n| on_node.get(n))
                    .copied()
                    .unwrap_or(0);
                rb.cmp(&ra)
            })
            .then_with(|| {
                let ta = common::pod_ready_since(a).flatten();
                let tb = common::pod_ready_since(b).flatten();
                match (ta, tb) {
                    (Some(ta), Some(tb)) => tb.cmp(&ta),
                    _ => Ordering::Equal,
                }
            })
            .then_with(|| restarts(b).cmp(&restarts(a)))
            .then_with(|| {
                let ca = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
                let cb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
                cb.cmp(&ca)
            })
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    sorted.truncate(count);
    sorted
}

/// The status a sync reports (upstream's `calculateStatus`).
fn calculate_status(
    rs: &ReplicaSet,
    pods: &[Arc<Pod>],
    manage_error: Option<&Error>,
    now: k8s_openapi::jiff::Timestamp,
) -> ReplicaSetStatus {
    let template_labels = rs
        .spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .map(labels)
        .unwrap_or_default();
    let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
    let fully_labeled = pods
        .iter()
        .filter(|p| {
            let l = labels(&p.metadata);
            template_labels.iter().all(|(k, v)| l.get(k) == Some(v))
        })
        .count() as i32;
    let ready = pods.iter().filter(|p| is_pod_ready(p)).count() as i32;
    let available = pods
        .iter()
        .filter(|p| is_pod_available(p, min_ready, now))
        .count() as i32;
    let mut conditions: Vec<ReplicaSetCondition> = rs
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let failure = conditions
        .iter()
        .position(|c| c.type_.as_deref() == Some("ReplicaFailure"));
    match manage_error {
        Some(e) if failure.is_none() => {
            let replicas = rs.spec.replicas.unwrap_or(1);
            let reason = if (pods.len() as i32) < replicas {
                "FailedCreate"
            } else {
                "FailedDelete"
            };
            conditions.push(ReplicaSetCondition {
                type_: Some("ReplicaFailure".into()),
                status: Some("True".into()),
                reason: Some(reason.into()),
                message: Some(e.to_string()),
                last_transition_time: Some(Time(now)),
            });
        }
        None => {
            if let Some(i) = failure {
                conditions.remove(i);
            }
        }
        _ => {}
    }
    ReplicaSetStatus {
        replicas: pods.len() as i32,
        fully_labeled_replicas: Some(fully_labeled),
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        observed_generation: rs.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
        terminating_replicas: rs.status.as_ref().and_then(|s| s.terminating_replicas),
    }
}
