//! PATCH over the in-process server.

mod common;

use common::{TestServer, on_every_store, rv_of};
use http::{Method, StatusCode};
use serde_json::json;

on_every_store!(
    the_three_patch_types,
    patch_errors_and_preconditions,
    concurrent_patches_all_land,
);

const PODS: &str = "/api/v1/namespaces/default/pods";

async fn pod(s: &TestServer) -> serde_json::Value {
    let (code, pod) = s
        .post(
            PODS,
            json!({"metadata": {"name": "p", "labels": {"a": "1"}},
                   "spec": {"containers": [{"name": "c", "image": "i1"}, {"name": "d", "image": "j1"}]}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    pod
}

async fn the_three_patch_types(s: TestServer) {
    pod(&s).await;
    let url = format!("{PODS}/p");
    let (code, merged) = s
        .call_typed(
            Method::PATCH,
            &url,
            "application/merge-patch+json",
            Some(json!({"metadata": {"labels": {"b": "2"}}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{merged}");
    assert_eq!(merged["metadata"]["labels"], json!({"a": "1", "b": "2"}));

    let (code, strategic) = s
        .call_typed(
            Method::PATCH,
            &url,
            "application/strategic-merge-patch+json",
            Some(json!({"spec": {"containers": [{"name": "d", "image": "j2"}]}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{strategic}");
    let containers = &strategic["spec"]["containers"];
    assert_eq!(containers.as_array().unwrap().len(), 2, "merged by name");
    assert_eq!(containers[1]["image"], "j2");
    assert_eq!(strategic["metadata"]["generation"], 2);

    let (code, jp) = s
        .call_typed(
            Method::PATCH,
            &url,
            "application/json-patch+json",
            Some(json!([{"op": "replace", "path": "/spec/containers/0/image", "value": "i2"}])),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{jp}");
    assert_eq!(jp["spec"]["containers"][0]["image"], "i2");

    let (code, failed) = s
        .call_typed(
            Method::PATCH,
            &url,
            "application/json-patch+json",
            Some(json!([{"op": "test", "path": "/spec/containers/0/image", "value": "no"}])),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{failed}");

    // Status patch writes only status.
    let (code, st) = s
        .call_typed(
            Method::PATCH,
            &format!("{url}/status"),
            "application/merge-patch+json",
            Some(json!({"status": {"phase": "Running"}, "metadata": {"labels": {"c": "3"}}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{st}");
    assert_eq!(st["status"]["phase"], "Running");
    assert!(st["metadata"]["labels"].get("c").is_none());
    // Main-resource patches ignore status.
    let (_, main) = s
        .call_typed(
            Method::PATCH,
            &url,
            "application/merge-patch+json",
            Some(json!({"status": {"phase": "Failed"}})),
        )
        .await;
    assert_eq!(main["status"]["phase"], "Running");
}

async fn patch_errors_and_preconditions(s: TestServer) {
    let created = pod(&s).await;
    let url = format!("{PODS}/p");
    let (code, body) = s
        .call_typed(
            Method::PATCH,
            &url,
            "application/apply-patch+yaml",
            Some(json!({})),
        )
        .await;
    // Server-side apply needs a field manager (kube-api/tests/apply.rs covers apply).
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    let (code, _) = s
        .call_typed(Method::PATCH, &url, "text/plain", Some(json!({})))
        .await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (code, _) = s
        .call_typed(
            Method::PATCH,
            &format!("{PODS}/missing"),
            "application/merge-patch+json",
            Some(json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // A resourceVersion in the patch is a precondition.
    let (_, moved) = s
        .call_typed(
            Method::PATCH,
            &url,
            "application/merge-patch+json",
            Some(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await;
    let stale = json!({"metadata": {"resourceVersion": rv_of(&created), "labels": {"z": "1"}}});
    let (code, _) = s
        .call_typed(
            Method::PATCH,
            &url,
            "application/merge-patch+json",
            Some(stale),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    let fresh = json!({"metadata": {"resourceVersion": rv_of(&moved), "labels": {"z": "1"}}});
    let (code, _) = s
        .call_typed(
            Method::PATCH,
            &url,
            "application/merge-patch+json",
            Some(fresh),
        )
        .await;
    assert_eq!(code, StatusCode::OK);

    // dryRun patches write nothing.
    let (code, dry) = s
        .call_typed(
            Method::PATCH,
            &format!("{url}?dryRun=All"),
            "application/merge-patch+json",
            Some(json!({"metadata": {"labels": {"dry": "1"}}})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(dry["metadata"]["labels"]["dry"], "1");
    let (_, got) = s.get(&url).await;
    assert!(got["metadata"]["labels"].get("dry").is_none());
}

async fn concurrent_patches_all_land(s: TestServer) {
    let s = std::sync::Arc::new(s);
    s.configmap("default", "counter", json!({})).await;
    // Fewer writers than the server's attempts: each conflict means another writer landed, so
    // every patch lands within its attempts on any store.
    const WRITERS: usize = 20;
    const { assert!(WRITERS < kube_api::server::storage::MAX_UPDATE_ATTEMPTS) };
    let writers = WRITERS;
    let mut tasks = Vec::new();
    for i in 0..writers {
        let s = std::sync::Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            s.call_typed(
                Method::PATCH,
                "/api/v1/namespaces/default/configmaps/counter",
                "application/merge-patch+json",
                Some(json!({"data": {format!("k{i}"): "v"}})),
            )
            .await
            .0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let (_, cm) = s.get("/api/v1/namespaces/default/configmaps/counter").await;
    assert_eq!(cm["data"].as_object().unwrap().len(), writers + 1);
}
