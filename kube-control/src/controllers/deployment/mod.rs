//! The deployment controller (upstream's `pkg/controller/deployment`): rolls each Deployment's
//! pods from ReplicaSet to ReplicaSet.
//!
//! Informers on Deployments, ReplicaSets and pods feed one work queue of Deployment keys. A
//! sync claims the ReplicaSets (adopting and releasing as the selector says), then either only
//! scales (paused, or `spec.replicas` changed: proportionally across the ReplicaSets of a
//! rollout), or rolls (RollingUpdate within maxSurge and maxUnavailable, or
//! Recreate), keeps `revisionHistoryLimit` old ReplicaSets, and reports status and the
//! Available and Progressing conditions that `kubectl rollout status` reads. The new
//! ReplicaSet is `<deployment>-<pod-template-hash>`; a rollback (the template set back to an
//! old one) finds that old ReplicaSet again and gives it the next revision.

mod rollout;
pub mod util;

use std::sync::Arc;

use futures::FutureExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube_api::client::runtime::{HandlerFuncs, Scope, Store};
use kube_api::client::workqueue::{RateLimitingQueue, default_controller_rate_limiter};
use kube_core::selector::label::LabelSelector;
use tokio_util::sync::CancellationToken;

use super::StockController;
use super::common::{self, Error, Result, controller_of, key_of, labels};
use crate::context::ControllerContext;

/// Workers (upstream's `--concurrent-deployment-syncs` default).
const WORKERS: usize = 5;

/// The stock controller entry.
pub fn controller() -> StockController {
    StockController {
        name: "deployment",
        enabled_by_default: true,
        run: |ctx, shutdown| run(ctx, shutdown).boxed(),
    }
}

struct Shared {
    ctx: ControllerContext,
    deployments: Store<Deployment>,
    rs: Store<ReplicaSet>,
    pods: Store<Pod>,
    queue: RateLimitingQueue<String>,
}

fn selector_of(d: &Deployment) -> Result<LabelSelector> {
    LabelSelector::from_api(Some(&d.spec.selector))
        .map_err(|e| Error::Invalid(format!("invalid selector: {e}")))
}

impl Shared {
    fn resolve(&self, namespace: &str, r: &OwnerReference) -> Option<Arc<Deployment>> {
        if r.kind != "Deployment" {
            return None;
        }
        self.deployments
            .get_by_name(Some(namespace), &r.name)
            .filter(|d| d.metadata.uid.as_deref() == Some(r.uid.as_str()))
    }

    fn enqueue_matching(&self, rs: &ReplicaSet) {
        let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
        let l = labels(&rs.metadata);
        for d in self.deployments.list_namespace(ns) {
            if selector_of(&d).is_ok_and(|s| !s.is_empty() && s.matches(&l)) {
                self.queue.add(key_of(d.as_ref()));
            }
        }
    }

    fn on_rs(&self, rs: &ReplicaSet) {
        let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
        match controller_of(&rs.metadata) {
            Some(r) => {
                if let Some(d) = self.resolve(ns, r) {
                    self.queue.add(key_of(d.as_ref()));
                }
            }
            None if !common::is_deleting(&rs.metadata) => self.enqueue_matching(rs),
            None => {}
        }
    }

    fn on_rs_update(&self, old: &ReplicaSet, new: &ReplicaSet) {
        if old.metadata.resource_version == new.metadata.resource_version {
            return;
        }
        let (o, n) = (controller_of(&old.metadata), controller_of(&new.metadata));
        if o.map(|r| &r.uid) != n.map(|r| &r.uid) {
            self.on_rs(old);
        }
        if n.is_some() || old.metadata.labels != new.metadata.labels || o.is_some() {
            self.on_rs(new);
        }
    }

    fn on_pod_delete(&self, pod: &Pod) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let Some(r) = controller_of(&pod.metadata).filter(|r| r.kind == "ReplicaSet") else {
            return;
        };
        let Some(rs) = self.rs.get_by_name(Some(ns), &r.name) else {
            return;
        };
        if let Some(d) = controller_of(&rs.metadata).and_then(|r| self.resolve(ns, r))
            && !util::is_rolling_update(&d)
        {
            self.queue.add(key_of(d.as_ref()));
        }
    }
}

/// Runs the controller until `shutdown`.
pub async fn run(ctx: ControllerContext, shutdown: CancellationToken) {
    let d_informer = ctx.informer::<Deployment>(Scope::all());
    let rs_informer = ctx.informer::<ReplicaSet>(Scope::all());
    let pod_informer = ctx.informer::<Pod>(Scope::all());
    common::add_controller_index(rs_informer.store());
    let shared = Arc::new(Shared {
        ctx: ctx.clone(),
        deployments: d_informer.store().clone(),
        rs: rs_informer.store().clone(),
        pods: pod_informer.store().clone(),
        queue: RateLimitingQueue::named("deployment", default_controller_rate_limiter()),
    });
    let (a, u, d) = (shared.clone(), shared.clone(), shared.clone());
    let d_reg = d_informer.add_event_handler(
        HandlerFuncs::new()
            .on_add(move |o: &Arc<Deployment>, _| a.queue.add(key_of(o.as_ref())))
            .on_update(move |_, o: &Arc<Deployment>| u.queue.add(key_of(o.as_ref())))
            .on_delete(move |o| d.queue.add(key_of(o.object().as_ref()))),
    );
    let (a, u, d) = (shared.clone(), shared.clone(), shared.clone());
    let rs_reg = rs_informer.add_event_handler(
        HandlerFuncs::new()
            .on_add(move |o: &Arc<ReplicaSet>, _| a.on_rs(o))
            .on_update(move |old: &Arc<ReplicaSet>, new: &Arc<ReplicaSet>| u.on_rs_update(old, new))
            .on_delete(move |o| {
                let rs = o.object();
                if controller_of(&rs.metadata).is_some() {
                    d.on_rs(rs)
                }
            }),
    );
    let p = shared.clone();
    let pod_reg = pod_informer
        .add_event_handler(HandlerFuncs::new().on_delete(move |o| p.on_pod_delete(o.object())));
    ctx.informers().start();
    let synced = async {
        d_informer.wait_for_sync().await;
        rs_informer.wait_for_sync().await;
        pod_informer.wait_for_sync().await;
    };
    if common::wait_for_sync(&shutdown, synced).await {
        let s = shared.clone();
        common::run_workers(
            "deployment",
            shared.queue.clone(),
            WORKERS,
            shutdown,
            move |key| {
                let s = s.clone();
                async move { rollout::sync(&s, &key).await }
            },
        )
        .await;
    }
    d_reg.remove();
    rs_reg.remove();
    pod_reg.remove();
}
