//! The garbage collector (upstream's `pkg/controller/garbagecollector`): deletes objects
//! whose owners are gone, and carries out foreground and orphan deletion.
//!
//! Monitors (informers) of every served kind of a built-in list feed the [`graph::Graph`] of
//! owner references. Two work queues of uids follow: attempt-to-delete looks at a dependent
//! (are its owners gone? then delete it, with the policy its finalizers ask for), at an owner
//! being deleted in the foreground (delete its blocking dependents first, then drop the
//! `foregroundDeletion` finalizer) and at virtual nodes (owners no informer has shown: do they
//! exist?); attempt-to-orphan removes an owner's references from its dependents, then the
//! `orphan` finalizer. Every decision is taken on objects read live from the server, never on
//! the cache alone, as upstream. A dependency cycle in foreground deletion is broken by
//! turning the dependents' blockOwnerDeletion off, as upstream.
//!
//! Built-in kinds that other controllers watch too are monitored through the shared typed
//! informers; every other resource discovery finds deletable, listable and watchable (custom
//! resources included; events excluded, as upstream) through a [`dynamic`] monitor of its
//! own. Discovery is read again every 30 s, so resources of CRDs established later are
//! monitored from then on (upstream's `resyncMonitors`). An owner of a kind no monitor watches
//! is looked up live every 30 s while dependents name it.

pub mod dynamic;
pub mod graph;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::FutureExt;
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Preconditions};
use kube_api::client::api::ApiObject;
use kube_api::client::discovery::{ApiResource, Discovery};
use kube_api::client::dynamic::DynamicApi;
use kube_api::client::runtime::{HandlerFuncs, Object, Scope};
use kube_api::client::workqueue::{RateLimitingQueue, default_controller_rate_limiter};
use kube_api::client::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube_core::dynamic::DynamicObject;
use tokio_util::sync::CancellationToken;

use self::graph::{FOREGROUND, Graph, Identity, ORPHAN, Work};
use super::StockController;
use super::common::{self, Error, Result, is_not_found};
use crate::context::ControllerContext;
use crate::owner::group_of;

/// Workers on attempt-to-delete (upstream's `--concurrent-gc-syncs` default is 20).
const DELETE_WORKERS: usize = 5;
/// Workers on attempt-to-orphan.
const ORPHAN_WORKERS: usize = 2;
/// How often an owner of an unmonitored kind is looked up while dependents name it.
const UNMONITORED_RECHECK: Duration = Duration::from_secs(30);

/// The stock controller entry.
pub fn controller() -> StockController {
    StockController {
        name: "garbage-collector",
        enabled_by_default: true,
        run: |ctx, shutdown| run(ctx, shutdown).boxed(),
    }
}

type SyncFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
/// Removes a monitor's event handler.
type Removal = Box<dyn FnOnce() + Send>;

/// One monitored kind: how to start its informer and handler.
struct Monitor {
    group: &'static str,
    kind: &'static str,
    start: fn(&ControllerContext, &Arc<Gc>) -> (SyncFuture, Removal),
}

fn monitor<K: Object + ApiObject>() -> Monitor {
    Monitor {
        group: K::GROUP,
        kind: K::KIND,
        start: |ctx, gc| {
            let informer = ctx.informer::<K>(Scope::all());
            let (a, u, d) = (gc.clone(), gc.clone(), gc.clone());
            let reg = informer.add_event_handler(
                HandlerFuncs::new()
                    .on_add(move |o: &Arc<K>, _| a.upsert::<K>(o.metadata()))
                    .on_update(move |_, o: &Arc<K>| u.upsert::<K>(o.metadata()))
                    .on_delete(move |o| d.deleted(o.object().metadata())),
            );
            let i = informer.clone();
            (
                Box::pin(async move { i.wait_for_sync().await }),
                Box::new(move || reg.remove()),
            )
        },
    }
}

/// The kinds monitored, when served.
fn monitors() -> Vec<Monitor> {
    vec![
        monitor::<Pod>(),
        monitor::<ConfigMap>(),
        monitor::<Secret>(),
        monitor::<Service>(),
        monitor::<ServiceAccount>(),
        monitor::<Endpoints>(),
        monitor::<PersistentVolumeClaim>(),
        monitor::<ReplicaSet>(),
        monitor::<Deployment>(),
        monitor::<StatefulSet>(),
        monitor::<DaemonSet>(),
        monitor::<ControllerRevision>(),
        monitor::<Job>(),
        monitor::<CronJob>(),
        monitor::<EndpointSlice>(),
    ]
}

