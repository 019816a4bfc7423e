//! Strategic merge patch, with the semantics of upstream's `strategicpatch.StrategicMergePatch`.
//!
//! A strategic merge patch is a JSON merge patch whose lists merge where the type says so
//! ([`super::schema`]): lists of objects by a merge key (containers by `name`), lists of
//! primitives as sets (`metadata.finalizers`). Other lists are replaced whole, maps merge, and
//! `null` deletes a field. Directives refine this:
//!
//! - `$patch: replace` replaces a map, or (as a list item) the whole list;
//!   `$patch: delete` empties a map, or (as a list item) removes items with its merge key;
//!   `$patch: merge` asks for the default merge explicitly.
//! - `$retainKeys: [...]` clears the fields of the original map that it does not list.
//! - `$setElementOrder/<field>: [...]` gives the order of the merged list.
//! - `$deleteFromPrimitiveList/<field>: [...]` removes values from a list of primitives.
//!
//! Merged lists keep upstream's order: patch items in patch order, interleaved with the items
//! only the original has in their original order; a new item goes before the original items
//! that follow the patch item preceding it.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::schema::{Field, SchemaRef, Strategy};
use super::{PatchError, Result};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Applies the strategic merge patch `patch` to `original`, an object of the kind `schema`
/// describes. `original` is left as it is; the patched copy is returned.
///
/// Errors name the field path at fault: a patch that is not an object, unknown `$patch` values,
/// list items without their merge key, fields outside `$retainKeys`, malformed directives, and
/// lists mixing item types.
pub fn apply(original: &Value, patch: &Value, schema: SchemaRef) -> Result<Value> {
    let root = Path::ROOT;
    let Value::Object(patch) = patch else {
        return Err(invalid(
            &root,
            "a strategic merge patch must be a JSON object",
        ));
    };
    let original = match original {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        _ => return Err(invalid(&root, "the patched document must be a JSON object")),
    };
    merge_map(original, patch, Some(schema), &root).map(Value::Object)
}

/// Merges a patch map into an original map, honouring a `$patch` directive.
fn merge_map(
    original: Map<String, Value>,
    patch: &Map<String, Value>,
    schema: Option<SchemaRef>,
    path: &Path<'_>,
) -> Result<Map<String, Value>> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        match directive.as_str() {
            Some("replace") => return merge_fields(Map::new(), patch, schema, path),
            Some("delete") => return Ok(Map::new()),
            Some("merge") => {}
            _ => return Err(unknown_directive(path, directive)),
        }
    }
    merge_fields(original, patch, schema, path)
}

/// Merges the fields of a patch map (its `$patch` directive already handled).
fn merge_fields(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    schema: Option<SchemaRef>,
    path: &Path<'_>,
) -> Result<Map<String, Value>> {
    apply_retain_keys(&mut original, patch, path)?;
    let ordered = apply_element_orders(&mut original, patch, schema, path)?;

    let mut deletions = Vec::new();
    for (key, value) in patch {
        if key == DIRECTIVE || key == RETAIN_KEYS || key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            deletions.push((
                directive_field(key, DELETE_FROM_PRIMITIVE_LIST, path)?,
                value,
            ));
            continue;
        }
        if ordered.contains(&key.as_str()) {
            continue;
        }
        if value.is_null() {
            original.remove(key);
            continue;
        }
        let field = schema.and_then(|s| s.field(key));
        let child = path.field(key);
        match original.get_mut(key) {
            Some(slot) => {
                let current = std::mem::take(slot);
                *slot = merge_value(current, value, field, &child)?;
            }
            None => {
                original.insert(key.clone(), fresh(value, field, &child)?);
            }
        }
    }
    // Primitive deletions come last, after the patch's additions to the same lists.
    for (name, values) in deletions {
        delete_from_primitive_list(&mut original, name, values, &path.field(name))?;
    }
    Ok(original)
}

