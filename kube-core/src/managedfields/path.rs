//! Path elements and paths into an object, as structured-merge-diff names them.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::{Error, Result};

/// One step into an object: a field of a map, an item of an associative list by its keys, an
/// item of a set by its value, or an item of a list by its index.
///
/// The order is upstream's: fields, then keys, then values, then indexes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A map field: `f:name`.
    Field(String),
    /// An associative list item: `k:{"name":"x"}`, the key fields as canonical JSON (sorted).
    Key(String),
    /// A set item: `v:"value"`, the value as canonical JSON.
    Value(String),
    /// A list item by position: `i:0`.
    Index(usize),
}

/// JSON text with object keys sorted, so equal values have one spelling.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(m) => {
                let ordered: BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, sorted(v))).collect();
                let mut out = serde_json::Map::new();
                for (k, v) in ordered {
                    out.insert(k.clone(), v);
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

impl PathElement {
    /// A key element from the key fields of an item.
    pub fn key(fields: &BTreeMap<String, Value>) -> Self {
        let map: serde_json::Map<String, Value> =
            fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Self::Key(canonical_json(&Value::Object(map)))
    }

    /// A value element for a set item.
    pub fn value(value: &Value) -> Self {
        Self::Value(canonical_json(value))
    }

    /// Parses a FieldsV1 key: `f:name`, `k:{...}`, `v:...` or `i:N`.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = || Error::InvalidPathElement {
            element: text.to_owned(),
        };
        let (prefix, rest) = text.split_once(':').ok_or_else(invalid)?;
        match prefix {
            "f" => Ok(Self::Field(rest.to_owned())),
            "k" => {
                let v: Value = serde_json::from_str(rest).map_err(|_| invalid())?;
                if !v.is_object() {
                    return Err(invalid());
                }
                Ok(Self::Key(canonical_json(&v)))
            }
            "v" => {
                let v: Value = serde_json::from_str(rest).map_err(|_| invalid())?;
                Ok(Self::Value(canonical_json(&v)))
            }
            "i" => rest.parse().map(Self::Index).map_err(|_| invalid()),
            _ => Err(invalid()),
        }
    }

    /// The FieldsV1 spelling of this element.
    pub fn to_fields_key(&self) -> String {
        match self {
            Self::Field(name) => format!("f:{name}"),
            Self::Key(json) => format!("k:{json}"),
            Self::Value(json) => format!("v:{json}"),
            Self::Index(i) => format!("i:{i}"),
        }
    }

    /// Whether `item` (an item of a list) is the one this element names, given the list's
    /// key fields and their defaults.
    pub fn matches_item(&self, item: &Value, keys: &[(&str, Option<&str>)]) -> bool {
        match self {
            Self::Key(_) => key_of(item, keys).is_some_and(|k| k == *self),
            Self::Value(json) => canonical_json(item) == *json,
            _ => false,
        }
    }
}

/// The key element of an associative list item, or `None` if it is not an object or omits a
/// key field that has no default.
pub fn key_of(item: &Value, keys: &[(&str, Option<&str>)]) -> Option<PathElement> {
    let obj = item.as_object()?;
    let mut fields = BTreeMap::new();
    for (name, default) in keys {
        match obj.get(*name) {
            Some(v) if !v.is_null() => {
                fields.insert((*name).to_owned(), v.clone());
            }
            _ => {
                fields.insert((*name).to_owned(), Value::String((*default)?.to_owned()));
            }
        }
    }
    Some(PathElement::key(&fields))
}

impl fmt::Display for PathElement {
    /// Upstream's `Path.String` spelling: `.name`, `[name="x"]`, `[="v"]`, `[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field(name) => write!(f, ".{name}"),
            Self::Key(json) => {
                let parsed: BTreeMap<String, Value> =
                    serde_json::from_str(json).unwrap_or_default();
                let parts: Vec<String> = parsed.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", parts.join(","))
            }
            Self::Value(json) => write!(f, "[={json}]"),
            Self::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path from the root of an object.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path(pub Vec<PathElement>);

impl Path {
    /// A path of field names.
    pub fn fields(names: &[&str]) -> Self {
        Self(
            names
                .iter()
                .map(|n| PathElement::Field((*n).to_owned()))
                .collect(),
        )
    }

    /// This path with `element` appended.
    pub fn child(&self, element: PathElement) -> Self {
        let mut v = self.0.clone();
        v.push(element);
        Self(v)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
