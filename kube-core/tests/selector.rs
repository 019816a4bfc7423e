//! Label and field selectors: parsing, matching, canonical display, conversion from
//! metav1.LabelSelector, and the field labels of built-in resources.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector as ApiLabelSelector, LabelSelectorRequirement,
};
use kube_core::selector::field::{self, FieldSelector};
use kube_core::selector::label::{self, LabelSelector, Operator, Requirement};
use proptest::prelude::*;
use serde_json::json;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn label_selector_parses_to_canonical_string() {
    let cases = [
        ("", ""),
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("z=c,x=a", "x=a,z=c"),
        ("  x = a ,\ty != b\n", "x=a,y!=b"),
        ("a in (z,y,x)", "a in (x,y,z)"),
        ("a in(x)", "a in (x)"),
        ("a notin ( x )", "a notin (x)"),
        ("a", "a"),
        ("!a", "!a"),
        ("! a", "!a"),
        ("a in ()", "a in ()"),
        ("a in (,x)", "a in (,x)"),
        ("a in (x,)", "a in (,x)"),
        ("a=", "a="),
        ("a>1", "a>1"),
        ("a<10", "a<10"),
        ("example.com/app=web,tier", "example.com/app=web,tier"),
        ("in=notin", "in=notin"),
        ("b,a", "a,b"),
    ];
    for (input, canonical) in cases {
        let selector =
            LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
        assert_eq!(selector.to_string(), canonical, "display of {input:?}");
        let again: LabelSelector = canonical.parse().expect("canonical form parses");
        assert_eq!(again, selector, "round trip of {input:?}");
    }
}

#[test]
fn label_selector_syntax_errors_say_what_where_and_what_was_expected() {
    let cases = [
        (
            "a=b c",
            "unable to parse requirement: found 'c' at position 4, expected: ',' or end of string",
        ),
        (
            "a in (x y)",
            "unable to parse requirement: found 'y' at position 8, expected: ',' or ')'",
        ),
        (
            "a in x",
            "unable to parse requirement: found 'x' at position 5, expected: '('",
        ),
        (
            "a,,",
            "unable to parse requirement: found ',' at position 2, expected: identifier after ','",
        ),
        (
            "a=b,",
            "unable to parse requirement: found end of string at position 4, expected: identifier after ','",
        ),
        (
            "=a",
            "unable to parse requirement: found '=' at position 0, expected: '!', identifier, or end of string",
        ),
        (
            "a foo b",
            "unable to parse requirement: found 'foo' at position 2, expected: one of 'in', 'notin', '=', '==', '!=', '>', '<'",
        ),
        (
            "a in (x",
            "unable to parse requirement: found end of string at position 7, expected: ',' or ')'",
        ),
        (
            "!a=b",
            "unable to parse requirement: found '=' at position 2, expected: ',' or end of string",
        ),
        (
            "!=",
            "unable to parse requirement: found '!=' at position 0, expected: '!', identifier, or end of string",
        ),
        (
            "a=(b)",
            "unable to parse requirement: found '(' at position 2, expected: identifier",
        ),
        (
            "a in (x))",
            "unable to parse requirement: found ')' at position 8, expected: ',' or end of string",
        ),
        (
            "a>b",
            "invalid values for label key \"a\" at position 0: for 'Gt', 'Lt' operators, the value must be an integer",
        ),
    ];
    for (input, message) in cases {
        let err = LabelSelector::parse(input).expect_err(input);
        assert_eq!(err.to_string(), message, "error for {input:?}");
    }
}

