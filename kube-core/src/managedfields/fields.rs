//! The fields an object specifies, and what changed between two objects.

use std::collections::BTreeSet;

use serde_json::Value;

use super::path::{Path, PathElement, key_of};
use super::set::FieldSet;
use super::typed::{ListType, Type};
use super::{Error, Result};

/// How deep an object may nest before it is refused.
pub const MAX_DEPTH: usize = 256;

/// The set of fields `obj` specifies (upstream's `ToFieldSet`): every scalar, atomic list or
/// map, empty map and null; every associative-list item and set value; map keys of deduced
/// types. Fails on a list item that omits a key field, or a duplicated key.
pub fn field_set(obj: &Value, ty: Type) -> Result<FieldSet> {
    let mut set = FieldSet::new();
    walk(obj, ty, &mut Vec::new(), &mut set, 0)?;
    Ok(set)
}

fn walk(
    v: &Value,
    ty: Type,
    path: &mut Vec<PathElement>,
    set: &mut FieldSet,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::TooDeep { limit: MAX_DEPTH });
    }
    match v {
        Value::Object(m) => {
            if ty.is_atomic_map() {
                set.insert(path);
                return Ok(());
            }
            for (k, child) in m {
                path.push(PathElement::Field(k.clone()));
                walk(child, ty.field(k), path, set, depth + 1)?;
                let empty = child.is_null() || child.as_object().is_some_and(|o| o.is_empty());
                if empty || ty.is_deduced() {
                    set.insert(path);
                }
                path.pop();
            }
        }
        Value::Array(items) => match ty.list_type() {
            ListType::Atomic => set.insert(path),
            ListType::Set => {
                for item in items {
                    path.push(PathElement::value(item));
                    set.insert(path);
                    path.pop();
                }
            }
            list @ (ListType::Map(_) | ListType::MapByOne(_)) => {
                let keys = list.keys();
                let mut seen = BTreeSet::new();
                for (i, item) in items.iter().enumerate() {
                    let pe = key_of(item, &keys).ok_or_else(|| Error::MissingKey {
                        path: Path(path.clone()).to_string(),
                        index: i,
                        keys: keys.iter().map(|(k, _)| (*k).to_owned()).collect(),
                    })?;
                    if !seen.insert(pe.clone()) {
                        return Err(Error::DuplicateKey {
                            path: Path(path.clone()).to_string(),
                            key: pe.to_string(),
                        });
                    }
                    path.push(pe);
                    walk(item, ty.item(), path, set, depth + 1)?;
                    set.insert(path);
                    path.pop();
                }
            }
        },
        _ => set.insert(path),
    }
    Ok(())
}

