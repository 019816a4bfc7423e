//! Structural OpenAPI v3 schemas of custom resources, as upstream's apiextensions-apiserver
//! applies them: [`validate`] (type, properties, required, enum, bounds, lengths, pattern,
//! formats, list types, ...), [`prune`] (drop fields the schema does not know) and
//! [`default`] (fill `default`s).
//!
//! Schemas are the JSON of a CRD version's `schema.openAPIV3Schema`. The functions walk an
//! object from its root; `apiVersion`, `kind` and `metadata` at the root (and in embedded
//! resources) are the API machinery's, so pruning keeps them and validation skips them.

mod default;
mod prune;
mod validate;

pub use default::default;
pub use prune::prune;
pub use validate::{validate, validate_structural};

use serde_json::{Map, Value};

/// A view of one schema node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node<'a>(pub(crate) &'a Value);

impl<'a> Node<'a> {
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key)
    }

    pub(crate) fn str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(Value::as_str)
    }

    pub(crate) fn flag(&self, key: &str) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or(false)
    }

    pub(crate) fn type_(&self) -> &'a str {
        self.str("type").unwrap_or("")
    }

    pub(crate) fn properties(&self) -> Option<&'a Map<String, Value>> {
        self.get("properties").and_then(Value::as_object)
    }

    /// The schema of `additionalProperties` when it is a schema (not a boolean).
    pub(crate) fn additional(&self) -> Option<Node<'a>> {
        self.get("additionalProperties")
            .filter(|v| v.is_object())
            .map(Node)
    }

    pub(crate) fn items(&self) -> Option<Node<'a>> {
        self.get("items").filter(|v| v.is_object()).map(Node)
    }

    pub(crate) fn preserve_unknown(&self) -> bool {
        self.flag("x-kubernetes-preserve-unknown-fields")
            || self.get("additionalProperties") == Some(&Value::Bool(true))
    }

    pub(crate) fn embedded(&self) -> bool {
        self.flag("x-kubernetes-embedded-resource")
    }

    pub(crate) fn int_or_string(&self) -> bool {
        self.flag("x-kubernetes-int-or-string")
    }

    pub(crate) fn nullable(&self) -> bool {
        self.flag("nullable")
    }

    /// The schema of the field `name` of an object of this schema.
    pub(crate) fn field(&self, name: &str) -> Option<Node<'a>> {
        self.properties()
            .and_then(|p| p.get(name))
            .map(Node)
            .or_else(|| self.additional())
    }
}

/// The fields of the API machinery at the root of an object and of embedded resources.
pub(crate) const MACHINERY_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// The path of a field below `parent` (`""` at the root), as upstream prints it.
pub(crate) fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

#[cfg(test)]
mod tests;
