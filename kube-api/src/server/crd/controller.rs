//! The CRD controllers, in-process: upstream's naming controller (which names a CRD may
//! claim: `status.acceptedNames`, condition NamesAccepted), establishing controller
//! (condition Established, once the names are served) and finalizer controller (a deleted
//! CRD's custom resources are deleted, then its `customresourcecleanup` finalizer is removed).
//!
//! [`sync`] runs one pass over every stored CRD and rebuilds the served snapshot; [`run`]
//! runs a pass at start and after every change to a CRD in the store, so each server on one
//! store serves the same CRDs.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt;
use kube_core::crd::naming::{Conflict, accept_names, condition_status, set_condition};
use kube_core::crd::{CLEANUP_FINALIZER, GROUP, Names, PLURAL, served_versions};
use kube_core::gvk::GroupVersionResource;
use kube_core::registry::ResourceInfo;
use kube_core::status::StatusError;
use kube_store::{ListRequest, WatchRequest};
use serde_json::{Value, json};

use crate::server::ServerState;
use crate::server::clock::format_time;
use crate::server::storage::{DeleteOptions, ListOptions, UpdateOutcome, key};

/// How often a pass repeats while a deleted CRD still has custom resources (held by their
/// own finalizers), and how long to wait before watching again after the watch failed.
pub const RESYNC_INTERVAL: Duration = Duration::from_secs(1);

/// The store prefix of CRDs.
fn crd_prefix() -> String {
    format!("/registry/{GROUP}/{PLURAL}/")
}

/// What one pass decided for one CRD.
enum Decision {
    Accepted(Names),
    Refused(Conflict),
}

