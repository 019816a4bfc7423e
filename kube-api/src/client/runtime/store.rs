//! The informer cache (client-go's `cache.Indexer`): objects by `namespace/name`, with indexes.
//!
//! Objects are held once, as `Arc<K>`; index entries share the key strings, so a cache costs
//! the objects plus a few pointers each. Iteration is in key order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::Object;
use super::delta::{Deleted, Delta};

/// The namespace index: every namespaced object under its namespace.
pub const NAMESPACE_INDEX: &str = "namespace";
/// The label index: every object under `key=value` for each of its labels.
pub const LABELS_INDEX: &str = "labels";
/// The owner index: every object under the uid of each of its owner references.
pub const OWNER_UID_INDEX: &str = "owner-uid";

/// Errors of index look-ups.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No indexer of that name was added.
    #[error("index {0:?} does not exist")]
    UnknownIndex(String),
    /// An indexer of that name exists already.
    #[error("indexer {0:?} already exists")]
    IndexerExists(String),
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An index function: the values an object is indexed under.
pub type IndexFunc<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// The cache key of an object: `namespace/name`, or `name` for cluster-scoped objects
/// (client-go's `MetaNamespaceKeyFunc`).
pub fn key_of(meta: &ObjectMeta) -> String {
    let name = meta.name.as_deref().unwrap_or_default();
    match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_owned(),
    }
}

/// The namespace indexer (client-go's `MetaNamespaceIndexFunc`).
pub fn namespace_index<K: Object>() -> IndexFunc<K> {
    Arc::new(|o: &K| o.metadata().namespace.iter().cloned().collect())
}

/// The labels indexer: `key=value` per label.
pub fn labels_index<K: Object>() -> IndexFunc<K> {
    Arc::new(|o: &K| {
        o.metadata()
            .labels
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    })
}

/// The owner indexer: the uid of each owner reference.
pub fn owner_uid_index<K: Object>() -> IndexFunc<K> {
    Arc::new(|o: &K| {
        o.metadata()
            .owner_references
            .iter()
            .flatten()
            .map(|r| r.uid.clone())
            .collect()
    })
}

struct Inner<K> {
    items: BTreeMap<Arc<str>, Arc<K>>,
    indexers: BTreeMap<String, IndexFunc<K>>,
    /// index name -> indexed value -> keys.
    indices: BTreeMap<String, BTreeMap<String, BTreeSet<Arc<str>>>>,
}

impl<K: Object> Inner<K> {
    fn index(&mut self, key: &Arc<str>, obj: &K) {
        for (name, f) in &self.indexers {
            let index = self.indices.entry(name.clone()).or_default();
            for value in f(obj) {
                index.entry(value).or_default().insert(Arc::clone(key));
            }
        }
    }

    fn unindex(&mut self, key: &Arc<str>, obj: &K) {
        for (name, f) in &self.indexers {
            if let Some(index) = self.indices.get_mut(name) {
                for value in f(obj) {
                    if let Some(keys) = index.get_mut(&value) {
                        keys.remove(key);
                        if keys.is_empty() {
                            index.remove(&value);
                        }
                    }
                }
            }
        }
    }

    /// Inserts or replaces; returns the key and the previous object.
    fn upsert(&mut self, obj: Arc<K>) -> Option<Arc<K>> {
        let key = key_of(obj.metadata());
        if let Some((k, old)) = self.items.get_key_value(key.as_str()) {
            let (k, old) = (Arc::clone(k), Arc::clone(old));
            self.unindex(&k, &old);
            self.index(&k, &obj);
            self.items.insert(k, obj);
            Some(old)
        } else {
            let k: Arc<str> = Arc::from(key);
            self.index(&k, &obj);
            self.items.insert(k, obj);
            None
        }
    }

    fn remove(&mut self, key: &str) -> Option<Arc<K>> {
        let (k, old) = self.items.remove_entry(key)?;
        self.unindex(&k, &old);
        Some(old)
    }
}

