//! ObjectMeta rules, as upstream's `ValidateObjectMeta` and `ValidateObjectMetaUpdate`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::Serialize;
use serde_json::Value;

use super::name::{NameRule, is_dns1123_label, is_qualified_name, is_valid_label_value};
use super::path::{ErrorList, FieldError, Path};

/// The largest total size of an object's annotations (keys and values), in bytes.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// The message of an immutable field that changed.
pub const FIELD_IMMUTABLE: &str = "field is immutable";

const FINALIZER_ORPHAN: &str = "orphan";
const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

/// Validates `metadata` of an object being created.
///
/// The name is required unless `generateName` is set, and follows `name_rule`; the
/// namespace is required when `namespaced` and forbidden otherwise; labels, annotations,
/// owner references and finalizers follow upstream's rules.
pub fn validate_object_meta(meta: &ObjectMeta, namespaced: bool, name_rule: NameRule) -> ErrorList {
    let path = Path::new("metadata");
    let mut errs = ErrorList::new();

    let generate_name = meta.generate_name.as_deref().unwrap_or_default();
    if !generate_name.is_empty() {
        for msg in name_rule.check(generate_name, true) {
            errs.push(FieldError::invalid(
                &path.child("generateName"),
                generate_name,
                msg,
            ));
        }
    }
    let name = meta.name.as_deref().unwrap_or_default();
    if !name.is_empty() {
        for msg in name_rule.check(name, false) {
            errs.push(FieldError::invalid(&path.child("name"), name, msg));
        }
    } else if generate_name.is_empty() {
        errs.push(FieldError::required(
            &path.child("name"),
            "name or generateName is required",
        ));
    }

    let namespace = meta.namespace.as_deref().unwrap_or_default();
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required(&path.child("namespace"), ""));
        } else {
            for msg in is_dns1123_label(namespace) {
                errs.push(FieldError::invalid(
                    &path.child("namespace"),
                    namespace,
                    msg,
                ));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            &path.child("namespace"),
            "not allowed on this type",
        ));
    }

    if let Some(generation) = meta.generation.filter(|g| *g < 0) {
        errs.push(FieldError::invalid(
            &path.child("generation"),
            generation,
            "must be greater than or equal to 0",
        ));
    }
    errs.append(validate_common(meta, &path));
    errs
}

/// Validates `metadata` of an update against the stored object's.
///
/// Name, namespace, uid, creationTimestamp, deletionTimestamp and
/// deletionGracePeriodSeconds are immutable; generation may not go down; no finalizer may
/// be added once deletion started; labels, annotations, owner references and finalizers of
/// the new object follow the create rules. Upstream also requires a resourceVersion here;
/// that check is left to the caller, which knows whether the update is unconditional.
pub fn validate_object_meta_update(new: &ObjectMeta, old: &ObjectMeta) -> ErrorList {
    let path = Path::new("metadata");
    let mut errs = ErrorList::new();

    if old.deletion_timestamp.is_some() {
        let old_finalizers: BTreeSet<&String> = old.finalizers.iter().flatten().collect();
        let added: BTreeSet<&String> = new
            .finalizers
            .iter()
            .flatten()
            .filter(|f| !old_finalizers.contains(f))
            .collect();
        if !added.is_empty() {
            let quoted: Vec<String> = added.iter().map(|f| super::path::go_quote(f)).collect();
            errs.push(FieldError::forbidden(
                &path.child("finalizers"),
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    quoted.join(", ")
                ),
            ));
        }
    }

    let (new_generation, old_generation) = (
        new.generation.unwrap_or_default(),
        old.generation.unwrap_or_default(),
    );
    if new_generation < old_generation {
        errs.push(FieldError::invalid(
            &path.child("generation"),
            new_generation,
            "must not be decremented",
        ));
    }

    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    errs.append(validate_immutable(
        &text(&new.name),
        &text(&old.name),
        &path.child("name"),
    ));
    errs.append(validate_immutable(
        &text(&new.namespace),
        &text(&old.namespace),
        &path.child("namespace"),
    ));
    errs.append(validate_immutable(
        &text(&new.uid),
        &text(&old.uid),
        &path.child("uid"),
    ));
    errs.append(validate_immutable(
        &new.creation_timestamp,
        &old.creation_timestamp,
        &path.child("creationTimestamp"),
    ));
    errs.append(validate_immutable(
        &new.deletion_timestamp,
        &old.deletion_timestamp,
        &path.child("deletionTimestamp"),
    ));
    errs.append(validate_immutable(
        &new.deletion_grace_period_seconds,
        &old.deletion_grace_period_seconds,
        &path.child("deletionGracePeriodSeconds"),
    ));

    errs.append(validate_common(new, &path));
    errs
}