/// Merges a patch value into the original value of a field.
fn merge_value(
    current: Value,
    patch: &Value,
    field: Option<&Field>,
    path: &Path<'_>,
) -> Result<Value> {
    let strategy = field.map_or(Strategy::Default, |f| f.strategy);
    let schema = field.and_then(|f| f.schema);
    match (current, patch) {
        (Value::Object(current), Value::Object(patch)) if strategy != Strategy::Replace => {
            merge_map(current, patch, schema, path).map(Value::Object)
        }
        (Value::Array(current), Value::Array(patch)) => match strategy {
            Strategy::Merge { key } => {
                merge_list(current, patch, key, schema, path).map(Value::Array)
            }
            _ => Ok(Value::Array(patch.clone())),
        },
        (_, patch) => fresh(patch, field, path),
    }
}

/// The value of a field the original lacks (or holds with another JSON type): the patch value,
/// with its nulls and directives resolved as if merged into an empty value.
fn fresh(patch: &Value, field: Option<&Field>, path: &Path<'_>) -> Result<Value> {
    let strategy = field.map_or(Strategy::Default, |f| f.strategy);
    let schema = field.and_then(|f| f.schema);
    match (patch, strategy) {
        (Value::Object(map), s) if s != Strategy::Replace => {
            merge_map(Map::new(), map, schema, path).map(Value::Object)
        }
        (Value::Array(items), Strategy::Merge { key }) => {
            merge_list(Vec::new(), items, key, schema, path).map(Value::Array)
        }
        (other, _) => Ok(other.clone()),
    }
}

/// Merges a patch list into an original list of a field with the `merge` strategy.
fn merge_list(
    original: Vec<Value>,
    patch: &[Value],
    key: Option<&'static str>,
    schema: Option<SchemaRef>,
    path: &Path<'_>,
) -> Result<Vec<Value>> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    match (item_kind(&original, patch, path)?, key) {
        (ItemKind::Object, Some(key)) => merge_keyed_list(original, patch, key, schema, path),
        (ItemKind::Object, None) => Err(invalid(
            path,
            "cannot merge a list of objects without a merge key",
        )),
        (_, None) => Ok(merge_scalar_list(original, patch)),
        (_, Some(key)) => Err(invalid(
            path,
            format!("list items must be objects with merge key {key:?}"),
        )),
    }
}

/// A set union of two lists of primitives, in upstream's merged order.
fn merge_scalar_list(original: Vec<Value>, patch: &[Value]) -> Vec<Value> {
    let server_index = OrderIndex::new(&original, None);
    let patch_index = OrderIndex::new(patch, None);
    let mut seen = HashSet::new();
    let merged = original
        .into_iter()
        .chain(patch.iter().cloned())
        .filter(|v| seen.insert(identity(v)))
        .collect();
    normalize_order(merged, &patch_index, &server_index)
}

