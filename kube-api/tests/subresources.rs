//! The scale, binding and eviction subresources.

mod common;

use common::{TestServer, on_every_store, rv_of};
use http::{Method, StatusCode};
use serde_json::{Value, json};

fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    })
}

fn pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    })
}

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
const PODS: &str = "/api/v1/namespaces/default/pods";

on_every_store!(
    scale_get_reads_the_parent,
    scale_put_sets_replicas_with_a_precondition,
    scale_patch_of_every_kind,
    scale_of_statefulsets_replicasets_and_controllers,
    binding_sets_the_node_once,
    eviction_deletes_the_pod
);

async fn scale_get_reads_the_parent(s: TestServer) {
    let (code, created) = s.post(DEPLOYMENTS, deployment("web", 2)).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let (code, scale) = s.get(&format!("{DEPLOYMENTS}/web/scale")).await;
    assert_eq!(code, StatusCode::OK, "{scale}");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(scale["status"]["replicas"], 0);
    assert_eq!(scale["status"]["selector"], "app=web");
    assert_eq!(scale["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(scale["metadata"]["resourceVersion"], rv_of(&created));
    let (code, _) = s.get(&format!("{DEPLOYMENTS}/missing/scale")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

async fn scale_put_sets_replicas_with_a_precondition(s: TestServer) {
    s.post(DEPLOYMENTS, deployment("web", 1)).await;
    let path = format!("{DEPLOYMENTS}/web/scale");
    let (_, scale) = s.get(&path).await;
    let mut wanted = scale.clone();
    wanted["spec"]["replicas"] = json!(5);
    let (code, written) = s.put(&path, wanted.clone()).await;
    assert_eq!(code, StatusCode::OK, "{written}");
    assert_eq!(written["spec"]["replicas"], 5);
    let (_, parent) = s.get(&format!("{DEPLOYMENTS}/web")).await;
    assert_eq!(parent["spec"]["replicas"], 5);
    assert_eq!(parent["metadata"]["generation"], 2);

    // The first resourceVersion is stale now.
    let (code, status) = s.put(&path, wanted).await;
    assert_eq!(code, StatusCode::CONFLICT, "{status}");

    let mut negative = written.clone();
    negative["spec"]["replicas"] = json!(-1);
    let (code, status) = s.put(&path, negative).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("spec.replicas: Invalid value: -1"),
        "{status}"
    );
}

async fn scale_patch_of_every_kind(s: TestServer) {
    s.post(DEPLOYMENTS, deployment("web", 1)).await;
    let path = format!("{DEPLOYMENTS}/web/scale");
    for (n, content_type, body) in [
        (
            3,
            "application/merge-patch+json",
            json!({"spec": {"replicas": 3}}),
        ),
        (
            4,
            "application/strategic-merge-patch+json",
            json!({"spec": {"replicas": 4}}),
        ),
        (
            6,
            "application/json-patch+json",
            json!([{"op": "replace", "path": "/spec/replicas", "value": 6}]),
        ),
    ] {
        let (code, scale) = s
            .call_typed(Method::PATCH, &path, content_type, Some(body))
            .await;
        assert_eq!(code, StatusCode::OK, "{content_type}: {scale}");
        assert_eq!(scale["spec"]["replicas"], n);
        let (_, parent) = s.get(&format!("{DEPLOYMENTS}/web")).await;
        assert_eq!(parent["spec"]["replicas"], n);
    }
    let (code, _) = s
        .call_typed(
            Method::PATCH,
            &path,
            "application/merge-patch+json",
            Some(json!({"spec": {"replicas": -2}})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn scale_of_statefulsets_replicasets_and_controllers(s: TestServer) {
    let template = deployment("x", 1)["spec"]["template"].clone();
    let rc = json!({
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "rc"},
        "spec": {"replicas": 1, "selector": {"app": "x"}, "template": template},
    });
    let (code, body) = s
        .post("/api/v1/namespaces/default/replicationcontrollers", rc)
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (code, scale) = s
        .call_typed(
            Method::PATCH,
            "/api/v1/namespaces/default/replicationcontrollers/rc/scale",
            "application/merge-patch+json",
            Some(json!({"spec": {"replicas": 2}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{scale}");
    assert_eq!(scale["status"]["selector"], "app=x");
    for (plural, kind) in [
        ("statefulsets", "StatefulSet"),
        ("replicasets", "ReplicaSet"),
    ] {
        let mut obj = deployment("x", 1);
        obj["kind"] = json!(kind);
        let collection = format!("/apis/apps/v1/namespaces/default/{plural}");
        let (code, body) = s.post(&collection, obj).await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
        let (code, scale) = s
            .call_typed(
                Method::PATCH,
                &format!("{collection}/x/scale"),
                "application/merge-patch+json",
                Some(json!({"spec": {"replicas": 7}})),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{plural}: {scale}");
        let (_, parent) = s.get(&format!("{collection}/x")).await;
        assert_eq!(parent["spec"]["replicas"], 7, "{plural}");
    }
}

async fn binding_sets_the_node_once(s: TestServer) {
    s.post(PODS, pod("p")).await;
    let binding = |node: &str| {
        json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": "p"},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        })
    };
    let (code, status) = s.post(&format!("{PODS}/p/binding"), binding("n1")).await;
    assert_eq!(code, StatusCode::CREATED, "{status}");
    assert_eq!(status["status"], "Success");
    let (_, p) = s.get(&format!("{PODS}/p")).await;
    assert_eq!(p["spec"]["nodeName"], "n1");
    let scheduled = p["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "PodScheduled" && c["status"] == "True");
    assert!(scheduled, "{p}");

    let (code, status) = s.post(&format!("{PODS}/p/binding"), binding("n2")).await;
    assert_eq!(code, StatusCode::CONFLICT, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("already assigned to node \"n1\""),
        "{status}"
    );

    // The legacy bindings resource names the pod in the body.
    s.post(PODS, pod("q")).await;
    let mut legacy = binding("n3");
    legacy["metadata"]["name"] = json!("q");
    let (code, status) = s.post("/api/v1/namespaces/default/bindings", legacy).await;
    assert_eq!(code, StatusCode::CREATED, "{status}");
    let (_, q) = s.get(&format!("{PODS}/q")).await;
    assert_eq!(q["spec"]["nodeName"], "n3");

    let (code, _) = s
        .post(&format!("{PODS}/missing/binding"), {
            let mut b = binding("n1");
            b["metadata"]["name"] = json!("missing");
            b
        })
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = s.post(&format!("{PODS}/q/binding"), binding("n1")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "the name must be the pod's");
}

async fn eviction_deletes_the_pod(s: TestServer) {
    s.post(PODS, pod("p")).await;
    let eviction = json!({
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": "p", "namespace": "default"},
        "deleteOptions": {"gracePeriodSeconds": 0},
    });
    let (code, status) = s
        .post(&format!("{PODS}/p/eviction"), eviction.clone())
        .await;
    assert_eq!(code, StatusCode::CREATED, "{status}");
    assert_eq!(status["status"], "Success");
    let (code, _) = s.get(&format!("{PODS}/p")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = s.post(&format!("{PODS}/p/eviction"), eviction).await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // A uid precondition that does not hold keeps the pod.
    s.post(PODS, pod("r")).await;
    let (code, status) = s
        .post(
            &format!("{PODS}/r/eviction"),
            json!({
                "apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": "r"},
                "deleteOptions": {"preconditions": {"uid": "other"}},
            }),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{status}");
    let (code, _) = s.get(&format!("{PODS}/r")).await;
    assert_eq!(code, StatusCode::OK);
}
