//! Validation messages compared with upstream's exact text: name rules, field errors,
//! ObjectMeta on create and update, immutable fields.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube_core::validation::name::{
    is_c_identifier, is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_env_var_name,
    is_qualified_name, is_valid_label_value, is_valid_path_segment_name,
};
use kube_core::validation::{
    ErrorList, ErrorType, FieldError, NameRule, Path, validate_immutable, validate_object_meta,
    validate_object_meta_update,
};
use serde_json::json;

const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const C_IDENTIFIER: &str = "a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric characters or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName', regex used for validation is '[A-Za-z_][A-Za-z0-9_]*')";
const ENV_VAR: &str = "a valid environment variable name must consist only of printable ASCII characters other than '='";

/// A name rule, its input, and the messages it should give.
type NameCase = (&'static str, fn(&str) -> Vec<String>, String, Vec<String>);

#[test]
fn name_rules_give_upstream_messages() {
    let name_part = |m: &str| format!("name part {m}");
    let cases: Vec<NameCase> = vec![
        (
            "subdomain",
            is_dns1123_subdomain,
            "example.com".into(),
            vec![],
        ),
        (
            "subdomain",
            is_dns1123_subdomain,
            "Foo".into(),
            vec![SUBDOMAIN.into()],
        ),
        (
            "subdomain",
            is_dns1123_subdomain,
            "a..b".into(),
            vec![SUBDOMAIN.into()],
        ),
        (
            "subdomain",
            is_dns1123_subdomain,
            "".into(),
            vec![SUBDOMAIN.into()],
        ),
        (
            "subdomain",
            is_dns1123_subdomain,
            "a".repeat(254),
            vec!["must be no more than 253 characters".into()],
        ),
        ("subdomain", is_dns1123_subdomain, "a".repeat(253), vec![]),
        ("label", is_dns1123_label, "my-name".into(), vec![]),
        (
            "label",
            is_dns1123_label,
            "a.b".into(),
            vec!["must not contain dots".into()],
        ),
        ("label", is_dns1123_label, "-a".into(), vec![LABEL.into()]),
        (
            "label",
            is_dns1123_label,
            "a".repeat(64),
            vec!["must be no more than 63 characters".into()],
        ),
        ("dns1035", is_dns1035_label, "svc-1".into(), vec![]),
        (
            "dns1035",
            is_dns1035_label,
            "1svc".into(),
            vec![DNS1035.into()],
        ),
        (
            "qualified",
            is_qualified_name,
            "example.com/My_Name.1".into(),
            vec![],
        ),
        (
            "qualified",
            is_qualified_name,
            "a_".into(),
            vec![name_part(QUALIFIED)],
        ),
        (
            "qualified",
            is_qualified_name,
            "".into(),
            vec!["name part must be non-empty".into(), name_part(QUALIFIED)],
        ),
        (
            "qualified",
            is_qualified_name,
            "/a".into(),
            vec!["prefix part must be non-empty".into()],
        ),
        (
            "qualified",
            is_qualified_name,
            "Example.com/a".into(),
            vec![format!("prefix part {SUBDOMAIN}")],
        ),
        (
            "qualified",
            is_qualified_name,
            "a/b/c".into(),
            vec![format!(
                "a qualified name {QUALIFIED} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            )],
        ),
        (
            "qualified",
            is_qualified_name,
            "a".repeat(64),
            vec!["name part must be no more than 63 characters".into()],
        ),
        ("label value", is_valid_label_value, "".into(), vec![]),
        (
            "label value",
            is_valid_label_value,
            "My_Value.1".into(),
            vec![],
        ),
        (
            "label value",
            is_valid_label_value,
            "-x".into(),
            vec![LABEL_VALUE.into()],
        ),
        (
            "label value",
            is_valid_label_value,
            "v".repeat(64),
            vec!["must be no more than 63 characters".into()],
        ),
        ("c identifier", is_c_identifier, "_my_NAME1".into(), vec![]),
        (
            "c identifier",
            is_c_identifier,
            "1abc".into(),
            vec![C_IDENTIFIER.into()],
        ),
        (
            "c identifier",
            is_c_identifier,
            "a-b".into(),
            vec![C_IDENTIFIER.into()],
        ),
        ("env var", is_env_var_name, "my.env-name 1:%".into(), vec![]),
        (
            "env var",
            is_env_var_name,
            "A=B".into(),
            vec![ENV_VAR.into()],
        ),
        (
            "env var",
            is_env_var_name,
            "caf\u{e9}".into(),
            vec![ENV_VAR.into()],
        ),
        (
            "env var",
            is_env_var_name,
            "a\tb".into(),
            vec![ENV_VAR.into()],
        ),
        (
            "env var",
            is_env_var_name,
            "".into(),
            vec!["environment variable name must be non-empty".into()],
        ),
        (
            "path segment",
            is_valid_path_segment_name,
            "a.b".into(),
            vec![],
        ),
        (
            "path segment",
            is_valid_path_segment_name,
            ".".into(),
            vec!["may not be '.'".into()],
        ),
        (
            "path segment",
            is_valid_path_segment_name,
            "..".into(),
            vec!["may not be '..'".into()],
        ),
        (
            "path segment",
            is_valid_path_segment_name,
            "a/b%c".into(),
            vec!["may not contain '/'".into(), "may not contain '%'".into()],
        ),
    ];
    for (rule, check, input, expected) in cases {
        assert_eq!(check(&input), expected, "{rule} {input:?}");
    }
}

#[test]
fn paths_print_as_upstream() {
    let containers = Path::new("spec").child("containers");
    assert_eq!(
        containers.index(0).child("image").to_string(),
        "spec.containers[0].image"
    );
    assert_eq!(
        Path::new("metadata").child("labels").key("app").as_str(),
        "metadata.labels[app]"
    );
    assert_eq!(Path::root().child("kind").as_str(), "kind");
    assert_eq!(Path::root().index(2).as_str(), "[2]");
}

#[test]
fn field_errors_print_as_upstream() {
    let name = Path::new("metadata").child("name");
    let boom = std::io::Error::other("boom");
    let cases = [
        (
            FieldError::invalid(&name, "Foo", SUBDOMAIN),
            format!("metadata.name: Invalid value: \"Foo\": {SUBDOMAIN}"),
            "FieldValueInvalid",
        ),
        (
            FieldError::required(&name, "name or generateName is required"),
            "metadata.name: Required value: name or generateName is required".to_owned(),
            "FieldValueRequired",
        ),
        (
            FieldError::required(&Path::new("metadata").child("namespace"), ""),
            "metadata.namespace: Required value".to_owned(),
            "FieldValueRequired",
        ),
        (
            FieldError::not_supported(
                &Path::new("spec").child("restartPolicy"),
                "Sometimes",
                &["Always", "Never", "OnFailure"],
            ),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\", \"OnFailure\"".to_owned(),
            "FieldValueNotSupported",
        ),
        (
            FieldError::duplicate(
                &Path::new("spec").child("containers").index(1).child("name"),
                "app",
            ),
            "spec.containers[1].name: Duplicate value: \"app\"".to_owned(),
            "FieldValueDuplicate",
        ),
        (
            FieldError::forbidden(
                &Path::new("metadata").child("namespace"),
                "not allowed on this type",
            ),
            "metadata.namespace: Forbidden: not allowed on this type".to_owned(),
            "FieldValueForbidden",
        ),
        (
            FieldError::too_long(&Path::new("metadata").child("annotations"), "", 262144),
            "metadata.annotations: Too long: must have at most 262144 bytes".to_owned(),
            "FieldValueTooLong",
        ),
        (
            FieldError::too_long(&name, "x", 1),
            "metadata.name: Too long: must have at most 1 byte".to_owned(),
            "FieldValueTooLong",
        ),
        (
            FieldError::too_many(&Path::new("spec").child("containers"), 5, 3),
            "spec.containers: Too many: 5: must have at most 3 items".to_owned(),
            "FieldValueTooMany",
        ),
        (
            FieldError::too_many(&Path::new("spec").child("containers"), -1, 1),
            "spec.containers: Too many: must have at most 1 item".to_owned(),
            "FieldValueTooMany",
        ),
        (
            FieldError::not_found(&Path::new("spec").child("volumes").index(0), "data"),
            "spec.volumes[0]: Not found: \"data\"".to_owned(),
            "FieldValueNotFound",
        ),
        (
            FieldError::internal(&name, &boom),
            "metadata.name: Internal error: boom".to_owned(),
            "InternalError",
        ),
        (
            FieldError::invalid(
                &Path::new("metadata").child("generation"),
                -1,
                "must be greater than or equal to 0",
            ),
            "metadata.generation: Invalid value: -1: must be greater than or equal to 0"
                .to_owned(),
            "FieldValueInvalid",
        ),
        (
            FieldError::invalid(&name, "tab\there \"q\"", "bad"),
            "metadata.name: Invalid value: \"tab\\there \\\"q\\\"\": bad".to_owned(),
            "FieldValueInvalid",
        ),
        (
            FieldError::type_invalid(&name, true, "must be a string"),
            "metadata.name: Invalid value: true: must be a string".to_owned(),
            "FieldValueTypeInvalid",
        ),
    ];
    for (error, message, cause) in cases {
        assert_eq!(error.to_string(), message);
        assert_eq!(error.error_type.cause_type(), cause);
        assert_eq!(ErrorType::from_cause_type(cause), Some(error.error_type));
    }
}

#[test]
fn error_lists_aggregate_as_upstream() {
    let a = FieldError::required(&Path::new("a"), "");
    let b = FieldError::forbidden(&Path::new("b"), "no");
    assert_eq!(ErrorList::new().to_string(), "");
    assert!(ErrorList::new().into_result().is_ok());
    assert_eq!(ErrorList::from(a.clone()).to_string(), "a: Required value");
    let list: ErrorList = vec![a.clone(), b.clone(), a.clone()].into();
    assert_eq!(list.len(), 3);
    assert_eq!(list.to_string(), "[a: Required value, b: Forbidden: no]");
    assert!(list.into_result().is_err());
}

fn meta(name: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: (!name.is_empty()).then(|| name.to_owned()),
        namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
        ..ObjectMeta::default()
    }
}

fn messages(errors: &ErrorList) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

fn owner(kind: &str, name: &str, controller: bool) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        uid: "uid-1".to_owned(),
        controller: Some(controller),
        block_owner_deletion: None,
    }
}

