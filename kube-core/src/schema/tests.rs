use serde_json::{Value, json};

use super::*;
use crate::validation::Path;

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["image"],
                "properties": {
                    "image": {"type": "string", "minLength": 2, "maxLength": 10, "pattern": "^[a-z]+$"},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 5, "default": 1},
                    "ratio": {"type": "number", "exclusiveMinimum": true, "minimum": 0, "exclusiveMaximum": true, "maximum": 1},
                    "color": {"type": "string", "enum": ["red", "green"]},
                    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2, "uniqueItems": true},
                    "set": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                              "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer", "default": 80}}}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 2, "minProperties": 1},
                    "when": {"type": "string", "format": "date-time"},
                    "id": {"type": "string", "format": "uuid"},
                    "size": {"type": "integer", "format": "int32"},
                    "note": {"type": "string", "nullable": true},
                    "port": {"x-kubernetes-int-or-string": true},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                                 "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                    "nested": {"type": "object", "default": {}, "properties": {"mode": {"type": "string", "default": "auto"}}},
                },
            },
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
        },
    })
}

fn object(spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec})
}

#[test]
fn validation_messages_are_upstreams() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"image": "abc"}), vec![]),
        (
            json!({"image": "abc", "replicas": "string"}),
            vec![
                r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#,
            ],
        ),
        (json!({}), vec!["spec.image: Required value"]),
        (
            json!({"image": "abc", "replicas": 0}),
            vec![
                "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
            ],
        ),
        (
            json!({"image": "abc", "replicas": 6}),
            vec![
                "spec.replicas: Invalid value: 6: spec.replicas in body should be less than or equal to 5",
            ],
        ),
        (
            json!({"image": "abc", "ratio": 1}),
            vec!["spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1"],
        ),
        (
            json!({"image": "abc", "ratio": 0}),
            vec!["spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"],
        ),
        (
            json!({"image": "a"}),
            vec![
                r#"spec.image: Invalid value: "a": spec.image in body should be at least 2 chars long"#,
            ],
        ),
        (
            json!({"image": "abcdefghijkl"}),
            vec!["spec.image: Too long: must have at most 10 bytes"],
        ),
        (
            json!({"image": "ABC"}),
            vec![r#"spec.image: Invalid value: "ABC": spec.image in body should match '^[a-z]+$'"#],
        ),
        (
            json!({"image": "abc", "color": "blue"}),
            vec![r#"spec.color: Unsupported value: "blue": supported values: "red", "green""#],
        ),
        (
            json!({"image": "abc", "tags": []}),
            vec!["spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"],
        ),
        (
            json!({"image": "abc", "tags": ["a", "b", "c"]}),
            vec!["spec.tags: Too many: 3: must have at most 2 items"],
        ),
        (
            json!({"image": "abc", "tags": ["a", "a"]}),
            vec![r#"spec.tags[1]: Duplicate value: "a""#],
        ),
        (
            json!({"image": "abc", "set": ["x", "y", "x"]}),
            vec![r#"spec.set[2]: Duplicate value: "x""#],
        ),
        (
            json!({"image": "abc", "ports": [{"name": "a"}, {"name": "a", "port": 2}]}),
            vec![r#"spec.ports[1]: Duplicate value: {"name":"a"}"#],
        ),
        (
            json!({"image": "abc", "labels": {"a": "1", "b": "2", "c": "3"}}),
            vec!["spec.labels: Too many: 3: must have at most 2 items"],
        ),
        (
            json!({"image": "abc", "labels": {}}),
            vec![
                "spec.labels: Invalid value: 0: spec.labels in body should have at least 1 properties",
            ],
        ),
        (
            json!({"image": "abc", "labels": {"a": 1}}),
            vec![
                r#"spec.labels[a]: Invalid value: "integer": spec.labels[a] in body must be of type string: "integer""#,
            ],
        ),
        (
            json!({"image": "abc", "when": "yesterday"}),
            vec![
                r#"spec.when: Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday""#,
            ],
        ),
        (
            json!({"image": "abc", "when": "2024-01-02T03:04:05Z"}),
            vec![],
        ),
        (
            json!({"image": "abc", "id": "nope"}),
            vec![r#"spec.id: Invalid value: "nope": spec.id in body must be of type uuid: "nope""#],
        ),
        (
            json!({"image": "abc", "size": 4_000_000_000_i64}),
            vec![
                "spec.size: Invalid value: 4000000000: spec.size in body must be of type int32: 4000000000",
            ],
        ),
        (json!({"image": "abc", "note": null}), vec![]),
        (
            json!({"image": "abc", "color": null}),
            vec![
                r#"spec.color: Invalid value: "null": spec.color in body must be of type string: "null""#,
            ],
        ),
        (json!({"image": "abc", "port": 80}), vec![]),
        (json!({"image": "abc", "port": "http"}), vec![]),
        (
            json!({"image": "abc", "port": true}),
            vec![
                r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#,
            ],
        ),
        (
            json!({"image": "abc", "free": {"any": {"thing": 1}}}),
            vec![],
        ),
        (
            json!({"image": "abc", "template": {"spec": {}}}),
            vec![
                "spec.template.apiVersion: Required value: must not be empty",
                "spec.template.kind: Required value: must not be empty",
            ],
        ),
        (
            json!({"image": "abc", "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"a": 1}}}),
            vec![
                r#"spec.template.spec.a: Invalid value: "integer": spec.template.spec.a in body must be of type string: "integer""#,
            ],
        ),
    ];
    for (spec, want) in cases {
        let errs = validate(&schema(), &object(spec.clone()));
        let got: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(got, want, "spec {spec}");
    }
}

#[test]
fn pruning_drops_unknown_fields_and_reports_them() {
    let mut obj = object(json!({
        "image": "abc",
        "foo": 1,
        "ports": [{"name": "a", "extra": true}],
        "free": {"kept": 1},
        "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "bogus": 1}, "spec": {"b": 2}},
    }));
    obj["status"] = json!({"ready": true, "other": 1});
    obj["top"] = json!(1);
    let pruned = prune(&schema(), &mut obj);
    assert_eq!(
        pruned,
        [
            "spec.foo",
            "spec.ports[0].extra",
            "spec.template.metadata.bogus",
            "spec.template.spec.b",
            "status.other",
            "top",
        ]
    );
    assert_eq!(obj["metadata"]["name"], "w");
    assert_eq!(obj["spec"]["free"], json!({"kept": 1}));
    assert_eq!(obj["spec"]["template"]["kind"], "Pod");
    assert!(obj.get("top").is_none());
}

#[test]
fn defaulting_fills_missing_and_non_nullable_nulls() {
    let mut obj =
        object(json!({"image": "abc", "replicas": null, "ports": [{"name": "a"}], "note": null}));
    default(&schema(), &mut obj);
    assert_eq!(obj["spec"]["replicas"], 1);
    assert_eq!(obj["spec"]["ports"][0]["port"], 80);
    assert_eq!(obj["spec"]["nested"], json!({"mode": "auto"}));
    assert_eq!(obj["spec"]["note"], Value::Null);
    assert!(obj["spec"].as_object().unwrap().contains_key("note"));
}

#[test]
fn structural_rules() {
    let root = Path::new("spec")
        .child("versions")
        .index(0)
        .child("schema")
        .child("openAPIV3Schema");
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (schema(), vec![]),
        (
            json!({"type": "string"}),
            vec![
                r#"spec.versions[0].schema.openAPIV3Schema.type: Invalid value: "string": must be object at the root"#,
            ],
        ),
        (
            json!({"type": "object", "properties": {"spec": {"properties": {}}}}),
            vec![
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields",
            ],
        ),
        (
            json!({"type": "object", "properties": {"l": {"type": "array"}}}),
            vec![
                "spec.versions[0].schema.openAPIV3Schema.properties[l].items: Required value: must be specified",
            ],
        ),
        (
            json!({"type": "object", "properties": {"m": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}}}),
            vec![
                "spec.versions[0].schema.openAPIV3Schema.properties[m].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive",
            ],
        ),
        (
            json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}}),
            vec![
                "spec.versions[0].schema.openAPIV3Schema.properties[metadata].properties[labels]: Forbidden: must not be specified",
            ],
        ),
        (
            json!({"type": "object", "properties": {"n": {"type": "integer", "default": "x"}}}),
            vec![
                r#"spec.versions[0].schema.openAPIV3Schema.properties[n].default: Invalid value: "string": spec.versions[0].schema.openAPIV3Schema.properties[n].default in body must be of type integer: "string""#,
            ],
        ),
    ];
    for (s, want) in cases {
        let got: Vec<String> = validate_structural(&s, &root)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, want, "schema {s}");
    }
}
