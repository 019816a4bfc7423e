//! Strategic merge patch on real Pod and Deployment documents.

use kube_core::k8s_openapi::api::apps::v1::Deployment;
use kube_core::k8s_openapi::api::core::v1::Pod;
use kube_core::patch::schema::{self, SchemaRef};
use kube_core::patch::{PatchError, strategic};
use proptest::prelude::*;
use serde_json::{Value, json};

fn pod() -> Value {
    serde_json::from_str(include_str!("fixtures/pod.json")).expect("pod fixture")
}

fn deployment() -> Value {
    serde_json::from_str(include_str!("fixtures/deployment.json")).expect("deployment fixture")
}

fn pod_schema() -> SchemaRef {
    schema::for_kind("", "v1", "Pod").expect("Pod schema")
}

fn deployment_schema() -> SchemaRef {
    schema::for_kind("apps", "v1", "Deployment").expect("Deployment schema")
}

fn patch_pod(patch: Value) -> Value {
    let patched = strategic::apply(&pod(), &patch, pod_schema()).expect("patch applies");
    // The result is still a valid Pod.
    serde_json::from_value::<Pod>(patched.clone()).expect("result decodes as a Pod");
    patched
}

fn patch_deployment(patch: Value) -> Value {
    let patched =
        strategic::apply(&deployment(), &patch, deployment_schema()).expect("patch applies");
    serde_json::from_value::<Deployment>(patched.clone()).expect("result decodes as a Deployment");
    patched
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| match &i[key] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn fixtures_decode_as_typed_objects() {
    serde_json::from_value::<Pod>(pod()).expect("pod");
    serde_json::from_value::<Deployment>(deployment()).expect("deployment");
}

#[test]
fn image_change_by_container_name() {
    let patched =
        patch_pod(json!({"spec": {"containers": [{"name": "nginx", "image": "nginx:1.26.0"}]}}));
    let containers = &patched["spec"]["containers"];
    assert_eq!(names(containers, "name"), ["nginx", "log-shipper"]);
    assert_eq!(containers[0]["image"], "nginx:1.26.0");
    // Everything else about both containers is kept.
    let mut expected = pod();
    expected["spec"]["containers"][0]["image"] = json!("nginx:1.26.0");
    assert_eq!(patched, expected);
}

#[test]
fn image_change_in_deployment_template() {
    let patched = patch_deployment(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "log-shipper", "image": "fluent/fluent-bit:3.1.0"}
    ]}}}}));
    let containers = &patched["spec"]["template"]["spec"]["containers"];
    assert_eq!(names(containers, "name"), ["nginx", "log-shipper"]);
    assert_eq!(containers[1]["image"], "fluent/fluent-bit:3.1.0");
    assert_eq!(containers[1]["ports"][0]["containerPort"], 2020);
}