#[test]
fn object_meta_on_create() {
    let subdomain = NameRule::Dns1123Subdomain;
    let with = |f: &dyn Fn(&mut ObjectMeta)| {
        let mut m = meta("web", "default");
        f(&mut m);
        m
    };
    let cases: Vec<(&str, ObjectMeta, bool, NameRule, Vec<String>)> = vec![
        ("valid", meta("web", "default"), true, subdomain, vec![]),
        (
            "no name",
            meta("", "default"),
            true,
            subdomain,
            vec!["metadata.name: Required value: name or generateName is required".into()],
        ),
        (
            "generateName only",
            ObjectMeta {
                generate_name: Some("web-".into()),
                ..meta("", "default")
            },
            true,
            subdomain,
            vec![],
        ),
        (
            "bad generateName",
            ObjectMeta {
                generate_name: Some("Web-".into()),
                ..meta("", "default")
            },
            true,
            subdomain,
            vec![format!("metadata.generateName: Invalid value: \"Web-\": {SUBDOMAIN}")],
        ),
        (
            "bad name",
            meta("Foo", "default"),
            true,
            subdomain,
            vec![format!("metadata.name: Invalid value: \"Foo\": {SUBDOMAIN}")],
        ),
        (
            "service name",
            meta("1svc", "default"),
            true,
            NameRule::Dns1035Label,
            vec![format!("metadata.name: Invalid value: \"1svc\": {DNS1035}")],
        ),
        (
            "path segment name",
            meta("..", ""),
            false,
            NameRule::PathSegment,
            vec!["metadata.name: Invalid value: \"..\": may not be '..'".into()],
        ),
        (
            "namespace required",
            meta("web", ""),
            true,
            subdomain,
            vec!["metadata.namespace: Required value".into()],
        ),
        (
            "namespace forbidden",
            meta("node-1", "default"),
            false,
            subdomain,
            vec!["metadata.namespace: Forbidden: not allowed on this type".into()],
        ),
        (
            "bad namespace",
            meta("web", "my.ns"),
            true,
            subdomain,
            vec!["metadata.namespace: Invalid value: \"my.ns\": must not contain dots".into()],
        ),
        (
            "negative generation",
            with(&|m| m.generation = Some(-1)),
            true,
            subdomain,
            vec!["metadata.generation: Invalid value: -1: must be greater than or equal to 0"
                .into()],
        ),
        (
            "labels",
            with(&|m| {
                m.labels = Some(BTreeMap::from([
                    ("a b".to_owned(), "ok".to_owned()),
                    ("app".to_owned(), "-x".to_owned()),
                ]))
            }),
            true,
            subdomain,
            vec![
                format!("metadata.labels: Invalid value: \"a b\": name part {QUALIFIED}"),
                format!("metadata.labels: Invalid value: \"-x\": {LABEL_VALUE}"),
            ],
        ),
        (
            "annotation keys ignore case",
            with(&|m| {
                m.annotations = Some(BTreeMap::from([(
                    "Example.com/Some_Key".to_owned(),
                    "any value at all".to_owned(),
                )]))
            }),
            true,
            subdomain,
            vec![],
        ),
        (
            "annotations too large",
            with(&|m| {
                m.annotations = Some(BTreeMap::from([("a".to_owned(), "x".repeat(262144))]))
            }),
            true,
            subdomain,
            vec!["metadata.annotations: Too long: must have at most 262144 bytes".into()],
        ),
        (
            "annotations at the limit",
            with(&|m| {
                m.annotations = Some(BTreeMap::from([("a".to_owned(), "x".repeat(262143))]))
            }),
            true,
            subdomain,
            vec![],
        ),
        (
            "owner reference fields",
            with(&|m| {
                m.owner_references = Some(vec![OwnerReference {
                    api_version: "apps/".into(),
                    kind: String::new(),
                    name: String::new(),
                    uid: String::new(),
                    controller: None,
                    block_owner_deletion: None,
                }])
            }),
            true,
            subdomain,
            vec![
                "metadata.ownerReferences.apiVersion: Invalid value: \"apps/\": version must not be empty".into(),
                "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty".into(),
                "metadata.ownerReferences.name: Invalid value: \"\": name must not be empty".into(),
                "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty".into(),
            ],
        ),
        (
            "one controller",
            with(&|m| {
                m.owner_references = Some(vec![
                    owner("ReplicaSet", "a", true),
                    owner("Deployment", "b", false),
                ])
            }),
            true,
            subdomain,
            vec![],
        ),
        (
            "finalizers",
            with(&|m| {
                m.finalizers = Some(vec![
                    "example.com/cleanup".into(),
                    "bad finalizer".into(),
                    "example.com/cleanup".into(),
                ])
            }),
            true,
            subdomain,
            vec![
                // A repeated finalizer is accepted, as upstream accepts it.
                format!("metadata.finalizers: Invalid value: \"bad finalizer\": name part {QUALIFIED}"),
            ],
        ),
    ];
    for (case, meta, namespaced, rule, expected) in cases {
        let errors = validate_object_meta(&meta, namespaced, rule);
        assert_eq!(messages(&errors), expected, "{case}");
    }
}

