//! The strategy of CRDs and custom resources, wrapping the server's own.

use std::sync::Arc;

use kube_core::crd::{self, CLEANUP_FINALIZER};
use kube_core::registry::ResourceInfo;
use kube_core::schema;
use kube_core::status::{Reason, StatusError};
use kube_core::validation::{ErrorList, NameRule};
use serde_json::{Value, json};

use super::CustomResources;
use crate::server::storage::Strategy;

/// The server's strategy plus, for CRDs, upstream's defaulting and validation (and the
/// cleanup finalizer), and for custom resources their version's structural schema: pruning
/// and defaulting before validation, validation, unknown fields for `fieldValidation`, and
/// objects stored at the storage version.
pub struct CustomResourceStrategy {
    inner: Arc<dyn Strategy>,
    custom: Arc<CustomResources>,
}

impl std::fmt::Debug for CustomResourceStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomResourceStrategy")
            .finish_non_exhaustive()
    }
}

impl CustomResourceStrategy {
    /// `inner` for every other resource; custom resources as `custom` serves them.
    pub fn new(inner: Arc<dyn Strategy>, custom: Arc<CustomResources>) -> Self {
        Self { inner, custom }
    }
}

/// Whether `info` is the CRD resource.
pub fn is_crd(info: &ResourceInfo) -> bool {
    info.group == crd::GROUP && info.plural == crd::PLURAL
}

/// Adds the storage version of a CRD to `status.storedVersions` if it is not there.
fn record_storage_version(obj: &mut Value) {
    let storage = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|l| {
            l.iter()
                .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        })
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (Some(storage), Some(map)) = (storage, obj.as_object_mut()) else {
        return;
    };
    let status = map.entry("status").or_insert_with(|| json!({}));
    if !status.is_object() {
        *status = json!({});
    }
    let Some(status) = status.as_object_mut() else {
        return;
    };
    let stored = status.entry("storedVersions").or_insert_with(|| json!([]));
    if let Some(list) = stored.as_array_mut()
        && !list.iter().any(|v| v == storage.as_str())
    {
        list.push(json!(storage));
    }
}

impl Strategy for CustomResourceStrategy {
    fn prepare_for_create(&self, info: &ResourceInfo, obj: &mut Value) -> Result<(), StatusError> {
        if is_crd(info) {
            self.inner.prepare_for_create(info, obj)?;
            crd::default_crd(obj);
            if let Some(map) = obj.as_object_mut() {
                map.insert(
                    "status".to_owned(),
                    json!({"acceptedNames": {"plural": "", "kind": ""}, "conditions": [], "storedVersions": []}),
                );
            }
            record_storage_version(obj);
            // Deletion waits for the custom resources to be removed (upstream adds the
            // finalizer on the first delete; here it is added on create).
            let finalizers = obj
                .pointer_mut("/metadata")
                .and_then(Value::as_object_mut)
                .map(|m| m.entry("finalizers").or_insert_with(|| json!([])));
            if let Some(list) = finalizers.and_then(Value::as_array_mut)
                && !list.iter().any(|f| f == CLEANUP_FINALIZER)
            {
                list.push(json!(CLEANUP_FINALIZER));
            }
            return Ok(());
        }
        let Some(version) = self.custom.version_of(info) else {
            return self.inner.prepare_for_create(info, obj);
        };
        if self.custom.is_terminating(&version) {
            return Err(StatusError::new(
                405,
                Reason::MethodNotAllowed,
                "create not allowed while custom resource definition is terminating",
                None,
            ));
        }
        self.inner.prepare_for_create(info, obj)?;
        schema::prune(&version.schema, obj);
        schema::default(&version.schema, obj);
        Ok(())
    }

    fn prepare_for_update(
        &self,
        info: &ResourceInfo,
        new: &mut Value,
        old: &Value,
    ) -> Result<(), StatusError> {
        self.inner.prepare_for_update(info, new, old)?;
        if is_crd(info) {
            crd::default_crd(new);
            record_storage_version(new);
        } else if let Some(version) = self.custom.version_of(info) {
            schema::prune(&version.schema, new);
            schema::default(&version.schema, new);
        }
        Ok(())
    }

    fn validate(&self, info: &ResourceInfo, obj: &Value) -> ErrorList {
        let mut errs = self.inner.validate(info, obj);
        if is_crd(info) {
            errs.append(crd::validate_crd(obj));
        } else if let Some(version) = self.custom.version_of(info) {
            errs.append(schema::validate(&version.schema, obj));
        }
        errs
    }

    fn validate_update(&self, info: &ResourceInfo, new: &Value, old: &Value) -> ErrorList {
        let mut errs = self.inner.validate_update(info, new, old);
        if is_crd(info) {
            errs.append(crd::validate_crd_update(new, old));
        } else if let Some(version) = self.custom.version_of(info) {
            errs.append(schema::validate(&version.schema, new));
        }
        errs
    }

    fn canonicalize(&self, info: &ResourceInfo, obj: &mut Value) {
        self.inner.canonicalize(info, obj);
        if let Some(version) = self.custom.version_of(info)
            && let Some(map) = obj.as_object_mut()
        {
            let api_version = format!("{}/{}", info.group, version.storage_version);
            map.insert("apiVersion".to_owned(), Value::String(api_version));
        }
    }

    fn name_rule(&self, info: &ResourceInfo) -> NameRule {
        self.inner.name_rule(info)
    }

    fn return_deleted_object(&self, info: &ResourceInfo) -> bool {
        self.inner.return_deleted_object(info)
    }

    fn unknown_fields(&self, info: &ResourceInfo, obj: &Value) -> Vec<String> {
        match self.custom.version_of(info) {
            Some(version) => {
                let mut copy = obj.clone();
                schema::prune(&version.schema, &mut copy)
            }
            None => self.inner.unknown_fields(info, obj),
        }
    }
}
