//! Delete: preconditions, graceful deletion of pods, finalizers and the garbage collector's
//! orphan and foreground finalizers, namespaces turning Terminating, and deletecollection.

use kube_core::registry::ResourceInfo;
use kube_core::status::StatusError;
use serde_json::Value;

use super::meta::{self, meta_str, set_meta};
use super::update::{Change, UpdateOutcome};
use super::{ListOptions, Storage};
use crate::server::admission::{self, Operation};
use crate::server::clock::format_time;

/// The garbage collector's finalizer that orphans dependents.
pub const FINALIZER_ORPHAN: &str = "orphan";
/// The garbage collector's finalizer that deletes dependents first.
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";
/// A pod's grace period when neither the request nor the pod gives one.
const DEFAULT_POD_GRACE_SECONDS: i64 = 30;

/// How dependents are treated (DeleteOptions.propagationPolicy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Leave dependents, removing their owner references (the `orphan` finalizer).
    Orphan,
    /// Delete dependents in the background after the owner is gone.
    Background,
    /// Delete dependents first, keeping the owner until they are gone (`foregroundDeletion`).
    Foreground,
}

impl Propagation {
    /// Parses a propagationPolicy value. Fails with 400 (upstream's message) otherwise.
    pub fn parse(value: &str) -> Result<Self, StatusError> {
        match value {
            "Orphan" => Ok(Self::Orphan),
            "Background" => Ok(Self::Background),
            "Foreground" => Ok(Self::Foreground),
            other => Err(StatusError::bad_request(format!(
                "DeleteOptions.propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            ))),
        }
    }
}

/// The options of a delete (metav1.DeleteOptions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// The grace period asked for; only pods honour it.
    pub grace_period_seconds: Option<i64>,
    /// How dependents are treated; `None` is the resource's default (background).
    pub propagation: Option<Propagation>,
    /// Delete only if the object's uid is this one.
    pub precondition_uid: Option<String>,
    /// Delete only if the object's resourceVersion is this one.
    pub precondition_resource_version: Option<String>,
    /// Check everything but write nothing.
    pub dry_run: bool,
}

/// What a delete did.
#[derive(Debug, Clone, PartialEq)]
pub enum DeleteOutcome {
    /// The object is gone; here it is as it was last.
    Deleted(Value),
    /// The object stays while finalizers or a grace period hold it; here it is, marked with
    /// its deletionTimestamp.
    Pending(Value),
}

impl Storage {
    /// Deletes one object, or marks it for deletion while finalizers or a grace period hold
    /// it.
    pub async fn delete(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<DeleteOutcome, StatusError> {
        self.delete_admitted(info, namespace, name, options, None)
            .await
    }

    /// [`Storage::delete`] through the admission chain of `admit`, which sees the stored object
    /// (each attempt, when a concurrent write conflicts).
    pub async fn delete_admitted(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
        admit: Option<&admission::Request<'_>>,
    ) -> Result<DeleteOutcome, StatusError> {
        let now = self.clock.now();
        let admit = admit.map(|a| (a, Operation::Delete));
        let outcome = self
            .read_modify_write(info, namespace, name, options.dry_run, admit, |old| {
                check_preconditions(info, name, old, options)?;
                let mut obj = old.clone();
                let grace = grace_period(info, old, options);
                let mut finalizers = meta::finalizers(old);
                match options.propagation {
                    Some(Propagation::Orphan) => {
                        finalizers.retain(|f| f != FINALIZER_FOREGROUND);
                        if !finalizers.iter().any(|f| f == FINALIZER_ORPHAN) {
                            finalizers.push(FINALIZER_ORPHAN.to_owned());
                        }
                    }
                    Some(Propagation::Foreground) => {
                        finalizers.retain(|f| f != FINALIZER_ORPHAN);
                        if !finalizers.iter().any(|f| f == FINALIZER_FOREGROUND) {
                            finalizers.push(FINALIZER_FOREGROUND.to_owned());
                        }
                    }
                    Some(Propagation::Background) => {
                        finalizers.retain(|f| f != FINALIZER_ORPHAN && f != FINALIZER_FOREGROUND);
                    }
                    None => {}
                }
                let namespace_held = is_namespace(info)
                    && old
                        .pointer("/spec/finalizers")
                        .and_then(Value::as_array)
                        .is_some_and(|f| !f.is_empty());
                if finalizers.is_empty() && grace == 0 && !namespace_held {
                    return Ok(Change::Delete(obj));
                }
                meta::set_finalizers(&mut obj, &finalizers);
                let already = !meta_str(old, "deletionTimestamp").is_empty();
                let old_grace = meta::metadata(old)
                    .and_then(|m| m.get("deletionGracePeriodSeconds"))
                    .and_then(Value::as_i64);
                // A running grace period only ever shortens.
                let shorten = old_grace.is_none_or(|g| grace < g);
                if !already || shorten {
                    let at = now
                        .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(grace))
                        .unwrap_or(now);
                    set_meta(&mut obj, "deletionTimestamp", format_time(at));
                    set_meta(&mut obj, "deletionGracePeriodSeconds", grace);
                }
                if is_namespace(info)
                    && let Some(map) = obj.as_object_mut()
                {
                    map.insert(
                        "status".to_owned(),
                        serde_json::json!({"phase": "Terminating"}),
                    );
                }
                if obj == *old {
                    Ok(Change::Keep(obj))
                } else {
                    Ok(Change::Write(obj))
                }
            })
            .await?;
        Ok(match outcome {
            UpdateOutcome::Deleted(obj) => DeleteOutcome::Deleted(obj),
            UpdateOutcome::Updated(obj) | UpdateOutcome::Unchanged(obj) => {
                DeleteOutcome::Pending(obj)
            }
        })
    }

    /// Deletes every object of a collection that the list options select; returns what was
    /// deleted or marked for deletion.
    pub async fn delete_collection(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        list: &ListOptions,
        options: &DeleteOptions,
    ) -> Result<Vec<Value>, StatusError> {
        self.delete_collection_admitted(info, namespace, list, options, None)
            .await
    }

    /// [`Storage::delete_collection`], each delete through the admission chain of `admit`.
    pub async fn delete_collection_admitted(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        list: &ListOptions,
        options: &DeleteOptions,
        admit: Option<&admission::Request<'_>>,
    ) -> Result<Vec<Value>, StatusError> {
        let listed = self.list(info, namespace, list).await?;
        let mut out = Vec::with_capacity(listed.items.len());
        for item in listed.items {
            let name = meta_str(&item, "name").to_owned();
            let ns = meta_str(&item, "namespace").to_owned();
            match self.delete_admitted(info, &ns, &name, options, admit).await {
                Ok(DeleteOutcome::Deleted(obj) | DeleteOutcome::Pending(obj)) => out.push(obj),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

fn is_namespace(info: &ResourceInfo) -> bool {
    info.group.is_empty() && info.plural == "namespaces"
}

/// The grace period of this delete: pods bound to a node get the one asked for, else their
/// own, else 30 s; an unbound pod and every other kind are deleted at once.
fn grace_period(info: &ResourceInfo, obj: &Value, options: &DeleteOptions) -> i64 {
    if !(info.group.is_empty() && info.plural == "pods") {
        return 0;
    }
    let bound = obj
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        obj.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if !bound || finished {
        return 0;
    }
    options
        .grace_period_seconds
        .or_else(|| {
            obj.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(DEFAULT_POD_GRACE_SECONDS)
        .max(0)
}

/// 409 when a uid or resourceVersion precondition does not hold.
fn check_preconditions(
    info: &ResourceInfo,
    name: &str,
    obj: &Value,
    options: &DeleteOptions,
) -> Result<(), StatusError> {
    if let Some(uid) = options.precondition_uid.as_deref() {
        let actual = meta_str(obj, "uid");
        if uid != actual {
            return Err(StatusError::conflict_with(
                &info.group,
                &info.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            ));
        }
    }
    if let Some(rv) = options.precondition_resource_version.as_deref() {
        let actual = meta_str(obj, "resourceVersion");
        if rv != actual {
            return Err(StatusError::conflict_with(
                &info.group,
                &info.plural,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in meta: {actual}"
                ),
            ));
        }
    }
    Ok(())
}
