//! Field sets, FieldsV1 and the apply rules, on real upstream managedFields and objects.

use kube_core::managedfields::{
    Error, FieldSet, ManagerId, Managers, Operation, Path, Scope, Type, Updater, field_set,
    fieldsv1,
};
use serde_json::{Value, json};

/// The Update entry kube-apiserver 1.3x records for `kubectl create deployment nginx
/// --image=nginx --port=80`.
fn upstream_create_fields() -> Value {
    serde_json::from_str(
        r#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:progressDeadlineSeconds":{},"f:replicas":{},"f:revisionHistoryLimit":{},"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:ports":{".":{},"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:protocol":{}}},"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}}}"#,
    )
    .unwrap()
}

/// The status entry of kube-controller-manager on the same Deployment.
fn upstream_status_fields() -> Value {
    serde_json::from_str(
        r#"{"f:metadata":{"f:annotations":{".":{},"f:deployment.kubernetes.io/revision":{}}},"f:status":{"f:availableReplicas":{},"f:conditions":{".":{},"k:{\"type\":\"Available\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}},"f:observedGeneration":{},"f:readyReplicas":{},"f:replicas":{},"f:updatedReplicas":{}}}"#,
    )
    .unwrap()
}

fn strings(set: &FieldSet) -> Vec<String> {
    set.paths().iter().map(Path::to_string).collect()
}

#[test]
fn fieldsv1_round_trips_upstream_entries() {
    for doc in [upstream_create_fields(), upstream_status_fields()] {
        let set = fieldsv1::decode(&doc).unwrap();
        assert_eq!(fieldsv1::encode(&set), doc);
    }
    let set = fieldsv1::decode(&upstream_create_fields()).unwrap();
    let paths = strings(&set);
    assert!(paths.contains(&".spec.replicas".to_owned()));
    assert!(paths.contains(
        &".spec.template.spec.containers[name=\"nginx\"].ports[containerPort=80,protocol=\"TCP\"].protocol"
            .to_owned()
    ));
    assert!(
        paths.contains(&".metadata.labels".to_owned()),
        "`.` makes the node a member"
    );
    assert!(!paths.contains(&".spec.strategy".to_owned()));
}

#[test]
fn managed_fields_entries_round_trip() {
    let list = json!([
        {"manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1",
         "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": upstream_create_fields()},
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
         "time": "2026-01-01T00:00:05Z", "fieldsType": "FieldsV1", "fieldsV1": upstream_status_fields(),
         "subresource": "status"}
    ]);
    let managers = Managers::decode(Some(&list)).unwrap();
    assert_eq!(managers.0.len(), 2);
    assert_eq!(managers.encode(), list);
    let bad = json!([{"manager": "x", "operation": "Patch", "fieldsType": "FieldsV1"}]);
    assert!(matches!(
        Managers::decode(Some(&bad)),
        Err(Error::InvalidManagedFields { index: Some(0), .. })
    ));
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "labels": {"app": "nginx"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}]}
            }
        }
    })
}

fn deployment_type() -> Type {
    Type::builtin("apps", "v1", "Deployment")
}

#[test]
fn field_set_of_deployment_and_pod() {
    let set = field_set(&deployment(2, "nginx"), deployment_type()).unwrap();
    let paths = strings(&set);
    for want in [
        ".spec.replicas",
        ".spec.selector",
        ".metadata.labels.app",
        ".spec.template.spec.containers[name=\"nginx\"]",
        ".spec.template.spec.containers[name=\"nginx\"].image",
        ".spec.template.spec.containers[name=\"nginx\"].ports[containerPort=80,protocol=\"TCP\"]",
    ] {
        assert!(
            paths.contains(&want.to_owned()),
            "{want} missing from {paths:#?}"
        );
    }
    assert!(
        !paths.contains(&".spec.selector.matchLabels.app".to_owned()),
        "atomic selector"
    );
    assert!(!paths.contains(&".metadata.labels".to_owned()));

    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p",
        "finalizers": ["a/b"]},
        "spec": {"containers": [{"name": "c", "image": "x", "args": ["-v"],
            "env": [{"name": "A", "value": "1"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}]}});
    let paths = strings(&field_set(&pod, Type::builtin("", "v1", "Pod")).unwrap());
    for want in [
        ".metadata.finalizers[=\"a/b\"]",
        ".spec.containers[name=\"c\"].args",
        ".spec.containers[name=\"c\"].env[name=\"A\"].value",
        ".spec.volumes[name=\"data\"].emptyDir",
    ] {
        assert!(
            paths.contains(&want.to_owned()),
            "{want} missing from {paths:#?}"
        );
    }
    let missing_key = json!({"spec": {"containers": [{"image": "x"}]}});
    assert!(matches!(
        field_set(&missing_key, Type::builtin("", "v1", "Pod")),
        Err(Error::MissingKey { .. })
    ));
}

