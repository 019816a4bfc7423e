//! Per-kind hooks of the generic storage, as upstream's RESTCreateStrategy and
//! RESTUpdateStrategy: defaulting, validation and the fields a write may not change.

use kube_core::registry::ResourceInfo;
use kube_core::validation::{ErrorList, NameRule};
use serde_json::{Value, json};

/// What the generic storage asks of a kind on create and update.
///
/// The storage does what every kind shares (uid, timestamps, generation, resourceVersion,
/// namespace checks, ObjectMeta validation, status subresource rules); a strategy adds what is
/// particular to a kind. Every method has a default that is right for a kind with no special
/// rules, so an implementation overrides only what it needs. One strategy serves every
/// resource: it is given the [`ResourceInfo`] and dispatches on it.
pub trait Strategy: Send + Sync + 'static {
    /// Clears or defaults fields before a create is validated. The default clears `status`
    /// of kinds with a status subresource (a client sets status through that subresource),
    /// and sets the initial phase of pods, namespaces and persistent volumes as upstream.
    fn prepare_for_create(&self, info: &ResourceInfo, obj: &mut Value) {
        prepare_for_create(info, obj);
    }

    /// Adjusts an update before it is validated, given the stored object. The default does
    /// nothing (the storage already keeps the system fields and the status rules).
    fn prepare_for_update(&self, info: &ResourceInfo, new: &mut Value, old: &Value) {
        let _ = (info, new, old);
    }

    /// Validates a new object beyond its ObjectMeta. The default finds nothing wrong.
    fn validate(&self, info: &ResourceInfo, obj: &Value) -> ErrorList {
        // Hook: built-in kinds' validation (`kube_core::builtin::validate_create`) plugs in here.
        let _ = (info, obj);
        ErrorList::new()
    }

    /// Validates an update against the stored object, beyond ObjectMeta. The default finds
    /// nothing wrong.
    fn validate_update(&self, info: &ResourceInfo, new: &Value, old: &Value) -> ErrorList {
        // Hook: built-in kinds' update validation (`kube_core::builtin::validate_update`).
        let _ = (info, new, old);
        ErrorList::new()
    }

    /// Normalises an object just before it is written. The default does nothing.
    fn canonicalize(&self, info: &ResourceInfo, obj: &mut Value) {
        let _ = (info, obj);
    }

    /// The rule `metadata.name` follows: DNS-1123 labels for namespaces, DNS-1035 labels for
    /// services, path segments for RBAC kinds, DNS-1123 subdomains otherwise.
    fn name_rule(&self, info: &ResourceInfo) -> NameRule {
        match (info.group.as_str(), info.plural.as_str()) {
            ("", "namespaces") => NameRule::Dns1123Label,
            ("", "services") => NameRule::Dns1035Label,
            ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
            _ => NameRule::Dns1123Subdomain,
        }
    }

    /// Whether an immediate delete answers with the deleted object (pods, as upstream) rather
    /// than a success Status.
    fn return_deleted_object(&self, info: &ResourceInfo) -> bool {
        info.group.is_empty() && info.plural == "pods"
    }
}

/// The strategy with every default: no kind-specific rules beyond those the storage applies.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultStrategy;

impl Strategy for DefaultStrategy {}

/// The default [`Strategy::prepare_for_create`].
pub fn prepare_for_create(info: &ResourceInfo, obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    match (info.group.as_str(), info.plural.as_str()) {
        ("", "pods") => {
            map.insert("status".to_owned(), json!({"phase": "Pending"}));
        }
        ("", "namespaces") => {
            map.insert("status".to_owned(), json!({"phase": "Active"}));
            // The namespace controller's finalizer keeps a namespace until it is emptied.
            let spec = map.entry("spec").or_insert_with(|| json!({}));
            if let Some(spec) = spec.as_object_mut() {
                let has = spec
                    .get("finalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|f| f.iter().any(|f| f == "kubernetes"));
                if !has {
                    let mut list = spec
                        .get("finalizers")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    list.push(json!("kubernetes"));
                    spec.insert("finalizers".to_owned(), Value::Array(list));
                }
            }
        }
        ("", "persistentvolumes") | ("", "persistentvolumeclaims") => {
            map.insert("status".to_owned(), json!({"phase": "Pending"}));
        }
        // The kubelet registers a node with its status.
        ("", "nodes") => {}
        _ if info.subresource("status").is_some() => {
            map.remove("status");
        }
        _ => {}
    }
}
