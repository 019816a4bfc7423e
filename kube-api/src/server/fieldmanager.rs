//! Managed fields bookkeeping of every write (upstream's fieldmanager): who owns which
//! fields of an object, kept in `metadata.managedFields`.
//!
//! A [`FieldManager`] is made per request (its manager name from `fieldManager` or the
//! User-Agent) and handed to the storage, which calls [`FieldManager::record`] on the final
//! object of a create or update, after defaulting and before validation. Applies compute
//! their entries while merging (see [`FieldManager::apply`]) and the storage stores them.

use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};
use kube_core::managedfields::{self, ManagerId, Managers, Operation, Scope, Type, Updater};
use kube_core::registry::ResourceInfo;
use kube_core::status::{Reason, StatusError};
use kube_core::validation::path::{ErrorList, FieldError, Path as FieldPath};
use serde_json::Value;

use crate::server::clock::format_time;
use crate::server::storage::meta;

/// The longest `fieldManager` upstream accepts.
pub const MAX_MANAGER_LEN: usize = 128;

/// The field manager of one write.
#[derive(Debug)]
pub struct FieldManager {
    manager: String,
    subresource: String,
    /// The entries an apply computed while merging, stored on the next [`record`].
    ///
    /// [`record`]: FieldManager::record
    applied: Mutex<Option<Value>>,
}

impl FieldManager {
    /// The manager `name` writing the main resource or `subresource` (`""` or `status`).
    pub fn new(name: &str, subresource: &str) -> Self {
        Self {
            manager: name.to_owned(),
            subresource: subresource.to_owned(),
            applied: Mutex::new(None),
        }
    }

    /// The manager of a request: `fieldManager`, else the User-Agent up to its first `/`
    /// (upstream's default). 422 for a name longer than 128 characters.
    pub fn of_request(
        field_manager: Option<&str>,
        user_agent: Option<&str>,
        subresource: &str,
    ) -> Result<Self, StatusError> {
        let name = match field_manager {
            Some(m) => m.to_owned(),
            None => user_agent
                .unwrap_or("")
                .split('/')
                .next()
                .unwrap_or("")
                .to_owned(),
        };
        if field_manager.is_some() {
            check_manager(&name, "UpdateOptions")?;
        }
        let name: String = name.chars().take(MAX_MANAGER_LEN).collect();
        Ok(Self::new(&name, subresource))
    }

    /// The manager's name.
    pub fn name(&self) -> &str {
        &self.manager
    }

    fn updater(&self, info: &ResourceInfo, now: &str) -> Updater {
        let ty = if is_builtin(info) {
            Type::builtin(&info.group, &info.version, &info.kind)
        } else {
            Type::deduced()
        };
        let scope = match self.subresource.as_str() {
            "status" => Scope::Status,
            _ if info.subresource("status").is_some() => Scope::MainResource,
            _ => Scope::Object,
        };
        Updater {
            ty,
            scope,
            now: now.to_owned(),
        }
    }

    /// Merges the applied `config` into `live` (an empty object for a create) and computes
    /// the entries, kept for [`FieldManager::record`]. 409 on conflicts without `force`;
    /// 400 for a configuration that cannot be typed (a list item without its key).
    pub fn apply(
        &self,
        info: &ResourceInfo,
        live: &Value,
        config: &Value,
        force: bool,
        now: k8s_openapi::jiff::Timestamp,
    ) -> Result<Value, StatusError> {
        let updater = self.updater(info, &format_time(now));
        let managers = live_managers(live)?;
        let id = ManagerId::new(
            &self.manager,
            Operation::Apply,
            &info.api_version(),
            &self.subresource,
        );
        let (merged, managers) = updater
            .apply(live, config, &managers, &id, &info.api_version(), force)
            .map_err(|e| apply_error(info, e))?;
        *self.applied.lock().unwrap_or_else(|e| e.into_inner()) = Some(managers.encode());
        Ok(merged)
    }

    /// Sets `metadata.managedFields` of `new`, the object a write turns `old` (`None` for a
    /// create) into: an apply's entries, or an Update entry for the fields this write changed.
    /// Managed fields the client sent replace the stored ones (`[{}]` clears them all); 422
    /// for invalid ones.
    pub fn record(
        &self,
        info: &ResourceInfo,
        new: &mut Value,
        old: Option<&Value>,
        now: k8s_openapi::jiff::Timestamp,
    ) -> Result<(), StatusError> {
        if let Some(applied) = self
            .applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            set_managed(new, applied);
            return Ok(());
        }
        let empty = Value::Object(Default::default());
        let old = old.unwrap_or(&empty);
        let sent = meta::metadata(new)
            .and_then(|m| m.get("managedFields"))
            .cloned();
        let stored = meta::metadata(old)
            .and_then(|m| m.get("managedFields"))
            .cloned();
        let base = match &sent {
            Some(Value::Array(items)) if is_reset(items) => {
                meta::remove_meta(new, "managedFields");
                return Ok(());
            }
            Some(Value::Array(items)) if !items.is_empty() && sent != stored => {
                Managers::decode(sent.as_ref()).map_err(|e| invalid_managed(info, new, e))?
            }
            _ => live_managers(old)?,
        };
        let updater = self.updater(info, &format_time(now));
        let id = ManagerId::new(
            &self.manager,
            Operation::Update,
            &info.api_version(),
            &self.subresource,
        );
        let managers = updater.update(old, new, &base, &id, &info.api_version());
        set_managed(new, managers.encode());
        Ok(())
    }
}