#[test]
fn object_meta_controllers_and_finalizer_conflicts() {
    let mut m = meta("web", "default");
    m.owner_references = Some(vec![
        owner("ReplicaSet", "a", true),
        owner("StatefulSet", "b", true),
    ]);
    let errors = validate_object_meta(&m, true, NameRule::Dns1123Subdomain);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors.as_slice()[0].field.as_str(),
        "metadata.ownerReferences"
    );
    assert!(
        errors.to_string().ends_with(
            ": Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/a and StatefulSet/b"
        ),
        "{errors}"
    );

    let mut m = meta("web", "default");
    m.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "Event".into(),
        ..owner("Event", "e", false)
    }]);
    let errors = validate_object_meta(&m, true, NameRule::Dns1123Subdomain);
    assert!(
        errors
            .to_string()
            .ends_with(": /v1, Kind=Event is disallowed from being an owner"),
        "{errors}"
    );

    let mut m = meta("web", "default");
    m.finalizers = Some(vec!["orphan".into(), "foregroundDeletion".into()]);
    let errors = validate_object_meta(&m, true, NameRule::Dns1123Subdomain);
    assert_eq!(
        messages(&errors),
        vec![
            "metadata.finalizers: Invalid value: [\"orphan\",\"foregroundDeletion\"]: finalizer orphan and foregroundDeletion cannot be both set"
        ]
    );
}