fn updater() -> Updater {
    Updater {
        ty: deployment_type(),
        scope: Scope::MainResource,
        now: "2026-01-01T00:00:00Z".to_owned(),
    }
}

fn applier(name: &str) -> ManagerId {
    ManagerId::new(name, Operation::Apply, "apps/v1", "")
}

fn apply(
    live: &Value,
    config: &Value,
    managers: &Managers,
    who: &str,
    force: bool,
) -> kube_core::managedfields::Result<(Value, Managers)> {
    updater().apply(live, config, managers, &applier(who), "apps/v1", force)
}

#[test]
fn apply_adds_changes_and_removes_owned_fields() {
    let empty = json!({});
    let (live, managers) = apply(
        &empty,
        &deployment(2, "nginx:1"),
        &Managers::default(),
        "a",
        false,
    )
    .unwrap();
    assert_eq!(live["spec"]["replicas"], 2);
    // change
    let (live, managers) = apply(&live, &deployment(3, "nginx:2"), &managers, "a", false).unwrap();
    assert_eq!(live["spec"]["replicas"], 3);
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:2"
    );
    // remove an owned field by leaving it out
    let mut config = deployment(3, "nginx:2");
    config["spec"].as_object_mut().unwrap().remove("replicas");
    let (live, managers) = apply(&live, &config, &managers, "a", false).unwrap();
    assert!(live["spec"].get("replicas").is_none(), "{live}");
    assert!(!strings(&managers.0[&applier("a")].set).contains(&".spec.replicas".to_owned()));
}

#[test]
fn shared_ownership_keeps_a_field() {
    let empty = json!({});
    let (live, managers) = apply(
        &empty,
        &deployment(2, "nginx"),
        &Managers::default(),
        "a",
        false,
    )
    .unwrap();
    let replicas = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx"}, "spec": {"replicas": 2}});
    let (live, managers) = apply(&live, &replicas, &managers, "b", false).unwrap();
    let mut config = deployment(2, "nginx");
    config["spec"].as_object_mut().unwrap().remove("replicas");
    let (live, _) = apply(&live, &config, &managers, "a", false).unwrap();
    assert_eq!(live["spec"]["replicas"], 2, "b still applies replicas");
}

#[test]
fn conflicts_and_force() {
    let empty = json!({});
    let (live, managers) = apply(
        &empty,
        &deployment(2, "nginx"),
        &Managers::default(),
        "a",
        false,
    )
    .unwrap();
    let replicas = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx"}, "spec": {"replicas": 9}});
    let err = apply(&live, &replicas, &managers, "b", false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas"
    );
    let (live, managers) = apply(&live, &replicas, &managers, "b", true).unwrap();
    assert_eq!(live["spec"]["replicas"], 9);
    assert!(!strings(&managers.0[&applier("a")].set).contains(&".spec.replicas".to_owned()));
    assert!(strings(&managers.0[&applier("b")].set).contains(&".spec.replicas".to_owned()));

    // an update takes fields without conflict
    let mut updated = live.clone();
    updated["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:edited");
    let editor = ManagerId::new("editor", Operation::Update, "apps/v1", "");
    let managers = updater().update(&live, &updated, &managers, &editor, "apps/v1");
    let image = ".spec.template.spec.containers[name=\"nginx\"].image".to_owned();
    assert!(strings(&managers.0[&editor].set).contains(&image));
    assert!(!strings(&managers.0[&applier("a")].set).contains(&image));
    let err = apply(&updated, &deployment(4, "nginx"), &managers, "a", false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Apply failed with 2 conflicts: conflicts with \"b\":\n- .spec.replicas\nconflicts with \"editor\" using apps/v1:\n- {image}"
        )
    );
}

#[test]
fn associative_lists_merge_by_name() {
    let pod_type = Type::builtin("", "v1", "Pod");
    let u = Updater {
        ty: pod_type,
        scope: Scope::MainResource,
        now: "t".to_owned(),
    };
    let pod = |containers: Value| {
        json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p"}, "spec": {"containers": containers}})
    };
    let a = applier("a");
    let b = applier("b");
    let (live, managers) = u
        .apply(
            &json!({}),
            &pod(json!([{"name": "app", "image": "x"}])),
            &Managers::default(),
            &a,
            "v1",
            false,
        )
        .unwrap();
    // another manager adds a sidecar: the list is merged, not replaced
    let (live, managers) = u
        .apply(
            &live,
            &pod(json!([{"name": "sidecar", "image": "envoy"}])),
            &managers,
            &b,
            "v1",
            false,
        )
        .unwrap();
    let names: Vec<&str> = live["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "sidecar"]);
    // a drops its container: only that item goes
    let (live, _) = u
        .apply(&live, &pod(json!([])), &managers, &a, "v1", false)
        .unwrap();
    let names: Vec<&str> = live["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sidecar"]);
}
