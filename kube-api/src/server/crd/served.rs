//! The served snapshot: registry, discovery and OpenAPI with the established CRDs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use kube_core::crd::{ServedVersion, served_versions};
use kube_core::gvk::GroupVersionResource;
use kube_core::registry::{Registry, ResourceInfo};
use serde_json::Value;

use crate::server::discovery::Discovery;
use crate::server::openapi::OpenApi;

/// What the server serves at one moment. Rebuilt whole on every CRD change; requests hold
/// the `Arc` of the snapshot they started with.
#[derive(Debug)]
pub struct Snapshot {
    /// Built-in resources and the served versions of established CRDs.
    pub registry: Registry,
    /// The discovery documents of `registry`.
    pub discovery: Discovery,
    /// The OpenAPI documents of `registry`, with the CRDs' schemas.
    pub openapi: OpenApi,
    /// Each custom resource version served.
    pub custom: BTreeMap<GroupVersionResource, Arc<ServedVersion>>,
    /// The CRDs being deleted (by name): their resources refuse creates.
    pub terminating: BTreeSet<String>,
}

impl Snapshot {
    fn build(base: &Registry, crds: &[Value]) -> Self {
        let mut registry = base.clone();
        let mut custom = BTreeMap::new();
        let mut terminating = BTreeSet::new();
        for crd in crds {
            let name = crd
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if crd.pointer("/metadata/deletionTimestamp").is_some() {
                terminating.insert(name.to_owned());
            }
            for version in served_versions(crd) {
                let gvr = version.resource.gvr();
                if base.get(&gvr).is_some() {
                    continue;
                }
                match registry.add(version.resource.clone()) {
                    Ok(_) => {
                        custom.insert(gvr, Arc::new(version));
                    }
                    Err(e) => tracing::warn!(crd = name, error = %e, "a CRD version is not served"),
                }
            }
        }
        let mut openapi = OpenApi::new(&registry);
        for version in custom.values() {
            openapi = match openapi
                .clone()
                .with_schema(version.resource.gvk(), version.schema.clone())
            {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(error = %e, "a CRD schema is left out of OpenAPI");
                    openapi
                }
            };
        }
        Self {
            discovery: Discovery::new(&registry),
            openapi,
            registry,
            custom,
            terminating,
        }
    }
}

/// The served snapshot, replaced whole when the CRDs change.
#[derive(Debug)]
pub struct CustomResources {
    base: Registry,
    current: RwLock<Arc<Snapshot>>,
    /// Held by a controller pass, so snapshots are replaced in the order the CRDs were read.
    pub(crate) pass: tokio::sync::Mutex<()>,
}

impl CustomResources {
    /// Serving `base` (the configured registry) and no CRDs yet.
    pub fn new(base: Registry) -> Self {
        let current = RwLock::new(Arc::new(Snapshot::build(&base, &[])));
        Self {
            base,
            current,
            pass: tokio::sync::Mutex::new(()),
        }
    }

    /// The configured registry, without custom resources.
    pub fn base(&self) -> &Registry {
        &self.base
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Serves the CRDs in `crds` (those whose names are accepted), replacing the snapshot.
    pub fn rebuild(&self, crds: &[Value]) {
        let next = Arc::new(Snapshot::build(&self.base, crds));
        match self.current.write() {
            Ok(mut s) => *s = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }

    /// The custom resource version `info` is, if it is one.
    pub fn version_of(&self, info: &ResourceInfo) -> Option<Arc<ServedVersion>> {
        self.snapshot().custom.get(&info.gvr()).cloned()
    }

    /// Whether the CRD of `version` is being deleted.
    pub fn is_terminating(&self, version: &ServedVersion) -> bool {
        self.snapshot().terminating.contains(&version.crd_name)
    }
}