struct Gc {
    ctx: ControllerContext,
    graph: Mutex<Graph>,
    discovery: RwLock<Discovery>,
    monitored: Mutex<BTreeSet<(String, String)>>,
    attempt_to_delete: RateLimitingQueue<String>,
    attempt_to_orphan: RateLimitingQueue<String>,
}

impl Gc {
    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn schedule(&self, work: Work) {
        for uid in work.attempt_to_delete {
            self.attempt_to_delete.add(uid);
        }
        for uid in work.attempt_to_orphan {
            self.attempt_to_orphan.add(uid);
        }
    }

    fn upsert<K: Object>(&self, meta: &ObjectMeta) {
        self.upsert_as(K::API_VERSION, K::KIND, meta);
    }

    fn upsert_as(&self, api_version: &str, kind: &str, meta: &ObjectMeta) {
        let work = self.graph().upsert(api_version, kind, meta);
        self.schedule(work);
    }

    fn deleted(&self, meta: &ObjectMeta) {
        let work = self.graph().delete(meta);
        self.schedule(work);
    }

    /// The resource of a kind, asking discovery again once when it is unknown (a CRD
    /// established since).
    async fn resource(&self, api_version: &str, kind: &str) -> Option<ApiResource> {
        let group = group_of(api_version);
        let found = self
            .discovery
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_kind(group, kind)
            .cloned();
        if found.is_some() {
            return found;
        }
        let fresh = Discovery::run(self.ctx.client()).await.ok()?;
        let found = fresh.by_kind(group, kind).cloned();
        *self.discovery.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        found
    }

    /// The API of `identity`'s object and the object itself, read live; `None` when it is
    /// gone or another object (another uid) has its name now.
    async fn live(&self, identity: &Identity) -> Result<Option<(DynamicApi, DynamicObject)>> {
        let Some(resource) = self.resource(&identity.api_version, &identity.kind).await else {
            return Err(Error::Invalid(format!(
                "no served resource has kind {} in {}",
                identity.kind, identity.api_version
            )));
        };
        let api = if resource.namespaced {
            DynamicApi::namespaced(self.ctx.client().clone(), &resource, &identity.namespace)
        } else {
            DynamicApi::all(self.ctx.client().clone(), &resource)
        };
        match api.get_opt(&identity.name).await? {
            Some(o) if o.metadata.uid.as_deref() == Some(identity.uid.as_str()) => {
                Ok(Some((api, o)))
            }
            _ => Ok(None),
        }
    }