#[test]
fn label_selector_rejects_bad_keys_and_values_with_upstream_reasons() {
    let err = LabelSelector::parse("x, a_=b").expect_err("bad key");
    assert_eq!(
        err,
        label::Error::InvalidKey {
            key: "a_".to_owned(),
            location: label::Location::Offset(3),
            reason: "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')".to_owned(),
        }
    );

    let long_key = "k".repeat(64);
    let err = LabelSelector::parse(&long_key).expect_err("long key");
    assert!(
        err.to_string()
            .contains("name part must be no more than 63 characters"),
        "{err}"
    );

    let err = LabelSelector::parse("Bad_Prefix/a=b").expect_err("bad prefix");
    assert!(
        err.to_string()
            .contains("prefix part a lowercase RFC 1123 subdomain must consist of"),
        "{err}"
    );

    let err = LabelSelector::parse("a in (ok,-bad)").expect_err("bad value");
    assert_eq!(
        err.to_string(),
        "invalid value \"-bad\" for label key \"a\" at position 9: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    );

    let err = LabelSelector::parse(&format!("a={}", "v".repeat(64))).expect_err("long value");
    assert!(
        err.to_string()
            .contains("must be no more than 63 characters"),
        "{err}"
    );
}

/// A selector, the labels to match, and whether they match.
type MatchCase = (&'static str, &'static [(&'static str, &'static str)], bool);

#[test]
fn label_selector_matches_like_upstream() {
    let cases: &[MatchCase] = &[
        ("", &[], true),
        ("", &[("x", "y")], true),
        ("x=y", &[("x", "y")], true),
        ("x=y", &[("x", "z")], false),
        ("x=y", &[], false),
        ("x==y", &[("x", "y")], true),
        ("x!=y", &[("x", "z")], true),
        ("x!=y", &[], true),
        ("x!=y", &[("x", "y")], false),
        ("x in (a,b)", &[("x", "b")], true),
        ("x in (a,b)", &[("x", "c")], false),
        ("x in (a,b)", &[], false),
        ("x notin (a,b)", &[("x", "c")], true),
        ("x notin (a,b)", &[], true),
        ("x notin (a,b)", &[("x", "a")], false),
        ("x", &[("x", "")], true),
        ("x", &[("y", "1")], false),
        ("!x", &[("y", "1")], true),
        ("!x", &[("x", "")], false),
        ("x=", &[("x", "")], true),
        ("x=", &[], false),
        ("x in ()", &[("x", "")], true),
        ("x>5", &[("x", "6")], true),
        ("x>5", &[("x", "5")], false),
        ("x>5", &[("x", "six")], false),
        ("x>5", &[], false),
        ("x<5", &[("x", "-1")], true),
        ("x<5", &[("x", "5")], false),
        ("x=a,y=b", &[("x", "a"), ("y", "b")], true),
        ("x=a,y=b", &[("x", "a"), ("y", "c")], false),
        ("x=a,!y", &[("x", "a")], true),
    ];
    for (input, set, expected) in cases {
        let selector = LabelSelector::parse(input).expect(input);
        assert_eq!(
            selector.matches(&labels(set)),
            *expected,
            "{input:?} against {set:?}"
        );
    }
}

#[test]
fn label_selector_emptiness_and_exact_match() {
    assert!(LabelSelector::everything().is_empty());
    assert!(LabelSelector::parse("").expect("empty").is_empty());
    assert!(!LabelSelector::parse("a").expect("a").is_empty());
    let nothing = LabelSelector::nothing();
    assert!(!nothing.is_empty());
    assert!(nothing.selects_nothing());
    assert!(!nothing.matches(&labels(&[])));
    assert_eq!(nothing.to_string(), "");

    let selector = LabelSelector::parse("app=web,tier in (a),env in (x,y)").expect("parses");
    assert_eq!(selector.requires_exact_match("app"), Some("web"));
    assert_eq!(selector.requires_exact_match("tier"), Some("a"));
    assert_eq!(selector.requires_exact_match("env"), None);
    assert_eq!(selector.requires_exact_match("other"), None);
}

#[test]
fn label_selector_from_labels_and_requirements() {
    let selector =
        LabelSelector::from_labels(&labels(&[("b", "2"), ("a", "1")])).expect("valid labels");
    assert_eq!(selector.to_string(), "a=1,b=2");
    assert!(LabelSelector::from_labels(&labels(&[("a b", "1")])).is_err());

    let mut selector = LabelSelector::everything();
    selector.add(Requirement::new("z", Operator::Exists, Vec::<String>::new()).expect("valid"));
    selector.add(Requirement::new("a", Operator::NotIn, ["y", "x"]).expect("valid"));
    assert_eq!(selector.to_string(), "a notin (x,y),z");

    let err = Requirement::new("a", Operator::Equals, ["x", "y"]).expect_err("two values");
    assert_eq!(
        err.to_string(),
        "invalid values for label key \"a\": exact-match compatibility requires one single value"
    );
}

fn expression(key: &str, operator: &str, values: Option<&[&str]>) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.to_owned(),
        operator: operator.to_owned(),
        values: values.map(|v| v.iter().map(|s| (*s).to_owned()).collect()),
    }
}

