//! The names a CRD may claim and its conditions, as upstream's naming and establishing
//! controllers decide them: a CRD's names are accepted unless another resource of its group
//! already uses one of them.

use serde_json::{Value, json};

use super::Names;
use crate::registry::ResourceInfo;

/// Why a CRD's names are not accepted: a condition reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// `PluralConflict`, `SingularConflict`, `ShortNamesConflict`, `KindConflict` or
    /// `ListKindConflict`.
    pub reason: &'static str,
    /// `"crontabs" is already in use`.
    pub message: String,
}

/// The names `wanted` may be accepted with, given the other resources of its group
/// (`others`: built-in ones and other CRDs' accepted names, never the CRD's own).
pub fn accept_names<'a>(
    wanted: &Names,
    others: impl IntoIterator<Item = &'a ResourceInfo> + Clone,
) -> Result<Names, Conflict> {
    let in_use = |reason: &'static str, name: &str| Conflict {
        reason,
        message: format!("{name:?} is already in use"),
    };
    let any = |f: &dyn Fn(&ResourceInfo) -> bool| others.clone().into_iter().any(f);
    let name_taken = |n: &str| {
        any(&|r| r.plural == n || r.singular == n || r.short_names.iter().any(|s| s == n))
    };
    if name_taken(&wanted.plural) {
        return Err(in_use("PluralConflict", &wanted.plural));
    }
    if name_taken(&wanted.singular) {
        return Err(in_use("SingularConflict", &wanted.singular));
    }
    for short in &wanted.short_names {
        if name_taken(short) {
            return Err(in_use("ShortNamesConflict", short));
        }
    }
    if any(&|r| r.kind == wanted.kind || r.list_kind == wanted.kind) {
        return Err(in_use("KindConflict", &wanted.kind));
    }
    if any(&|r| r.kind == wanted.list_kind || r.list_kind == wanted.list_kind) {
        return Err(in_use("ListKindConflict", &wanted.list_kind));
    }
    Ok(wanted.clone())
}

/// Sets condition `type_` in a CRD's `status.conditions`, keeping its `lastTransitionTime`
/// when its status does not change. Returns whether anything changed.
pub fn set_condition(
    crd: &mut Value,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) -> bool {
    let Some(obj) = crd.as_object_mut() else {
        return false;
    };
    let st = obj.entry("status").or_insert_with(|| json!({}));
    if !st.is_object() {
        *st = json!({});
    }
    let conditions = st
        .as_object_mut()
        .map(|m| m.entry("conditions").or_insert_with(|| json!([])));
    let Some(list) = conditions.and_then(Value::as_array_mut) else {
        return false;
    };
    let wanted = |time: &str| {
        json!({
            "type": type_,
            "status": status,
            "lastTransitionTime": time,
            "reason": reason,
            "message": message,
        })
    };
    match list
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
    {
        Some(c) => {
            let same_status = c.get("status").and_then(Value::as_str) == Some(status);
            let time = match c.get("lastTransitionTime").and_then(Value::as_str) {
                Some(t) if same_status => t.to_owned(),
                _ => now.to_owned(),
            };
            let new = wanted(&time);
            if *c == new {
                return false;
            }
            *c = new;
            true
        }
        None => {
            list.push(wanted(now));
            true
        }
    }
}

/// The status of condition `type_`: `True`, `False`, `Unknown`, or `""` when absent.
pub fn condition_status<'a>(crd: &'a Value, type_: &str) -> &'a str {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|l| {
            l.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        })
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("")
}