/// Whether a resource is a built-in kind (described by the type tables).
fn is_builtin(info: &ResourceInfo) -> bool {
    info.group.is_empty() || !info.group.contains('.') || info.group.ends_with(".k8s.io")
}

/// `[{}]`: the request to clear every entry.
fn is_reset(items: &[Value]) -> bool {
    matches!(items, [Value::Object(m)] if m.is_empty())
}

fn set_managed(obj: &mut Value, managed: Value) {
    if managed.as_array().is_some_and(Vec::is_empty) {
        meta::remove_meta(obj, "managedFields");
    } else {
        meta::set_meta(obj, "managedFields", managed);
    }
}

/// The stored entries of an object (500 if they do not decode: they were written by us).
fn live_managers(obj: &Value) -> Result<Managers, StatusError> {
    Managers::decode(meta::metadata(obj).and_then(|m| m.get("managedFields")))
        .map_err(|e| StatusError::internal(format!("stored managedFields: {e}")))
}

/// 422 for invalid managed fields in a request, as upstream's ObjectMeta validation.
fn invalid_managed(info: &ResourceInfo, obj: &Value, err: managedfields::Error) -> StatusError {
    let mut errs = ErrorList::new();
    let mut path = FieldPath::new("metadata").child("managedFields");
    if let managedfields::Error::InvalidManagedFields { index, field, .. } = &err {
        if let Some(i) = index {
            path = path.index(*i);
        }
        if !field.is_empty() {
            path = path.child(field);
        }
    }
    let message = match &err {
        managedfields::Error::InvalidManagedFields { message, .. } => message.clone(),
        other => other.to_string(),
    };
    let sent = meta::metadata(obj)
        .and_then(|m| m.get("managedFields"))
        .cloned()
        .unwrap_or(Value::Null);
    errs.push(FieldError::invalid(&path, sent, message));
    StatusError::invalid(&info.group, &info.kind, meta::meta_str(obj, "name"), &errs)
}

/// An apply failure as its Status: 409 Conflict with FieldManagerConflict causes, or 400.
fn apply_error(info: &ResourceInfo, err: managedfields::Error) -> StatusError {
    match err {
        managedfields::Error::Conflicts(conflicts) => {
            let causes = conflicts
                .0
                .iter()
                .map(|c| StatusCause {
                    reason: Some("FieldManagerConflict".to_owned()),
                    message: Some(format!("conflict with {}", c.manager)),
                    field: Some(c.path.to_string()),
                })
                .collect();
            StatusError::new(
                409,
                Reason::Conflict,
                conflicts.to_string(),
                Some(StatusDetails {
                    causes: Some(causes),
                    ..StatusDetails::default()
                }),
            )
        }
        other => StatusError::bad_request(format!(
            "failed to create typed patch object ({}, Kind={}): {other}",
            info.api_version(),
            info.kind
        )),
    }
}

/// 422 for a `fieldManager` that is too long or not printable, as upstream's options
/// validation; `kind` names the options type (`PatchOptions`, `UpdateOptions`).
pub fn check_manager(name: &str, kind: &str) -> Result<(), StatusError> {
    let message = if name.chars().count() > MAX_MANAGER_LEN {
        format!("fieldManager: Too long: may not be more than {MAX_MANAGER_LEN} bytes")
    } else if name.chars().any(|c| c.is_control()) {
        format!("fieldManager: Invalid value: {name:?}: is not printable")
    } else {
        return Ok(());
    };
    Err(options_invalid(kind, &message))
}

/// 422 Invalid on the request's options: `PatchOptions.meta.k8s.io "" is invalid: ...`.
pub fn options_invalid(kind: &str, message: &str) -> StatusError {
    StatusError::new(
        422,
        Reason::Invalid,
        format!("{kind}.meta.k8s.io \"\" is invalid: {message}"),
        Some(StatusDetails {
            group: Some("meta.k8s.io".to_owned()),
            kind: Some(kind.to_owned()),
            ..StatusDetails::default()
        }),
    )
}
