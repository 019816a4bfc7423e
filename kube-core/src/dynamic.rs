//! Objects of any kind as JSON: [`DynamicObject`] and [`DynamicList`].
//!
//! `apiVersion`, `kind` and `metadata` are typed; every other field is kept as JSON in
//! `fields`. Serialization writes `apiVersion`, `kind` and `metadata` first, then `fields` in the
//! map's order (sorted by key, like Go's encoding of unstructured objects, unless serde_json's
//! `preserve_order` feature is on, in which case the input order is kept).
//!
//! These types sit on the API server's hot path, so `Deserialize` is written by hand: one pass
//! over the input map, no `#[serde(flatten)]` (which buffers every field first), and typed
//! conversion feeds the fields straight to the target type without building an outer map.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta};
use k8s_openapi::{ListableResource, Metadata, Resource};
use serde::de::{self, DeserializeOwned, MapAccess};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::gvk::{self, GroupVersionKind};

/// Errors from converting dynamic objects.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object is not of the kind asked for.
    #[error("expected {expected}, found apiVersion {api_version:?} kind {kind:?}")]
    KindMismatch {
        /// The wanted `apiVersion`/`kind`.
        expected: String,
        /// The object's `apiVersion`.
        api_version: String,
        /// The object's `kind`.
        kind: String,
    },
    /// The `apiVersion` does not parse.
    #[error("invalid apiVersion")]
    ApiVersion(#[source] gvk::Error),
    /// The typed object did not serialize to a JSON object.
    #[error("object did not serialize to a JSON object")]
    NotAnObject,
    /// The fields do not fit the typed object (or it failed to serialize).
    #[error("cannot convert object")]
    Json(#[source] serde_json::Error),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An object of any kind. See the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DynamicObject {
    /// `apiVersion`; empty when absent (it is then not written out).
    pub api_version: String,
    /// `kind`; empty when absent (it is then not written out).
    pub kind: String,
    /// `metadata`; always written out.
    pub metadata: ObjectMeta,
    /// Every other field (`spec`, `status`, `data`, ...). Keys `apiVersion`, `kind` and
    /// `metadata` here are ignored when serializing.
    pub fields: Map<String, Value>,
}

impl DynamicObject {
    /// An empty object of the given `apiVersion` and `kind`.
    pub fn new(api_version: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            api_version: api_version.into(),
            kind: kind.into(),
            ..Self::default()
        }
    }

    /// An empty object of the given group, version and kind.
    pub fn from_gvk(gvk: &GroupVersionKind) -> Self {
        Self::new(gvk.api_version(), &gvk.kind)
    }

    /// With `metadata.name` set.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.metadata.name = Some(name.into());
        self
    }

    /// With `metadata.namespace` set.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.metadata.namespace = Some(namespace.into());
        self
    }

    /// `metadata.name`.
    pub fn name(&self) -> Option<&str> {
        self.metadata.name.as_deref()
    }

    /// `metadata.namespace`.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata.namespace.as_deref()
    }

    /// The group, version and kind from `apiVersion` and `kind`.
    pub fn gvk(&self) -> Result<GroupVersionKind> {
        GroupVersionKind::from_api_version_kind(&self.api_version, &self.kind)
            .map_err(Error::ApiVersion)
    }

    /// From a typed object; its metadata is moved, the rest goes through JSON once.
    pub fn from_typed<K>(mut obj: K) -> Result<Self>
    where
        K: Resource + Metadata<Ty = ObjectMeta> + Serialize,
    {
        let metadata = std::mem::take(obj.metadata_mut());
        let Value::Object(mut fields) = serde_json::to_value(&obj).map_err(Error::Json)? else {
            return Err(Error::NotAnObject);
        };
        fields.retain(|k, _| !is_head_key(k));
        Ok(Self {
            api_version: K::API_VERSION.to_owned(),
            kind: K::KIND.to_owned(),
            metadata,
            fields,
        })
    }

    /// Into a typed object. An empty `apiVersion` or `kind` is taken as `K`'s; any other
    /// mismatch is [`Error::KindMismatch`].
    pub fn into_typed<K>(self) -> Result<K>
    where
        K: Resource + DeserializeOwned,
    {
        let api_ok = self.api_version.is_empty() || self.api_version == K::API_VERSION;
        let kind_ok = self.kind.is_empty() || self.kind == K::KIND;
        if !api_ok || !kind_ok {
            return Err(Error::KindMismatch {
                expected: format!("{}/{}", K::API_VERSION, K::KIND),
                api_version: self.api_version,
                kind: self.kind,
            });
        }
        let metadata = serde_json::to_value(&self.metadata).map_err(Error::Json)?;
        let head = [
            (
                "apiVersion".to_owned(),
                Value::String(K::API_VERSION.to_owned()),
            ),
            ("kind".to_owned(), Value::String(K::KIND.to_owned())),
            ("metadata".to_owned(), metadata),
        ];
        let rest = self.fields.into_iter().filter(|(k, _)| !is_head_key(k));
        let entries = head
            .into_iter()
            .chain(rest)
            .map(|(k, v)| (Value::String(k), v));
        K::deserialize(de::value::MapDeserializer::<_, serde_json::Error>::new(
            entries,
        ))
        .map_err(Error::Json)
    }

    /// Into a typed object, leaving `self` as is (see [`DynamicObject::into_typed`]).
    pub fn to_typed<K>(&self) -> Result<K>
    where
        K: Resource + DeserializeOwned,
    {
        self.clone().into_typed()
    }
}