#[test]
fn add_env_var_goes_first_as_upstream() {
    let patched = patch_pod(json!({"spec": {"containers": [
        {"name": "nginx", "env": [{"name": "WORKERS", "value": "4"}]}
    ]}}));
    let env = &patched["spec"]["containers"][0]["env"];
    // Upstream places items new to the list before the original items that follow them.
    assert_eq!(names(env, "name"), ["WORKERS", "NGINX_PORT", "POD_IP"]);
    assert_eq!(env[0]["value"], "4");
    assert_eq!(env[2]["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP");
}

#[test]
fn add_env_var_at_the_end_with_set_element_order() {
    let patched = patch_pod(json!({"spec": {"containers": [{
        "name": "nginx",
        "$setElementOrder/env": [{"name": "NGINX_PORT"}, {"name": "POD_IP"}, {"name": "WORKERS"}],
        "env": [{"name": "WORKERS", "value": "4"}]
    }]}}));
    let env = &patched["spec"]["containers"][0]["env"];
    assert_eq!(names(env, "name"), ["NGINX_PORT", "POD_IP", "WORKERS"]);
}

#[test]
fn change_env_var_source() {
    let patched = patch_pod(json!({"spec": {"containers": [
        {"name": "nginx", "env": [{"name": "POD_IP", "value": "10.0.0.1", "valueFrom": null}]}
    ]}}));
    let env = &patched["spec"]["containers"][0]["env"];
    assert_eq!(names(env, "name"), ["NGINX_PORT", "POD_IP"]);
    assert_eq!(env[1], json!({"name": "POD_IP", "value": "10.0.0.1"}));
}

#[test]
fn ports_merge_by_container_port() {
    let patched = patch_pod(json!({"spec": {"containers": [
        {"name": "nginx", "ports": [{"containerPort": 443, "name": "tls"}]}
    ]}}));
    let ports = &patched["spec"]["containers"][0]["ports"];
    assert_eq!(names(ports, "containerPort"), ["80", "443"]);
    assert_eq!(
        ports[1],
        json!({"name": "tls", "containerPort": 443, "protocol": "TCP"})
    );
}

#[test]
fn volume_mounts_merge_by_mount_path() {
    let patched = patch_pod(json!({"spec": {"containers": [
        {"name": "log-shipper", "volumeMounts": [{"mountPath": "/var/log/nginx", "readOnly": false}]}
    ]}}));
    let mounts = &patched["spec"]["containers"][1]["volumeMounts"];
    assert_eq!(mounts.as_array().map(Vec::len), Some(2));
    assert_eq!(mounts[0]["readOnly"], false);
    assert_eq!(mounts[0]["name"], "cache");
}

#[test]
fn remove_container_with_delete_directive() {
    let patched = patch_pod(json!({"spec": {"containers": [
        {"name": "log-shipper", "$patch": "delete"}
    ]}}));
    let containers = &patched["spec"]["containers"];
    assert_eq!(names(containers, "name"), ["nginx"]);
    assert_eq!(containers[0], pod()["spec"]["containers"][0]);
}

#[test]
fn delete_and_add_in_one_list() {
    let patched = patch_pod(json!({"spec": {"containers": [
        {"name": "log-shipper", "$patch": "delete"},
        {"name": "metrics", "image": "prom/statsd-exporter:v0.26.1"}
    ]}}));
    assert_eq!(
        names(&patched["spec"]["containers"], "name"),
        ["metrics", "nginx"]
    );
}

#[test]
fn replace_volumes_with_replace_directive() {
    let patched = patch_pod(json!({"spec": {"volumes": [
        {"$patch": "replace"},
        {"name": "data", "emptyDir": {}}
    ]}}));
    assert_eq!(
        patched["spec"]["volumes"],
        json!([{"name": "data", "emptyDir": {}}])
    );
}

#[test]
fn replace_a_map_with_replace_directive() {
    let patched = patch_pod(json!({"metadata": {"labels": {"$patch": "replace", "app": "api"}}}));
    assert_eq!(patched["metadata"]["labels"], json!({"app": "api"}));
}

#[test]
fn delete_a_map_with_delete_directive() {
    let patched = patch_pod(json!({"metadata": {"annotations": {"$patch": "delete"}}}));
    // As upstream, the map is emptied rather than removed.
    assert_eq!(patched["metadata"]["annotations"], json!({}));
}

#[test]
fn explicit_merge_directive_merges() {
    let patched = patch_pod(json!({
        "metadata": {"labels": {"$patch": "merge", "canary": "true"}},
        "spec": {"containers": [{"name": "nginx", "$patch": "merge", "image": "nginx:1.26.0"}]}
    }));
    assert_eq!(patched["metadata"]["labels"]["app"], "web");
    assert_eq!(patched["metadata"]["labels"]["canary"], "true");
    assert_eq!(patched["spec"]["containers"][0]["image"], "nginx:1.26.0");
    assert!(patched["spec"]["containers"][0].get("$patch").is_none());
}

#[test]
fn retain_keys_switches_rolling_update_to_recreate() {
    let patched = patch_deployment(json!({"spec": {"strategy": {
        "$retainKeys": ["type"],
        "type": "Recreate"
    }}}));
    assert_eq!(patched["spec"]["strategy"], json!({"type": "Recreate"}));

    // Without the directive the old rollingUpdate stays (which validation would reject).
    let kept = patch_deployment(json!({"spec": {"strategy": {"type": "Recreate"}}}));
    assert_eq!(kept["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
}

#[test]
fn retain_keys_switches_volume_source() {
    let patched = patch_pod(json!({"spec": {"volumes": [{
        "name": "cache",
        "$retainKeys": ["hostPath", "name"],
        "hostPath": {"path": "/var/cache/web", "type": "DirectoryOrCreate"}
    }]}}));
    let volumes = &patched["spec"]["volumes"];
    assert_eq!(
        names(volumes, "name"),
        ["config", "cache", "kube-api-access-9zq7m"]
    );
    assert_eq!(
        volumes[1],
        json!({"name": "cache", "hostPath": {"path": "/var/cache/web", "type": "DirectoryOrCreate"}})
    );
}

#[test]
fn retain_keys_must_list_every_patched_field() {
    let err = strategic::apply(
        &deployment(),
        &json!({"spec": {"strategy": {
            "$retainKeys": ["type"],
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1}
        }}}),
        deployment_schema(),
    )
    .expect_err("rollingUpdate is not retained");
    assert!(
        matches!(&err, PatchError::NotInRetainKeys { path, field } if path == "spec.strategy" && field == "rollingUpdate"),
        "{err}"
    );
}

#[test]
fn set_element_order_reorders_containers() {
    let patched = patch_pod(json!({"spec": {
        "$setElementOrder/containers": [{"name": "log-shipper"}, {"name": "nginx"}],
        "containers": [{"name": "nginx", "image": "nginx:1.26.0"}]
    }}));
    let containers = &patched["spec"]["containers"];
    assert_eq!(names(containers, "name"), ["log-shipper", "nginx"]);
    assert_eq!(containers[1]["image"], "nginx:1.26.0");
    assert_eq!(containers[1]["ports"][1]["containerPort"], 443);
}

#[test]
fn set_element_order_alone_reorders() {
    let patched = patch_pod(json!({"spec": {
        "$setElementOrder/containers": [{"name": "log-shipper"}, {"name": "nginx"}]
    }}));
    assert_eq!(
        names(&patched["spec"]["containers"], "name"),
        ["log-shipper", "nginx"]
    );
    assert_eq!(
        patched["spec"]["containers"][1],
        pod()["spec"]["containers"][0]
    );
}

#[test]
fn set_element_order_must_agree_with_the_patch() {
    let err = strategic::apply(
        &pod(),
        &json!({"spec": {
            "$setElementOrder/containers": [{"name": "nginx"}, {"name": "log-shipper"}],
            "containers": [{"name": "log-shipper", "image": "a"}, {"name": "nginx", "image": "b"}]
        }}),
        pod_schema(),
    )
    .expect_err("order disagrees");
    assert!(err.to_string().contains("spec.containers"), "{err}");
}

#[test]
fn finalizers_are_a_set_union() {
    let patched = patch_pod(json!({"metadata": {"finalizers": [
        "example.com/audit",
        "example.com/drain-connections"
    ]}}));
    assert_eq!(
        patched["metadata"]["finalizers"],
        json!(["example.com/audit", "example.com/drain-connections"])
    );

    let added = patch_pod(json!({"metadata": {"finalizers": ["example.com/audit"]}}));
    assert_eq!(
        added["metadata"]["finalizers"],
        json!(["example.com/audit", "example.com/drain-connections"])
    );
}

#[test]
fn delete_from_primitive_list_removes_finalizers() {
    let patched = patch_pod(json!({"metadata": {
        "$deleteFromPrimitiveList/finalizers": ["example.com/drain-connections", "absent"]
    }}));
    assert_eq!(patched["metadata"]["finalizers"], json!([]));

    // Deleting from a list the object does not have is a no-op.
    let patched = patch_deployment(json!({"metadata": {
        "$deleteFromPrimitiveList/finalizers": ["example.com/drain-connections"]
    }}));
    assert!(patched["metadata"].get("finalizers").is_none());
}

#[test]
fn add_and_delete_finalizers_together() {
    let patched = patch_pod(json!({"metadata": {
        "$setElementOrder/finalizers": ["example.com/audit"],
        "finalizers": ["example.com/audit"],
        "$deleteFromPrimitiveList/finalizers": ["example.com/drain-connections"]
    }}));
    assert_eq!(
        patched["metadata"]["finalizers"],
        json!(["example.com/audit"])
    );
}

#[test]
fn null_removes_a_label() {
    let patched = patch_pod(json!({"metadata": {"labels": {"tier": null, "version": "v2"}}}));
    assert_eq!(
        patched["metadata"]["labels"],
        json!({"app": "web", "pod-template-hash": "7d4b9c6f5", "version": "v2"})
    );
}

#[test]
fn tolerations_are_replaced_whole() {
    let toleration =
        json!({"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"});
    let patched = patch_pod(json!({"spec": {"tolerations": [toleration.clone()]}}));
    assert_eq!(patched["spec"]["tolerations"], json!([toleration]));
}

#[test]
fn pod_conditions_merge_by_type() {
    let patched = patch_pod(json!({"status": {"conditions": [
        {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
        {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}
    ]}}));
    let conditions = &patched["status"]["conditions"];
    assert_eq!(
        names(conditions, "type"),
        [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "DisruptionTarget",
            "ContainersReady",
            "PodScheduled"
        ]
    );
    assert_eq!(
        conditions[2],
        json!({"type": "Ready", "status": "False", "reason": "ContainersNotReady",
               "lastTransitionTime": "2024-05-14T09:21:15Z"})
    );
}

#[test]
fn deployment_conditions_merge_by_type() {
    let patched = patch_deployment(json!({"status": {"conditions": [
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
    ]}}));
    let conditions = &patched["status"]["conditions"];
    assert_eq!(names(conditions, "type"), ["Available", "Progressing"]);
    assert_eq!(conditions[1]["reason"], "ReplicaSetUpdated");
    assert_eq!(conditions[1]["lastTransitionTime"], "2024-05-01T12:00:00Z");
}

#[test]
fn owner_references_merge_by_uid() {
    let patched = patch_pod(json!({"metadata": {"ownerReferences": [{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c6f5",
        "uid": "0a1b2c3d-4e5f-6789-abcd-ef0123456789", "blockOwnerDeletion": false
    }]}}));
    let refs = &patched["metadata"]["ownerReferences"];
    assert_eq!(refs.as_array().map(Vec::len), Some(1));
    assert_eq!(refs[0]["blockOwnerDeletion"], false);
    assert_eq!(refs[0]["controller"], true);
}

#[test]
fn pod_ips_merge_by_ip() {
    let patched = patch_pod(json!({"status": {"podIPs": [{"ip": "fd00:10:244:2::11"}]}}));
    assert_eq!(
        names(&patched["status"]["podIPs"], "ip"),
        ["fd00:10:244:2::11", "10.244.2.17"]
    );
}

#[test]
fn other_kinds_use_their_tables() {
    let service = json!({"metadata": {"name": "web"}, "spec": {"ports": [
        {"name": "http", "port": 80, "targetPort": 8080},
        {"name": "https", "port": 443, "targetPort": 8443}
    ]}});
    let schema = schema::for_kind("", "v1", "Service").expect("Service schema");
    let patched = strategic::apply(
        &service,
        &json!({"spec": {"ports": [{"port": 443, "targetPort": 9443}]}}),
        schema,
    )
    .expect("patch applies");
    assert_eq!(patched["spec"]["ports"][1]["targetPort"], 9443);
    assert_eq!(patched["spec"]["ports"][0]["targetPort"], 8080);

    let node = json!({"metadata": {"name": "worker-2"}, "status": {"addresses": [
        {"type": "InternalIP", "address": "10.0.3.12"},
        {"type": "Hostname", "address": "worker-2"}
    ]}});
    let schema = schema::for_kind("", "v1", "Node").expect("Node schema");
    let patched = strategic::apply(
        &node,
        &json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.3.13"}]}}),
        schema,
    )
    .expect("patch applies");
    assert_eq!(patched["status"]["addresses"][0]["address"], "10.0.3.13");
    assert_eq!(
        patched["status"]["addresses"].as_array().map(Vec::len),
        Some(2)
    );

    // A CronJob reaches its pod template through jobTemplate.
    let cron = json!({"spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "job", "image": "busybox:1.36", "args": ["date"]}]
    }}}}}});
    let schema = schema::for_kind("batch", "v1", "CronJob").expect("CronJob schema");
    let patched = strategic::apply(
        &cron,
        &json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "job", "image": "busybox:1.37"}]}}}}}}),
        schema,
    )
    .expect("patch applies");
    let container = &patched["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "busybox:1.37");
    assert_eq!(container["args"], json!(["date"]));
}

