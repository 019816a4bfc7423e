//! JSON merge patch (RFC 7386): objects merge member by member, `null` deletes a member, and
//! anything else (arrays included) replaces the target whole.

use serde_json::{Map, Value};

/// Applies the merge patch `patch` to `target` (the `MergePatch` function of RFC 7386 §2).
///
/// A non-object patch replaces the target; an object patch merges into the target (a non-object
/// target counts as `{}`), removing members whose patch value is `null`.
pub fn apply(target: &Value, patch: &Value) -> Value {
    let mut result = target.clone();
    apply_in_place(&mut result, patch);
    result
}

/// Applies `patch` to `target` in place; see [`apply`].
pub fn apply_in_place(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(members) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            members.remove(key);
        } else {
            apply_in_place(members.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_null_deletes_and_new_members_drop_nulls() {
        let target = json!({"a": {"b": 1, "c": 2}});
        let patch = json!({"a": {"b": null, "d": {"e": null, "f": 3}}});
        assert_eq!(
            apply(&target, &patch),
            json!({"a": {"c": 2, "d": {"f": 3}}})
        );
    }
}
