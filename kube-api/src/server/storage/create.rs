//! Create: system fields, generateName, the namespace lifecycle check and validation.

use kube_core::registry::ResourceInfo;
use kube_core::status::StatusError;
use kube_core::validation::ErrorList;
use serde_json::Value;

use super::meta::{self, meta_str, remove_meta, set_meta};
use super::{Storage, encode, key, store_error};
use crate::server::admission::{self, Operation};
use crate::server::clock::format_time;
use crate::server::fieldmanager::FieldManager;

/// How many names a `generateName` create tries before giving up.
const GENERATE_NAME_ATTEMPTS: usize = 8;

/// The characters of generated name suffixes (upstream's: no vowels, no look-alikes).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The length of generated name suffixes.
const SUFFIX_LEN: usize = 5;

impl Storage {
    /// Creates `obj` in `namespace` (ignored for cluster-scoped resources) and returns it as
    /// stored, with its resourceVersion. With `dry_run`, validates and answers without writing.
    pub async fn create(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        obj: Value,
        dry_run: bool,
    ) -> Result<Value, StatusError> {
        self.create_managed(info, namespace, obj, dry_run, None)
            .await
    }

    /// [`Storage::create`], recording the fields the write sets for `manager` in
    /// `metadata.managedFields`.
    pub async fn create_managed(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        obj: Value,
        dry_run: bool,
        manager: Option<&FieldManager>,
    ) -> Result<Value, StatusError> {
        self.create_admitted(info, namespace, obj, dry_run, manager, None)
            .await
    }

    /// [`Storage::create_managed`] through the admission chain of `admit`: its mutating
    /// plugins on the object as sent (before generateName and defaulting), its validating
    /// ones after validation. Without `admit`, only the namespace lifecycle is checked.
    pub async fn create_admitted(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        mut obj: Value,
        dry_run: bool,
        manager: Option<&FieldManager>,
        admit: Option<&admission::Request<'_>>,
    ) -> Result<Value, StatusError> {
        check_type(info, &obj)?;
        super::set_type(info, &mut obj);
        set_namespace(info, namespace, &mut obj)?;
        let mut attrs = None;
        if let Some(admit) = admit {
            let name = meta_str(&obj, "name").to_owned();
            let mut a = admit.attributes(info, Operation::Create, namespace, &name, dry_run);
            a.object = Some(obj);
            admit.chain.admit(&mut a, self).await?;
            obj = a.object.take().unwrap_or(Value::Null);
            check_type(info, &obj)?;
            super::set_type(info, &mut obj);
            set_namespace(info, namespace, &mut obj)?;
            attrs = Some(a);
        }

        let uid = uuid::Uuid::new_v4().to_string();
        set_meta(&mut obj, "uid", uid);
        set_meta(&mut obj, "creationTimestamp", format_time(self.clock.now()));
        set_meta(&mut obj, "generation", 1);
        for field in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            remove_meta(&mut obj, field);
        }
        self.strategy.prepare_for_create(info, &mut obj)?;

        let generate = meta_str(&obj, "name").is_empty();
        let prefix = meta_str(&obj, "generateName").to_owned();
        if generate && !prefix.is_empty() {
            set_meta(&mut obj, "name", format!("{prefix}{}", random_suffix()));
        }
        let name = meta_str(&obj, "name").to_owned();
        if let Some(manager) = manager {
            manager.record(info, &mut obj, None, self.clock.now())?;
        }