fn is_head_key(k: &str) -> bool {
    matches!(k, "apiVersion" | "kind" | "metadata")
}

impl Serialize for DynamicObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if !self.api_version.is_empty() {
            map.serialize_entry("apiVersion", &self.api_version)?;
        }
        if !self.kind.is_empty() {
            map.serialize_entry("kind", &self.kind)?;
        }
        map.serialize_entry("metadata", &self.metadata)?;
        for (k, v) in self.fields.iter().filter(|(k, _)| !is_head_key(k)) {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A top-level key, recognised without allocating for the typed ones.
enum Key {
    ApiVersion,
    Kind,
    Metadata,
    Items,
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct KeyVisitor;

        impl de::Visitor<'_> for KeyVisitor {
            type Value = Key;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Key, E> {
                Ok(match v {
                    "apiVersion" => Key::ApiVersion,
                    "kind" => Key::Kind,
                    "metadata" => Key::Metadata,
                    "items" => Key::Items,
                    _ => Key::Other(v.to_owned()),
                })
            }

            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Key, E> {
                match v.as_str() {
                    "apiVersion" | "kind" | "metadata" | "items" => self.visit_str(&v),
                    _ => Ok(Key::Other(v)),
                }
            }
        }

        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// Sets `slot` once, refusing a repeated key as derived impls do.
fn set_once<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
) -> std::result::Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

impl<'de> Deserialize<'de> for DynamicObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> de::Visitor<'de> for ObjectVisitor {
            type Value = DynamicObject;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Kubernetes object")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<DynamicObject, A::Error> {
                let (mut api_version, mut kind, mut metadata) = (None, None, None);
                let mut fields = Map::new();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::ApiVersion => set_once(&mut map, &mut api_version, "apiVersion")?,
                        Key::Kind => set_once(&mut map, &mut kind, "kind")?,
                        Key::Metadata => set_once(&mut map, &mut metadata, "metadata")?,
                        Key::Items => {
                            fields.insert("items".to_owned(), map.next_value()?);
                        }
                        Key::Other(k) => {
                            fields.insert(k, map.next_value()?);
                        }
                    }
                }
                Ok(DynamicObject {
                    api_version: api_version.flatten().unwrap_or_default(),
                    kind: kind.flatten().unwrap_or_default(),
                    metadata: metadata.flatten().unwrap_or_default(),
                    fields,
                })
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// A list of objects of any kind (`PodList`, `DeploymentList`, ...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DynamicList {
    /// `apiVersion`; empty when absent.
    pub api_version: String,
    /// `kind`, e.g. `PodList`; empty when absent.
    pub kind: String,
    /// `metadata`: resource version and continue token.
    pub metadata: ListMeta,
    /// The items; a missing or null `items` reads as empty and is always written out.
    pub items: Vec<DynamicObject>,
    /// Any other field, kept as given.
    pub fields: Map<String, Value>,
}

