//! Fuzz targets over the input a server takes from strangers, as plain functions over bytes,
//! and a small mutation driver that runs them on the stable toolchain.
//!
//! Each target in [`TARGETS`] must never panic, whatever the bytes, and checks the
//! round-trip properties its parser promises (a printed selector parses back to itself, a
//! printed quantity to an equal one, a merge patch applied twice changes nothing more). The
//! property tests in `tests/properties.rs` run every target a few hundred times in the normal
//! suite; `cargo run -p kube-fuzz --release -- TARGET --seconds N` runs one for longer (see
//! the README). The targets take `&[u8]` so that cargo-fuzz or AFL harnesses can call them
//! unchanged.

pub mod driver;

use std::collections::BTreeMap;

use k8s_openapi::api::{apps, batch, core};
use kube_core::gvk::GroupVersionKind;
use kube_core::patch::{self, schema};
use kube_core::quantity::Quantity;
use kube_core::selector::field::FieldSelector;
use kube_core::selector::label::LabelSelector;
use serde_json::{Value, json};

/// A named fuzz target.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("object_decoding", object_decoding),
    ("label_selector", label_selector),
    ("field_selector", field_selector),
    ("json_patch", json_patch),
    ("merge_patch", merge_patch),
    ("strategic_merge_patch", strategic_merge_patch),
    ("quantity", quantity),
    ("request_path", request_path),
];

/// The target named `name`.
pub fn target(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// The kinds object decoding is tried as.
const KINDS: [(&str, &str, &str); 8] = [
    ("", "v1", "Pod"),
    ("", "v1", "Service"),
    ("", "v1", "ConfigMap"),
    ("", "v1", "Secret"),
    ("", "v1", "Namespace"),
    ("apps", "v1", "Deployment"),
    ("apps", "v1", "StatefulSet"),
    ("batch", "v1", "CronJob"),
];

/// JSON, else YAML, as the server reads bodies (YAML for apply).
fn decode(data: &[u8]) -> Option<Value> {
    serde_json::from_slice(data)
        .ok()
        .or_else(|| serde_yaml_ng::from_slice(data).ok())
}

/// A typed decode of `value` as `T`: if it decodes, its encoding decodes again to the same.
fn typed_round_trip<T>(value: &Value)
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let Ok(typed) = serde_json::from_value::<T>(value.clone()) else {
        return;
    };
    let encoded = serde_json::to_value(&typed).expect("a decoded object encodes");
    let again: T = serde_json::from_value(encoded.clone()).expect("an encoded object decodes");
    assert_eq!(
        serde_json::to_value(&again).expect("encodes"),
        encoded,
        "typed round trip"
    );
}

/// Object decoding: the bytes as JSON or YAML, decoded into the built-in kinds, defaulted,
/// validated and checked for unknown fields as the server does on create.
pub fn object_decoding(data: &[u8]) {
    let Some(value) = decode(data) else {
        return;
    };
    typed_round_trip::<core::v1::Pod>(&value);
    typed_round_trip::<core::v1::Service>(&value);
    typed_round_trip::<apps::v1::Deployment>(&value);
    typed_round_trip::<batch::v1::CronJob>(&value);
    for (group, version, kind) in KINDS {
        let gvk = GroupVersionKind::new(group, version, kind);
        let mut object = value.clone();
        let _ = kube_core::builtin::unknown_fields(&gvk, &object);
        if kube_core::builtin::default_object(&gvk, &mut object).is_ok() {
            let _ = kube_core::builtin::validate_create(&gvk, &object);
            let _ = kube_core::builtin::validate_update(&gvk, &object, &value);
        }
    }
}

/// Label selectors: parse; a parsed selector prints as a selector that parses to itself, and
/// matching never panics.
pub fn label_selector(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(selector) = LabelSelector::parse(text) else {
        return;
    };
    let printed = selector.to_string();
    let again = LabelSelector::parse(&printed)
        .unwrap_or_else(|e| panic!("{printed:?} (from {text:?}) does not parse: {e}"));
    assert_eq!(again.to_string(), printed, "from {text:?}");
    let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
    let _ = selector.matches(&labels);
}