/// Merges a list of objects by merge key, handling `$patch` items.
fn merge_keyed_list(
    original: Vec<Value>,
    patch: &[Value],
    key: &'static str,
    schema: Option<SchemaRef>,
    path: &Path<'_>,
) -> Result<Vec<Value>> {
    for (i, item) in original.iter().enumerate() {
        require_key(item, key, &path.index(i))?;
    }
    let mut server_index = OrderIndex::new(&original, Some(key));
    let mut working = original;

    // Directive items first: deletions, and a list-wide replace.
    let mut replace = false;
    let mut doomed = HashSet::new();
    let mut items = Vec::with_capacity(patch.len());
    for (i, item) in patch.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(invalid(&path.index(i), "list item must be an object"));
        };
        match map.get(DIRECTIVE) {
            None => items.push((i, item)),
            Some(directive) => match directive.as_str() {
                Some("delete") => {
                    doomed.insert(identity(require_key(item, key, &path.index(i))?));
                }
                Some("replace") => replace = true,
                Some("merge") => items.push((i, item)),
                _ => return Err(unknown_directive(&path.index(i), directive)),
            },
        }
    }
    if replace {
        working.clear();
        server_index = OrderIndex::default();
    } else if !doomed.is_empty() {
        // Every item with a deleted key goes, duplicates included.
        working.retain(|w| w.get(key).is_none_or(|v| !doomed.contains(&identity(v))));
    }

    // Plain items merge into the original item with the same key, or are added.
    let mut positions: HashMap<String, usize> = HashMap::new();
    for (i, item) in working.iter().enumerate() {
        if let Some(value) = item.get(key) {
            positions.entry(identity(value)).or_insert(i);
        }
    }
    for &(i, item) in &items {
        let value = require_key(item, key, &path.index(i))?;
        let child = path.item(key, value);
        let Value::Object(map) = item else {
            return Err(invalid(&child, "list item must be an object"));
        };
        let id = identity(value);
        match positions.get(&id).and_then(|&at| working.get_mut(at)) {
            Some(slot) => {
                let current = match std::mem::take(slot) {
                    Value::Object(current) => current,
                    _ => Map::new(),
                };
                *slot = Value::Object(merge_map(current, map, schema, &child)?);
            }
            None => {
                positions.insert(id, working.len());
                working.push(Value::Object(merge_map(Map::new(), map, schema, &child)?));
            }
        }
    }

    let patch_index =
        OrderIndex::from_values(items.iter().filter_map(|(_, item)| item.get(key)), key);
    Ok(normalize_order(working, &patch_index, &server_index))
}

/// Clears the original fields that `$retainKeys` does not list, after checking that the patch
/// sets no field outside it.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    path: &Path<'_>,
) -> Result<()> {
    let Some(list) = patch.get(RETAIN_KEYS) else {
        return Ok(());
    };
    let not_names = || invalid(path, "$retainKeys must be a list of field names");
    let Value::Array(list) = list else {
        return Err(not_names());
    };
    let keep = list
        .iter()
        .map(|v| v.as_str().ok_or_else(not_names))
        .collect::<Result<HashSet<_>>>()?;
    for (key, value) in patch {
        let directive = key == DIRECTIVE
            || key == RETAIN_KEYS
            || key.starts_with(SET_ELEMENT_ORDER)
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST);
        if !directive && !value.is_null() && !keep.contains(key.as_str()) {
            return Err(PatchError::NotInRetainKeys {
                path: path.render(),
                field: key.clone(),
            });
        }
    }
    original.retain(|key, _| keep.contains(key.as_str()));
    Ok(())
}

/// Merges every list named by a `$setElementOrder/<field>` directive and puts it in that order.
/// Returns the fields done, which the plain merge then skips.
fn apply_element_orders<'p>(
    original: &mut Map<String, Value>,
    patch: &'p Map<String, Value>,
    schema: Option<SchemaRef>,
    path: &Path<'_>,
) -> Result<Vec<&'p str>> {
    let mut done = Vec::new();
    for (directive_key, order) in patch {
        if !directive_key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        let name = directive_field(directive_key, SET_ELEMENT_ORDER, path)?;
        let child = path.field(name);
        let Value::Array(order) = order else {
            return Err(invalid(&child, format!("{directive_key} must be a list")));
        };
        let field = schema.and_then(|s| s.field(name));
        let key = field.and_then(Field::merge_key);

        let current = match original.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(_) => return Err(invalid(&child, "the original value is not a list")),
        };
        let patch_list = match patch.get(name) {
            None => None,
            Some(Value::Array(items)) => Some(items),
            Some(_) => {
                return Err(invalid(
                    &child,
                    format!("the patch value must be a list alongside {directive_key}"),
                ));
            }
        };
        if let Some(patch_list) = patch_list {
            check_order(patch_list, order, key, &child)?;
        }
        let merged = match (&current, patch_list) {
            (None, None) => continue,
            (Some(current), None) => current.clone(),
            (None, Some(patch_list)) => {
                match fresh(&Value::Array(patch_list.clone()), field, &child)? {
                    Value::Array(items) => items,
                    other => vec![other],
                }
            }
            (Some(current), Some(patch_list)) => {
                let patch_value = Value::Array(patch_list.clone());
                match merge_value(Value::Array(current.clone()), &patch_value, field, &child)? {
                    Value::Array(items) => items,
                    other => vec![other],
                }
            }
        };
        let server_order = current.unwrap_or_default();
        if let Some(key) = key {
            for (i, item) in order.iter().chain(&merged).enumerate() {
                require_key(item, key, &child.index(i))?;
            }
        }
        let order_index = OrderIndex::new(order, key);
        let server_index = OrderIndex::new(&server_order, key);
        let ordered = normalize_order(merged, &order_index, &server_index);
        original.insert(name.to_owned(), Value::Array(ordered));
        done.push(name);
    }
    Ok(done)
}