    async fn attempt_to_delete_item(&self, uid: &str) -> Result<()> {
        let Some(node) = self.graph().get(uid).cloned() else {
            return Ok(());
        };
        if node.virtual_ {
            return self.check_virtual(&node.identity).await;
        }
        if node.being_deleted && !node.deleting_dependents {
            return Ok(());
        }
        if node.deleting_dependents {
            return self.process_deleting_dependents(&node.identity).await;
        }
        let Some((api, latest)) = self.live(&node.identity).await? else {
            return Ok(());
        };
        let owners = latest.metadata.owner_references.clone().unwrap_or_default();
        if owners.is_empty() {
            return Ok(());
        }
        let (mut solid, mut dangling, mut waiting) = (Vec::new(), Vec::new(), Vec::new());
        for owner in &owners {
            let identity = Identity {
                api_version: owner.api_version.clone(),
                kind: owner.kind.clone(),
                namespace: node.identity.namespace.clone(),
                name: owner.name.clone(),
                uid: owner.uid.clone(),
            };
            match self.live(&identity).await {
                Ok(None) => dangling.push(owner.clone()),
                Ok(Some((_, o))) => {
                    let foreground = o.metadata.deletion_timestamp.is_some()
                        && o.metadata
                            .finalizers
                            .iter()
                            .flatten()
                            .any(|f| f == FOREGROUND);
                    if foreground {
                        waiting.push(owner.clone());
                    } else {
                        solid.push(owner.clone());
                    }
                }
                // An owner of no served kind cannot be judged: keep it.
                Err(Error::Invalid(_)) => solid.push(owner.clone()),
                Err(e) => return Err(e),
            }
        }
        let name = node.identity.name.clone();
        if !solid.is_empty() {
            if dangling.is_empty() && waiting.is_empty() {
                return Ok(());
            }
            // Keep the object, dropping the references to owners that are gone or going.
            let gone: BTreeSet<&str> = dangling
                .iter()
                .chain(&waiting)
                .map(|o| o.uid.as_str())
                .collect();
            let keep: Vec<&OwnerReference> = owners
                .iter()
                .filter(|o| !gone.contains(o.uid.as_str()))
                .collect();
            return patch_owners(&api, &latest, serde_json::json!(keep)).await;
        }
        if !waiting.is_empty() && !node.dependents.is_empty() {
            // Break a cycle: a dependent that itself waits for its dependents.
            let cycle = {
                let g = self.graph();
                node.dependents
                    .iter()
                    .any(|d| g.get(d).is_some_and(|d| d.deleting_dependents))
            };
            if cycle {
                let waiting_uids: BTreeSet<&str> = waiting.iter().map(|o| o.uid.as_str()).collect();
                let unblocked: Vec<OwnerReference> = owners
                    .iter()
                    .map(|o| {
                        let mut o = o.clone();
                        if waiting_uids.contains(o.uid.as_str()) {
                            o.block_owner_deletion = Some(false);
                        }
                        o
                    })
                    .collect();
                patch_owners(&api, &latest, serde_json::json!(unblocked)).await?;
            }
            return delete(&api, &name, uid, PropagationPolicy::Foreground).await;
        }
        let finalizers = latest.metadata.finalizers.clone().unwrap_or_default();
        let policy = if finalizers.iter().any(|f| f == ORPHAN) {
            PropagationPolicy::Orphan
        } else if finalizers.iter().any(|f| f == FOREGROUND) {
            PropagationPolicy::Foreground
        } else {
            PropagationPolicy::Background
        };
        delete(&api, &name, uid, policy).await
    }

