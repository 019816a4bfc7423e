//! Merging an applied configuration into a live object, and removing fields an applier gave
//! up.

use serde_json::{Map, Value};

use super::fields::list_items;
use super::path::PathElement;
use super::set::FieldSet;
use super::typed::{ListType, Type};

/// Merges `config` into `live` (upstream's `TypedValue.Merge`): maps merge field by field,
/// associative lists and sets item by item (shared items in the config's order, live-only
/// items kept where they were), atomic values and scalars are replaced.
pub fn merge(live: &Value, config: &Value, ty: Type) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(r)) if !ty.is_atomic_map() => {
            let mut out = l.clone();
            for (k, rv) in r {
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, rv, ty.field(k)),
                    None => rv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(r)) if ty.list_type() != ListType::Atomic => {
            Value::Array(merge_list(l, r, ty))
        }
        _ => config.clone(),
    }
}

fn merge_list(live: &[Value], config: &[Value], ty: Type) -> Vec<Value> {
    let l = list_items(live, ty);
    let r = list_items(config, ty);
    let in_config = |pe: &PathElement| r.iter().any(|(p, _)| p == pe);
    let live_item = |pe: &PathElement| l.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
    // The shared items, in the config's order: each is placed when its turn comes.
    let shared: Vec<&PathElement> = r
        .iter()
        .map(|(p, _)| p)
        .filter(|p| live_item(p).is_some())
        .collect();
    let mut next_shared = 0;
    let mut merged: Vec<&PathElement> = Vec::new();
    let mut out = Vec::with_capacity(l.len() + r.len());
    let (mut li, mut ri) = (0, 0);
    let merge_item = |pe: &PathElement, rv: &Value| match live_item(pe) {
        Some(lv) => merge(lv, rv, ty.item()),
        None => rv.clone(),
    };
    while li < l.len() || ri < r.len() {
        if li < l.len() && ri < r.len() {
            let (lp, _) = &l[li];
            if *lp == r[ri].0 {
                out.push(merge_item(lp, r[ri].1));
                merged.push(lp);
                if shared.get(next_shared) == Some(&lp) {
                    next_shared += 1;
                }
                li += 1;
                ri += 1;
                continue;
            }
            if in_config(lp) && shared.get(next_shared) != Some(&lp) {
                li += 1;
                continue;
            }
        }
        if li < l.len() {
            let (lp, lv) = &l[li];
            if !in_config(lp) {
                out.push((*lv).clone());
                li += 1;
                continue;
            }
            if merged.contains(&lp) {
                li += 1;
                continue;
            }
        }
        if ri < r.len() {
            let (rp, rv) = &r[ri];
            out.push(merge_item(rp, rv));
            merged.push(rp);
            if shared.get(next_shared) == Some(&rp) {
                next_shared += 1;
            }
            ri += 1;
            continue;
        }
        // Only live items already merged remain.
        li += 1;
    }
    out
}

/// Removes from `obj` the paths of `remove` that no path of `keep` names or lies under;
/// a map field left empty by the removal goes too (upstream's prune of fields an applier
/// stopped applying).
pub fn prune(obj: &mut Value, remove: &FieldSet, keep: &FieldSet, ty: Type) {
    let empty = FieldSet::new();
    for pe in remove.members() {
        let kept = keep.has_member(pe) || keep.child(pe).is_some();
        if !kept {
            remove_child(obj, pe, ty);
        }
    }
    for (pe, sub) in remove.children() {
        let keep_sub = keep.child(pe).unwrap_or(&empty);
        let child_ty = match pe {
            PathElement::Field(name) => ty.field(name),
            _ => ty.item(),
        };
        let Some(child) = child_mut(obj, pe, ty) else {
            continue;
        };
        let was_empty = is_empty_map(child);
        prune(child, sub, keep_sub, child_ty);
        let now_empty = is_empty_map(child);
        if !was_empty
            && now_empty
            && matches!(pe, PathElement::Field(_))
            && !keep.has_member(pe)
            && keep.child(pe).is_none()
        {
            remove_child(obj, pe, ty);
        }
    }
}

fn is_empty_map(v: &Value) -> bool {
    v.as_object().is_some_and(Map::is_empty)
}

fn item_matches(item: &Value, pe: &PathElement, ty: Type) -> bool {
    pe.matches_item(item, &ty.list_type().keys())
}

fn child_mut<'a>(obj: &'a mut Value, pe: &PathElement, ty: Type) -> Option<&'a mut Value> {
    match (obj, pe) {
        (Value::Object(m), PathElement::Field(name)) => m.get_mut(name),
        (Value::Array(a), PathElement::Index(i)) => a.get_mut(*i),
        (Value::Array(a), pe) => a.iter_mut().find(|item| item_matches(item, pe, ty)),
        _ => None,
    }
}

fn remove_child(obj: &mut Value, pe: &PathElement, ty: Type) {
    match (obj, pe) {
        (Value::Object(m), PathElement::Field(name)) => {
            m.remove(name);
        }
        (Value::Array(a), PathElement::Index(i)) if *i < a.len() => {
            a.remove(*i);
        }
        (Value::Array(_), PathElement::Index(_)) => {}
        (Value::Array(a), pe) => a.retain(|item| !item_matches(item, pe, ty)),
        _ => {}
    }
}