#[test]
fn label_selector_from_metav1() {
    let api = ApiLabelSelector {
        match_labels: Some(labels(&[("app", "web")])),
        match_expressions: Some(vec![
            expression("tier", "In", Some(&["b", "a"])),
            expression("canary", "DoesNotExist", None),
            expression("track", "NotIn", Some(&["old"])),
            expression("zone", "Exists", Some(&[])),
        ]),
    };
    let selector = LabelSelector::try_from(&api).expect("valid selector");
    assert_eq!(
        selector.to_string(),
        "app=web,!canary,tier in (a,b),track notin (old),zone"
    );
    assert!(selector.matches(&labels(&[("app", "web"), ("tier", "a"), ("zone", "z1")])));
    assert!(!selector.matches(&labels(&[("app", "web"), ("tier", "a")])));
    assert!(!selector.matches(&labels(&[
        ("app", "web"),
        ("tier", "a"),
        ("zone", "z1"),
        ("canary", "true")
    ])));

    // A nil selector selects nothing; an empty one everything.
    let nothing = LabelSelector::from_api(None).expect("nil");
    assert!(!nothing.matches(&labels(&[])));
    let everything = LabelSelector::from_api(Some(&ApiLabelSelector::default())).expect("empty");
    assert!(everything.matches(&labels(&[("any", "thing")])));
    assert!(everything.is_empty());
}

#[test]
fn label_selector_from_metav1_errors() {
    let cases = [
        (
            expression("a", "Foo", None),
            "\"Foo\" is not a valid label selector operator in matchExpressions[0]",
        ),
        (
            expression("a", "In", Some(&[])),
            "invalid values for label key \"a\" in matchExpressions[0]: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            expression("a", "NotIn", None),
            "invalid values for label key \"a\" in matchExpressions[0]: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            expression("a", "Exists", Some(&["x"])),
            "invalid values for label key \"a\" in matchExpressions[0]: values set must be empty for exists and does not exist",
        ),
        (
            expression("a", "DoesNotExist", Some(&["x"])),
            "invalid values for label key \"a\" in matchExpressions[0]: values set must be empty for exists and does not exist",
        ),
    ];
    for (expr, message) in cases {
        let api = ApiLabelSelector {
            match_labels: None,
            match_expressions: Some(vec![expr]),
        };
        let err = LabelSelector::try_from(&api).expect_err(message);
        assert_eq!(err.to_string(), message);
    }

    let api = ApiLabelSelector {
        match_labels: Some(labels(&[("app", "not valid")])),
        match_expressions: None,
    };
    let err = LabelSelector::try_from(&api).expect_err("bad value");
    assert!(
        err.to_string()
            .starts_with("invalid value \"not valid\" for label key \"app\" in matchLabels: "),
        "{err}"
    );
}

fn key_strategy() -> impl Strategy<Value = String> {
    (
        proptest::option::of("[a-z]{1,4}(\\.[a-z0-9]{1,4}){0,2}"),
        "[A-Za-z0-9]([-A-Za-z0-9_.]{0,6}[A-Za-z0-9])?",
    )
        .prop_map(|(prefix, name)| match prefix {
            Some(prefix) => format!("{prefix}/{name}"),
            None => name,
        })
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[A-Za-z0-9]([-A-Za-z0-9_.]{0,6}[A-Za-z0-9])?",
        Just("in".to_owned()),
        Just("notin".to_owned()),
    ]
}

fn requirement_strategy() -> impl Strategy<Value = Requirement> {
    let operator = prop_oneof![
        Just(Operator::Equals),
        Just(Operator::DoubleEquals),
        Just(Operator::NotEquals),
        Just(Operator::In),
        Just(Operator::NotIn),
        Just(Operator::Exists),
        Just(Operator::DoesNotExist),
        Just(Operator::GreaterThan),
        Just(Operator::LessThan),
    ];
    (
        key_strategy(),
        operator,
        proptest::collection::vec(value_strategy(), 1..4),
        0u32..100_000,
    )
        .prop_map(|(key, operator, values, number)| {
            let values = match operator {
                Operator::In | Operator::NotIn => values,
                Operator::Exists | Operator::DoesNotExist => Vec::new(),
                Operator::GreaterThan | Operator::LessThan => vec![number.to_string()],
                _ => values.into_iter().take(1).collect(),
            };
            Requirement::new(&key, operator, values).expect("generated requirement is valid")
        })
}