    /// A virtual node: drop it and look at its dependents when its object does not exist.
    async fn check_virtual(&self, identity: &Identity) -> Result<()> {
        let exists = match self.live(identity).await {
            Ok(found) => found.is_some(),
            // An owner of no served kind does not exist.
            Err(Error::Invalid(_)) => false,
            Err(e) => return Err(e),
        };
        if exists {
            let kind = (
                group_of(&identity.api_version).to_owned(),
                identity.kind.clone(),
            );
            let monitored = self
                .monitored
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&kind);
            if !monitored {
                self.attempt_to_delete
                    .add_after(identity.uid.clone(), UNMONITORED_RECHECK);
            }
            return Ok(());
        }
        let work = self.graph().remove_virtual(&identity.uid);
        self.schedule(work);
        Ok(())
    }

    /// An owner deleted in the foreground: its blocking dependents go first, then its
    /// finalizer.
    async fn process_deleting_dependents(&self, identity: &Identity) -> Result<()> {
        let blocking = self.graph().blocking_dependents(&identity.uid);
        if blocking.is_empty() {
            return self.remove_finalizer(identity, FOREGROUND).await;
        }
        for d in blocking {
            if !d.deleting_dependents {
                self.attempt_to_delete.add(d.identity.uid.clone());
            }
        }
        Ok(())
    }

    /// Removes `finalizer` from the live object.
    async fn remove_finalizer(&self, identity: &Identity, finalizer: &str) -> Result<()> {
        let Some((api, latest)) = self.live(identity).await? else {
            return Ok(());
        };
        let finalizers = latest.metadata.finalizers.clone().unwrap_or_default();
        if !finalizers.iter().any(|f| f == finalizer) {
            return Ok(());
        }
        let rest: Vec<&String> = finalizers.iter().filter(|f| *f != finalizer).collect();
        let patch = serde_json::json!({"metadata": {
            "finalizers": rest,
            "resourceVersion": latest.metadata.resource_version,
        }});
        match api
            .patch(
                &identity.name,
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the owner's references from its dependents, then the `orphan` finalizer.
    async fn attempt_to_orphan_item(&self, uid: &str) -> Result<()> {
        let Some(owner) = self.graph().get(uid).cloned() else {
            return Ok(());
        };
        let dependents: Vec<Identity> = {
            let g = self.graph();
            owner
                .dependents
                .iter()
                .filter_map(|d| g.get(d))
                .filter(|d| !d.virtual_)
                .map(|d| d.identity.clone())
                .collect()
        };
        let mut errors = Vec::new();
        for d in dependents {
            let result = async {
                let Some((api, latest)) = self.live(&d).await? else {
                    return Ok(());
                };
                let owners = latest.metadata.owner_references.clone().unwrap_or_default();
                if !owners.iter().any(|o| o.uid == uid) {
                    return Ok(());
                }
                let keep: Vec<&OwnerReference> = owners.iter().filter(|o| o.uid != uid).collect();
                patch_owners(&api, &latest, serde_json::json!(keep)).await
            }
            .await;
            if let Err(e) = result {
                errors.push(e);
            }
        }
        if let Some(e) = common::aggregate(errors) {
            return Err(e);
        }
        self.remove_finalizer(&owner.identity, ORPHAN).await
    }
}

async fn patch_owners(
    api: &DynamicApi,
    latest: &DynamicObject,
    owners: serde_json::Value,
) -> Result<()> {
    let owners = if owners.as_array().is_some_and(Vec::is_empty) {
        serde_json::Value::Null
    } else {
        owners
    };
    let patch = serde_json::json!({"metadata": {
        "ownerReferences": owners,
        "resourceVersion": latest.metadata.resource_version,
    }});
    let name = latest.metadata.name.clone().unwrap_or_default();
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn delete(api: &DynamicApi, name: &str, uid: &str, policy: PropagationPolicy) -> Result<()> {
    let params = DeleteParams {
        propagation_policy: Some(policy),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // The name now holds another object: nothing of ours to delete.
        Err(e) if e.status().is_some_and(|s| s.is_conflict()) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Runs the garbage collector until `shutdown`.
pub async fn run(ctx: ControllerContext, shutdown: CancellationToken) {
    let discovery = loop {
        match Discovery::run(ctx.client()).await {
            Ok(d) => break d,
            Err(e) => {
                tracing::warn!(error = %e, "garbage collector: discovery failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    };
    let served: Vec<Monitor> = monitors()
        .into_iter()
        .filter(|m| discovery.by_kind(m.group, m.kind).is_some())
        .collect();
    let gc = Arc::new(Gc {
        ctx: ctx.clone(),
        graph: Mutex::new(Graph::default()),
        discovery: RwLock::new(discovery),
        monitored: Mutex::new(
            served
                .iter()
                .map(|m| (m.group.to_owned(), m.kind.to_owned()))
                .collect(),
        ),
        attempt_to_delete: RateLimitingQueue::named(
            "garbage_collector_attempt_to_delete",
            default_controller_rate_limiter(),
        ),
        attempt_to_orphan: RateLimitingQueue::named(
            "garbage_collector_attempt_to_orphan",
            default_controller_rate_limiter(),
        ),
    });
    let mut synced = Vec::new();
    let mut removals = Vec::new();
    for m in &served {
        let (s, r) = (m.start)(&ctx, &gc);
        synced.push(s);
        removals.push(r);
    }
    let initial = gc
        .discovery
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    synced.extend(dynamic::start_new(&gc, &initial, &shutdown));
    tokio::spawn(dynamic::resync_monitors(gc.clone(), shutdown.clone()));
    ctx.informers().start();
    if common::wait_for_sync(&shutdown, futures::future::join_all(synced).map(|_| ())).await {
        let (d, o) = (gc.clone(), gc.clone());
        let deleting = common::run_workers(
            "garbage-collector",
            gc.attempt_to_delete.clone(),
            DELETE_WORKERS,
            shutdown.clone(),
            move |uid| {
                let gc = d.clone();
                async move { gc.attempt_to_delete_item(&uid).await }
            },
        );
        let orphaning = common::run_workers(
            "garbage-collector",
            gc.attempt_to_orphan.clone(),
            ORPHAN_WORKERS,
            shutdown,
            move |uid| {
                let gc = o.clone();
                async move { gc.attempt_to_orphan_item(&uid).await }
            },
        );
        futures::future::join(deleting, orphaning).await;
    }
    for r in removals {
        r();
    }
}
