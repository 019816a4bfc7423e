//! The OpenAPI documents: swagger 2.0 at `/openapi/v2`, and OpenAPI v3 at `/openapi/v3` (an
//! index) and `/openapi/v3/<api/v1 | apis/group/version>` (one document per group version).
//!
//! [`OpenApi::new`] takes a [`Registry`]; the documents are rendered on first use and cached.
//! Built-in kinds take their schemas (with descriptions, for `kubectl explain`) from
//! k8s-openapi; strategic merge patch extensions come from [`kube_core::patch::schema`].

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use kube_core::gvk::GroupVersionKind;
use kube_core::registry::Registry;
use serde_json::{Map, Value, json};

mod paths;
mod schemas;

use paths::Format;
use schemas::Definitions;

/// Errors from configuring the OpenAPI documents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A custom resource schema is not a JSON object.
    #[error("the schema of {kind} must be a JSON object")]
    SchemaNotObject {
        /// The kind the schema was given for.
        kind: String,
    },
}

/// The media type of the protobuf `/openapi/v2` document.
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The OpenAPI documents of one registry, rendered lazily and cached. Cloning is cheap and
/// clones share the cache; build a new one when the registry changes.
#[derive(Debug, Clone)]
pub struct OpenApi {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    custom: BTreeMap<GroupVersionKind, Value>,
    definitions: OnceLock<Definitions>,
    v2: OnceLock<Bytes>,
    index: OnceLock<Bytes>,
    /// By path relative to `/openapi/v3/`, e.g. `apis/apps/v1`.
    v3: BTreeMap<String, OnceLock<Bytes>>,
}

impl OpenApi {
    /// The documents of `registry`. Custom resources without a schema (see
    /// [`OpenApi::with_schema`]) are described as objects with any fields.
    pub fn new(registry: &Registry) -> Self {
        Self::build(registry.clone(), BTreeMap::new())
    }

    fn build(registry: Registry, custom: BTreeMap<GroupVersionKind, Value>) -> Self {
        let v3 = registry
            .groups()
            .iter()
            .flat_map(|g| g.versions.iter().map(|v| v3_path(&g.name, v)))
            .map(|path| (path, OnceLock::new()))
            .collect();
        Self {
            inner: Arc::new(Inner {
                registry,
                custom,
                definitions: OnceLock::new(),
                v2: OnceLock::new(),
                index: OnceLock::new(),
                v3,
            }),
        }
    }

    /// With the schema of a custom resource's kind: its CRD version's `openAPIV3Schema`
    /// (`apiVersion`, `kind` and `metadata` are added). The returned value has a fresh cache.
    pub fn with_schema(self, kind: GroupVersionKind, schema: Value) -> Result<Self> {
        if !schema.is_object() {
            return Err(Error::SchemaNotObject {
                kind: format!("{}/{}", kind.api_version(), kind.kind),
            });
        }
        let mut custom = self.inner.custom.clone();
        custom.insert(kind, schema);
        Ok(Self::build(self.inner.registry.clone(), custom))
    }

    fn definitions(&self) -> &Definitions {
        self.inner
            .definitions
            .get_or_init(|| schemas::build(&self.inner.registry, &self.inner.custom))
    }

    /// `/openapi/v2`: the swagger 2.0 document of every resource.
    pub fn v2(&self) -> Bytes {
        self.inner
            .v2
            .get_or_init(|| {
                let defs = self.definitions();
                let paths = paths::render(self.inner.registry.iter(), defs, Format::V2);
                let definitions: Map<String, Value> = defs
                    .schemas
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                to_bytes(&json!({
                    "swagger": "2.0",
                    "info": info(),
                    "paths": paths,
                    "definitions": definitions,
                    "securityDefinitions": {"BearerToken": bearer_token()},
                    "security": [{"BearerToken": []}],
                }))
            })
            .clone()
    }

