//! Pruning: fields a structural schema does not specify are dropped, unless a node keeps
//! them with `x-kubernetes-preserve-unknown-fields`.

use serde_json::Value;

use super::{MACHINERY_FIELDS, Node, child_path};

/// Drops from `obj` every field `schema` does not specify and returns their paths
/// (`spec.foo`, `spec.items[0].bar`), in object order: what `fieldValidation` reports as
/// unknown fields. The root's `apiVersion`, `kind` and `metadata` are kept, as are those of
/// embedded resources.
pub fn prune(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    prune_node(Node(schema), obj, "", true, &mut pruned);
    pruned
}

fn prune_node(node: Node<'_>, v: &mut Value, path: &str, root: bool, pruned: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            let keep_machinery = root || node.embedded();
            let preserve = node.preserve_unknown();
            let names: Vec<String> = map.keys().cloned().collect();
            for name in names {
                if keep_machinery && MACHINERY_FIELDS.contains(&name.as_str()) {
                    if name == "metadata"
                        && let Some(meta) = map.get_mut("metadata")
                        && !root
                    {
                        prune_embedded_metadata(meta, &child_path(path, "metadata"), pruned);
                    }
                    continue;
                }
                let field_path = match node.properties().is_some_and(|p| p.contains_key(&name)) {
                    true => child_path(path, &name),
                    false if node.additional().is_some() => format!("{path}[{name}]"),
                    false => child_path(path, &name),
                };
                match node.field(&name) {
                    Some(sub) => {
                        if let Some(value) = map.get_mut(&name) {
                            prune_node(sub, value, &field_path, false, pruned);
                        }
                    }
                    None if preserve => {}
                    None => {
                        map.remove(&name);
                        pruned.push(field_path);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = node.items() {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_node(sub, item, &format!("{path}[{i}]"), false, pruned);
                }
            }
        }
        _ => {}
    }
}

/// The ObjectMeta fields an embedded resource keeps (upstream prunes its metadata to
/// ObjectMeta).
const OBJECT_META_FIELDS: [&str; 16] = [
    "annotations",
    "creationTimestamp",
    "deletionGracePeriodSeconds",
    "deletionTimestamp",
    "finalizers",
    "generateName",
    "generation",
    "labels",
    "managedFields",
    "name",
    "namespace",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
    "clusterName",
];

fn prune_embedded_metadata(meta: &mut Value, path: &str, pruned: &mut Vec<String>) {
    if let Some(map) = meta.as_object_mut() {
        map.retain(|k, _| {
            let keep = OBJECT_META_FIELDS.contains(&k.as_str());
            if !keep {
                pruned.push(child_path(path, k));
            }
            keep
        });
    }
}