/// A thread-safe cache of objects keyed `namespace/name`, with named indexes.
///
/// Cloning gives another handle on the same cache.
pub struct Store<K> {
    inner: Arc<RwLock<Inner<K>>>,
    synced: Arc<tokio::sync::watch::Sender<bool>>,
}

impl<K> Clone for Store<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            synced: Arc::clone(&self.synced),
        }
    }
}

impl<K: Object> Default for Store<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Object> std::fmt::Debug for Store<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("len", &self.len())
            .field("synced", &self.has_synced())
            .finish()
    }
}

impl<K: Object> Store<K> {
    /// An empty cache with no indexers.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(RwLock::new(Inner {
                items: BTreeMap::new(),
                indexers: BTreeMap::new(),
                indices: BTreeMap::new(),
            })),
            synced: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// An empty cache with the namespace indexer (what client-go's informers start with).
    pub fn with_namespace_index() -> Self {
        let store = Self::new();
        store
            .add_indexer(NAMESPACE_INDEX, namespace_index())
            .unwrap_or_else(|_| unreachable!("a new store has no indexers"));
        store
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner<K>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner<K>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an indexer, indexing the objects already cached.
    pub fn add_indexer(&self, name: impl Into<String>, f: IndexFunc<K>) -> Result<()> {
        let name = name.into();
        let mut inner = self.write();
        if inner.indexers.contains_key(&name) {
            return Err(Error::IndexerExists(name));
        }
        let mut index: BTreeMap<String, BTreeSet<Arc<str>>> = BTreeMap::new();
        for (key, obj) in &inner.items {
            for value in f(obj) {
                index.entry(value).or_default().insert(Arc::clone(key));
            }
        }
        inner.indices.insert(name.clone(), index);
        inner.indexers.insert(name, f);
        Ok(())
    }

    /// The object under `key` (`namespace/name` or `name`).
    pub fn get(&self, key: &str) -> Option<Arc<K>> {
        self.read().items.get(key).cloned()
    }

    /// The object `name` in `namespace` (`None` for cluster-scoped objects).
    pub fn get_by_name(&self, namespace: Option<&str>, name: &str) -> Option<Arc<K>> {
        match namespace {
            Some(ns) if !ns.is_empty() => self.get(&format!("{ns}/{name}")),
            _ => self.get(name),
        }
    }

    /// Whether `key` is cached.
    pub fn contains(&self, key: &str) -> bool {
        self.read().items.contains_key(key)
    }

    /// Every cached object, in key order.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().items.values().cloned().collect()
    }

    /// Every key, in order.
    pub fn list_keys(&self) -> Vec<String> {
        self.read().items.keys().map(|k| k.to_string()).collect()
    }

    /// How many objects are cached.
    pub fn len(&self) -> usize {
        self.read().items.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.read().items.is_empty()
    }

    /// The objects indexed under `value` by indexer `index`, in key order.
    pub fn by_index(&self, index: &str, value: &str) -> Result<Vec<Arc<K>>> {
        let inner = self.read();
        if !inner.indexers.contains_key(index) {
            return Err(Error::UnknownIndex(index.to_owned()));
        }
        Ok(inner
            .indices
            .get(index)
            .and_then(|i| i.get(value))
            .into_iter()
            .flatten()
            .filter_map(|k| inner.items.get(k).cloned())
            .collect())
    }

    /// The keys indexed under `value` by indexer `index`.
    pub fn index_keys(&self, index: &str, value: &str) -> Result<Vec<String>> {
        let inner = self.read();
        if !inner.indexers.contains_key(index) {
            return Err(Error::UnknownIndex(index.to_owned()));
        }
        Ok(inner
            .indices
            .get(index)
            .and_then(|i| i.get(value))
            .into_iter()
            .flatten()
            .map(|k| k.to_string())
            .collect())
    }

    /// The values indexer `index` holds objects under.
    pub fn index_values(&self, index: &str) -> Result<Vec<String>> {
        let inner = self.read();
        if !inner.indexers.contains_key(index) {
            return Err(Error::UnknownIndex(index.to_owned()));
        }
        Ok(inner
            .indices
            .get(index)
            .map(|i| i.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// The objects of `namespace` (through the namespace index when present).
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.by_index(NAMESPACE_INDEX, namespace)
            .unwrap_or_else(|_| {
                self.list()
                    .into_iter()
                    .filter(|o| o.metadata().namespace.as_deref() == Some(namespace))
                    .collect()
            })
    }

    /// Whether the first full list has been applied.
    pub fn has_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits until the first full list has been applied.
    pub async fn wait_for_sync(&self) {
        let mut rx = self.synced.subscribe();
        // The sender lives as long as this store, so this only returns once synced.
        let _ = rx.wait_for(|synced| *synced).await;
    }

    /// Adds or replaces `obj`; the delta to hand to handlers.
    pub fn apply_upsert(&self, obj: Arc<K>) -> Delta<K> {
        match self.write().upsert(Arc::clone(&obj)) {
            Some(old) => Delta::Updated { old, new: obj },
            None => Delta::Added {
                object: obj,
                in_initial_list: false,
            },
        }
    }

    /// Removes the object `obj` names; the delta (with `obj` as the final state), or `None` when
    /// it was not cached.
    pub fn apply_delete(&self, obj: Arc<K>) -> Option<Delta<K>> {
        let key = key_of(obj.metadata());
        self.write().remove(&key)?;
        Some(Delta::Deleted(Deleted::Object(obj)))
    }

    /// Replaces the whole content with `objects` (a relist) and marks the cache synced.
    ///
    /// Returns, in key order, an add or update per listed object, then a tombstone
    /// ([`Deleted::FinalStateUnknown`]) per cached object the list no longer holds.
    pub fn replace(&self, objects: Vec<Arc<K>>) -> Vec<Delta<K>> {
        let first = !self.has_synced();
        let mut deltas = Vec::with_capacity(objects.len());
        {
            let mut inner = self.write();
            let mut listed: BTreeSet<String> = BTreeSet::new();
            for obj in objects {
                let key = key_of(obj.metadata());
                let delta = match inner.upsert(Arc::clone(&obj)) {
                    Some(old) => Delta::Updated { old, new: obj },
                    None => Delta::Added {
                        object: obj,
                        in_initial_list: first,
                    },
                };
                listed.insert(key);
                deltas.push(delta);
            }
            let gone: Vec<Arc<str>> = inner
                .items
                .keys()
                .filter(|k| !listed.contains(&***k))
                .cloned()
                .collect();
            for key in gone {
                if let Some(last_known) = inner.remove(&key) {
                    deltas.push(Delta::Deleted(Deleted::FinalStateUnknown {
                        key: key.to_string(),
                        last_known,
                    }));
                }
            }
        }
        self.synced.send_replace(true);
        deltas
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use proptest::prelude::*;

    fn cm(ns: &str, name: &str, labels: &[(&str, &str)], owner: Option<&str>) -> Arc<ConfigMap> {
        Arc::new(ConfigMap {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                owner_references: owner.map(|uid| {
                    vec![OwnerReference {
                        uid: uid.into(),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn indexed() -> Store<ConfigMap> {
        let s = Store::with_namespace_index();
        s.add_indexer(LABELS_INDEX, labels_index()).unwrap();
        s.add_indexer(OWNER_UID_INDEX, owner_uid_index()).unwrap();
        s
    }

    #[test]
    fn indexes_follow_updates_and_deletes() {
        let s = indexed();
        s.apply_upsert(cm("a", "x", &[("app", "web")], Some("u1")));
        s.apply_upsert(cm("b", "y", &[("app", "web")], None));
        let names =
            |v: Vec<Arc<ConfigMap>>| v.iter().map(|o| key_of(&o.metadata)).collect::<Vec<_>>();
        assert_eq!(
            names(s.by_index(LABELS_INDEX, "app=web").unwrap()),
            ["a/x", "b/y"]
        );
        assert_eq!(names(s.by_index(OWNER_UID_INDEX, "u1").unwrap()), ["a/x"]);
        assert_eq!(names(s.list_namespace("b")), ["b/y"]);
        // Relabel x: it leaves app=web.
        let d = s.apply_upsert(cm("a", "x", &[("app", "db")], None));
        assert!(matches!(d, Delta::Updated { .. }));
        assert_eq!(names(s.by_index(LABELS_INDEX, "app=web").unwrap()), ["b/y"]);
        assert!(s.by_index(OWNER_UID_INDEX, "u1").unwrap().is_empty());
        assert_eq!(s.index_values(LABELS_INDEX).unwrap(), ["app=db", "app=web"]);
        s.apply_delete(cm("b", "y", &[], None)).unwrap();
        assert_eq!(s.index_values(LABELS_INDEX).unwrap(), ["app=db"]);
        assert_eq!(
            s.by_index("nope", "x").unwrap_err(),
            Error::UnknownIndex("nope".into())
        );
        assert_eq!(
            s.add_indexer(LABELS_INDEX, labels_index()).unwrap_err(),
            Error::IndexerExists(LABELS_INDEX.into())
        );
    }

    #[test]
    fn replace_computes_tombstones_and_syncs() {
        let s = indexed();
        assert!(!s.has_synced());
        let first = s.replace(vec![cm("a", "x", &[], None), cm("a", "y", &[], None)]);
        assert!(s.has_synced());
        assert!(first.iter().all(|d| matches!(
            d,
            Delta::Added {
                in_initial_list: true,
                ..
            }
        )));
        let second = s.replace(vec![cm("a", "y", &[], None), cm("a", "z", &[], None)]);
        let kinds: Vec<String> = second
            .iter()
            .map(|d| match d {
                Delta::Added {
                    object,
                    in_initial_list,
                } => format!("add {} {in_initial_list}", key_of(&object.metadata)),
                Delta::Updated { new, .. } => format!("update {}", key_of(&new.metadata)),
                Delta::Deleted(Deleted::FinalStateUnknown { key, .. }) => {
                    format!("tombstone {key}")
                }
                Delta::Deleted(Deleted::Object(_)) => "delete".into(),
            })
            .collect();
        assert_eq!(kinds, ["update a/y", "add a/z false", "tombstone a/x"]);
        assert_eq!(s.list_keys(), ["a/y", "a/z"]);
        assert_eq!(s.index_keys(NAMESPACE_INDEX, "a").unwrap(), ["a/y", "a/z"]);
    }

    #[test]
    fn late_indexer_indexes_existing_objects() {
        let s: Store<ConfigMap> = Store::new();
        s.apply_upsert(cm("a", "x", &[("k", "v")], None));
        s.add_indexer(LABELS_INDEX, labels_index()).unwrap();
        assert_eq!(s.index_keys(LABELS_INDEX, "k=v").unwrap(), ["a/x"]);
    }

    proptest! {
        /// After any sequence of upserts and deletes, each index equals the index recomputed
        /// from the cached objects.
        #[test]
        fn indexes_match_content(ops in proptest::collection::vec((0u8..3, 0u8..6, 0u8..3), 0..60)) {
            let s = indexed();
            for (op, name, label) in ops {
                let obj = cm("ns", &format!("o{name}"), &[("l", &label.to_string())], Some(&format!("u{label}")));
                if op == 0 { let _ = s.apply_delete(obj); } else { s.apply_upsert(obj); }
            }
            let fresh = indexed();
            fresh.replace(s.list());
            for index in [NAMESPACE_INDEX, LABELS_INDEX, OWNER_UID_INDEX] {
                let values = s.index_values(index).unwrap();
                prop_assert_eq!(&values, &fresh.index_values(index).unwrap());
                for v in values {
                    prop_assert_eq!(s.index_keys(index, &v).unwrap(), fresh.index_keys(index, &v).unwrap());
                }
            }
        }
    }
}
