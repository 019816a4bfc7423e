//! Built-in kinds through the default strategy: defaulting, validation, the status upstream's
//! strategies set, and `fieldValidation`.

mod common;

use common::TestServer;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};

fn pod(name: &str, resources: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "nginx", "resources": resources}]}
    })
}

/// The `field`s of an Invalid Status's causes, in order.
fn cause_fields(status: &Value) -> Vec<String> {
    status["details"]["causes"]
        .as_array()
        .map(|causes| {
            causes
                .iter()
                .map(|c| c["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Sends `body` and returns (status, Warning header values, body).
async fn send(
    s: &TestServer,
    method: Method,
    path: &str,
    content_type: &str,
    body: &Value,
) -> (StatusCode, Vec<String>, Value) {
    let response = s
        .raw(
            method,
            path,
            content_type,
            serde_json::to_vec(body).unwrap(),
        )
        .await;
    let code = response.status();
    let warnings = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (code, warnings, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn pod_create_is_defaulted_with_phase_and_qos_class() {
    let s = TestServer::new().await;
    let (code, created) = s
        .post("/api/v1/namespaces/default/pods", pod("plain", json!({})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["spec"]["restartPolicy"], "Always");
    assert_eq!(created["spec"]["dnsPolicy"], "ClusterFirst");
    assert_eq!(created["spec"]["terminationGracePeriodSeconds"], 30);
    let c = &created["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "Always", "nginx has no tag");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(created["status"]["phase"], "Pending");
    assert_eq!(created["status"]["qosClass"], "BestEffort");

    // Limits alone: requests default to them, so the pod is Guaranteed.
    let limits = json!({"limits": {"cpu": "500m", "memory": "64Mi"}});
    let (_, guaranteed) = s
        .post("/api/v1/namespaces/default/pods", pod("sized", limits))
        .await;
    assert_eq!(
        guaranteed["spec"]["containers"][0]["resources"]["requests"]["cpu"],
        "500m"
    );
    assert_eq!(guaranteed["status"]["qosClass"], "Guaranteed");

    let requests = json!({"requests": {"cpu": "100m"}});
    let (_, burstable) = s
        .post("/api/v1/namespaces/default/pods", pod("some", requests))
        .await;
    assert_eq!(burstable["status"]["qosClass"], "Burstable");
}

#[tokio::test]
async fn invalid_built_in_objects_are_refused_once_per_field() {
    let s = TestServer::new().await;
    let (code, status) = s
        .post(
            "/api/v1/namespaces/default/pods",
            json!({"metadata": {"name": "empty"}, "spec": {}}),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(status["reason"], "Invalid");
    assert!(
        cause_fields(&status).contains(&"spec.containers".to_owned()),
        "{status}"
    );

    // The kind's name rule, reported once (ObjectMeta is validated by the kind's rules only).
    let (code, status) = s
        .post(
            "/api/v1/namespaces/default/configmaps",
            json!({"metadata": {"name": "Bad_Name"}}),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(cause_fields(&status), ["metadata.name"], "{status}");
    let (code, status) = s
        .post("/api/v1/namespaces", json!({"metadata": {"name": "a.b"}}))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(cause_fields(&status), ["metadata.name"], "{status}");

    // CRDs get the generic ObjectMeta validation (once) before their own rules.
    let (code, status) = s
        .post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            json!({"metadata": {"name": "Bad_Name"}}),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    let fields = cause_fields(&status);
    assert_eq!(fields[0], "metadata.name", "{status}");
    assert_eq!(
        fields.iter().filter(|f| *f == "metadata.name").count(),
        1,
        "{status}"
    );
}

#[tokio::test]
async fn a_body_that_does_not_decode_as_its_kind_is_a_bad_request() {
    let s = TestServer::new().await;
    let (code, status) = s
        .post(
            "/api/v1/namespaces/default/pods",
            json!({"metadata": {"name": "p"}, "spec": {"containers": "nginx"}}),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with("Pod in version \"v1\" cannot be handled as a Pod: "),
        "{message}"
    );
}

#[tokio::test]
async fn updates_are_defaulted_and_validated_against_the_stored_object() {
    let s = TestServer::new().await;
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}
            }
        }
    });
    let path = "/apis/apps/v1/namespaces/default/deployments";
    let (code, created) = s.post(path, deployment.clone()).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["spec"]["replicas"], 1);
    assert_eq!(created["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(
        created["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );

    // A PUT of the original body (no defaults) is defaulted again: nothing changes.
    let (code, same) = s.put(&format!("{path}/web"), deployment.clone()).await;
    assert_eq!(code, StatusCode::OK, "{same}");
    assert_eq!(same["metadata"]["generation"], 1);
    assert_eq!(same["spec"]["strategy"]["type"], "RollingUpdate");

    // The selector is immutable.
    let mut moved = deployment.clone();
    moved["spec"]["selector"]["matchLabels"]["app"] = json!("other");
    moved["spec"]["template"]["metadata"]["labels"]["app"] = json!("other");
    let (code, status) = s.put(&format!("{path}/web"), moved).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(cause_fields(&status), ["spec.selector"], "{status}");

    // A patch result is defaulted too: a new container gets its pull policy.
    let (code, patched) = s
        .call_typed(
            Method::PATCH,
            &format!("{path}/web"),
            "application/merge-patch+json",
            Some(json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    assert_eq!(
        patched["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "Always"
    );
    assert_eq!(patched["metadata"]["generation"], 2);
}

#[tokio::test]
async fn namespaces_get_the_kubernetes_finalizer() {
    let s = TestServer::new().await;
    let (code, ns) = s
        .post("/api/v1/namespaces", json!({"metadata": {"name": "team"}}))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{ns}");
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "team"
    );
}

#[tokio::test]
async fn a_service_update_without_cluster_ip_keeps_the_stored_one() {
    let s = TestServer::new().await;
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"clusterIP": "10.96.0.20", "selector": {"app": "web"}, "ports": [{"port": 80}]}
    });
    let path = "/api/v1/namespaces/default/services";
    let (code, created) = s.post(path, service.clone()).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["spec"]["clusterIPs"], json!(["10.96.0.20"]));
    assert_eq!(created["spec"]["ports"][0]["protocol"], "TCP");

    let mut update = service.clone();
    update["spec"].as_object_mut().unwrap().remove("clusterIP");
    update["spec"]["ports"][0]["port"] = json!(8080);
    let (code, updated) = s.put(&format!("{path}/web"), update).await;
    assert_eq!(code, StatusCode::OK, "{updated}");
    assert_eq!(updated["spec"]["clusterIP"], "10.96.0.20");
    assert_eq!(updated["spec"]["clusterIPs"], json!(["10.96.0.20"]));
    assert_eq!(updated["spec"]["ports"][0]["port"], 8080);

    // Changing it is refused.
    let mut moved = service;
    moved["spec"]["clusterIP"] = json!("10.96.0.21");
    moved["spec"]["clusterIPs"] = json!(["10.96.0.21"]);
    let (code, status) = s.put(&format!("{path}/web"), moved).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
}

#[tokio::test]
async fn field_validation_strict_warn_and_ignore() {
    let s = TestServer::new().await;
    let path = "/api/v1/namespaces/default/configmaps";
    let body = |name: &str| json!({"metadata": {"name": name, "colour": "red"}, "data": {"k": "v"}, "spec": {"foo": 1}});

    let (code, _, status) = send(
        &s,
        Method::POST,
        &format!("{path}?fieldValidation=Strict"),
        "application/json",
        &body("strict"),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{status}");
    assert_eq!(
        status["message"],
        "strict decoding error: unknown field \"metadata.colour\", unknown field \"spec\""
    );

    // Warn is the default: created, unknown fields dropped, one warning each.
    let (code, warnings, created) =
        send(&s, Method::POST, path, "application/json", &body("warned")).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(
        warnings,
        [
            "299 - \"unknown field \\\"metadata.colour\\\"\"",
            "299 - \"unknown field \\\"spec\\\"\""
        ]
    );
    assert!(created.get("spec").is_none(), "{created}");
    assert!(created["metadata"].get("colour").is_none(), "{created}");

    let (code, warnings, _) = send(
        &s,
        Method::POST,
        &format!("{path}?fieldValidation=Ignore"),
        "application/json",
        &body("ignored"),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    assert!(warnings.is_empty(), "{warnings:?}");

    // Updates and patches are checked the same way.
    let (code, _, status) = send(
        &s,
        Method::PUT,
        &format!("{path}/warned?fieldValidation=Strict"),
        "application/json",
        &body("warned"),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{status}");
    let (code, _, status) = send(
        &s,
        Method::PATCH,
        &format!("{path}/warned?fieldValidation=Strict"),
        "application/merge-patch+json",
        &json!({"data": {"k": "w"}, "extra": true}),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{status}");
    assert_eq!(
        status["message"],
        "strict decoding error: unknown field \"extra\""
    );
    let (code, warnings, patched) = send(
        &s,
        Method::PATCH,
        &format!("{path}/warned"),
        "application/merge-patch+json",
        &json!({"data": {"k": "w"}, "extra": true}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    assert_eq!(patched["data"]["k"], "w");
    assert_eq!(warnings, ["299 - \"unknown field \\\"extra\\\"\""]);

    let (code, status) = s
        .post(&format!("{path}?fieldValidation=Loose"), body("x"))
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{status}");
}