        meta::object_meta(&obj)?;
        let errs = self.strategy.validate(info, &obj);
        if !errs.is_empty() {
            return Err(invalid(info, &name, &errs));
        }
        match (admit, attrs.as_mut()) {
            (Some(admit), Some(attrs)) => {
                attrs.name = name.clone();
                attrs.object = Some(obj);
                admit.chain.validate(attrs, self).await?;
                admit.keep_warnings(attrs);
                obj = attrs.object.take().unwrap_or(Value::Null);
            }
            _ if info.namespaced => self.check_namespace_open(info, namespace, &name).await?,
            _ => {}
        }
        self.strategy.canonicalize(info, &mut obj);
        if dry_run {
            super::set_type(info, &mut obj);
            return Ok(obj);
        }
        let allocator = self.allocator.as_ref().filter(|_| is_service(info));
        let Some(allocator) = allocator else {
            return self.insert(info, namespace, obj, generate, &prefix).await;
        };
        allocator.allocate(&mut obj).await?;
        let allocated = obj.clone();
        let result = self.insert(info, namespace, obj, generate, &prefix).await;
        if result.is_err() {
            allocator.release(&allocated).await;
        }
        result
    }

    /// Writes a new object, drawing another generated name when one is taken.
    async fn insert(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        mut obj: Value,
        generate: bool,
        prefix: &str,
    ) -> Result<Value, StatusError> {
        for _ in 0..GENERATE_NAME_ATTEMPTS {
            let name = meta_str(&obj, "name").to_owned();
            let key = key::object_key(info, namespace, &name);
            match self.store.create(&key, encode(info, &obj)?).await {
                Ok(revision) => {
                    set_meta(&mut obj, "resourceVersion", revision.to_string());
                    // Answered at the request's version, whatever version it is stored at.
                    super::set_type(info, &mut obj);
                    return Ok(obj);
                }
                // A generated name of a service is drawn once: its allocations name it.
                Err(kube_store::Error::AlreadyExists { .. })
                    if generate && !prefix.is_empty() && !is_service(info) =>
                {
                    set_meta(&mut obj, "name", format!("{prefix}{}", random_suffix()));
                }
                Err(e) => return Err(store_error(e, info, &name)),
            }
        }
        Err(StatusError::server_timeout(
            &info.group,
            &info.plural,
            "POST",
            1,
        ))
    }

    /// Refuses a create in a namespace that does not exist (404) or is terminating (403).
    pub(crate) async fn check_namespace_open(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> Result<(), StatusError> {
        let ns_key = format!("/registry/core/namespaces/{namespace}");
        let kv = self
            .store
            .get(&ns_key)
            .await
            .map_err(|e| store_error(e, info, name))?
            .ok_or_else(|| StatusError::not_found("", "namespaces", namespace))?;
        let ns: Value = serde_json::from_slice(&kv.value).map_err(StatusError::internal)?;
        let terminating = !meta_str(&ns, "deletionTimestamp").is_empty()
            || ns.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating");
        if terminating {
            return Err(StatusError::forbidden_with(
                &info.group,
                &info.plural,
                name,
                &format!(
                    "unable to create new content in namespace {namespace} because it is being terminated"
                ),
            ));
        }
        Ok(())
    }
}

/// Fills in the namespace of a namespaced object from the URL (400 when the body names
/// another), and removes it from a cluster-scoped one.
fn set_namespace(info: &ResourceInfo, namespace: &str, obj: &mut Value) -> Result<(), StatusError> {
    if info.namespaced {
        let body_ns = meta_str(obj, "namespace");
        if body_ns.is_empty() {
            set_meta(obj, "namespace", namespace);
        } else if body_ns != namespace {
            return Err(namespace_mismatch());
        }
    } else {
        remove_meta(obj, "namespace");
    }
    Ok(())
}

/// Whether `info` is the core services resource, whose creates allocate addresses.
pub(super) fn is_service(info: &ResourceInfo) -> bool {
    info.group.is_empty() && info.plural == "services"
}

/// 400 when the body names another apiVersion or kind than the URL.
fn check_type(info: &ResourceInfo, obj: &Value) -> Result<(), StatusError> {
    if !obj.is_object() {
        return Err(StatusError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if !api_version.is_empty() && api_version != info.api_version() {
        return Err(StatusError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            info.api_version()
        )));
    }
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if !kind.is_empty() && kind != info.kind {
        return Err(StatusError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            info.kind
        )));
    }
    Ok(())
}

/// 400 when the body's namespace is not the URL's.
pub(super) fn namespace_mismatch() -> StatusError {
    StatusError::bad_request(
        "the namespace of the provided object does not match the namespace sent on the request",
    )
}

/// 422 Invalid for `errs`.
pub(super) fn invalid(info: &ResourceInfo, name: &str, errs: &ErrorList) -> StatusError {
    StatusError::invalid(&info.group, &info.kind, name, errs)
}

/// A random name suffix, drawn from a v4 UUID's random bytes.
pub(crate) fn random_suffix() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes
        .iter()
        .take(SUFFIX_LEN)
        .map(|b| SUFFIX_ALPHABET[usize::from(*b) % SUFFIX_ALPHABET.len()] as char)
        .collect()
}