    /// `/openapi/v2` for a client that accepts only protobuf (kubectl's validation, for a kind
    /// its OpenAPI v3 index does not have yet): a gnostic `openapi_v2.Document` holding only
    /// `swagger` and `info`. It lists no definitions, so such a client finds no schema for the
    /// kind and leaves it to the server, as it does for a kind upstream's document lacks.
    pub fn v2_protobuf() -> Bytes {
        fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
            out.push((number << 3) | 2);
            let mut len = bytes.len();
            while len >= 0x80 {
                out.push((len as u8) | 0x80);
                len >>= 7;
            }
            out.push(len as u8);
            out.extend_from_slice(bytes);
        }
        let mut info = Vec::new();
        field(&mut info, 1, b"Kubernetes");
        field(&mut info, 2, b"v1.37.0");
        let mut doc = Vec::new();
        field(&mut doc, 1, b"2.0");
        field(&mut doc, 2, &info);
        Bytes::from(doc)
    }

    /// `/openapi/v3`: the index of group version documents, each with a
    /// `serverRelativeURL` whose `hash` changes when the document does.
    pub fn v3_index(&self) -> Bytes {
        self.inner
            .index
            .get_or_init(|| {
                let paths: Map<String, Value> = self
                    .inner
                    .v3
                    .keys()
                    .map(|path| {
                        let url = format!("/openapi/v3/{path}?hash={}", self.hash(path));
                        (path.clone(), json!({"serverRelativeURL": url}))
                    })
                    .collect();
                to_bytes(&json!({"paths": paths}))
            })
            .clone()
    }

    /// `/openapi/v3/<path>` for `path` `api/v1` or `apis/<group>/<version>` (a leading `/` is
    /// ignored): the OpenAPI 3.0 document of one group version, or `None` if it is not served.
    pub fn v3_group_version(&self, path: &str) -> Option<Bytes> {
        let path = path.trim_start_matches('/');
        let cell = self.inner.v3.get(path)?;
        Some(cell.get_or_init(|| self.render_v3(path)).clone())
    }

    /// A hash of what a group version's document is made of: its resources, their custom
    /// schemas and this crate's version. Stable across runs, so clients' caches stay valid.
    fn hash(&self, path: &str) -> String {
        let mut fnv = Fnv::default();
        fnv.write(env!("CARGO_PKG_VERSION").as_bytes());
        for r in self.inner.registry.iter() {
            if v3_path(&r.group, &r.version) == path {
                fnv.write(format!("{r:?}").as_bytes());
                if let Some(schema) = self.inner.custom.get(&r.gvk()) {
                    fnv.write(schema.to_string().as_bytes());
                }
            }
        }
        format!("{:016X}", fnv.0)
    }

    fn render_v3(&self, path: &str) -> Bytes {
        let defs = self.definitions();
        let resources: Vec<_> = self
            .inner
            .registry
            .iter()
            .filter(|r| v3_path(&r.group, &r.version) == path)
            .collect();
        let mut roots: Vec<String> = [
            schemas::DELETE_OPTIONS,
            schemas::STATUS,
            schemas::WATCH_EVENT,
            schemas::PATCH,
            schemas::API_RESOURCE_LIST,
        ]
        .map(str::to_owned)
        .into();
        for r in &resources {
            let kinds = std::iter::once(r.gvk())
                .chain(std::iter::once(GroupVersionKind::new(
                    &r.group,
                    &r.version,
                    &r.list_kind,
                )))
                .chain(r.subresources.iter().map(|s| s.kind.clone()));
            roots.extend(kinds.filter_map(|k| defs.by_kind.get(&k).cloned()));
        }
        let components: Map<String, Value> = schemas::closure(&defs.schemas, roots)
            .into_iter()
            .map(|(name, schema)| (name.to_owned(), schemas::to_v3(schema)))
            .collect();
        let paths = paths::render(resources, defs, Format::V3);
        to_bytes(&json!({
            "openapi": "3.0.0",
            "info": info(),
            "paths": paths,
            "components": {
                "schemas": components,
                "securitySchemes": {"BearerToken": bearer_token()},
            },
            "security": [{"BearerToken": []}],
        }))
    }
}

/// The `/openapi/v3` path of a group version: `api/v1`, `apis/apps/v1`.
fn v3_path(group: &str, version: &str) -> String {
    paths::prefix(group, version)
        .trim_start_matches('/')
        .to_owned()
}

fn info() -> Value {
    json!({"title": "Kubernetes", "version": "v1.37.0"})
}

fn bearer_token() -> Value {
    json!({
        "type": "apiKey",
        "description": "Bearer Token authentication",
        "name": "authorization",
        "in": "header",
    })
}

fn to_bytes(value: &Value) -> Bytes {
    // Serializing a `Value` cannot fail: its map keys are strings.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// 64-bit FNV-1a: a small, stable hash for cache-busting URLs.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
