//! Defaulting: upstream's structural defaulting. Missing fields with a `default` get it;
//! nulls of fields that are not `nullable` are dropped (or defaulted), then defaults apply
//! inside the new values too.

use serde_json::Value;

use super::Node;

/// Fills the `default`s of `schema` into `obj`, top down.
pub fn default(schema: &Value, obj: &mut Value) {
    default_node(Node(schema), obj);
}

fn default_node(node: Node<'_>, v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(props) = node.properties() {
                for (name, sub) in props {
                    let sub = Node(sub);
                    let null_not_allowed = map.get(name).is_some_and(Value::is_null)
                        && !sub.nullable()
                        && !sub.preserve_unknown();
                    if null_not_allowed {
                        map.remove(name);
                    }
                    if !map.contains_key(name)
                        && let Some(default) = sub.get("default")
                    {
                        map.insert(name.clone(), default.clone());
                    }
                }
            }
            for (name, value) in map.iter_mut() {
                if let Some(sub) = node.field(name) {
                    default_node(sub, value);
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = node.items() {
                for item in items.iter_mut() {
                    if item.is_null()
                        && !sub.nullable()
                        && let Some(default) = sub.get("default")
                    {
                        *item = default.clone();
                    }
                    default_node(sub, item);
                }
            }
        }
        _ => {}
    }
}
