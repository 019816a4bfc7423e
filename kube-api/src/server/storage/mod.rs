//! Generic resource storage over a [`Store`]: every registered resource, held as JSON.
//!
//! Objects live under [`key::object_key`]; `metadata.resourceVersion` is never stored but
//! filled on read from the key's `mod_revision`. Per-kind rules plug in through
//! [`Strategy`]; lists and watches read through a [`ListWatchSource`].

use std::sync::Arc;

use kube_core::registry::ResourceInfo;
use kube_core::selector::field::{FieldSelector, field_set};
use kube_core::selector::label::LabelSelector;
use kube_core::status::StatusError;
use kube_store::{KeyValue, Store};
use serde_json::Value;

use crate::server::clock::Clock;

pub mod allocator;
pub mod cache;
pub mod conversion;
mod create;
mod delete;
pub mod key;
mod list;
pub mod meta;
pub mod raw;
pub mod source;
pub mod strategy;
pub mod token;
mod update;
pub mod watch;

pub use cache::{WatchCache, WatchCacheConfig};
pub(crate) use create::random_suffix;
pub use delete::{DeleteOptions, DeleteOutcome, Propagation};
pub use list::{ListItem, ListOptions, ListResult, RvMatch};
pub use source::{ListWatchSource, StoreSource};
pub use strategy::{DefaultStrategy, Strategy};
pub use update::UpdateOutcome;

/// How many times a read-modify-write is tried on conflicts with concurrent writers before the
/// request fails with 409. Each retry starts from the value the conflict returned, so a failure
/// means this many other writes landed during the request. Upstream's GuaranteedUpdate has no
/// cap; this bound only keeps a request from running on under extreme contention.
pub const MAX_UPDATE_ATTEMPTS: usize = 64;

/// The generic storage of every resource.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn Store>,
    source: Arc<dyn ListWatchSource>,
    clock: Arc<dyn Clock>,
    strategy: Arc<dyn Strategy>,
    allocator: Option<allocator::ServiceAllocator>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").finish_non_exhaustive()
    }
}

impl Storage {
    /// Storage over `store`, reading lists and watches from `source`.
    pub fn new(
        store: Arc<dyn Store>,
        source: Arc<dyn ListWatchSource>,
        clock: Arc<dyn Clock>,
        strategy: Arc<dyn Strategy>,
    ) -> Self {
        Self {
            store,
            source,
            clock,
            strategy,
            allocator: None,
        }
    }

    /// This storage, allocating cluster IPs and node ports of services with `allocator`.
    pub fn with_allocator(mut self, allocator: allocator::ServiceAllocator) -> Self {
        self.allocator = Some(allocator);
        self
    }

    /// The service allocator, when services allocate cluster IPs and node ports.
    pub fn allocator(&self) -> Option<&allocator::ServiceAllocator> {
        self.allocator.as_ref()
    }

    /// The store under this storage.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The source lists and watches read from.
    pub fn source(&self) -> &Arc<dyn ListWatchSource> {
        &self.source
    }

    /// One object, with its resourceVersion. Fails with 404 if it does not exist.
    pub async fn get(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> Result<Value, StatusError> {
        Ok(self.get_kv(info, namespace, name).await?.1)
    }

    /// One object and its store entry.
    async fn get_kv(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> Result<(KeyValue, Value), StatusError> {
        let key = key::object_key(info, namespace, name);
        let kv = self
            .store
            .get(&key)
            .await
            .map_err(|e| store_error(e, info, name))?
            .ok_or_else(|| StatusError::not_found(&info.group, &info.plural, name))?;
        let obj = decode(info, &kv)?;
        Ok((kv, obj))
    }
}

/// An object read from the store, with its resourceVersion and the served apiVersion and kind.
pub fn decode(info: &ResourceInfo, kv: &KeyValue) -> Result<Value, StatusError> {
    let mut obj: Value = serde_json::from_slice(&kv.value).map_err(|e| {
        StatusError::internal(format!("stored object {} cannot be decoded: {e}", kv.key))
    })?;
    conversion::to_served(info, &mut obj);
    set_type(info, &mut obj);
    meta::set_meta(&mut obj, "resourceVersion", kv.mod_revision.to_string());
    Ok(obj)
}

/// The bytes to store for `obj` of `info`: without its resourceVersion, in the stored shape.
pub fn encode(info: &ResourceInfo, obj: &Value) -> Result<bytes::Bytes, StatusError> {
    let mut obj = obj.clone();
    meta::remove_meta(&mut obj, "resourceVersion");
    conversion::to_stored(info, &mut obj);
    serde_json::to_vec(&obj)
        .map(bytes::Bytes::from)
        .map_err(StatusError::internal)
}

/// Sets `apiVersion` and `kind` to the resource's.
pub fn set_type(info: &ResourceInfo, obj: &mut Value) {
    if let Some(map) = obj.as_object_mut() {
        map.insert("apiVersion".to_owned(), Value::String(info.api_version()));
        map.insert("kind".to_owned(), Value::String(info.kind.clone()));
    }
}

/// The name field selectors know a resource by: `pods`, or `deployments.apps`.
pub fn selectable_name(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        info.plural.clone()
    } else {
        format!("{}.{}", info.plural, info.group)
    }
}

/// Whether `obj` matches both selectors.
pub fn matches(
    info: &ResourceInfo,
    obj: &Value,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> bool {
    (labels.is_empty() || labels.matches(&meta::labels(obj)))
        && (fields.is_empty() || fields.matches(&field_set(&selectable_name(info), obj)))
}

/// A store error as the Status the API answers with.
pub fn store_error(err: kube_store::Error, info: &ResourceInfo, name: &str) -> StatusError {
    use kube_store::Error as E;
    match err {
        E::NotFound { .. } => StatusError::not_found(&info.group, &info.plural, name),
        E::AlreadyExists { .. } => StatusError::already_exists(&info.group, &info.plural, name),
        E::Conflict { .. } => StatusError::conflict(&info.group, &info.plural, name),
        E::Compacted {
            requested,
            compacted,
        } => StatusError::too_old_resource_version(
            u64::try_from(requested).unwrap_or_default(),
            u64::try_from(compacted).unwrap_or_default(),
        ),
        E::FutureRevision { requested, current } => StatusError::timeout(
            &format!("Too large resource version: {requested}, current: {current}"),
            1,
        ),
        E::ValueTooLarge { .. } => StatusError::request_entity_too_large(&err.to_string()),
        E::InvalidKey { .. } => StatusError::bad_request(err.to_string()),
        other => StatusError::internal(other),
    }
}