/// An `Invalid value: ...: field is immutable` error at `path` when `new` differs from
/// `old`. Values compare as JSON, where null, `[]` and `{}` are equal (as upstream's
/// semantic equality treats nil and empty lists and maps).
pub fn validate_immutable<T: Serialize + ?Sized>(new: &T, old: &T, path: &Path) -> ErrorList {
    let new = serde_json::to_value(new).unwrap_or(Value::Null);
    let old = serde_json::to_value(old).unwrap_or(Value::Null);
    if normalized(&new) == normalized(&old) {
        ErrorList::new()
    } else {
        FieldError::invalid(path, new, FIELD_IMMUTABLE).into()
    }
}

fn normalized(value: &Value) -> &Value {
    match value {
        Value::Array(a) if a.is_empty() => &Value::Null,
        Value::Object(o) if o.is_empty() => &Value::Null,
        other => other,
    }
}

fn validate_common(meta: &ObjectMeta, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    if let Some(labels) = &meta.labels {
        errs.append(validate_labels(labels, &path.child("labels")));
    }
    if let Some(annotations) = &meta.annotations {
        errs.append(validate_annotations(
            annotations,
            &path.child("annotations"),
        ));
    }
    if let Some(owners) = &meta.owner_references {
        errs.append(validate_owner_references(
            owners,
            &path.child("ownerReferences"),
        ));
    }
    if let Some(finalizers) = &meta.finalizers {
        errs.append(validate_finalizers(finalizers, &path.child("finalizers")));
    }
    errs
}

/// Label keys are qualified names and values are label values.
pub fn validate_labels(labels: &BTreeMap<String, String>, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    for (key, value) in labels {
        for msg in is_qualified_name(key) {
            errs.push(FieldError::invalid(path, key.as_str(), msg));
        }
        for msg in is_valid_label_value(value) {
            errs.push(FieldError::invalid(path, value.as_str(), msg));
        }
    }
    errs
}

/// Annotation keys are qualified names (case-insensitively), and keys and values together
/// hold at most [`TOTAL_ANNOTATION_SIZE_LIMIT`] bytes.
pub fn validate_annotations(annotations: &BTreeMap<String, String>, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    for key in annotations.keys() {
        for msg in is_qualified_name(&key.to_lowercase()) {
            errs.push(FieldError::invalid(path, key.as_str(), msg));
        }
    }
    let total: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(
            path,
            "",
            TOTAL_ANNOTATION_SIZE_LIMIT as i64,
        ));
    }
    errs
}

/// Each owner reference names apiVersion, kind, name and uid; an Event cannot own; at most
/// one reference is the controller.
pub fn validate_owner_references(owners: &[OwnerReference], path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut first_controller: Option<String> = None;
    for owner in owners {
        let (group, version) = split_api_version(&owner.api_version);
        if version.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("apiVersion"),
                owner.api_version.as_str(),
                "version must not be empty",
            ));
        }
        if owner.kind.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("kind"),
                owner.kind.as_str(),
                "kind must not be empty",
            ));
        }
        if owner.name.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("name"),
                owner.name.as_str(),
                "name must not be empty",
            ));
        }
        if owner.uid.is_empty() {
            errs.push(FieldError::invalid(
                &path.child("uid"),
                owner.uid.as_str(),
                "uid must not be empty",
            ));
        }
        if group.is_empty() && version == "v1" && owner.kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                serde_json::to_value(owner).unwrap_or(Value::Null),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if owner.controller == Some(true) {
            let current = format!("{}/{}", owner.kind, owner.name);
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    serde_json::to_value(owners).unwrap_or(Value::Null),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

/// Splits `group/version` (or `version` for the core group); anything else has no version.
fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        None => ("", api_version),
        Some((group, version)) if !version.contains('/') => (group, version),
        Some(_) => ("", ""),
    }
}

/// Finalizers are qualified names, and `orphan` and `foregroundDeletion` are not both set.
/// A finalizer listed twice is accepted, as upstream accepts it.
pub fn validate_finalizers(finalizers: &[String], path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut seen = BTreeSet::new();
    for finalizer in finalizers {
        for msg in is_qualified_name(finalizer) {
            errs.push(FieldError::invalid(path, finalizer.as_str(), msg));
        }
        seen.insert(finalizer.as_str());
    }
    if seen.contains(FINALIZER_ORPHAN) && seen.contains(FINALIZER_FOREGROUND) {
        errs.push(FieldError::invalid(
            path,
            serde_json::to_value(finalizers).unwrap_or(Value::Null),
            format!("finalizer {FINALIZER_ORPHAN} and {FINALIZER_FOREGROUND} cannot be both set"),
        ));
    }
    errs
}