/// Checks that the patch list's items appear in `$setElementOrder` in the same relative order.
fn check_order(
    patch_list: &[Value],
    order: &[Value],
    key: Option<&'static str>,
    path: &Path<'_>,
) -> Result<()> {
    if patch_list.is_empty() || order.is_empty() {
        return Ok(());
    }
    let identify = |item: &Value, at: usize| -> Result<String> {
        match key {
            Some(key) => require_key(item, key, &path.index(at)).map(identity),
            None => Ok(identity(item)),
        }
    };
    let is_directive = |item: &Value| item.get(DIRECTIVE).is_some();
    let wanted = patch_list
        .iter()
        .enumerate()
        .filter(|(_, item)| !is_directive(item))
        .map(|(i, item)| identify(item, i))
        .collect::<Result<Vec<_>>>()?;
    let mut next = 0;
    for (i, item) in order.iter().enumerate() {
        if next == wanted.len() {
            break;
        }
        if identify(item, i)? == wanted[next] {
            next += 1;
        }
    }
    if next < wanted.len() {
        return Err(invalid(
            path,
            "the patch list is not in the order $setElementOrder gives",
        ));
    }
    Ok(())
}

/// Removes the values of a `$deleteFromPrimitiveList/<field>` directive from the field's list.
fn delete_from_primitive_list(
    original: &mut Map<String, Value>,
    name: &str,
    values: &Value,
    path: &Path<'_>,
) -> Result<()> {
    let Value::Array(values) = values else {
        return Err(invalid(
            path,
            format!("{DELETE_FROM_PRIMITIVE_LIST}/{name} must be a list"),
        ));
    };
    let scalars_only = |items: &[Value]| {
        if items.iter().any(|v| v.is_object() || v.is_array()) {
            Err(invalid(
                path,
                format!("{DELETE_FROM_PRIMITIVE_LIST} applies to lists of primitives only"),
            ))
        } else {
            Ok(())
        }
    };
    scalars_only(values)?;
    match original.get_mut(name) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(items)) => {
            scalars_only(items)?;
            let doomed: HashSet<String> = values.iter().map(identity).collect();
            items.retain(|v| !doomed.contains(&identity(v)));
            Ok(())
        }
        Some(_) => Err(invalid(path, "the original value is not a list")),
    }
}

/// The field a `<prefix>/<field>` directive key names.
fn directive_field<'k>(key: &'k str, prefix: &str, path: &Path<'_>) -> Result<&'k str> {
    match key.split_once('/') {
        Some((head, field)) if head == prefix && !field.is_empty() => Ok(field),
        _ => Err(invalid(
            path,
            format!("malformed directive {key:?}, expected {prefix}/<field>"),
        )),
    }
}

/// The JSON type shared by the items of two lists.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Object,
    String,
    Number,
    Bool,
}

fn item_kind(original: &[Value], patch: &[Value], path: &Path<'_>) -> Result<ItemKind> {
    let mut kind = None;
    for item in original.iter().chain(patch) {
        let this = match item {
            Value::Object(_) => ItemKind::Object,
            Value::String(_) => ItemKind::String,
            Value::Number(_) => ItemKind::Number,
            Value::Bool(_) => ItemKind::Bool,
            Value::Array(_) => return Err(invalid(path, "lists of lists cannot be merged")),
            Value::Null => return Err(invalid(path, "list items cannot be null")),
        };
        if kind.is_some_and(|k| k != this) {
            return Err(invalid(path, "list items have different types"));
        }
        kind = Some(this);
    }
    // Callers rule out two empty lists.
    Ok(kind.unwrap_or(ItemKind::String))
}

