//! The field table of the built-in kinds' protobuf messages (`schema.txt`, made by
//! `generate.py` from the k8s-pb and k8s-openapi sources).

use std::collections::HashMap;
use std::sync::OnceLock;

/// The type of a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `string`.
    String,
    /// `bytes` (base64 in JSON).
    Bytes,
    /// `int32`.
    Int32,
    /// `int64`.
    Int64,
    /// `bool`.
    Bool,
    /// `double`.
    Double,
    /// `float`.
    Float,
    /// A message, by index in the table.
    Message(usize),
}

/// How a field holds its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// One value.
    Optional,
    /// A list.
    Repeated,
    /// A map from string keys (protobuf map entries).
    Map,
}

/// One field of a message.
#[derive(Debug, Clone)]
pub struct Field {
    /// The JSON name; `None` for an embedded struct whose fields are inlined.
    pub json: Option<&'static str>,
    /// One value, a list or a map.
    pub cardinality: Cardinality,
    /// The type of the values (of a map: the values' type; keys are strings).
    pub ty: FieldType,
}

/// One message.
#[derive(Debug, Clone)]
pub struct Message {
    /// The dotted path, as k8s-pb names it (`api.core.v1.Pod`).
    pub path: &'static str,
    /// The fields, by number.
    pub fields: HashMap<u32, Field>,
}

impl Message {
    /// The last segment of the path.
    pub fn name(&self) -> &'static str {
        self.path.rsplit('.').next().unwrap_or(self.path)
    }
}

/// The whole table.
#[derive(Debug)]
pub struct Schema {
    messages: Vec<Message>,
}

static SCHEMA: OnceLock<Schema> = OnceLock::new();

impl Schema {
    /// The table of the built-in kinds, parsed on first use.
    pub fn get() -> &'static Schema {
        SCHEMA.get_or_init(|| Schema::parse(include_str!("schema.txt")))
    }

    fn parse(text: &'static str) -> Schema {
        let mut by_path = HashMap::new();
        for (i, path) in text
            .lines()
            .filter_map(|l| l.strip_prefix("M "))
            .enumerate()
        {
            by_path.insert(path, i);
        }
        let ty = |name: &str| match name {
            "string" => Some(FieldType::String),
            "bytes" => Some(FieldType::Bytes),
            "int32" => Some(FieldType::Int32),
            "int64" => Some(FieldType::Int64),
            "bool" => Some(FieldType::Bool),
            "double" => Some(FieldType::Double),
            "float" => Some(FieldType::Float),
            other => by_path
                .get(other.trim_start_matches('.'))
                .map(|&i| FieldType::Message(i)),
        };
        let mut messages: Vec<Message> = Vec::new();
        for line in text.lines() {
            let words: Vec<&'static str> = line.split(' ').collect();
            let field = match words.as_slice() {
                ["M", path] => {
                    messages.push(Message {
                        path,
                        fields: HashMap::new(),
                    });
                    continue;
                }
                ["F", number, json, card, t] => {
                    (number, json, *card == "r", Cardinality::Optional, t)
                }
                ["P", number, json, _key, t] => (number, json, false, Cardinality::Map, t),
                _ => continue,
            };
            let (number, json, repeated, cardinality, t) = field;
            let (Ok(number), Some(ty), Some(message)) =
                (number.parse(), ty(t), messages.last_mut())
            else {
                // Fields of types outside the table are skipped like unknown fields.
                continue;
            };
            message.fields.insert(
                number,
                Field {
                    json: (*json != "-").then_some(*json),
                    cardinality: if repeated {
                        Cardinality::Repeated
                    } else {
                        cardinality
                    },
                    ty,
                },
            );
        }
        Schema { messages }
    }

    /// The message at `index`.
    pub fn message(&self, index: usize) -> &Message {
        &self.messages[index]
    }

    /// The index of the message at a dotted path.
    #[cfg(test)]
    pub fn index(&self, path: &str) -> Option<usize> {
        self.messages.iter().position(|m| m.path == path)
    }

    /// The message of a kind: `group` as in apiVersion (`""` for core), `kind` as in JSON.
    pub fn kind(&self, group: &str, version: &str, kind: &str) -> Option<usize> {
        // Options kinds (DeleteOptions, ...) are meta.k8s.io's whatever group names them.
        let modules = [
            group_module(group),
            "apimachinery.pkg.apis.meta".to_string(),
        ];
        modules
            .iter()
            .find_map(|module| self.kind_in(module, version, kind))
    }

    fn kind_in(&self, module: &str, version: &str, kind: &str) -> Option<usize> {
        let prefix = format!("{module}.{version}.");
        self.messages.iter().position(|m| {
            m.path
                .strip_prefix(&prefix)
                .is_some_and(|name| name.eq_ignore_ascii_case(kind))
        })
    }
}

/// The k8s-pb module of an API group.
fn group_module(group: &str) -> String {
    match group {
        "" => "api.core".into(),
        "apiextensions.k8s.io" => "apiextensions_apiserver.pkg.apis.apiextensions".into(),
        "apiregistration.k8s.io" => "kube_aggregator.pkg.apis.apiregistration".into(),
        "internal.apiserver.k8s.io" => "api.apiserverinternal".into(),
        "metrics.k8s.io" => "metrics.pkg.apis.metrics".into(),
        g => format!("api.{}", g.split('.').next().unwrap_or(g)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_table() {
        let schema = Schema::get();
        let pod = schema.message(schema.kind("", "v1", "Pod").unwrap());
        assert_eq!(pod.path, "api.core.v1.Pod");
        assert_eq!(pod.fields[&1].json, Some("metadata"));
        let spec = schema.message(schema.index("api.core.v1.PodSpec").unwrap());
        assert_eq!(spec.fields[&2].json, Some("containers"));
        assert_eq!(spec.fields[&2].cardinality, Cardinality::Repeated);
        assert_eq!(spec.fields[&7].cardinality, Cardinality::Map);
        let volume = schema.message(schema.index("api.core.v1.Volume").unwrap());
        assert_eq!(volume.fields[&2].json, None, "VolumeSource is inlined");
    }

    #[test]
    fn finds_kinds_of_named_groups() {
        let schema = Schema::get();
        for (group, version, kind, path) in [
            (
                "rbac.authorization.k8s.io",
                "v1",
                "ClusterRole",
                "api.rbac.v1.ClusterRole",
            ),
            (
                "storage.k8s.io",
                "v1",
                "CSIDriver",
                "api.storage.v1.CSIDriver",
            ),
            (
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                "apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
            ),
        ] {
            let found = schema
                .kind(group, version, kind)
                .map(|i| schema.message(i).path);
            assert_eq!(found, Some(path));
        }
        assert_eq!(schema.kind("apps", "v1", "Nothing"), None);
    }
}