proptest! {
    #[test]
    fn label_selector_display_then_parse_round_trips(
        requirements in proptest::collection::vec(requirement_strategy(), 0..5)
    ) {
        let selector = LabelSelector::from_requirements(requirements);
        let text = selector.to_string();
        let parsed = LabelSelector::parse(&text);
        prop_assert_eq!(parsed.as_ref(), Ok(&selector), "text {:?}", text);
    }

    #[test]
    fn field_selector_display_then_parse_round_trips(
        terms in proptest::collection::vec(
            ("[a-z]{1,6}(\\.[a-zA-Z]{1,6})?", any::<bool>(), "[ -~]{0,8}"),
            0..4,
        )
    ) {
        let selector = FieldSelector::from_terms(terms.into_iter().map(|(field, eq, value)| {
            field::Term {
                field,
                operator: if eq { field::Operator::Equals } else { field::Operator::NotEquals },
                value,
            }
        }));
        let text = selector.to_string();
        let parsed = FieldSelector::parse(&text);
        prop_assert_eq!(parsed.as_ref(), Ok(&selector), "text {:?}", text);
    }
}

#[test]
fn field_selector_parses_and_displays() {
    let cases = [
        ("", ""),
        ("metadata.name=web", "metadata.name=web"),
        ("a==b", "a=b"),
        ("b!=x,a=y", "a=y,b!=x"),
        ("a=b,,c=d", "a=b,c=d"),
        (r"a=x\,y\=z\\w", r"a=x\,y\=z\\w"),
        ("spec.nodeName=", "spec.nodeName="),
        (" a = b", " a = b"),
    ];
    for (input, canonical) in cases {
        let selector =
            FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
        assert_eq!(selector.to_string(), canonical, "display of {input:?}");
        assert_eq!(
            FieldSelector::parse(canonical).expect("canonical"),
            selector
        );
    }
    let escaped = FieldSelector::parse(r"a=x\,y\=z\\w").expect("escapes");
    assert_eq!(escaped.terms()[0].value, r"x,y=z\w");
    assert_eq!(escaped.terms()[0].field, "a");
}

#[test]
fn field_selector_errors_match_upstream() {
    let cases = [
        ("abc", "invalid selector: 'abc'; can't understand 'abc'"),
        (
            "a=b,xyz",
            "invalid selector: 'a=b,xyz'; can't understand 'xyz'",
        ),
        (
            r"a=x\y",
            r"invalid field selector: invalid escape sequence: \y",
        ),
        (
            r"a=x\",
            r"invalid field selector: invalid escape sequence: \",
        ),
        (
            "a=b=c",
            "invalid field selector: unescaped character in value: =",
        ),
    ];
    for (input, message) in cases {
        let err = FieldSelector::parse(input).expect_err(input);
        assert_eq!(err.to_string(), message, "error for {input:?}");
    }
}

#[test]
fn field_selector_matches() {
    let fields = labels(&[("metadata.name", "web"), ("status.phase", "Running")]);
    let cases = [
        ("", true),
        ("metadata.name=web", true),
        ("metadata.name==web", true),
        ("metadata.name=db", false),
        ("metadata.name!=db", true),
        ("status.phase!=Running", false),
        ("metadata.name=web,status.phase=Running", true),
        ("metadata.name=web,status.phase=Pending", false),
        ("spec.nodeName=", true),
        ("spec.nodeName!=n1", true),
        ("spec.nodeName=n1", false),
    ];
    for (input, expected) in cases {
        let selector = FieldSelector::parse(input).expect(input);
        assert_eq!(selector.matches(&fields), expected, "{input:?}");
    }
    let selector = FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed").expect("parses");
    assert_eq!(selector.requires_exact_match("spec.nodeName"), Some("n1"));
    assert_eq!(selector.requires_exact_match("status.phase"), None);
    assert_eq!(
        FieldSelector::one_term_equal("metadata.name", "a,b").to_string(),
        r"metadata.name=a\,b"
    );
}