/// Every path in `v`, nodes and leaves alike: what disappears when `v` is removed.
fn all_paths(v: &Value, ty: Type, path: &mut Vec<PathElement>, set: &mut FieldSet) {
    set.insert(path);
    match v {
        Value::Object(m) if !ty.is_atomic_map() => {
            for (k, child) in m {
                path.push(PathElement::Field(k.clone()));
                all_paths(child, ty.field(k), path, set);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (pe, item) in list_items(items, ty) {
                path.push(pe);
                all_paths(item, ty.item(), path, set);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The items of a non-atomic list with their path elements (the first of duplicates wins;
/// items without a key are skipped). Empty for atomic lists.
pub(super) fn list_items(items: &[Value], ty: Type) -> Vec<(PathElement, &Value)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let keys = ty.list_type().keys();
    for item in items {
        let pe = match ty.list_type() {
            ListType::Atomic => return Vec::new(),
            ListType::Set => Some(PathElement::value(item)),
            _ => key_of(item, &keys),
        };
        if let Some(pe) = pe
            && seen.insert(pe.clone())
        {
            out.push((pe, item));
        }
    }
    out
}

/// What changed from one object to another (upstream's `Comparison`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Paths in the new object only; a new map or list item is a member itself as well.
    pub added: FieldSet,
    /// Leaves in both whose values differ.
    pub modified: FieldSet,
    /// Paths in the old object only (whole removed subtrees).
    pub removed: FieldSet,
}

impl Comparison {
    /// Whether nothing changed.
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }

    /// This comparison without the paths of `ignored` (and what lies under them).
    pub fn without(&self, ignored: &FieldSet) -> Comparison {
        Comparison {
            added: self.added.recursive_difference(ignored),
            modified: self.modified.recursive_difference(ignored),
            removed: self.removed.recursive_difference(ignored),
        }
    }
}

/// Compares two objects of type `ty`.
pub fn compare(old: &Value, new: &Value, ty: Type) -> Comparison {
    let mut c = Comparison::default();
    compare_at(Some(old), Some(new), ty, &mut Vec::new(), &mut c);
    c
}

fn compare_at(
    old: Option<&Value>,
    new: Option<&Value>,
    ty: Type,
    path: &mut Vec<PathElement>,
    c: &mut Comparison,
) {
    match (old, new) {
        (None, None) => {}
        (Some(o), None) => all_paths(o, ty, path, &mut c.removed),
        (None, Some(n)) => added(n, ty, path, &mut c.added),
        (Some(Value::Object(o)), Some(Value::Object(n)))
            if !(ty.is_atomic_map() || o.is_empty() && n.is_empty()) =>
        {
            for (k, nv) in n {
                path.push(PathElement::Field(k.clone()));
                compare_at(o.get(k), Some(nv), ty.field(k), path, c);
                path.pop();
            }
            for (k, ov) in o {
                if !n.contains_key(k) {
                    path.push(PathElement::Field(k.clone()));
                    compare_at(Some(ov), None, ty.field(k), path, c);
                    path.pop();
                }
            }
        }
        (Some(Value::Array(o)), Some(Value::Array(n))) if ty.list_type() != ListType::Atomic => {
            let old_items = list_items(o, ty);
            let new_items = list_items(n, ty);
            for (pe, nv) in &new_items {
                let ov = old_items.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
                path.push(pe.clone());
                compare_at(ov, Some(nv), ty.item(), path, c);
                path.pop();
            }
            for (pe, ov) in &old_items {
                if !new_items.iter().any(|(p, _)| p == pe) {
                    path.push(pe.clone());
                    compare_at(Some(ov), None, ty.item(), path, c);
                    path.pop();
                }
            }
        }
        (Some(o), Some(n)) => {
            if o == n {
                return;
            }
            let structured = |v: &Value| {
                (v.is_object() && !ty.is_atomic_map())
                    || (v.is_array() && ty.list_type() != ListType::Atomic)
            };
            if structured(o) || structured(n) {
                // The kind of value changed: the old one goes, the new one comes.
                all_paths(o, ty, path, &mut c.removed);
                added(n, ty, path, &mut c.added);
                c.removed = c
                    .removed
                    .difference(&FieldSet::from_paths(&[Path(path.clone())]));
                c.modified.insert(path);
            } else {
                c.modified.insert(path);
            }
        }
    }
}

/// The paths of a value that did not exist before: its field set, with the value itself a
/// member unless it is a struct the tables describe or a top-level field (upstream compares
/// against Go structs, whose non-pointer struct fields always exist).
fn added(v: &Value, ty: Type, path: &mut Vec<PathElement>, set: &mut FieldSet) {
    let item = !matches!(path.last(), Some(PathElement::Field(_)));
    let top_struct = path.len() == 1
        && matches!(path.last(), Some(PathElement::Field(f)) if ["metadata", "spec", "status"].contains(&f.as_str()));
    if !v.is_object() || item || (!ty.has_table() && !top_struct) {
        set.insert(path);
    }
    match v {
        Value::Object(m) if !ty.is_atomic_map() => {
            for (k, child) in m {
                path.push(PathElement::Field(k.clone()));
                added(child, ty.field(k), path, set);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (pe, item) in list_items(items, ty) {
                path.push(pe);
                added(item, ty.item(), path, set);
                path.pop();
            }
        }
        _ => {}
    }
}
