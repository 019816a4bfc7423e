//! The schema definitions: every built-in kind's schema from k8s-openapi's `schemars` impls,
//! named as upstream (`io.k8s.api.core.v1.Pod`), with `x-kubernetes-group-version-kind` and the
//! strategic merge patch extensions, plus list kinds and custom resources.
//!
//! Definitions refer to each other as `#/definitions/<name>` (swagger 2.0); the OpenAPI v3
//! documents rewrite the references (see [`to_v3`]).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use kube_core::gvk::GroupVersionKind;
use kube_core::patch::schema::{self as patch_schema, SchemaRef, Strategy};
use kube_core::registry::Registry;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

/// Where swagger 2.0 keeps definitions, as references spell it.
pub(super) const V2_PREFIX: &str = "#/definitions/";
/// Where OpenAPI v3 keeps schemas, as references spell it.
pub(super) const V3_PREFIX: &str = "#/components/schemas/";

/// `ObjectMeta`'s definition name.
pub(super) const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
/// `ListMeta`'s definition name.
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
/// `DeleteOptions`' definition name.
pub(super) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
/// `Status`' definition name.
pub(super) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
/// `WatchEvent`'s definition name.
pub(super) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
/// `Patch`'s definition name.
pub(super) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
/// `APIResourceList`'s definition name.
pub(super) const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";

/// Every schema definition of a registry, and which definition serves which kind.
#[derive(Debug, Default)]
pub(super) struct Definitions {
    /// The definitions by name, references as `#/definitions/<name>`.
    pub(super) schemas: BTreeMap<String, Value>,
    /// The definition name of each kind (list kinds included).
    pub(super) by_kind: BTreeMap<GroupVersionKind, String>,
    /// The custom resource kinds: no strategic merge patch (upstream answers 415).
    pub(super) custom: BTreeSet<GroupVersionKind>,
}

/// Adds the kinds of k8s-openapi types to a generator, recording each kind's definition name.
macro_rules! kinds {
    ($gen:expr, $out:expr; $($ty:ty),* $(,)?) => {
        $( add_kind::<$ty>($gen, $out); )*
    };
}

fn add_kind<T: schemars::JsonSchema + k8s_openapi::Resource>(
    generator: &mut SchemaGenerator,
    out: &mut BTreeMap<GroupVersionKind, String>,
) {
    generator.subschema_for::<T>();
    out.insert(
        GroupVersionKind::new(T::GROUP, T::VERSION, T::KIND),
        T::schema_name().into_owned(),
    );
}