/// One pass: decides every CRD's accepted names, serves the CRDs whose names are accepted,
/// writes the conditions that changed, and cleans up deleted CRDs. Returns whether a deleted
/// CRD still waits for its custom resources.
pub async fn sync(state: &ServerState) -> Result<bool, StatusError> {
    let _pass = state.custom.pass.lock().await;
    let store = state.storage.store();
    let listed = store
        .list(ListRequest::prefix(crd_prefix()))
        .await
        .map_err(StatusError::internal)?;
    let mut crds: Vec<Value> = listed
        .items
        .iter()
        .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
        .collect();
    // Names already accepted keep their claim; then first come, first served.
    crds.sort_by_cached_key(|c| {
        (
            condition_status(c, "NamesAccepted") != "True",
            str_at(c, "/metadata/creationTimestamp").to_owned(),
            str_at(c, "/metadata/name").to_owned(),
        )
    });
    let base = state.custom.base().clone();
    let mut claimed: Vec<ResourceInfo> = Vec::new();
    let mut decisions = Vec::with_capacity(crds.len());
    for c in &mut crds {
        let group = str_at(c, "/spec/group").to_owned();
        let wanted = Names::from_json(c.pointer("/spec/names").unwrap_or(&Value::Null));
        let others: Vec<&ResourceInfo> = base
            .iter()
            .filter(|r| r.group == group)
            .chain(claimed.iter().filter(|r| r.group == group))
            .collect();
        let decision = match accept_names(&wanted, others.iter().copied()) {
            Ok(names) => Decision::Accepted(names),
            Err(conflict) => Decision::Refused(conflict),
        };
        if let Decision::Accepted(names) = &decision {
            if let Some(status) = c
                .as_object_mut()
                .map(|m| m.entry("status").or_insert_with(|| json!({})))
            {
                status["acceptedNames"] = names.to_json();
            }
            claimed.extend(served_versions(c).into_iter().map(|v| v.resource));
        }
        decisions.push(decision);
    }
    let served: Vec<Value> = crds
        .iter()
        .zip(&decisions)
        .filter(|(_, d)| matches!(d, Decision::Accepted(_)))
        .map(|(c, _)| c.clone())
        .collect();
    state.custom.rebuild(&served);

    let crd_info = crd_resource(state)?;
    let mut waiting = false;
    for (c, decision) in crds.iter().zip(decisions) {
        let name = str_at(c, "/metadata/name").to_owned();
        let now = format_time(state.config.clock.now());
        let terminating = c.pointer("/metadata/deletionTimestamp").is_some();
        if terminating && let Decision::Accepted(_) = decision {
            waiting |= !cleanup(state, &crd_info, c, &name, &now).await?;
            continue;
        }
        let result = state
            .storage
            .update(&crd_info, "", &name, "status", false, |old| {
                let mut new = old.clone();
                apply_decision(&mut new, &decision, terminating, &now);
                Ok(new)
            })
            .await;
        match result {
            Ok(_) => {}
            Err(e) if e.code() == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(waiting)
}

/// Sets the naming and establishing conditions a decision implies.
fn apply_decision(crd: &mut Value, decision: &Decision, terminating: bool, now: &str) {
    match decision {
        Decision::Accepted(names) => {
            if let Some(status) = crd
                .as_object_mut()
                .map(|m| m.entry("status").or_insert_with(|| json!({})))
            {
                status["acceptedNames"] = names.to_json();
            }
            set_condition(
                crd,
                "NamesAccepted",
                "True",
                "NoConflicts",
                "no conflicts found",
                now,
            );
            if !terminating {
                set_condition(
                    crd,
                    "Established",
                    "True",
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                    now,
                );
            }
        }
        Decision::Refused(conflict) => {
            set_condition(
                crd,
                "NamesAccepted",
                "False",
                conflict.reason,
                &conflict.message,
                now,
            );
            if condition_status(crd, "Established") != "True" {
                set_condition(
                    crd,
                    "Established",
                    "False",
                    "NotAccepted",
                    "not all names are accepted",
                    now,
                );
            }
        }
    }
}

/// Deletes the custom resources of a deleted CRD; once none is left, removes the cleanup
/// finalizer (and so the CRD). Returns whether the CRD is done.
async fn cleanup(
    state: &ServerState,
    crd_info: &ResourceInfo,
    crd: &Value,
    name: &str,
    now: &str,
) -> Result<bool, StatusError> {
    let _ = state
        .storage
        .update(crd_info, "", name, "status", false, |old| {
            let mut new = old.clone();
            set_condition(
                &mut new,
                "Terminating",
                "True",
                "InstanceDeletionInProgress",
                "CustomResource deletion is in progress",
                now,
            );
            Ok(new)
        })
        .await;
    let versions = served_versions(crd);
    if let Some(version) = versions.first() {
        let info = &version.resource;
        state
            .storage
            .delete_collection(info, "", &ListOptions::default(), &DeleteOptions::default())
            .await?;
        let left = state
            .storage
            .store()
            .list(ListRequest::prefix(key::collection_prefix(info, "")).limit(1))
            .await
            .map_err(StatusError::internal)?;
        if !left.items.is_empty() {
            return Ok(false);
        }
    }
    let outcome = state
        .storage
        .update(crd_info, "", name, "", false, |old| {
            let mut new = old.clone();
            if let Some(list) = new
                .pointer_mut("/metadata/finalizers")
                .and_then(Value::as_array_mut)
            {
                list.retain(|f| f != CLEANUP_FINALIZER);
            }
            Ok(new)
        })
        .await;
    match outcome {
        Ok(UpdateOutcome::Deleted(_)) | Ok(_) => Ok(true),
        Err(e) if e.code() == 404 => Ok(true),
        Err(e) => Err(e),
    }
}

fn crd_resource(state: &ServerState) -> Result<Arc<ResourceInfo>, StatusError> {
    state
        .custom
        .base()
        .get_arc(&GroupVersionResource::new(GROUP, "v1", PLURAL))
        .ok_or_else(|| StatusError::internal("the registry has no customresourcedefinitions"))
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Runs [`sync`] at start and after every CRD change in the store, until the server is
/// dropped or shut down.
pub async fn run(state: Weak<ServerState>) {
    let Some(strong) = state.upgrade() else {
        return;
    };
    let mut shutdown = strong.shutdown.subscribe();
    drop(strong);
    loop {
        // The store is borrowed per round, so a dropped server lets its store close.
        let Some(strong) = state.upgrade() else {
            return;
        };
        let store = Arc::clone(strong.storage.store());
        drop(strong);
        let revision = match store.current_revision().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "the CRD controller cannot read the store");
                tokio::time::sleep(RESYNC_INTERVAL).await;
                continue;
            }
        };
        let watch = store
            .watch(WatchRequest::prefix(crd_prefix()).from_revision(revision + 1))
            .await;
        drop(store);
        let Some(strong) = state.upgrade() else {
            return;
        };
        let mut waiting = pass(&strong).await;
        drop(strong);
        let mut watch = match watch {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "the CRD controller cannot watch the store");
                tokio::time::sleep(RESYNC_INTERVAL).await;
                continue;
            }
        };
        loop {
            let resync = async {
                if waiting {
                    tokio::time::sleep(RESYNC_INTERVAL).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                event = watch.next() => match event {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "the CRD watch failed; watching again");
                        break;
                    }
                    None => break,
                },
                () = resync => {}
                _ = shutdown.changed() => return,
            }
            let Some(strong) = state.upgrade() else {
                return;
            };
            waiting = pass(&strong).await;
        }
    }
}

async fn pass(state: &ServerState) -> bool {
    match sync(state).await {
        Ok(waiting) => waiting,
        Err(e) => {
            tracing::warn!(error = %e, "a CRD controller pass failed");
            true
        }
    }
}

/// After a successful write of a CRD through this server, runs a pass before answering, so
/// the client that created a CRD finds it established (and served) at once, as kubectl's
/// apply of a CRD and its resources in one file expects. Other servers follow their watch.
pub async fn after_write(
    ctx: &crate::server::handler::Ctx,
    result: &crate::server::handler::HandlerResult,
) {
    use kube_core::registry::Verb;
    let wrote = matches!(
        ctx.request.verb,
        Verb::Create | Verb::Update | Verb::Patch | Verb::Delete
    );
    let is_crd = ctx.resource.group == GROUP && ctx.resource.plural == PLURAL;
    if wrote && is_crd && result.as_ref().is_ok_and(|r| r.status().is_success()) {
        pass(&ctx.state).await;
    }
}