fn require_key<'v>(item: &'v Value, key: &'static str, path: &Path<'_>) -> Result<&'v Value> {
    item.get(key).ok_or_else(|| PatchError::MissingMergeKey {
        path: path.render(),
        merge_key: key,
    })
}

/// A string that is equal for equal JSON values (numbers by value), for hashing.
fn identity(value: &Value) -> String {
    match value {
        Value::String(s) => format!("s{s}"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                format!("n{i}")
            } else if let Some(u) = n.as_u64() {
                format!("n{u}")
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    format!("n{}", f as i64)
                } else {
                    format!("f{f:?}")
                }
            }
        }
        other => format!("j{other}"),
    }
}

/// The first position of each item (by merge key value, or by value) in a list.
#[derive(Default)]
struct OrderIndex {
    key: Option<&'static str>,
    positions: HashMap<String, usize>,
}

impl OrderIndex {
    fn new(items: &[Value], key: Option<&'static str>) -> Self {
        let mut index = OrderIndex {
            key,
            positions: HashMap::new(),
        };
        for (i, item) in items.iter().enumerate() {
            let id = match key {
                Some(key) => item.get(key).map(identity),
                None => Some(identity(item)),
            };
            if let Some(id) = id {
                index.positions.entry(id).or_insert(i);
            }
        }
        index
    }

    /// An index of merge key values.
    fn from_values<'v>(values: impl Iterator<Item = &'v Value>, key: &'static str) -> Self {
        let mut index = OrderIndex {
            key: Some(key),
            positions: HashMap::new(),
        };
        for (i, value) in values.enumerate() {
            index.positions.entry(identity(value)).or_insert(i);
        }
        index
    }

    fn get(&self, item: &Value) -> Option<usize> {
        let id = match self.key {
            Some(key) => identity(item.get(key)?),
            None => identity(item),
        };
        self.positions.get(&id).copied()
    }
}

/// Orders a merged list as upstream does: items named by the patch (or `$setElementOrder`) in
/// that order, items only the original has in original order, the two interleaved so that an
/// original item goes first only when it came before the next patch item in the original.
fn normalize_order(
    merged: Vec<Value>,
    patch_index: &OrderIndex,
    server_index: &OrderIndex,
) -> Vec<Value> {
    let (mut in_patch, mut server_only): (Vec<_>, Vec<_>) = merged
        .into_iter()
        .partition(|item| patch_index.get(item).is_some());
    in_patch.sort_by_cached_key(|item| patch_index.get(item).unwrap_or(usize::MAX));
    server_only.sort_by_cached_key(|item| server_index.get(item).unwrap_or(usize::MAX));

    let mut out = Vec::with_capacity(in_patch.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = in_patch.into_iter().peekable();
    while let (Some(l), Some(r)) = (left.peek(), right.peek()) {
        let left_first = matches!(
            (server_index.get(l), server_index.get(r)),
            (Some(a), Some(b)) if a < b
        );
        let next = if left_first {
            left.next()
        } else {
            right.next()
        };
        out.extend(next);
    }
    out.extend(left);
    out.extend(right);
    out
}

/// A field path, built on the stack as the merge descends and rendered only for errors.
#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    segment: Segment<'a>,
}

#[derive(Clone, Copy)]
enum Segment<'a> {
    Root,
    Field(&'a str),
    Item { key: &'a str, value: &'a Value },
    Index(usize),
}

