//! Validation of the built-in kinds on create and update, with upstream's messages.

use kube_core::builtin::{default_object, parse_schedule, validate_create, validate_update};
use kube_core::gvk::GroupVersionKind;
use serde_json::{Value, json};

fn gvk(group: &str, kind: &str) -> GroupVersionKind {
    GroupVersionKind::new(group, "v1", kind)
}

/// Defaults `object` and returns the create errors as upstream prints them.
fn create_errors(gvk: &GroupVersionKind, mut object: Value) -> Vec<String> {
    default_object(gvk, &mut object).expect("decodes");
    validate_create(gvk, &object)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn update_errors(gvk: &GroupVersionKind, mut new: Value, mut old: Value) -> Vec<String> {
    default_object(gvk, &mut new).expect("decodes");
    default_object(gvk, &mut old).expect("decodes");
    validate_update(gvk, &new, &old)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": spec})
}

fn deployment(selector: Value, labels: Value) -> Value {
    json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": selector,
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
        }
    })
}

const LABEL_RULE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

#[test]
fn valid_objects_pass() {
    let cases = [
        (
            gvk("", "Pod"),
            pod(json!({"containers": [{"name": "c", "image": "nginx"}]})),
        ),
        (
            gvk("apps", "Deployment"),
            deployment(
                json!({"matchLabels": {"app": "web"}}),
                json!({"app": "web"}),
            ),
        ),
        (
            gvk("", "Service"),
            json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}}),
        ),
        (
            gvk("", "ConfigMap"),
            json!({"metadata": {"name": "c", "namespace": "default"}, "data": {"app.conf": "x"}}),
        ),
        (
            gvk("", "Namespace"),
            json!({"metadata": {"name": "team-a"}}),
        ),
    ];
    for (gvk, object) in cases {
        assert_eq!(create_errors(&gvk, object), Vec::<String>::new(), "{gvk:?}");
    }
}

#[test]
fn pod_rules_give_upstream_messages() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"containers": []}),
            vec!["spec.containers: Required value"],
        ),
        (
            json!({"containers": [{"name": "Web", "image": "nginx"}]}),
            vec![],
        ),
        (
            json!({"containers": [{"name": "c"}]}),
            vec!["spec.containers[0].image: Required value"],
        ),
        (
            json!({"initContainers": [{"name": "c", "image": "i"}], "containers": [{"name": "c", "image": "i"}]}),
            vec!["spec.containers[0].name: Duplicate value: \"c\""],
        ),
        (
            json!({"containers": [{"name": "c", "image": "i", "ports": [
                {"containerPort": 70000},
                {"containerPort": 80, "protocol": "HTTP"},
                {"containerPort": 81, "name": "web"},
                {"containerPort": 82, "name": "web"}
            ]}]}),
            vec![
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.containers[0].ports[3].name: Duplicate value: \"web\"",
            ],
        ),
        (
            json!({"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "name": "http_port"}]}]}),
            vec![
                "spec.containers[0].ports[0].name: Invalid value: \"http_port\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            ],
        ),
        (
            json!({"containers": [{"name": "c", "image": "i", "env": [{"name": ""}, {"name": "A=B"}]}]}),
            vec![
                "spec.containers[0].env[0].name: Required value",
                "spec.containers[0].env[1].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
            ],
        ),
        (
            json!({"volumes": [{"name": "data"}, {"name": "data"}], "containers": [{"name": "c", "image": "i", "volumeMounts": [{"name": "logs", "mountPath": "/logs"}]}]}),
            vec![
                "spec.volumes[1].name: Duplicate value: \"data\"",
                "spec.containers[0].volumeMounts[0].name: Not found: \"logs\"",
            ],
        ),
        (
            json!({"restartPolicy": "Sometimes", "containers": [{"name": "c", "image": "i"}]}),
            vec![
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            ],
        ),
        (
            json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}]}),
            vec![
                "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
            ],
        ),
        (
            json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"memory": "-1"}}}]}),
            vec![
                "spec.containers[0].resources.requests[memory]: Invalid value: \"-1\": must be greater than or equal to 0",
            ],
        ),
    ];
    for (spec, want) in cases {
        let mut want: Vec<String> = want.into_iter().map(String::from).collect();
        if spec["containers"][0]["name"] == "Web" {
            want = vec![format!(
                "spec.containers[0].name: Invalid value: \"Web\": {LABEL_RULE}"
            )];
        }
        assert_eq!(
            create_errors(&gvk("", "Pod"), pod(spec.clone())),
            want,
            "{spec}"
        );
    }
}