fn time(seconds: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(seconds).expect("valid timestamp"))
}

#[test]
fn object_meta_update_keeps_identity_immutable() {
    let old = ObjectMeta {
        uid: Some("u1".into()),
        creation_timestamp: Some(time(1_700_000_000)),
        generation: Some(3),
        resource_version: Some("10".into()),
        ..meta("web", "default")
    };
    assert!(validate_object_meta_update(&old.clone(), &old).is_empty());

    let changed = |f: &dyn Fn(&mut ObjectMeta)| {
        let mut new = old.clone();
        f(&mut new);
        messages(&validate_object_meta_update(&new, &old))
    };
    assert_eq!(
        changed(&|m| m.name = Some("db".into())),
        vec!["metadata.name: Invalid value: \"db\": field is immutable"]
    );
    assert_eq!(
        changed(&|m| m.namespace = Some("other".into())),
        vec!["metadata.namespace: Invalid value: \"other\": field is immutable"]
    );
    assert_eq!(
        changed(&|m| m.uid = None),
        vec!["metadata.uid: Invalid value: \"\": field is immutable"]
    );
    // generateName may change, as upstream allows.
    assert!(changed(&|m| m.generate_name = Some("web-".into())).is_empty());
    let creation = changed(&|m| m.creation_timestamp = Some(time(1_800_000_000)));
    assert_eq!(creation.len(), 1);
    assert!(
        creation[0]
            .starts_with("metadata.creationTimestamp: Invalid value: \"2027-01-15T08:00:00Z\""),
        "{creation:?}"
    );
    assert!(creation[0].ends_with(": field is immutable"));
    assert_eq!(
        changed(&|m| m.generation = Some(2)),
        vec!["metadata.generation: Invalid value: 2: must not be decremented"]
    );
    // Labels are mutable but still validated.
    assert_eq!(
        changed(&|m| m.labels = Some(BTreeMap::from([("a".into(), "b".into())]))),
        Vec::<String>::new()
    );
    assert_eq!(
        changed(&|m| m.labels = Some(BTreeMap::from([("a".into(), "b c".into())]))),
        vec![format!(
            "metadata.labels: Invalid value: \"b c\": {LABEL_VALUE}"
        )]
    );

    // Once deletion started, finalizers may only be removed.
    let deleting = ObjectMeta {
        deletion_timestamp: Some(time(1_700_000_100)),
        finalizers: Some(vec!["a.io/x".into()]),
        ..old.clone()
    };
    let mut new = deleting.clone();
    new.finalizers = Some(vec!["a.io/x".into(), "b.io/y".into()]);
    assert_eq!(
        messages(&validate_object_meta_update(&new, &deleting)),
        vec![
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b.io/y\"}"
        ]
    );
    new.finalizers = None;
    assert!(validate_object_meta_update(&new, &deleting).is_empty());
}

#[test]
fn generic_immutable_fields() {
    let path = Path::new("spec").child("selector");
    let old = json!({"matchLabels": {"app": "web"}});
    let new = json!({"matchLabels": {"app": "db"}});
    assert!(validate_immutable(&old, &old, &path).is_empty());
    assert_eq!(
        validate_immutable(&new, &old, &path).to_string(),
        "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"db\"}}: field is immutable"
    );
    // nil and empty lists are equal, as upstream's semantic equality.
    let none: Option<Vec<String>> = None;
    assert!(validate_immutable(&Some(Vec::<String>::new()), &none, &path).is_empty());
    assert_eq!(
        validate_immutable(&Some(vec!["x".to_owned()]), &none, &path).to_string(),
        "spec.selector: Invalid value: [\"x\"]: field is immutable"
    );
    assert_eq!(
        validate_immutable(&5, &4, &Path::new("spec").child("replicas")).to_string(),
        "spec.replicas: Invalid value: 5: field is immutable"
    );
}