/// The built-in kinds with a schema: every GA kind k8s-openapi has in all the Kubernetes
/// versions it supports, and the kinds subresources take.
fn builtin_kinds(generator: &mut SchemaGenerator) -> BTreeMap<GroupVersionKind, String> {
    use api::admissionregistration::v1 as admissionregistration;
    use api::{
        apps, authentication, authorization, autoscaling, batch, certificates, coordination, core,
        discovery, events, flowcontrol, networking, node, policy, rbac, scheduling, storage,
    };
    let mut out = BTreeMap::new();
    let g = generator;
    let o = &mut out;
    kinds!(g, o;
        core::v1::Binding, core::v1::ComponentStatus, core::v1::ConfigMap, core::v1::Endpoints,
        core::v1::Event, core::v1::LimitRange, core::v1::Namespace, core::v1::Node,
        core::v1::PersistentVolume, core::v1::PersistentVolumeClaim, core::v1::Pod,
        core::v1::PodTemplate, core::v1::ReplicationController, core::v1::ResourceQuota,
        core::v1::Secret, core::v1::Service, core::v1::ServiceAccount,
        apps::v1::ControllerRevision, apps::v1::DaemonSet, apps::v1::Deployment,
        apps::v1::ReplicaSet, apps::v1::StatefulSet,
        authentication::v1::SelfSubjectReview, authentication::v1::TokenRequest,
        authentication::v1::TokenReview,
        authorization::v1::LocalSubjectAccessReview, authorization::v1::SelfSubjectAccessReview,
        authorization::v1::SelfSubjectRulesReview, authorization::v1::SubjectAccessReview,
        autoscaling::v1::HorizontalPodAutoscaler, autoscaling::v1::Scale,
        autoscaling::v2::HorizontalPodAutoscaler,
        batch::v1::CronJob, batch::v1::Job,
        certificates::v1::CertificateSigningRequest,
        coordination::v1::Lease,
        discovery::v1::EndpointSlice,
        events::v1::Event,
        flowcontrol::v1::FlowSchema, flowcontrol::v1::PriorityLevelConfiguration,
        networking::v1::Ingress, networking::v1::IngressClass, networking::v1::NetworkPolicy,
        node::v1::RuntimeClass,
        policy::v1::Eviction, policy::v1::PodDisruptionBudget,
        rbac::v1::ClusterRole, rbac::v1::ClusterRoleBinding, rbac::v1::Role,
        rbac::v1::RoleBinding,
        scheduling::v1::PriorityClass,
        storage::v1::CSIDriver, storage::v1::CSINode, storage::v1::CSIStorageCapacity,
        storage::v1::StorageClass, storage::v1::VolumeAttachment,
        admissionregistration::MutatingWebhookConfiguration,
        admissionregistration::ValidatingAdmissionPolicy,
        admissionregistration::ValidatingAdmissionPolicyBinding,
        admissionregistration::ValidatingWebhookConfiguration,
        apiextensions::CustomResourceDefinition,
    );
    out
}

/// A schema generator that leaves schemas as k8s-openapi writes them, references as swagger
/// 2.0 spells them.
fn generator() -> SchemaGenerator {
    SchemaSettings::draft07()
        .with(|s| {
            s.definitions_path = "/definitions".into();
            s.meta_schema = None;
            s.transforms.clear();
        })
        .into_generator()
}

/// The definition name of a custom resource's kind, as upstream builds it: the group's DNS
/// labels reversed, then version and kind (`com.example.stable.v1.CronTab`).
pub(super) fn custom_name(gvk: &GroupVersionKind) -> String {
    let mut labels: Vec<&str> = gvk.group.split('.').filter(|l| !l.is_empty()).collect();
    labels.reverse();
    labels.push(&gvk.version);
    labels.push(&gvk.kind);
    labels.join(".")
}

fn gvk_value(gvk: &GroupVersionKind) -> Value {
    json!({"group": gvk.group, "kind": gvk.kind, "version": gvk.version})
}

/// Appends `gvk` to a definition's `x-kubernetes-group-version-kind` list.
fn tag_gvk(schemas: &mut BTreeMap<String, Value>, name: &str, gvk: &GroupVersionKind) {
    let Some(Value::Object(def)) = schemas.get_mut(name) else {
        return;
    };
    let list = def
        .entry("x-kubernetes-group-version-kind")
        .or_insert_with(|| json!([]));
    if let Value::Array(items) = list {
        let value = gvk_value(gvk);
        if !items.contains(&value) {
            items.push(value);
        }
    }
}

/// The definition name a schema refers to: itself, or its list's items.
fn ref_target(schema: &Value) -> Option<String> {
    let of = |v: &Value| {
        v.get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix(V2_PREFIX))
            .map(str::to_owned)
    };
    of(schema).or_else(|| schema.get("items").and_then(of))
}

