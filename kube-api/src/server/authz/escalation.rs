//! Escalation prevention, as upstream's RBAC REST storage: a user may write a Role or
//! ClusterRole only with rules it holds itself, unless it may `escalate` on that resource;
//! it may write a binding only to a role whose rules it holds, unless it may `bind` that role.
//! Aggregated ClusterRoles (with an `aggregationRule`) count as granting everything.
//!
//! The check needs the object as it will be stored (after a patch), so it runs in the storage
//! hooks ([`EscalationStrategy`], around the server's [`Strategy`]) under the request's
//! [`Caller`], set by the router with [`scope`]. The decisions that need the authorizer chain
//! (`escalate`, `bind`) are taken before, asynchronously; the rule comparison is synchronous
//! over the RBAC index. Writes outside a request scope (the server's own) are not checked.
//! `system:masters` is never checked (upstream's `EscalationAllowed`).

use std::future::Future;
use std::sync::Arc;

use kube_core::registry::ResourceInfo;
use kube_core::status::StatusError;
use kube_core::validation::{ErrorList, NameRule};
use serde_json::Value;

use super::rbac::{self, GROUP, PolicyRule, RbacAuthorizer, RoleRef};
use crate::server::authn::UserInfo;
use crate::server::storage::Strategy;

tokio::task_local! {
    static CALLER: Caller;
}

/// Who writes an RBAC object, with the decisions taken for them before the write.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: UserInfo,
    /// The RBAC index.
    pub rbac: Arc<RbacAuthorizer>,
    /// Whether the user may `escalate` on the resource written (roles, clusterroles).
    pub may_escalate: bool,
    /// The role a binding is expected to name, if the user may `bind` it.
    pub may_bind: Option<RoleRef>,
}

/// Runs `f` (a request's handler) with `caller` as the writer the hooks check.
pub async fn scope<F: Future>(caller: Caller, f: F) -> F::Output {
    CALLER.scope(caller, f).await
}

/// Whether `info` is one of the four RBAC resources.
pub fn is_rbac(info: &ResourceInfo) -> bool {
    info.group == GROUP
        && matches!(
            info.plural.as_str(),
            "roles" | "clusterroles" | "rolebindings" | "clusterrolebindings"
        )
}

/// The rules an aggregated ClusterRole counts as granting: everything.
fn full_authority() -> Vec<PolicyRule> {
    vec![
        PolicyRule::resources(&["*"], &["*"], &["*"]),
        PolicyRule::urls(&["*"], &["*"]),
    ]
}

/// The role a binding object names.
pub fn role_ref_of(obj: &Value) -> RoleRef {
    serde_json::from_value(obj.get("roleRef").cloned().unwrap_or_default()).unwrap_or_default()
}

/// Checks the write of `obj` by the current [`Caller`], if any.
pub fn check(info: &ResourceInfo, obj: &Value) -> Result<(), StatusError> {
    if !is_rbac(info) {
        return Ok(());
    }
    let Ok(caller) = CALLER.try_with(Clone::clone) else {
        return Ok(());
    };
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let requested = match info.plural.as_str() {
        "roles" | "clusterroles" => {
            if caller.may_escalate {
                return Ok(());
            }
            if obj.get("aggregationRule").is_some_and(|a| !a.is_null()) {
                full_authority()
            } else {
                serde_json::from_value(obj.get("rules").cloned().unwrap_or_default())
                    .unwrap_or_default()
            }
        }
        _ => {
            let role_ref = role_ref_of(obj);
            if caller.may_bind.as_ref() == Some(&role_ref) {
                return Ok(());
            }
            match caller.rbac.role_rules(&role_ref, namespace) {
                Some(rules) => rules,
                None => {
                    let what = if role_ref.kind == "Role" {
                        "roles"
                    } else {
                        "clusterroles"
                    };
                    return Err(StatusError::not_found(GROUP, what, &role_ref.name));
                }
            }
        }
    };
    let held = caller.rbac.resolve(&caller.user, namespace);
    let missing = rbac::covers(&held.rules, &requested);
    if missing.is_empty() {
        return Ok(());
    }
    Err(StatusError::forbidden_with(
        GROUP,
        &info.plural,
        name,
        &rbac::escalation_message(&caller.user, &missing, &held.errors),
    ))
}

/// The server's [`Strategy`] with the escalation check on every create and update of an RBAC
/// object.
pub struct EscalationStrategy {
    inner: Arc<dyn Strategy>,
}

impl EscalationStrategy {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Strategy>) -> Self {
        Self { inner }
    }
}

impl Strategy for EscalationStrategy {
    fn prepare_for_create(&self, info: &ResourceInfo, obj: &mut Value) -> Result<(), StatusError> {
        self.inner.prepare_for_create(info, obj)?;
        check(info, obj)
    }

    fn prepare_for_update(
        &self,
        info: &ResourceInfo,
        new: &mut Value,
        old: &Value,
    ) -> Result<(), StatusError> {
        self.inner.prepare_for_update(info, new, old)?;
        check(info, new)
    }

    fn validate(&self, info: &ResourceInfo, obj: &Value) -> ErrorList {
        self.inner.validate(info, obj)
    }

    fn validate_update(&self, info: &ResourceInfo, new: &Value, old: &Value) -> ErrorList {
        self.inner.validate_update(info, new, old)
    }

    fn canonicalize(&self, info: &ResourceInfo, obj: &mut Value) {
        self.inner.canonicalize(info, obj);
    }

    fn name_rule(&self, info: &ResourceInfo) -> NameRule {
        self.inner.name_rule(info)
    }

    fn return_deleted_object(&self, info: &ResourceInfo) -> bool {
        self.inner.return_deleted_object(info)
    }

    fn unknown_fields(&self, info: &ResourceInfo, obj: &Value) -> Vec<String> {
        self.inner.unknown_fields(info, obj)
    }
}
