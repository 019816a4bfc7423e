//! Reading and writing `metadata` fields of objects held as JSON.

use kube_core::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_core::status::StatusError;
use serde_json::{Map, Value};

/// The object's `metadata`, if it has one.
pub fn metadata(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

/// The object's `metadata`, created if missing. `obj` must be a JSON object (anything else is
/// replaced by an empty object first).
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let map = match obj {
        Value::Object(map) => map,
        _ => unreachable_object(),
    };
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(meta) => meta,
        _ => unreachable_object(),
    }
}

/// Never reached: both callers have just made the value an object.
fn unreachable_object() -> ! {
    unreachable!("value was just made a JSON object")
}

/// A string field of `metadata`, or `""`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    metadata(obj)
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Sets a field of `metadata`.
pub fn set_meta(obj: &mut Value, field: &str, value: impl Into<Value>) {
    metadata_mut(obj).insert(field.to_owned(), value.into());
}

/// Removes a field of `metadata`, returning it.
pub fn remove_meta(obj: &mut Value, field: &str) -> Option<Value> {
    metadata_mut(obj).remove(field)
}

/// Sets `metadata.field` to the old object's value, or removes it when the old had none.
pub fn copy_meta(obj: &mut Value, old: &Value, field: &str) {
    match metadata(old).and_then(|m| m.get(field)) {
        Some(v) => set_meta(obj, field, v.clone()),
        None => {
            remove_meta(obj, field);
        }
    }
}

/// Sets the top-level `field` to the old object's value, or removes it when the old had none.
pub fn copy_field(obj: &mut Value, old: &Value, field: &str) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    match old.get(field) {
        Some(v) => {
            map.insert(field.to_owned(), v.clone());
        }
        None => {
            map.remove(field);
        }
    }
}

/// `metadata.finalizers`.
pub fn finalizers(obj: &Value) -> Vec<String> {
    metadata(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets `metadata.finalizers`, removing the field when the list is empty.
pub fn set_finalizers(obj: &mut Value, list: &[String]) {
    if list.is_empty() {
        remove_meta(obj, "finalizers");
    } else {
        set_meta(obj, "finalizers", list.to_vec());
    }
}

/// `metadata.labels` as a sorted map (non-string values are skipped).
pub fn labels(obj: &Value) -> std::collections::BTreeMap<String, String> {
    metadata(obj)
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The object's metadata as the typed ObjectMeta, for validation. Fails with 400 when a field
/// has the wrong type.
pub fn object_meta(obj: &Value) -> Result<ObjectMeta, StatusError> {
    match obj.get("metadata") {
        None | Some(Value::Null) => Ok(ObjectMeta::default()),
        Some(meta) => serde_json::from_value(meta.clone()).map_err(|e| {
            StatusError::bad_request(format!("unable to decode metadata of the object: {e}"))
        }),
    }
}

/// The object without `metadata`, `status`, `apiVersion` and `kind`: what a change of
/// bumps `metadata.generation`.
pub fn spec_part(obj: &Value) -> Map<String, Value> {
    let mut map = obj.as_object().cloned().unwrap_or_default();
    for field in ["metadata", "status", "apiVersion", "kind"] {
        map.remove(field);
    }
    map
}