/// Writes the strategic merge patch extensions of `schema`'s fields into definition `name`,
/// following references into nested types.
fn annotate(
    schemas: &mut BTreeMap<String, Value>,
    name: &str,
    schema: SchemaRef,
    seen: &mut BTreeSet<(String, &'static str)>,
) {
    if !seen.insert((name.to_owned(), schema.name)) {
        return;
    }
    for field in schema.fields {
        let Some(Value::Object(prop)) = schemas
            .get_mut(name)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(field.name))
        else {
            continue;
        };
        let strategy = match (field.strategy, field.retain_keys) {
            (Strategy::Merge { .. }, true) => Some("merge,retainKeys"),
            (Strategy::Merge { .. }, false) => Some("merge"),
            (Strategy::Replace, _) => Some("replace"),
            (Strategy::Default, true) => Some("retainKeys"),
            (Strategy::Default, false) => None,
        };
        if let Some(strategy) = strategy {
            prop.insert("x-kubernetes-patch-strategy".into(), strategy.into());
        }
        if let Some(key) = field.merge_key() {
            prop.insert("x-kubernetes-patch-merge-key".into(), key.into());
        }
        let target = ref_target(&Value::Object(prop.clone()));
        if let (Some(child), Some(target)) = (field.schema, target) {
            annotate(schemas, &target, child, seen);
        }
    }
}

/// The schema of a list kind, items of definition `item`.
fn list_schema(item: &str, kind: &str) -> Value {
    json!({
        "description": format!("{kind} is a list of {}.", item.rsplit('.').next().unwrap_or(item)),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object.",
                "type": "string",
            },
            "items": {
                "description": "The items of the list.",
                "type": "array",
                "items": {"$ref": format!("{V2_PREFIX}{item}")},
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents.",
                "type": "string",
            },
            "metadata": {
                "$ref": format!("{V2_PREFIX}{LIST_META}"),
                "description": "Standard list metadata.",
            },
        },
        "required": ["items"],
    })
}

/// The schema of a custom resource: `schema` (its `openAPIV3Schema`) if given, else any object,
/// with `apiVersion`, `kind` and `metadata` added as upstream does.
fn custom_schema(schema: Option<&Value>) -> Value {
    let mut def = match schema {
        Some(Value::Object(map)) => map.clone(),
        _ => {
            let mut map = Map::new();
            map.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
            map
        }
    };
    def.insert("type".into(), "object".into());
    let props = def
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(props) = props {
        props.insert(
            "apiVersion".into(),
            json!({"description": "APIVersion defines the versioned schema of this representation of an object.", "type": "string"}),
        );
        props.insert(
            "kind".into(),
            json!({"description": "Kind is a string value representing the REST resource this object represents.", "type": "string"}),
        );
        props.insert(
            "metadata".into(),
            json!({"$ref": format!("{V2_PREFIX}{OBJECT_META}"), "description": "Standard object's metadata."}),
        );
    }
    Value::Object(def)
}

