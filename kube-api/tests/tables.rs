//! Server-side Tables over HTTP: negotiation, `includeObject`, list metadata, ages from the
//! server's clock, watch events as one-row Tables; and `/openapi/v2` refusing protobuf only.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::TestServer;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube_api::server::Config;
use kube_api::server::clock::FixedClock;
use kube_api::server::response::ResponseBody;
use serde_json::{Value, json};
use tower::ServiceExt;

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,\
                     application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// A server whose clock stands still until moved.
async fn server() -> (TestServer, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(
        Timestamp::from_second(1_700_000_000).unwrap(),
    ));
    let config = Config {
        clock: clock.clone(),
        ..Config::default()
    };
    let server = TestServer::with_config(common::StoreKind::Memory, config).await;
    (server, clock)
}

async fn get_as(s: &TestServer, path: &str, accept: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header("accept", accept)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = s.server.clone().oneshot(request).await.unwrap();
    let code = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The next watch event of a streaming body as (type, object).
async fn next_event(body: &mut ResponseBody, buffer: &mut Vec<u8>) -> (String, Value) {
    loop {
        if let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=pos).collect();
            let event: Value = serde_json::from_slice(&line).unwrap();
            return (
                event["type"].as_str().unwrap().to_owned(),
                event["object"].clone(),
            );
        }
        let frame = body.frame().await.unwrap().unwrap();
        if let Ok(data) = frame.into_data() {
            buffer.extend_from_slice(&data);
        }
    }
}

fn column_names(table: &Value) -> Vec<&str> {
    table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn lists_and_gets_answer_tables_when_asked() {
    let (s, clock) = server().await;
    s.configmap("default", "a", json!({})).await;
    s.configmap("default", "b", json!({})).await;
    clock.advance(SignedDuration::from_hours(3));

    let (code, table) = get_as(&s, "/api/v1/namespaces/default/configmaps", TABLE).await;
    assert_eq!(code, StatusCode::OK, "{table}");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(table["kind"], "Table");
    assert!(
        table["metadata"]["resourceVersion"].as_str().is_some(),
        "{table}"
    );
    assert_eq!(column_names(&table), ["Name", "Data", "Age"]);
    assert_eq!(table["rows"][0]["cells"], json!(["a", 1, "3h"]));
    assert_eq!(table["rows"][1]["cells"][0], "b");
    let object = &table["rows"][0]["object"];
    assert_eq!(object["kind"], "PartialObjectMetadata");
    assert_eq!(object["metadata"]["name"], "a");
    assert!(object.get("data").is_none());

    let (_, table) = get_as(
        &s,
        "/api/v1/namespaces/default/configmaps?includeObject=Object",
        TABLE,
    )
    .await;
    assert_eq!(table["rows"][0]["object"]["kind"], "ConfigMap");
    assert_eq!(table["rows"][0]["object"]["data"]["k"], "v");
    let (_, table) = get_as(
        &s,
        "/api/v1/namespaces/default/configmaps?includeObject=None",
        TABLE,
    )
    .await;
    assert_eq!(table["rows"][0]["object"], Value::Null);
    let (code, _) = get_as(
        &s,
        "/api/v1/namespaces/default/configmaps?includeObject=All",
        TABLE,
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    // Paging carries over to the Table's metadata.
    let (_, page) = get_as(&s, "/api/v1/namespaces/default/configmaps?limit=1", TABLE).await;
    assert_eq!(page["rows"].as_array().unwrap().len(), 1);
    assert!(page["metadata"]["continue"].as_str().is_some(), "{page}");

    // One object.
    let (code, one) = get_as(&s, "/api/v1/namespaces/default/configmaps/b", TABLE).await;
    assert_eq!(code, StatusCode::OK, "{one}");
    assert_eq!(one["kind"], "Table");
    assert_eq!(one["rows"].as_array().unwrap().len(), 1);
    assert_eq!(one["rows"][0]["cells"][0], "b");

    // Plain JSON still wins when it comes first, and a Table of an unknown version is refused.
    let (_, list) = get_as(
        &s,
        "/api/v1/namespaces/default/configmaps",
        "application/json",
    )
    .await;
    assert_eq!(list["kind"], "ConfigMapList");
    let (code, _) = get_as(
        &s,
        "/api/v1/namespaces/default/configmaps",
        "application/json;as=Table;v=v9;g=meta.k8s.io",
    )
    .await;
    assert_eq!(code, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn kinds_without_a_printer_get_name_and_created_at() {
    let (s, _) = server().await;
    let (code, crd) = s
        .post(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            json!({
                "metadata": {"name": "widgets.example.com"},
                "spec": {
                    "group": "example.com",
                    "scope": "Namespaced",
                    "names": {"plural": "widgets", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                                  "schema": {"openAPIV3Schema": {"type": "object"}}}],
                },
            }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{crd}");
    let (_, table) = get_as(
        &s,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        TABLE,
    )
    .await;
    assert_eq!(column_names(&table), ["Name", "Created At"]);
    assert_eq!(
        table["rows"][0]["cells"],
        json!(["widgets.example.com", "2023-11-14T22:13:20Z"])
    );
}

#[tokio::test]
async fn watch_events_are_one_row_tables_with_headers_first() {
    let (s, _) = server().await;
    let request = Request::builder()
        .method(Method::GET)
        .uri("/api/v1/namespaces/default/configmaps?watch=true")
        .header("accept", TABLE)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = s.server.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut buffer = Vec::new();
    s.configmap("default", "a", json!({})).await;
    s.configmap("default", "b", json!({})).await;

    let (kind, first) = next_event(&mut body, &mut buffer).await;
    assert_eq!(kind, "ADDED");
    assert_eq!(first["kind"], "Table");
    assert_eq!(column_names(&first), ["Name", "Data", "Age"]);
    assert_eq!(first["rows"].as_array().unwrap().len(), 1);
    assert_eq!(first["rows"][0]["cells"][0], "a");
    let (_, second) = next_event(&mut body, &mut buffer).await;
    assert_eq!(second["kind"], "Table");
    assert_eq!(second["columnDefinitions"], json!([]));
    assert_eq!(second["rows"][0]["cells"][0], "b");
}

#[tokio::test]
async fn openapi_v2_answers_a_protobuf_only_accept_with_a_stub() {
    let (s, _) = server().await;
    // kubectl's validation asks for protobuf only; it gets a document without definitions.
    let request = Request::builder()
        .uri("/openapi/v2")
        .header(
            "accept",
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = s.server.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    // openapi_v2.Document: swagger (1) "2.0", info (2) with title and version.
    assert_eq!(&body[..5], b"\x0a\x032.0");
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("Kubernetes") && text.contains("v1.37.0"),
        "{text:?}"
    );
    let (code, status) = get_as(&s, "/openapi/v2", "application/yaml").await;
    assert_eq!(code, StatusCode::NOT_ACCEPTABLE, "{status}");
    let (code, doc) = get_as(
        &s,
        "/openapi/v2",
        "application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json",
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(doc["swagger"], "2.0");
}