impl DynamicList {
    /// A list of `items` with the given `apiVersion` and list kind.
    pub fn new(
        api_version: impl Into<String>,
        kind: impl Into<String>,
        items: Vec<DynamicObject>,
    ) -> Self {
        Self {
            api_version: api_version.into(),
            kind: kind.into(),
            items,
            ..Self::default()
        }
    }

    /// From a typed list, converting each item with [`DynamicObject::from_typed`].
    pub fn from_typed<K>(list: k8s_openapi::List<K>) -> Result<Self>
    where
        K: ListableResource + Metadata<Ty = ObjectMeta> + Serialize,
    {
        let items = list
            .items
            .into_iter()
            .map(DynamicObject::from_typed)
            .collect::<Result<_>>()?;
        Ok(Self {
            api_version: K::API_VERSION.to_owned(),
            kind: K::LIST_KIND.to_owned(),
            metadata: list.metadata,
            items,
            fields: Map::new(),
        })
    }

    /// The kind of the items: the list kind without its `List` suffix.
    pub fn item_kind(&self) -> Option<&str> {
        self.kind.strip_suffix("List").filter(|k| !k.is_empty())
    }

    /// Sets `apiVersion` and `kind` on items that lack them (API servers omit them in lists).
    pub fn fill_item_types(&mut self) {
        let Some(kind) = self.item_kind().map(str::to_owned) else {
            return;
        };
        for item in &mut self.items {
            if item.api_version.is_empty() {
                item.api_version.clone_from(&self.api_version);
            }
            if item.kind.is_empty() {
                item.kind.clone_from(&kind);
            }
        }
    }
}

impl Serialize for DynamicList {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if !self.api_version.is_empty() {
            map.serialize_entry("apiVersion", &self.api_version)?;
        }
        if !self.kind.is_empty() {
            map.serialize_entry("kind", &self.kind)?;
        }
        map.serialize_entry("metadata", &self.metadata)?;
        map.serialize_entry("items", &self.items)?;
        for (k, v) in self
            .fields
            .iter()
            .filter(|(k, _)| !is_head_key(k) && *k != "items")
        {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for DynamicList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct ListVisitor;

        impl<'de> de::Visitor<'de> for ListVisitor {
            type Value = DynamicList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Kubernetes list")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<DynamicList, A::Error> {
                let (mut api_version, mut kind, mut metadata, mut items) = (None, None, None, None);
                let mut fields = Map::new();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::ApiVersion => set_once(&mut map, &mut api_version, "apiVersion")?,
                        Key::Kind => set_once(&mut map, &mut kind, "kind")?,
                        Key::Metadata => set_once(&mut map, &mut metadata, "metadata")?,
                        Key::Items => set_once(&mut map, &mut items, "items")?,
                        Key::Other(k) => {
                            fields.insert(k, map.next_value()?);
                        }
                    }
                }
                Ok(DynamicList {
                    api_version: api_version.flatten().unwrap_or_default(),
                    kind: kind.flatten().unwrap_or_default(),
                    metadata: metadata.flatten().unwrap_or_default(),
                    items: items.flatten().unwrap_or_default(),
                    fields,
                })
            }
        }

        deserializer.deserialize_map(ListVisitor)
    }
}