impl<'a> Path<'a> {
    const ROOT: Path<'static> = Path {
        parent: None,
        segment: Segment::Root,
    };

    fn field(&'a self, name: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            segment: Segment::Field(name),
        }
    }

    fn item(&'a self, key: &'a str, value: &'a Value) -> Path<'a> {
        Path {
            parent: Some(self),
            segment: Segment::Item { key, value },
        }
    }

    fn index(&'a self, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            segment: Segment::Index(index),
        }
    }

    /// `spec.containers[name=app].ports[0]`, or `<root>`.
    fn render(&self) -> String {
        let mut segments = Vec::new();
        let mut node = Some(self);
        while let Some(p) = node {
            segments.push(p.segment);
            node = p.parent;
        }
        let mut out = String::new();
        for segment in segments.iter().rev() {
            match segment {
                Segment::Root => {}
                Segment::Field(name) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(name);
                }
                Segment::Item { key, value } => match value {
                    Value::String(s) => out.push_str(&format!("[{key}={s}]")),
                    other => out.push_str(&format!("[{key}={other}]")),
                },
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        if out.is_empty() {
            out.push_str("<root>");
        }
        out
    }
}

fn invalid(path: &Path<'_>, message: impl Into<String>) -> PatchError {
    PatchError::InvalidStrategicPatch {
        path: path.render(),
        message: message.into(),
    }
}

fn unknown_directive(path: &Path<'_>, directive: &Value) -> PatchError {
    PatchError::UnknownDirective {
        path: path.render(),
        directive: directive.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::schema::TypeSchema;
    use serde_json::json;

    static ITEM: TypeSchema = TypeSchema {
        name: "item",
        fields: &[],
    };
    static LISTS: TypeSchema = TypeSchema {
        name: "lists",
        fields: &[
            Field {
                name: "items",
                schema: Some(&ITEM),
                strategy: Strategy::Merge { key: Some("name") },
                retain_keys: false,
            },
            Field {
                name: "ints",
                schema: None,
                strategy: Strategy::Merge { key: None },
                retain_keys: false,
            },
        ],
    };

    fn run(original: Value, patch: Value) -> Result<Value> {
        apply(&original, &patch, &LISTS)
    }

    #[test]
    fn new_items_go_before_later_originals() {
        let got = run(
            json!({"items": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
            json!({"items": [{"name": "b", "v": 1}, {"name": "d"}]}),
        )
        .ok();
        let want =
            json!({"items": [{"name": "a"}, {"name": "b", "v": 1}, {"name": "d"}, {"name": "c"}]});
        assert_eq!(got, Some(want));
    }

    #[test]
    fn scalar_union_keeps_patch_order() {
        let got = run(json!({"ints": [1, 2, 3]}), json!({"ints": [3, 1]})).ok();
        assert_eq!(got, Some(json!({"ints": [2, 3, 1]})));
        let got = run(json!({"ints": [1, 2]}), json!({"ints": [2, 3]})).ok();
        assert_eq!(got, Some(json!({"ints": [1, 2, 3]})));
    }

    #[test]
    fn set_element_order_with_missing_items() {
        let got = run(
            json!({"items": [{"name": "1"}, {"name": "3"}]}),
            json!({
                "$setElementOrder/items": [{"name": "3"}, {"name": "2"}, {"name": "1"}],
                "items": [{"name": "3", "v": 3}, {"name": "1", "v": 1}]
            }),
        )
        .ok();
        let want = json!({"items": [{"name": "3", "v": 3}, {"name": "1", "v": 1}]});
        assert_eq!(got, Some(want));
    }

    #[test]
    fn paths_render_with_merge_keys() {
        let root = Path::ROOT;
        let spec = root.field("spec");
        let name = json!("app");
        let item = spec.item("name", &name);
        let ports = item.field("ports");
        assert_eq!(ports.index(2).render(), "spec[name=app].ports[2]");
        assert_eq!(root.render(), "<root>");
    }

    #[test]
    fn deleting_duplicates_removes_all() {
        let got = run(
            json!({"items": [{"name": "1"}, {"name": "1"}, {"name": "2"}]}),
            json!({"items": [{"name": "1", "$patch": "delete"}]}),
        )
        .ok();
        assert_eq!(got, Some(json!({"items": [{"name": "2"}]})));
    }
}
