//! JSON patch (RFC 6902).

use kube_core::k8s_openapi::api::core::v1::Pod;
use kube_core::patch::PatchError;
use kube_core::patch::json::{self, Limits, MAX_OPERATIONS};
use serde_json::{Value, json};

fn pod() -> Value {
    serde_json::from_str(include_str!("fixtures/pod.json")).expect("pod fixture")
}

#[test]
fn rfc6902_appendix_a_successes() {
    let cases = [
        // A.1 adding an object member
        (
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux"}]),
            json!({"baz": "qux", "foo": "bar"}),
        ),
        // A.2 adding an array element
        (
            json!({"foo": ["bar", "baz"]}),
            json!([{"op": "add", "path": "/foo/1", "value": "qux"}]),
            json!({"foo": ["bar", "qux", "baz"]}),
        ),
        // A.3 removing an object member
        (
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "remove", "path": "/baz"}]),
            json!({"foo": "bar"}),
        ),
        // A.4 removing an array element
        (
            json!({"foo": ["bar", "qux", "baz"]}),
            json!([{"op": "remove", "path": "/foo/1"}]),
            json!({"foo": ["bar", "baz"]}),
        ),
        // A.5 replacing a value
        (
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "replace", "path": "/baz", "value": "boo"}]),
            json!({"baz": "boo", "foo": "bar"}),
        ),
        // A.6 moving a value
        (
            json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
            json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]),
            json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
        ),
        // A.7 moving an array element
        (
            json!({"foo": ["all", "grass", "cows", "eat"]}),
            json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}]),
            json!({"foo": ["all", "cows", "eat", "grass"]}),
        ),
        // A.8 testing a value: success
        (
            json!({"baz": "qux", "foo": ["a", 2, "c"]}),
            json!([
                {"op": "test", "path": "/baz", "value": "qux"},
                {"op": "test", "path": "/foo/1", "value": 2}
            ]),
            json!({"baz": "qux", "foo": ["a", 2, "c"]}),
        ),
        // A.10 adding a nested member object
        (
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}]),
            json!({"foo": "bar", "child": {"grandchild": {}}}),
        ),
        // A.11 ignoring unrecognized elements
        (
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}]),
            json!({"foo": "bar", "baz": "qux"}),
        ),
        // A.14 ~ escape ordering
        (
            json!({"/": 9, "~1": 10}),
            json!([{"op": "test", "path": "/~01", "value": 10}]),
            json!({"/": 9, "~1": 10}),
        ),
        // A.16 adding an array value
        (
            json!({"foo": ["bar"]}),
            json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]),
            json!({"foo": ["bar", ["abc", "def"]]}),
        ),
    ];
    for (doc, patch, result) in cases {
        assert_eq!(
            json::apply(&doc, &patch).ok(),
            Some(result),
            "{doc} + {patch}"
        );
    }
}