#[test]
fn metadata_is_validated_with_the_kinds_name_rule() {
    let errs = create_errors(
        &gvk("", "Namespace"),
        json!({"metadata": {"name": "team.a"}}),
    );
    assert_eq!(
        errs,
        vec!["metadata.name: Invalid value: \"team.a\": must not contain dots"]
    );
    let errs = create_errors(&gvk("", "Namespace"), json!({"metadata": {"name": "Team"}}));
    assert_eq!(
        errs,
        vec![format!(
            "metadata.name: Invalid value: \"Team\": {LABEL_RULE}"
        )]
    );
    let errs = create_errors(
        &gvk("", "Service"),
        json!({"metadata": {"name": "1web", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}}),
    );
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("metadata.name: Invalid value: \"1web\": a DNS-1035 label"),
        "{errs:?}"
    );
    let errs = create_errors(
        &gvk("", "Pod"),
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
    );
    assert_eq!(errs, vec!["metadata.namespace: Required value"]);
}

#[test]
fn workload_rules_give_upstream_messages() {
    let apps = gvk("apps", "Deployment");
    assert_eq!(
        create_errors(
            &apps,
            deployment(
                json!({"matchLabels": {"app": "web"}}),
                json!({"app": "other"})
            )
        ),
        vec![
            "spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`"
        ]
    );
    assert_eq!(
        create_errors(&apps, deployment(Value::Null, json!({"app": "web"}))),
        vec!["spec.selector: Required value"]
    );
    let mut d = deployment(
        json!({"matchLabels": {"app": "web"}}),
        json!({"app": "web"}),
    );
    d["spec"]["replicas"] = json!(-1);
    d["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}});
    d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    assert_eq!(
        create_errors(&apps, d),
        vec![
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0",
        ]
    );
    let mut d = deployment(
        json!({"matchLabels": {"app": "web"}}),
        json!({"app": "web"}),
    );
    d["spec"]["strategy"] = json!({"type": "Recreate", "rollingUpdate": {"maxSurge": "150%"}});
    assert_eq!(
        create_errors(&apps, d),
        vec![
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
        ]
    );
    let mut d = deployment(
        json!({"matchLabels": {"app": "web"}}),
        json!({"app": "web"}),
    );
    d["spec"]["strategy"] = json!({"rollingUpdate": {"maxUnavailable": "120%"}});
    assert_eq!(
        create_errors(&apps, d),
        vec![
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"120%\": must not be greater than 100%"
        ]
    );
}

#[test]
fn job_and_cronjob_rules() {
    let job = json!({
        "metadata": {"name": "j", "namespace": "default"},
        "spec": {"parallelism": -1, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}
    });
    assert_eq!(
        create_errors(&gvk("batch", "Job"), job),
        vec![
            "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
            "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
        ]
    );
    let cron = |schedule: &str| {
        json!({
            "metadata": {"name": "c", "namespace": "default"},
            "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "i"}]}}}}}
        })
    };
    assert!(create_errors(&gvk("batch", "CronJob"), cron("*/5 * * * *")).is_empty());
    assert!(create_errors(&gvk("batch", "CronJob"), cron("@hourly")).is_empty());
    let errs = create_errors(&gvk("batch", "CronJob"), cron("61 * * * *"));
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("spec.schedule: Invalid value: \"61 * * * *\": "),
        "{errs:?}"
    );
}

#[test]
fn cron_schedules() {
    for ok in [
        "* * * * *",
        "0 0 1 1 *",
        "0-30/5 9-17 * jan-jun mon-fri",
        "@daily",
        "@every 1h30m",
        "0 0 ? * SUN",
    ] {
        assert_eq!(parse_schedule(ok), Ok(()), "{ok}");
    }
    for bad in [
        "* * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "@fortnightly",
        "*/0 * * * *",
        "a * * * *",
    ] {
        assert!(parse_schedule(bad).is_err(), "{bad}");
    }
}

#[test]
fn service_rules_give_upstream_messages() {
    let svc =
        |spec: Value| json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec});
    let g = gvk("", "Service");
    assert_eq!(
        create_errors(&g, svc(json!({}))),
        vec!["spec.ports: Required value"]
    );
    assert_eq!(
        create_errors(&g, svc(json!({"ports": [{"port": 80}, {"port": 443}]}))),
        vec![
            "spec.ports[0].name: Required value",
            "spec.ports[1].name: Required value"
        ]
    );
    assert_eq!(
        create_errors(
            &g,
            svc(json!({"ports": [{"name": "a", "port": 0}, {"name": "a", "port": 81}]}))
        ),
        vec![
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            // targetPort defaults to the (bad) port, and is checked too.
            "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[1].name: Duplicate value: \"a\"",
        ]
    );
    assert_eq!(
        create_errors(&g, svc(json!({"type": "Magic", "ports": [{"port": 80}]}))),
        vec![
            "spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
        ]
    );
    assert_eq!(
        create_errors(
            &g,
            svc(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}))
        ),
        vec![
            "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
        ]
    );
    assert_eq!(
        create_errors(&g, svc(json!({"ports": [{"port": 80, "nodePort": 30080}]}))),
        vec!["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
    );
}

