use serde_json::{Value, json};

use super::naming::{accept_names, condition_status, set_condition};
use super::*;
use crate::registry::Registry;

fn crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object"}}}},
                 "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                 "additionalPrinterColumns": [{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}]},
                {"name": "v1beta1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object"}}},
            ],
        },
    })
}

fn errors(crd: &Value) -> Vec<String> {
    validate_crd(crd).iter().map(ToString::to_string).collect()
}

#[test]
fn defaulting_fills_singular_list_kind_and_conversion() {
    let mut c = crd();
    default_crd(&mut c);
    assert_eq!(c["spec"]["names"]["singular"], "widget");
    assert_eq!(c["spec"]["names"]["listKind"], "WidgetList");
    assert_eq!(c["spec"]["conversion"], json!({"strategy": "None"}));
    assert!(errors(&c).is_empty(), "{:?}", errors(&c));
}

#[test]
fn validation_messages_are_upstreams() {
    type Edit = fn(&mut Value);
    let cases: Vec<(Edit, Vec<&str>)> = vec![
        (
            |c| c["metadata"]["name"] = json!("foo.example.com"),
            vec![
                r#"metadata.name: Invalid value: "foo.example.com": must be spec.names.plural+"."+spec.group"#,
            ],
        ),
        (
            |c| {
                c["spec"]["group"] = json!("example");
                c["metadata"]["name"] = json!("widgets.example");
            },
            vec![
                r#"spec.group: Invalid value: "example": should be a domain with at least one dot"#,
            ],
        ),
        (
            |c| c["spec"]["scope"] = json!("Global"),
            vec![
                r#"spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced""#,
            ],
        ),
        (
            |c| c["spec"]["names"]["kind"] = json!(""),
            vec!["spec.names.kind: Required value"],
        ),
        (
            |c| c["spec"]["names"]["shortNames"] = json!(["W_D"]),
            vec![
                r#"spec.names.shortNames[0]: Invalid value: "W_D": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#,
            ],
        ),
        (
            |c| c["spec"]["names"]["listKind"] = json!("Widget"),
            vec![
                r#"spec.names.listKind: Invalid value: "Widget": kind and listKind may not be the same or parsing become ambiguous"#,
            ],
        ),
        (
            |c| c["spec"]["versions"][1]["storage"] = json!(true),
            vec!["must have exactly one version marked as storage version"],
        ),
        (
            |c| c["spec"]["versions"][1]["name"] = json!("v1"),
            vec!["must contain unique version names"],
        ),
        (
            |c| {
                c["spec"]["versions"][0]["served"] = json!(false);
                c["spec"]["versions"][1]["served"] = json!(false);
            },
            vec!["must have at least one version marked as served"],
        ),
        (
            |c| {
                c["spec"]["versions"][1]
                    .as_object_mut()
                    .unwrap()
                    .remove("schema");
            },
            vec!["spec.versions[1].schema.openAPIV3Schema: Required value: schemas are required"],
        ),
        (
            |c| {
                c["spec"]["versions"][0]["additionalPrinterColumns"][0]["jsonPath"] =
                    json!("spec.replicas")
            },
            vec![
                r#"spec.versions[0].additionalPrinterColumns[0].jsonPath: Invalid value: "spec.replicas": must be a simple json path starting with ."#,
            ],
        ),
        (
            |c| c["spec"]["versions"][0]["additionalPrinterColumns"][0]["type"] = json!("float"),
            vec![
                r#"spec.versions[0].additionalPrinterColumns[0].type: Unsupported value: "float": supported values: "integer", "number", "string", "boolean", "date""#,
            ],
        ),
        (
            |c| {
                c["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"] =
                    json!(".status.replicas")
            },
            vec![
                r#"spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".status.replicas": should be a json path under .spec"#,
            ],
        ),
        (
            |c| c["spec"]["conversion"] = json!({"strategy": "Webhook"}),
            vec![
                r#"spec.conversion.strategy: Unsupported value: "Webhook": supported values: "None""#,
            ],
        ),
    ];
    for (edit, want) in cases {
        let mut c = crd();
        default_crd(&mut c);
        edit(&mut c);
        let got = errors(&c);
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(g.contains(w), "{g} does not contain {w}");
        }
    }
}

#[test]
fn updates_keep_group_scope_and_stored_versions() {
    let mut old = crd();
    default_crd(&mut old);
    old["status"] = json!({"storedVersions": ["v1beta1"]});
    let mut new = old.clone();
    new["spec"]["scope"] = json!("Cluster");
    new["spec"]["versions"].as_array_mut().unwrap().pop();
    let got: Vec<String> = validate_crd_update(&new, &old)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [
            r#"spec.scope: Invalid value: "Cluster": field is immutable"#,
            r#"status.storedVersions[0]: Invalid value: "v1beta1": must appear in spec.versions"#,
        ]
    );
}

#[test]
fn served_versions_carry_names_subresources_and_columns() {
    let mut c = crd();
    default_crd(&mut c);
    let served = served_versions(&c);
    assert_eq!(served.len(), 2);
    let v1 = &served[0];
    assert_eq!(
        v1.resource.gvr().to_string(),
        "example.com/v1, Resource=widgets"
    );
    assert_eq!(v1.resource.short_names, ["wd"]);
    assert!(v1.resource.subresource("status").is_some());
    assert!(v1.resource.subresource("scale").is_some());
    assert_eq!(v1.storage_version, "v1");
    assert_eq!(v1.columns.columns()[1].name, "Replicas");
    assert_eq!(
        v1.scale.as_ref().unwrap().spec_replicas_path,
        ".spec.replicas"
    );
    assert!(served[1].resource.subresources.is_empty());
}

#[test]
fn names_conflict_within_the_group() {
    let mut c = crd();
    default_crd(&mut c);
    let names = Names::from_json(&c["spec"]["names"]);
    assert_eq!(accept_names(&names, []), Ok(names.clone()));
    let builtin = Registry::builtin();
    let apps: Vec<_> = builtin.iter().filter(|r| r.group == "apps").collect();
    let mut deploy = names.clone();
    deploy.plural = "deployments".into();
    let conflict = accept_names(&deploy, apps.iter().copied()).unwrap_err();
    assert_eq!(conflict.reason, "PluralConflict");
    assert_eq!(conflict.message, r#""deployments" is already in use"#);
    let mut kind = names.clone();
    kind.kind = "Deployment".into();
    assert_eq!(
        accept_names(&kind, apps.iter().copied())
            .unwrap_err()
            .reason,
        "KindConflict"
    );
}

#[test]
fn conditions_keep_transition_times() {
    let mut c = crd();
    assert!(set_condition(
        &mut c,
        "Established",
        "False",
        "NotAccepted",
        "m",
        "t1"
    ));
    assert!(!set_condition(
        &mut c,
        "Established",
        "False",
        "NotAccepted",
        "m",
        "t2"
    ));
    assert!(set_condition(
        &mut c,
        "Established",
        "True",
        "InitialNamesAccepted",
        "x",
        "t3"
    ));
    assert_eq!(condition_status(&c, "Established"), "True");
    assert_eq!(c["status"]["conditions"][0]["lastTransitionTime"], "t3");
    assert_eq!(condition_status(&c, "NamesAccepted"), "");
}