/// Field selectors: as [`label_selector`].
pub fn field_selector(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(selector) = FieldSelector::parse(text) else {
        return;
    };
    let printed = selector.to_string();
    let again = FieldSelector::parse(&printed)
        .unwrap_or_else(|e| panic!("{printed:?} (from {text:?}) does not parse: {e}"));
    assert_eq!(again.to_string(), printed, "from {text:?}");
    let fields = BTreeMap::from([("metadata.name".to_owned(), "web".to_owned())]);
    let _ = selector.matches(&fields);
}

/// The target a patch applies to: the first element of a `[target, patch]` pair, else a pod.
fn target_and_patch(data: &[u8]) -> Option<(Value, Value)> {
    let value = decode(data)?;
    if let Value::Array(pair) = &value
        && pair.len() == 2
        && pair[0].is_object()
    {
        return Some((pair[0].clone(), pair[1].clone()));
    }
    Some((sample_pod(), value))
}

fn sample_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
        "spec": {"containers": [
            {"name": "app", "image": "nginx", "ports": [{"containerPort": 80}],
             "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "busybox"}],
            "tolerations": [{"key": "k", "operator": "Exists"}]},
    })
}

/// JSON patches (RFC 6902) within the server's limits.
pub fn json_patch(data: &[u8]) {
    if let Some((target, patch)) = target_and_patch(data) {
        let _ = patch::json::apply(&target, &patch);
    }
}

/// JSON merge patches (RFC 7386): applying the same patch again changes nothing.
pub fn merge_patch(data: &[u8]) {
    if let Some((target, patch)) = target_and_patch(data) {
        let once = patch::merge::apply(&target, &patch);
        let twice = patch::merge::apply(&once, &patch);
        assert_eq!(once, twice, "a merge patch is idempotent");
    }
}

/// Strategic merge patches against the pod schema.
pub fn strategic_merge_patch(data: &[u8]) {
    let Some(schema) = schema::for_kind("", "v1", "Pod") else {
        return;
    };
    if let Some((target, patch)) = target_and_patch(data) {
        let _ = patch::strategic::apply(&target, &patch, schema);
    }
}

/// Quantities: a parsed quantity prints as one that parses to an equal quantity, and its
/// canonical form is stable.
pub fn quantity(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(q) = Quantity::parse(text) else {
        return;
    };
    let printed = q.to_string();
    let again =
        Quantity::parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not parse: {e}"));
    assert_eq!(again, q, "{text:?} printed as {printed:?}");
    let canonical = q.canonical();
    let reparsed = Quantity::parse(&canonical)
        .unwrap_or_else(|e| panic!("canonical {canonical:?} does not parse: {e}"));
    assert_eq!(reparsed.canonical(), canonical, "from {text:?}");
}

/// The request path parser, on a URI as the HTTP layer hands it over (the first byte picks
/// the method): names, namespaces and resources are single path segments, so no request
/// can name a key outside its collection.
pub fn request_path(data: &[u8]) {
    use kube_api::server::request::{RequestInfo, parse_query};
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let methods = [
        http::Method::GET,
        http::Method::POST,
        http::Method::PUT,
        http::Method::PATCH,
        http::Method::DELETE,
        http::Method::HEAD,
        http::Method::OPTIONS,
    ];
    let method = &methods[usize::from(first) % methods.len()];
    let Ok(uri) = http::Uri::try_from(rest) else {
        return;
    };
    let query = parse_query(uri.query());
    let Some(info) = RequestInfo::parse(method, uri.path(), &query) else {
        return;
    };
    for segment in [&info.namespace, &info.name, &info.resource, &info.group] {
        assert!(!segment.contains('/'), "{segment:?} from {:?}", uri.path());
    }
    if info.is_resource_request {
        assert!(
            info.api_prefix == "api" || info.api_prefix == "apis",
            "{info:?}"
        );
        assert!(!info.resource.is_empty(), "{info:?}");
    }
}