#[test]
fn field_labels_supported_per_resource() {
    let ok = [
        (
            "pods",
            "metadata.name=a,metadata.namespace=b,spec.nodeName=n,spec.restartPolicy=Always,spec.schedulerName=s,spec.serviceAccountName=sa,spec.hostNetwork=true,status.phase=Running,status.podIP=1.2.3.4,status.nominatedNodeName=n",
        ),
        ("nodes", "metadata.name=n,spec.unschedulable=true"),
        ("secrets", "type=Opaque,metadata.namespace=x"),
        ("namespaces", "status.phase=Active"),
        (
            "events",
            "involvedObject.kind=Pod,involvedObject.namespace=a,involvedObject.name=b,involvedObject.uid=u,involvedObject.apiVersion=v1,involvedObject.resourceVersion=1,involvedObject.fieldPath=f,reason=r,reportingComponent=c,source=s,type=Normal",
        ),
        ("replicasets.apps", "status.replicas=1"),
        ("replicasets", "status.replicas=1"),
        ("replicationcontrollers", "status.replicas=1"),
        ("jobs.batch", "status.successful=1"),
        ("services", "spec.clusterIP=None,spec.type=ClusterIP"),
        (
            "certificatesigningrequests.certificates.k8s.io",
            "spec.signerName=x",
        ),
        ("configmaps", "metadata.name=a,metadata.namespace=b"),
    ];
    for (resource, input) in ok {
        let selector = FieldSelector::parse(input).expect(input);
        let converted = field::convert_field_selector(resource, &selector)
            .unwrap_or_else(|e| panic!("{resource}: {e}"));
        assert_eq!(converted, selector, "{resource}");
    }

    let refused = [
        (
            "pods",
            "status.hostIP=1.2.3.4",
            "field label not supported: status.hostIP",
        ),
        (
            "nodes",
            "metadata.namespace=x",
            "field label not supported: metadata.namespace",
        ),
        (
            "namespaces",
            "spec.finalizers=x",
            "field label not supported: spec.finalizers",
        ),
        (
            "services",
            "spec.ports=x",
            "field label not supported: spec.ports",
        ),
        (
            "configmaps",
            "data.x=y",
            "\"data.x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
        ),
        (
            "ingresses.networking.k8s.io",
            "foo.bar=baz",
            "\"foo.bar\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
        ),
    ];
    for (resource, input, message) in refused {
        let selector = FieldSelector::parse(input).expect(input);
        let err = field::convert_field_selector(resource, &selector).expect_err(input);
        assert_eq!(err.to_string(), message, "{resource} {input}");
    }

    let old = FieldSelector::parse("spec.host=n1").expect("parses");
    let converted = field::convert_field_selector("pods", &old).expect("alias");
    assert_eq!(converted.to_string(), "spec.nodeName=n1");

    assert_eq!(
        field::supported_field_labels("nodes"),
        vec!["metadata.name", "spec.unschedulable"]
    );
}

#[test]
fn field_set_of_objects() {
    let pod = json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                 "serviceAccountName": "default", "hostNetwork": true},
        "status": {"phase": "Running", "podIP": "10.0.0.9",
                   "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}
    });
    let expected = labels(&[
        ("metadata.name", "web"),
        ("metadata.namespace", "default"),
        ("spec.nodeName", "n1"),
        ("spec.restartPolicy", "Always"),
        ("spec.schedulerName", "default-scheduler"),
        ("spec.serviceAccountName", "default"),
        ("spec.hostNetwork", "true"),
        ("status.phase", "Running"),
        ("status.podIP", "10.0.0.1"),
        ("status.nominatedNodeName", ""),
    ]);
    assert_eq!(field::field_set("pods", &pod), expected);

    let bare_pod =
        json!({"metadata": {"name": "p", "namespace": "ns"}, "status": {"podIP": "10.1.1.1"}});
    let set = field::field_set("pods", &bare_pod);
    assert_eq!(set["spec.hostNetwork"], "false");
    assert_eq!(set["status.podIP"], "10.1.1.1");

    let node = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
    assert_eq!(
        field::field_set("nodes", &node),
        labels(&[("metadata.name", "n1"), ("spec.unschedulable", "true")])
    );

    let event = json!({
        "metadata": {"name": "e", "namespace": "ns"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "ns", "uid": "u1"},
        "reason": "Scheduled", "type": "Normal", "reportingComponent": "default-scheduler",
        "source": {}
    });
    let set = field::field_set("events", &event);
    assert_eq!(set["source"], "default-scheduler");
    assert_eq!(set["involvedObject.kind"], "Pod");
    assert_eq!(set["involvedObject.fieldPath"], "");
    assert_eq!(set.len(), 13);

    let job = json!({"metadata": {"name": "j", "namespace": "ns"}, "status": {"succeeded": 3}});
    assert_eq!(
        field::field_set("jobs.batch", &job)["status.successful"],
        "3"
    );

    let csr = json!({"metadata": {"name": "c"}, "spec": {"signerName": "example.com/s"}});
    assert_eq!(
        field::field_set("certificatesigningrequests", &csr),
        labels(&[("metadata.name", "c"), ("spec.signerName", "example.com/s")])
    );

    let selector = FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed").expect("parses");
    assert!(selector.matches(&field::field_set("pods", &pod)));
    assert!(!selector.matches(&field::field_set("pods", &bare_pod)));
}
