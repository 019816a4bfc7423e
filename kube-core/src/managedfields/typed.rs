//! What server-side apply needs to know about a type: which lists are associative (and by
//! which keys), which are sets, which lists and maps are atomic.
//!
//! Built-in kinds are described by the strategic-merge tables of [`crate::patch::schema`]
//! (a merge key becomes the list-map key, a merge without key a set, everything else an
//! atomic list), corrected where upstream's OpenAPI list-type extensions differ (container
//! ports keyed by `containerPort` and `protocol`, label selectors atomic, ...). Kinds with no
//! table (custom resources) are deduced: maps granular, lists atomic. [`TypeResolver`] is the
//! seam for a richer description (a CRD's structural schema) later.

use crate::patch::schema::{self, SchemaRef, Strategy};

/// A key field of an associative list and its default (used when an item omits it).
pub type KeyField = (&'static str, Option<&'static str>);

/// How a list merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListType {
    /// Replaced whole; owned as one field.
    Atomic,
    /// A set of scalars: each value owned by itself.
    Set,
    /// An associative list: items identified by these key fields.
    Map(&'static [KeyField]),
    /// An associative list with one key field that has no default.
    MapByOne(&'static str),
}

impl ListType {
    /// The key fields, for associative lists.
    pub fn keys(&self) -> Vec<KeyField> {
        match self {
            ListType::Map(keys) => keys.to_vec(),
            ListType::MapByOne(name) => vec![(*name, None)],
            _ => Vec::new(),
        }
    }
}

/// The type at one position of an object.
#[derive(Clone, Copy, Debug)]
pub struct Type {
    /// The table of the struct here (or of a list's items).
    schema: Option<SchemaRef>,
    /// How a list here merges.
    list: ListType,
    /// Whether a map here is atomic.
    atomic_map: bool,
    /// Whether this type is deduced from the value (no table): keys of maps are not declared
    /// fields, so every map key is a member of its own.
    deduced: bool,
}

/// Describes the types of one resource: the seam for per-resource descriptions.
pub trait TypeResolver: Send + Sync {
    /// The type of a whole object of this resource.
    fn root(&self) -> Type;
}

/// Corrections of the strategic-merge tables to upstream's list-map keys: (type, field, keys).
static LIST_KEYS: &[(&str, &str, &[KeyField])] = &[
    (
        "io.k8s.api.core.v1.Container",
        "ports",
        &[("containerPort", None), ("protocol", Some("TCP"))],
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "ports",
        &[("port", None), ("protocol", Some("TCP"))],
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "topologySpreadConstraints",
        &[("topologyKey", None), ("whenUnsatisfiable", None)],
    ),
];

/// Maps that are atomic upstream (`x-kubernetes-map-type: atomic`): (type, field).
static ATOMIC_MAPS: &[(&str, &str)] = &[
    ("io.k8s.api.apps.v1.DeploymentSpec", "selector"),
    ("io.k8s.api.apps.v1.StatefulSetSpec", "selector"),
    ("spec with template", "selector"),
    ("io.k8s.api.batch.v1.JobSpec", "selector"),
    ("io.k8s.api.core.v1.ServiceSpec", "selector"),
];

impl Type {
    /// The type of a built-in kind's object, from its table (or the generic object table).
    pub fn builtin(group: &str, version: &str, kind: &str) -> Type {
        let schema = schema::for_kind(group, version, kind).unwrap_or(&schema::OBJECT);
        Type::structure(Some(schema))
    }

    /// The type of an object of a kind without a description: deduced from the value, with
    /// typed metadata.
    pub fn deduced() -> Type {
        Type {
            schema: Some(&schema::OBJECT),
            list: ListType::Atomic,
            atomic_map: false,
            deduced: true,
        }
    }

    fn structure(schema: Option<SchemaRef>) -> Type {
        Type {
            schema,
            list: ListType::Atomic,
            atomic_map: false,
            deduced: false,
        }
    }

    /// The type of field `name` of a map of this type.
    pub fn field(&self, name: &str) -> Type {
        let field = self.schema.and_then(|s| s.field(name).map(|f| (s, f)));
        let Some((parent, field)) = field else {
            if self.deduced {
                return Type {
                    deduced: true,
                    ..Type::structure(None)
                };
            }
            let atomic_map = self
                .schema
                .is_some_and(|s| ATOMIC_MAPS.iter().any(|(t, f)| *t == s.name && *f == name));
            return Type {
                atomic_map,
                ..Type::structure(None)
            };
        };
        let mut list = match field.strategy {
            Strategy::Merge { key: Some(key) } => ListType::MapByOne(key),
            Strategy::Merge { key: None } => ListType::Set,
            _ => ListType::Atomic,
        };
        if let Some((_, _, keys)) = LIST_KEYS
            .iter()
            .find(|(t, f, _)| *t == parent.name && *f == name)
        {
            list = ListType::Map(keys);
        }
        Type {
            schema: field.schema,
            list,
            atomic_map: ATOMIC_MAPS
                .iter()
                .any(|(t, f)| *t == parent.name && *f == name),
            deduced: false,
        }
    }

    /// The type of the items of a list of this type.
    pub fn item(&self) -> Type {
        Type {
            list: ListType::Atomic,
            atomic_map: false,
            ..*self
        }
    }

    /// How a list of this type merges.
    pub fn list_type(&self) -> ListType {
        self.list
    }

    /// Whether a map of this type is atomic.
    pub fn is_atomic_map(&self) -> bool {
        self.atomic_map
    }

    /// Whether the tables describe the struct here.
    pub fn has_table(&self) -> bool {
        self.schema.is_some()
    }

    /// Whether keys of a map of this type are not declared fields (deduced types).
    pub fn is_deduced(&self) -> bool {
        self.deduced
    }
}

/// Resolves built-in kinds from the tables and everything else as deduced.
#[derive(Clone, Debug)]
pub struct BuiltinResolver {
    root: Type,
}

impl BuiltinResolver {
    /// The resolver of one kind; `builtin` says whether it is a built-in kind.
    pub fn new(group: &str, version: &str, kind: &str, builtin: bool) -> Self {
        let root = if builtin {
            Type::builtin(group, version, kind)
        } else {
            Type::deduced()
        };
        Self { root }
    }
}

impl TypeResolver for BuiltinResolver {
    fn root(&self) -> Type {
        self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ports_keyed_by_port_and_protocol() {
        let d = Type::builtin("apps", "v1", "Deployment");
        let c = d
            .field("spec")
            .field("template")
            .field("spec")
            .field("containers");
        assert_eq!(c.list_type(), ListType::MapByOne("name"));
        let ports = c.item().field("ports");
        assert_eq!(
            ports.list_type().keys(),
            vec![("containerPort", None), ("protocol", Some("TCP"))]
        );
        assert!(d.field("spec").field("selector").is_atomic_map());
        assert_eq!(
            c.item().field("args").list_type(),
            ListType::Atomic,
            "lists without metadata are atomic"
        );
    }
}