#[test]
fn rfc6902_appendix_a_errors() {
    // A.9 testing a value: error
    let err = json::apply(
        &json!({"baz": "qux"}),
        &json!([{"op": "test", "path": "/baz", "value": "bar"}]),
    );
    assert!(
        matches!(err, Err(PatchError::TestFailed { index: 0, .. })),
        "{err:?}"
    );

    // A.12 adding to a nonexistent target
    let err = json::apply(
        &json!({"foo": "bar"}),
        &json!([{"op": "add", "path": "/baz/bat", "value": "qux"}]),
    );
    assert!(
        matches!(
            err,
            Err(PatchError::OperationFailed {
                index: 0,
                op: "add",
                ..
            })
        ),
        "{err:?}"
    );

    // A.13 invalid JSON patch document: the duplicate "op" leaves a remove of a missing member.
    let patch: Value =
        serde_json::from_str(r#"[{"op": "add", "path": "/baz", "value": "qux", "op": "remove"}]"#)
            .expect("parses");
    assert!(json::apply(&json!({"foo": "bar"}), &patch).is_err());

    // A.15 comparing strings and numbers
    let err = json::apply(
        &json!({"/": 9, "~1": 10}),
        &json!([{"op": "test", "path": "/~01", "value": "10"}]),
    );
    assert!(matches!(err, Err(PatchError::TestFailed { .. })), "{err:?}");
}

#[test]
fn every_operation_on_a_pod() {
    let patch = json!([
        {"op": "test", "path": "/metadata/name", "value": "web-7d4b9c6f5-x2k8p"},
        {"op": "add", "path": "/metadata/labels/canary", "value": "true"},
        {"op": "remove", "path": "/metadata/annotations/kubectl.kubernetes.io~1restartedAt"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.26.0"},
        {"op": "move", "from": "/metadata/labels/tier", "path": "/metadata/labels/role"},
        {"op": "copy", "from": "/spec/containers/0/env/0", "path": "/spec/containers/1/env/-"},
        {"op": "add", "path": "/spec/tolerations/0", "value": {"key": "dedicated", "operator": "Exists"}},
        {"op": "remove", "path": "/spec/volumes/1"},
        {"op": "test", "path": "/spec/containers/0/ports/1/containerPort", "value": 443.0}
    ]);
    let patched = json::apply(&pod(), &patch).expect("patch applies");
    serde_json::from_value::<Pod>(patched.clone()).expect("still a Pod");

    assert_eq!(
        patched["metadata"]["labels"],
        json!({"app": "web", "pod-template-hash": "7d4b9c6f5", "canary": "true", "role": "frontend"})
    );
    assert_eq!(patched["metadata"]["annotations"], json!({}));
    assert_eq!(patched["spec"]["containers"][0]["image"], "nginx:1.26.0");
    assert_eq!(
        patched["spec"]["containers"][1]["env"],
        json!([{"name": "LOG_LEVEL", "value": "info"}, {"name": "NGINX_PORT", "value": "80"}])
    );
    assert_eq!(patched["spec"]["tolerations"][0]["key"], "dedicated");
    assert_eq!(
        patched["spec"]["tolerations"].as_array().map(Vec::len),
        Some(3)
    );
    let volumes: Vec<_> = patched["spec"]["volumes"]
        .as_array()
        .map(|v| v.iter().map(|v| v["name"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(volumes, [json!("config"), json!("kube-api-access-9zq7m")]);
}

#[test]
fn whole_document_add_and_replace() {
    let doc = json!({"a": 1});
    assert_eq!(
        json::apply(&doc, &json!([{"op": "add", "path": "", "value": [1]}])).ok(),
        Some(json!([1]))
    );
    assert_eq!(
        json::apply(&doc, &json!([{"op": "replace", "path": "", "value": "x"}])).ok(),
        Some(json!("x"))
    );
    assert!(json::apply(&doc, &json!([{"op": "remove", "path": ""}])).is_err());
    // add on an existing member replaces it.
    assert_eq!(
        json::apply(&doc, &json!([{"op": "add", "path": "/a", "value": 2}])).ok(),
        Some(json!({"a": 2}))
    );
    // move to the same place is a no-op, but the source must exist.
    assert_eq!(
        json::apply(&doc, &json!([{"op": "move", "from": "/a", "path": "/a"}])).ok(),
        Some(doc.clone())
    );
    assert!(json::apply(&doc, &json!([{"op": "move", "from": "/b", "path": "/b"}])).is_err());
}

#[test]
fn test_treats_a_missing_member_as_null() {
    let absent =
        json!([{"op": "test", "path": "/metadata/annotations/example.com~1lock", "value": null}]);
    assert_eq!(json::apply(&pod(), &absent).ok(), Some(pod()));
    let present =
        json!([{"op": "test", "path": "/metadata/annotations/example.com~1lock", "value": "held"}]);
    assert!(matches!(
        json::apply(&pod(), &present),
        Err(PatchError::TestFailed { index: 0, .. })
    ));
}

#[test]
fn a_failing_operation_applies_nothing() {
    let original = pod();
    let patch = json!([
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.26.0"},
        {"op": "remove", "path": "/metadata/labels"},
        {"op": "test", "path": "/metadata/name", "value": "another-pod"}
    ]);
    let err = json::apply(&original, &patch).expect_err("test fails");
    assert!(
        matches!(&err, PatchError::TestFailed { index: 2, path } if path == "/metadata/name"),
        "{err}"
    );
    assert!(err.to_string().contains("operation 2"), "{err}");
    assert_eq!(original, pod());
}

#[test]
fn bad_operations_name_their_index_and_path() {
    let cases = [
        (json!({"op": "replace", "path": "spec", "value": 1}), "spec"),
        (
            json!({"op": "replace", "path": "/spec/containers/5/image", "value": 1}),
            "/spec/containers/5/image",
        ),
        (
            json!({"op": "replace", "path": "/spec/containers/01/image", "value": 1}),
            "/spec/containers/01/image",
        ),
        (
            json!({"op": "replace", "path": "/spec/containers/-/image", "value": 1}),
            "/spec/containers/-/image",
        ),
        (
            json!({"op": "add", "path": "/spec/containers/3", "value": {}}),
            "/spec/containers/3",
        ),
        (
            json!({"op": "add", "path": "/metadata/name/first", "value": 1}),
            "/metadata/name/first",
        ),
        (
            json!({"op": "remove", "path": "/metadata/nope"}),
            "/metadata/nope",
        ),
        (
            json!({"op": "remove", "path": "/metadata/~2"}),
            "/metadata/~2",
        ),
        (
            json!({"op": "test", "path": "/metadata/nope/deeper", "value": null}),
            "/metadata/nope/deeper",
        ),
        (json!({"op": "copy", "from": "/nope", "path": "/x"}), "/x"),
        (
            json!({"op": "move", "from": "/spec", "path": "/spec/inner"}),
            "/spec/inner",
        ),
    ];
    for (op, path) in cases {
        let patch = json!([{"op": "test", "path": "/kind", "value": "Pod"}, op]);
        let err = json::apply(&pod(), &patch).expect_err("operation fails");
        let message = err.to_string();
        assert!(message.contains("operation 1"), "{message}");
        assert!(
            message.contains(&format!("{path:?}")),
            "{message} should name {path}"
        );
    }
}

#[test]
fn malformed_patches_are_rejected_before_applying() {
    let cases = [
        json!({"op": "add", "path": "/a", "value": 1}),
        json!([1]),
        json!([{"path": "/a", "value": 1}]),
        json!([{"op": "add", "value": 1}]),
        json!([{"op": "add", "path": "/a"}]),
        json!([{"op": "move", "path": "/a"}]),
        json!([{"op": "copy", "path": "/a", "from": 7}]),
        json!([{"op": "increment", "path": "/a"}]),
        json!([{"op": ["add"], "path": "/a"}]),
    ];
    for patch in cases {
        let err = json::apply(&json!({"a": 1}), &patch).expect_err("malformed");
        assert!(
            matches!(
                err,
                PatchError::MalformedJsonPatch { .. } | PatchError::MalformedOperation { .. }
            ),
            "{patch}: {err}"
        );
    }
    // A malformed later operation stops the patch before the first one runs.
    let err = json::apply(
        &json!({}),
        &json!([{"op": "add", "path": "/a", "value": 1}, {"op": "frobnicate", "path": "/a"}]),
    )
    .expect_err("malformed");
    assert!(
        matches!(err, PatchError::MalformedOperation { index: 1, .. }),
        "{err}"
    );
}

#[test]
fn operation_count_is_bounded() {
    let test = json!({"op": "test", "path": "/kind", "value": "Pod"});
    let at_limit = Value::Array(vec![test.clone(); MAX_OPERATIONS]);
    assert!(json::apply(&pod(), &at_limit).is_ok());
    let over = Value::Array(vec![test; MAX_OPERATIONS + 1]);
    let err = json::apply(&pod(), &over).expect_err("too many operations");
    assert!(
        matches!(err, PatchError::TooManyOperations { count, max } if count == MAX_OPERATIONS + 1 && max == MAX_OPERATIONS),
        "{err}"
    );
}

#[test]
fn copies_cannot_grow_the_document_without_bound() {
    // Each copy doubles /x: 40 of them would be a terabyte.
    let doubling = json!({"op": "copy", "from": "/x", "path": "/x/-"});
    let patch = Value::Array(vec![doubling; 40]);
    let err = json::apply(&json!({"x": ["0123456789abcdef"]}), &patch).expect_err("bounded");
    assert!(matches!(err, PatchError::CopyLimitExceeded { .. }), "{err}");

    let limits = Limits {
        max_copy_bytes: 10,
        ..Limits::default()
    };
    let copy = json!([{"op": "copy", "from": "/a", "path": "/b"}]);
    assert!(json::apply_with_limits(&json!({"a": "12345678"}), &copy, limits).is_ok()); // 10 bytes
    let err =
        json::apply_with_limits(&json!({"a": "123456789"}), &copy, limits).expect_err("11 bytes");
    assert!(
        matches!(
            err,
            PatchError::CopyLimitExceeded {
                index: 0,
                size: 11,
                limit: 10,
                ..
            }
        ),
        "{err}"
    );
}
