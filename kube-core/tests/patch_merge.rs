//! JSON merge patch (RFC 7386).

use kube_core::patch::merge;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

#[test]
fn rfc7386_appendix_a() {
    let cases = [
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": "b"}),
            json!({"b": "c"}),
            json!({"a": "b", "b": "c"}),
        ),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (
            json!({"a": "b", "b": "c"}),
            json!({"a": null}),
            json!({"b": "c"}),
        ),
        (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
        (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
        (
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "d", "c": null}}),
            json!({"a": {"b": "d"}}),
        ),
        (
            json!({"a": [{"b": "c"}]}),
            json!({"a": [1]}),
            json!({"a": [1]}),
        ),
        (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        (json!({"a": "b"}), json!(["c"]), json!(["c"])),
        (json!({"a": "foo"}), json!(null), json!(null)),
        (json!({"a": "foo"}), json!("bar"), json!("bar")),
        (
            json!({"e": null}),
            json!({"a": 1}),
            json!({"e": null, "a": 1}),
        ),
        (
            json!([1, 2]),
            json!({"a": "b", "c": null}),
            json!({"a": "b"}),
        ),
        (
            json!({}),
            json!({"a": {"bb": {"ccc": null}}}),
            json!({"a": {"bb": {}}}),
        ),
    ];
    for (original, patch, result) in cases {
        assert_eq!(
            merge::apply(&original, &patch),
            result,
            "{original} + {patch}"
        );
    }
}

#[test]
fn rfc7386_section_3_example() {
    let original = json!({
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged"
    });
    let patch = json!({
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": null},
        "tags": ["example"]
    });
    let result = json!({
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890"
    });
    assert_eq!(merge::apply(&original, &patch), result);
}

#[test]
fn kubernetes_label_patch() {
    let pod: Value = serde_json::from_str(include_str!("fixtures/pod.json")).expect("fixture");
    let patched = merge::apply(
        &pod,
        &json!({"metadata": {"labels": {"tier": null, "canary": "true"}},
                "spec": {"tolerations": []}}),
    );
    assert_eq!(
        patched["metadata"]["labels"],
        json!({"app": "web", "pod-template-hash": "7d4b9c6f5", "canary": "true"})
    );
    // Merge patch replaces lists whole, containers included.
    assert_eq!(patched["spec"]["tolerations"], json!([]));
    assert_eq!(patched["spec"]["containers"], pod["spec"]["containers"]);
}

/// Small JSON trees over a few keys, so that patches and targets overlap.
fn json_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..4).prop_map(Value::from),
        prop::sample::select(vec!["x", "y", ""]).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["a", "b", "c", "d"]),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// Drops `null` object members (a merge patch cannot produce them); nulls in arrays stay.
fn without_null_members(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_null_members(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_null_members).collect()),
        other => other,
    }
}

/// The merge patch that turns `from` into `to` (RFC 7386 does not define one; this is the
/// obvious construction).
fn diff(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(from), Value::Object(to)) => {
            let mut patch = Map::new();
            for key in from.keys().filter(|k| !to.contains_key(*k)) {
                patch.insert(key.clone(), Value::Null);
            }
            for (key, value) in to {
                match from.get(key) {
                    Some(old) if old == value => {}
                    Some(old @ Value::Object(_)) if value.is_object() => {
                        patch.insert(key.clone(), diff(old, value));
                    }
                    _ => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            Value::Object(patch)
        }
        _ => to.clone(),
    }
}

proptest! {
    #[test]
    fn applying_twice_is_idempotent(target in json_tree(), patch in json_tree()) {
        let once = merge::apply(&target, &patch);
        prop_assert_eq!(merge::apply(&once, &patch), once);
    }

    #[test]
    fn diff_then_patch_reaches_the_target(from in json_tree(), to in json_tree()) {
        let to = without_null_members(to);
        prop_assert_eq!(merge::apply(&from, &diff(&from, &to)), to);
    }

    #[test]
    fn members_follow_the_rfc(target in json_tree(), patch in json_tree()) {
        let result = merge::apply(&target, &patch);
        match &patch {
            Value::Object(members) => {
                let Value::Object(out) = &result else {
                    return Err(TestCaseError::fail("an object patch gives an object"));
                };
                for (key, value) in members {
                    match value {
                        Value::Null => prop_assert!(!out.contains_key(key)),
                        Value::Object(_) => prop_assert!(out.get(key).is_some_and(Value::is_object)),
                        other => prop_assert_eq!(out.get(key), Some(other)),
                    }
                }
                if let Value::Object(before) = &target {
                    for (key, value) in before.iter().filter(|(k, _)| !members.contains_key(*k)) {
                        prop_assert_eq!(out.get(key), Some(value));
                    }
                }
            }
            other => prop_assert_eq!(&result, other),
        }
    }
}