#[test]
fn config_map_and_secret_keys() {
    let errs = create_errors(
        &gvk("", "ConfigMap"),
        json!({"metadata": {"name": "c", "namespace": "default"}, "data": {"a b": "x", "..x": "y"}}),
    );
    assert_eq!(
        errs,
        vec![
            "data[..x]: Invalid value: \"..x\": must not start with '..'",
            "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        ]
    );
    let big = "x".repeat(1024 * 1024 + 1);
    let errs = create_errors(
        &gvk("", "ConfigMap"),
        json!({"metadata": {"name": "c", "namespace": "default"}, "data": {"big": big}}),
    );
    assert_eq!(errs, vec![": Too long: must have at most 1048576 bytes"]);
    let errs = create_errors(
        &gvk("", "Secret"),
        json!({"metadata": {"name": "tls", "namespace": "default"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}),
    );
    assert_eq!(errs, vec!["data[tls.key]: Required value"]);
}

#[test]
fn pod_updates_allow_only_upstreams_fields() {
    let g = gvk("", "Pod");
    let old = pod(
        json!({"containers": [{"name": "c", "image": "nginx:1"}], "tolerations": [{"key": "k", "operator": "Exists"}]}),
    );
    let image_changed = pod(json!({
        "containers": [{"name": "c", "image": "nginx:2"}],
        "activeDeadlineSeconds": 60,
        "tolerations": [{"key": "k", "operator": "Exists"}, {"key": "x", "operator": "Exists"}]
    }));
    assert!(update_errors(&g, image_changed, old.clone()).is_empty());

    let env_changed = pod(
        json!({"containers": [{"name": "c", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]}], "tolerations": [{"key": "k", "operator": "Exists"}]}),
    );
    let errs = update_errors(&g, env_changed, old.clone());
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"),
        "{errs:?}"
    );
    assert!(errs[0].contains("spec.containers[0].env"), "{errs:?}");

    let toleration_removed = pod(json!({"containers": [{"name": "c", "image": "nginx:1"}]}));
    assert_eq!(
        update_errors(&g, toleration_removed, old.clone()),
        vec![
            "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
        ]
    );

    let container_added = pod(
        json!({"containers": [{"name": "c", "image": "nginx:1"}, {"name": "d", "image": "i"}], "tolerations": [{"key": "k", "operator": "Exists"}]}),
    );
    assert_eq!(
        update_errors(&g, container_added, old),
        vec!["spec.containers: Forbidden: pod updates may not add or remove containers"]
    );
}

#[test]
fn immutable_fields_on_update() {
    let apps = gvk("apps", "Deployment");
    let old = deployment(
        json!({"matchLabels": {"app": "web"}}),
        json!({"app": "web", "tier": "fe"}),
    );
    let new = deployment(
        json!({"matchLabels": {"app": "web", "tier": "fe"}}),
        json!({"app": "web", "tier": "fe"}),
    );
    assert_eq!(
        update_errors(&apps, new, old.clone()),
        vec![
            "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"web\",\"tier\":\"fe\"}}: field is immutable"
        ]
    );
    let mut scaled = old.clone();
    scaled["spec"]["replicas"] = json!(5);
    assert!(update_errors(&apps, scaled, old).is_empty());

    let svc = |ip: &str| json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"clusterIP": ip, "ports": [{"port": 80}]}});
    assert_eq!(
        update_errors(&gvk("", "Service"), svc("10.0.0.2"), svc("10.0.0.1")),
        vec!["spec.clusterIPs[0]: Invalid value: [\"10.0.0.2\"]: may not change once set"]
    );

    let cm = |data: &str, immutable: bool| json!({"metadata": {"name": "c", "namespace": "default"}, "immutable": immutable, "data": {"k": data}});
    assert_eq!(
        update_errors(&gvk("", "ConfigMap"), cm("b", true), cm("a", true)),
        vec!["data: Forbidden: field is immutable when `immutable` is set"]
    );
    assert!(update_errors(&gvk("", "ConfigMap"), cm("b", false), cm("a", false)).is_empty());

    let sts = |service: &str| {
        json!({
            "metadata": {"name": "s", "namespace": "default"},
            "spec": {"serviceName": service, "selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "a", "image": "i"}]}}}
        })
    };
    let errs = update_errors(&gvk("apps", "StatefulSet"), sts("b"), sts("a"));
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("spec: Forbidden: updates to statefulset spec for fields other than"),
        "{errs:?}"
    );
}
