//! [`ObjectRef`]: the work-queue key of a controller, the namespace and name of one object of
//! kind `K`.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The namespace and name of an object of kind `K`: what a controller queues and reconciles
/// (client-go controllers queue the `namespace/name` string; the type keeps kinds apart).
pub struct ObjectRef<K> {
    /// The namespace; `None` for a cluster-scoped object.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
    _kind: PhantomData<fn() -> K>,
}

impl<K> ObjectRef<K> {
    /// The cluster-scoped object `name` (add a namespace with [`within`](Self::within)).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            namespace: None,
            name: name.into(),
            _kind: PhantomData,
        }
    }

    /// The same name in `namespace`.
    pub fn within(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The reference of an object from its metadata.
    pub fn from_meta(meta: &ObjectMeta) -> Self {
        Self {
            namespace: meta.namespace.clone().filter(|ns| !ns.is_empty()),
            name: meta.name.clone().unwrap_or_default(),
            _kind: PhantomData,
        }
    }

    /// The reference of `object`.
    pub fn from_obj(object: &K) -> Self
    where
        K: k8s_openapi::Metadata<Ty = ObjectMeta>,
    {
        Self::from_meta(object.metadata())
    }

    /// The informer cache key: `namespace/name`, or `name` (client-go's
    /// `MetaNamespaceKeyFunc`).
    pub fn cache_key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

impl<K> Clone for ObjectRef<K> {
    fn clone(&self) -> Self {
        Self {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K> PartialEq for ObjectRef<K> {
    fn eq(&self, other: &Self) -> bool {
        self.namespace == other.namespace && self.name == other.name
    }
}

impl<K> Eq for ObjectRef<K> {}

impl<K> Hash for ObjectRef<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.namespace.hash(state);
        self.name.hash(state);
    }
}

impl<K> PartialOrd for ObjectRef<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for ObjectRef<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.namespace, &self.name).cmp(&(&other.namespace, &other.name))
    }
}

impl<K> fmt::Debug for ObjectRef<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectRef")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish()
    }
}

impl<K> fmt::Display for ObjectRef<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cache_key())
    }
}
