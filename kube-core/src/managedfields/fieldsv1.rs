//! The FieldsV1 encoding of field sets: a JSON object per node, keyed by `f:name`,
//! `k:{"name":"x"}`, `v:"value"` or `i:0`, with `".": {}` marking a node that is itself a
//! member.

use serde_json::{Map, Value};

use super::path::PathElement;
use super::set::FieldSet;
use super::{Error, Result};

/// How deep a FieldsV1 document may nest before it is refused.
pub const MAX_DEPTH: usize = 256;

/// Decodes a FieldsV1 document.
pub fn decode(fields: &Value) -> Result<FieldSet> {
    decode_node(fields, 0).map(|(set, _)| set)
}

/// The set under one node, and whether the node has `"."`.
fn decode_node(fields: &Value, depth: usize) -> Result<(FieldSet, bool)> {
    if depth > MAX_DEPTH {
        return Err(Error::TooDeep { limit: MAX_DEPTH });
    }
    let obj = fields.as_object().ok_or_else(|| Error::InvalidFieldsV1 {
        message: format!("expected an object, found {fields}"),
    })?;
    let mut set = FieldSet::new();
    let mut is_member = false;
    for (key, value) in obj {
        if key == "." {
            is_member = true;
            continue;
        }
        let element = PathElement::parse(key)?;
        let (child, member) = decode_node(value, depth + 1)?;
        if child.is_empty() || member {
            set.insert_member(element.clone());
        }
        set.insert_child(element, child);
    }
    Ok((set, is_member))
}

/// Encodes a field set as FieldsV1.
pub fn encode(set: &FieldSet) -> Value {
    let mut out = Map::new();
    for m in set.members() {
        if set.child(m).is_none() {
            out.insert(m.to_fields_key(), Value::Object(Map::new()));
        }
    }
    for (e, child) in set.children() {
        let mut node = Map::new();
        if set.has_member(e) {
            node.insert(".".to_owned(), Value::Object(Map::new()));
        }
        if let Value::Object(inner) = encode(child) {
            node.extend(inner);
        }
        out.insert(e.to_fields_key(), Value::Object(node));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_dot_members() {
        let doc = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}},
        });
        let set = decode(&doc).unwrap();
        assert_eq!(encode(&set), doc);
    }

    #[test]
    fn refuses_bad_keys() {
        assert!(decode(&json!({"x:y": {}})).is_err());
        assert!(decode(&json!({"f:a": 1})).is_err());
    }
}
