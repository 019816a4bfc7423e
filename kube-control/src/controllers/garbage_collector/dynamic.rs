//! Monitors over the dynamic API: for every resource discovery finds that no typed informer
//! watches, a list then watch loop feeding the graph (a small reflector of uids and owner
//! references; nothing else of the objects is kept).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, WatchEvent};
use kube_api::client::discovery::{ApiResource, Discovery};
use kube_api::client::dynamic::DynamicApi;
use kube_api::client::{ListParams, WatchParams};
use tokio_util::sync::CancellationToken;

use super::{Gc, SyncFuture};

/// How often discovery is read again for new resources.
const RESYNC: Duration = Duration::from_secs(30);
/// The wait before listing again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// The resources to monitor dynamically: listable, watchable and deletable, the preferred
/// version of each, neither events (upstream ignores them) nor a kind already monitored.
fn wanted(gc: &Gc, discovery: &Discovery) -> Vec<ApiResource> {
    let monitored = gc.monitored.lock().unwrap_or_else(|e| e.into_inner());
    let mut by_kind: BTreeMap<(String, String), ApiResource> = BTreeMap::new();
    for r in discovery.resources() {
        let has = |v: &str| r.verbs.iter().any(|x| x == v);
        if !(has("list") && has("watch") && has("delete")) || r.plural == "events" {
            continue;
        }
        let key = (r.group.clone(), r.kind.clone());
        if monitored.contains(&key) {
            continue;
        }
        match by_kind.get(&key) {
            Some(existing) if existing.preferred || !r.preferred => {}
            _ => {
                by_kind.insert(key, r.clone());
            }
        }
    }
    by_kind.into_values().collect()
}

/// Starts a monitor for each wanted resource not monitored yet; returns their first syncs.
pub(super) fn start_new(
    gc: &Arc<Gc>,
    discovery: &Discovery,
    shutdown: &CancellationToken,
) -> Vec<SyncFuture> {
    let mut synced = Vec::new();
    for resource in wanted(gc, discovery) {
        gc.monitored
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((resource.group.clone(), resource.kind.clone()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(monitor(gc.clone(), resource, shutdown.clone(), tx));
        synced.push(Box::pin(async move {
            let _ = rx.await;
        }) as SyncFuture);
    }
    synced
}

/// Reads discovery every 30 s and monitors what appeared.
pub(super) async fn resync_monitors(gc: Arc<Gc>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(RESYNC) => {}
        }
        let Ok(discovery) = Discovery::run(gc.ctx.client()).await else {
            continue;
        };
        *gc.discovery.write().unwrap_or_else(|e| e.into_inner()) = discovery.clone();
        drop(start_new(&gc, &discovery, &shutdown));
    }
}

/// Lists and watches `resource` across namespaces into the graph until `shutdown`; `synced`
/// is told after the first list.
async fn monitor(
    gc: Arc<Gc>,
    resource: ApiResource,
    shutdown: CancellationToken,
    synced: tokio::sync::oneshot::Sender<()>,
) {
    let api = DynamicApi::all(gc.ctx.client().clone(), &resource);
    let mut synced = Some(synced);
    // What the graph has of this resource: uid -> metadata.
    let mut known: BTreeMap<String, ObjectMeta> = BTreeMap::new();
    'relist: loop {
        if shutdown.is_cancelled() {
            return;
        }
        let list = match api.list(&ListParams::default()).await {
            Ok(list) => list,
            // No longer served (its CRD went): stop, so a later discovery may start again.
            Err(e) if super::is_not_found(&e) => {
                for meta in known.values() {
                    gc.deleted(meta);
                }
                gc.monitored
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&(resource.group.clone(), resource.kind.clone()));
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
                return;
            }
            Err(e) => {
                tracing::debug!(resource = %resource.plural, error = %e, "garbage collector: list failed");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(RETRY) => continue 'relist,
                }
            }
        };
        let mut fresh = BTreeMap::new();
        for item in list.items {
            gc.upsert_as(&resource.api_version, &resource.kind, &item.metadata);
            if let Some(uid) = item.metadata.uid.clone() {
                fresh.insert(uid, item.metadata);
            }
        }
        for (uid, meta) in &known {
            if !fresh.contains_key(uid) {
                gc.deleted(meta);
            }
        }
        known = fresh;
        if let Some(tx) = synced.take() {
            let _ = tx.send(());
        }
        let mut resource_version = list.metadata.resource_version.unwrap_or_default();
        loop {
            let params = WatchParams::default().bookmarks().after(&resource_version);
            let mut stream = match api.watch(&params).await {
                Ok(s) => s,
                Err(_) => continue 'relist,
            };
            loop {
                let event = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    e = stream.next() => e,
                };
                match event {
                    // The watch ended (its timeout): watch again from where it was.
                    None => break,
                    Some(Ok(WatchEvent::Added(o) | WatchEvent::Modified(o))) => {
                        resource_version = o.metadata.resource_version.clone().unwrap_or_default();
                        gc.upsert_as(&resource.api_version, &resource.kind, &o.metadata);
                        if let Some(uid) = o.metadata.uid.clone() {
                            known.insert(uid, o.metadata);
                        }
                    }
                    Some(Ok(WatchEvent::Deleted(o))) => {
                        resource_version = o.metadata.resource_version.clone().unwrap_or_default();
                        gc.deleted(&o.metadata);
                        if let Some(uid) = &o.metadata.uid {
                            known.remove(uid);
                        }
                    }
                    Some(Ok(WatchEvent::Bookmark {
                        resource_version: rv,
                        ..
                    })) => resource_version = rv,
                    // 410 Gone or another failure: list again.
                    Some(Ok(WatchEvent::ErrorStatus(_) | WatchEvent::ErrorOther(_)))
                    | Some(Err(_)) => {
                        continue 'relist;
                    }
                }
            }
        }
    }
}