/// Builds every definition `registry` needs. `custom` holds custom resources' schemas by kind.
pub(super) fn build(
    registry: &Registry,
    custom: &BTreeMap<GroupVersionKind, Value>,
) -> Definitions {
    let mut generator = generator();
    let mut by_kind = builtin_kinds(&mut generator);
    generator.subschema_for::<meta::DeleteOptions>();
    generator.subschema_for::<meta::Status>();
    generator.subschema_for::<meta::WatchEvent<api::core::v1::Pod>>();
    generator.subschema_for::<meta::Patch>();
    generator.subschema_for::<meta::APIResourceList>();
    generator.subschema_for::<meta::APIGroup>();
    generator.subschema_for::<meta::APIGroupList>();
    generator.subschema_for::<meta::APIVersions>();
    let mut schemas: BTreeMap<String, Value> =
        generator.take_definitions(false).into_iter().collect();

    // Kinds that subresources take are tagged whether or not the registry serves them.
    for (gvk, name) in &by_kind {
        if registry.by_kind(gvk).is_none() {
            tag_gvk(&mut schemas, name, gvk);
        }
    }
    let mut group_versions = BTreeSet::new();
    let mut custom_kinds = BTreeSet::new();
    for r in registry.iter() {
        let gvk = r.gvk();
        group_versions.insert((r.group.clone(), r.version.clone()));
        let name = match by_kind.get(&gvk) {
            Some(name) => name.clone(),
            None => {
                let name = custom_name(&gvk);
                schemas.insert(name.clone(), custom_schema(custom.get(&gvk)));
                by_kind.insert(gvk.clone(), name.clone());
                custom_kinds.insert(gvk.clone());
                name
            }
        };
        tag_gvk(&mut schemas, &name, &gvk);
        if let Some(schema) = patch_schema::for_kind(&r.group, &r.version, &r.kind) {
            annotate(&mut schemas, &name, schema, &mut BTreeSet::new());
        }
        let list_gvk = GroupVersionKind::new(&r.group, &r.version, &r.list_kind);
        let prefix = name.rsplit_once('.').map_or("", |(p, _)| p);
        let list_name = if prefix.is_empty() {
            r.list_kind.clone()
        } else {
            format!("{prefix}.{}", r.list_kind)
        };
        schemas
            .entry(list_name.clone())
            .or_insert_with(|| list_schema(&name, &r.list_kind));
        tag_gvk(&mut schemas, &list_name, &list_gvk);
        by_kind.insert(list_gvk, list_name);
    }
    annotate(
        &mut schemas,
        OBJECT_META,
        &patch_schema::OBJECT_META,
        &mut BTreeSet::new(),
    );
    // Options and events every group version serves, tagged with each (as upstream does).
    for (group, version) in &group_versions {
        for (name, kind) in [
            (DELETE_OPTIONS, "DeleteOptions"),
            (WATCH_EVENT, "WatchEvent"),
        ] {
            tag_gvk(
                &mut schemas,
                name,
                &GroupVersionKind::new(group, version, kind),
            );
        }
    }
    tag_gvk(
        &mut schemas,
        STATUS,
        &GroupVersionKind::new("", "v1", "Status"),
    );
    Definitions {
        schemas,
        by_kind,
        custom: custom_kinds,
    }
}

/// Every definition reachable from `roots`, by name.
pub(super) fn closure(
    schemas: &BTreeMap<String, Value>,
    roots: impl IntoIterator<Item = String>,
) -> BTreeMap<&str, &Value> {
    let mut out = BTreeMap::new();
    let mut queue: Vec<String> = roots.into_iter().collect();
    while let Some(name) = queue.pop() {
        let Some((key, schema)) = schemas.get_key_value(&name) else {
            continue;
        };
        if out.insert(key.as_str(), schema).is_some() {
            continue;
        }
        collect_refs(schema, &mut queue);
    }
    out
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(V2_PREFIX))
            {
                out.push(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Rewrites a swagger 2.0 schema into OpenAPI v3's shape: references point at
/// `#/components/schemas/`, and a reference with siblings (a field's description) becomes
/// `allOf: [{$ref}]` beside them, as upstream writes it.
pub(super) fn to_v3(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out: Map<String, Value> =
                map.iter().map(|(k, v)| (k.clone(), to_v3(v))).collect();
            if let Some(Value::String(reference)) = out.remove("$ref") {
                let reference = match reference.strip_prefix(V2_PREFIX) {
                    Some(name) => format!("{V3_PREFIX}{name}"),
                    None => reference,
                };
                if out.is_empty() {
                    out.insert("$ref".into(), reference.into());
                } else {
                    out.insert("allOf".into(), json!([{"$ref": reference}]));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_v3).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_names_reverse_the_group() {
        let gvk = GroupVersionKind::new("stable.example.com", "v1", "CronTab");
        assert_eq!(custom_name(&gvk), "com.example.stable.v1.CronTab");
    }

    #[test]
    fn v3_wraps_refs_with_siblings() {
        let v2 = json!({"properties": {
            "a": {"$ref": "#/definitions/x.Y", "description": "d"},
            "b": {"$ref": "#/definitions/x.Z"},
        }});
        let v3 = to_v3(&v2);
        assert_eq!(
            v3["properties"]["a"],
            json!({"allOf": [{"$ref": "#/components/schemas/x.Y"}], "description": "d"})
        );
        assert_eq!(
            v3["properties"]["b"],
            json!({"$ref": "#/components/schemas/x.Z"})
        );
    }
}