#[test]
fn unknown_fields_merge_maps_and_replace_lists() {
    let patched = patch_pod(json!({"spec": {
        "nodeSelector": {"disktype": "ssd"},
        "containers": [{"name": "nginx", "args": ["-g", "daemon off;"], "command": ["nginx"]}]
    }}));
    assert_eq!(patched["spec"]["nodeSelector"], json!({"disktype": "ssd"}));
    let patched_again = strategic::apply(
        &patched,
        &json!({"spec": {"nodeSelector": {"zone": "a"}, "containers": [{"name": "nginx", "args": ["-V"]}]}}),
        pod_schema(),
    )
    .expect("patch applies");
    assert_eq!(
        patched_again["spec"]["nodeSelector"],
        json!({"disktype": "ssd", "zone": "a"})
    );
    assert_eq!(
        patched_again["spec"]["containers"][0]["args"],
        json!(["-V"])
    );
}

#[test]
fn bad_patches_are_errors() {
    let cases: Vec<(Value, &str)> = vec![
        (json!([]), "<root>"),
        (json!("spec"), "<root>"),
        (json!({"spec": {"$patch": "explode"}}), "spec"),
        (json!({"spec": {"$patch": 1}}), "spec"),
        (
            json!({"spec": {"containers": [{"image": "x"}]}}),
            "spec.containers[0]",
        ),
        (
            json!({"spec": {"containers": [{"$patch": "delete"}]}}),
            "spec.containers[0]",
        ),
        (
            json!({"spec": {"containers": [{"name": "nginx", "$patch": "bogus"}]}}),
            "spec.containers[0]",
        ),
        (
            json!({"spec": {"containers": [{"name": "nginx", "ports": [{"name": "x"}]}]}}),
            "spec.containers[name=nginx].ports[0]",
        ),
        (
            json!({"spec": {"containers": ["nginx"]}}),
            "spec.containers",
        ),
        (
            json!({"spec": {"containers": [["nginx"]]}}),
            "spec.containers",
        ),
        (
            json!({"metadata": {"finalizers": [1]}}),
            "metadata.finalizers",
        ),
        (
            json!({"metadata": {"finalizers": [null]}}),
            "metadata.finalizers",
        ),
        (
            json!({"metadata": {"finalizers": [{"a": 1}]}}),
            "metadata.finalizers",
        ),
        (
            json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
            "spec.strategy",
        ),
        (
            json!({"spec": {"strategy": {"$retainKeys": [1]}}}),
            "spec.strategy",
        ),
        (json!({"spec": {"$setElementOrder": []}}), "spec"),
        (json!({"spec": {"$setElementOrder/": []}}), "spec"),
        (
            json!({"spec": {"$setElementOrderX/containers": []}}),
            "spec",
        ),
        (
            json!({"spec": {"$setElementOrder/containers": {"name": "nginx"}}}),
            "spec.containers",
        ),
        (
            json!({"spec": {"$setElementOrder/containers": [{"image": "x"}]}}),
            "spec.containers[0]",
        ),
        (
            json!({"spec": {"$setElementOrder/containers": [{"name": "nginx"}], "containers": {"name": "nginx"}}}),
            "spec.containers",
        ),
        (
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}}),
            "metadata.finalizers",
        ),
        (
            json!({"metadata": {"$deleteFromPrimitiveList/ownerReferences": ["x"]}}),
            "metadata.ownerReferences",
        ),
        (
            json!({"metadata": {"$deleteFromPrimitiveList/labels": ["x"]}}),
            "metadata.labels",
        ),
        (
            json!({"metadata": {"$deleteFromPrimitiveList": ["x"]}}),
            "metadata",
        ),
    ];
    for (patch, path) in cases {
        let before = pod();
        let result = strategic::apply(&before, &patch, pod_schema());
        let err = match result {
            Err(err) => err,
            Ok(v) => panic!("patch {patch} should fail, got {v}"),
        };
        let message = err.to_string();
        assert!(
            message.contains(path),
            "patch {patch}: {message:?} should name {path:?}"
        );
        assert_eq!(before, pod(), "the original is untouched");
    }
}

#[test]
fn non_object_original_is_an_error() {
    assert!(strategic::apply(&json!([1]), &json!({}), pod_schema()).is_err());
    assert_eq!(
        strategic::apply(
            &Value::Null,
            &json!({"a": {"b": null, "c": 1}}),
            pod_schema()
        )
        .ok(),
        Some(json!({"a": {"c": 1}}))
    );
}

#[test]
fn an_empty_patch_changes_nothing() {
    assert_eq!(patch_pod(json!({})), pod());
    assert_eq!(
        patch_deployment(json!({"spec": {"template": {}}})),
        deployment()
    );
}

/// Small patches built from the fixture's vocabulary, directives included.
fn patch_value() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "spec",
        "containers",
        "name",
        "nginx",
        "log-shipper",
        "env",
        "ports",
        "containerPort",
        "volumes",
        "metadata",
        "finalizers",
        "labels",
        "tolerations",
        "status",
        "conditions",
        "type",
        "$patch",
        "$retainKeys",
        "$setElementOrder/containers",
        "$deleteFromPrimitiveList/finalizers",
        "$setElementOrder/env",
        "image",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (0i64..500).prop_map(Value::from),
        prop::sample::select(vec![
            "nginx",
            "log-shipper",
            "replace",
            "delete",
            "merge",
            "x",
            "Ready"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 48, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..4).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #[test]
    fn random_patches_never_panic(patch in patch_value()) {
        let original = pod();
        let _ = strategic::apply(&original, &patch, pod_schema());
        let _ = strategic::apply(&original, &json!({"spec": patch.clone()}), pod_schema());
        let _ = strategic::apply(&original, &json!({"spec": {"containers": [patch]}}), pod_schema());
        prop_assert_eq!(original, pod());
    }
}
