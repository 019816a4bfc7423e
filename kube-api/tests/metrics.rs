//! `/metrics`: request counts and latencies by verb, resource and code, and open watches, in
//! Prometheus text with upstream's names.

mod common;

use std::time::Duration;

use common::TestServer;
use http::{Method, StatusCode};
use http_body_util::BodyExt;

async fn metrics_text(s: &TestServer) -> String {
    let response = s
        .raw(Method::GET, "/metrics", "application/json", Vec::new())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// The value of the sample whose line starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

const CONFIGMAPS: &str = "component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"configmaps\"";

#[tokio::test]
async fn requests_are_counted_by_verb_resource_and_code() {
    let s = TestServer::new().await;
    s.configmap("default", "a", serde_json::json!({})).await;
    let (code, _) = s
        .post(
            "/api/v1/namespaces/default/configmaps",
            serde_json::json!({"metadata": {"name": "a"}}),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    let (code, _) = s.get("/api/v1/namespaces/default/configmaps/missing").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    for _ in 0..3 {
        let (code, _) = s.get("/api/v1/namespaces/default/configmaps").await;
        assert_eq!(code, StatusCode::OK);
    }
    let (code, _) = s
        .call(
            Method::POST,
            "/api/v1/namespaces/default/configmaps?dryRun=All",
            Some(serde_json::json!({"metadata": {"name": "dry"}})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);

    let text = metrics_text(&s).await;
    let total = |code: u16, dry_run: &str, scope: &str, verb: &str| {
        let series = format!(
            "apiserver_request_total{{code=\"{code}\",component=\"apiserver\",dry_run=\"{dry_run}\",group=\"\",resource=\"configmaps\",scope=\"{scope}\",subresource=\"\",verb=\"{verb}\",version=\"v1\"}}"
        );
        sample(&text, &series)
    };
    assert_eq!(total(201, "", "namespace", "POST"), Some(1.0), "{text}");
    assert_eq!(total(409, "", "namespace", "POST"), Some(1.0), "{text}");
    assert_eq!(total(201, "All", "namespace", "POST"), Some(1.0), "{text}");
    assert_eq!(total(404, "", "resource", "GET"), Some(1.0), "{text}");
    assert_eq!(total(200, "", "namespace", "LIST"), Some(3.0), "{text}");
    let count = format!(
        "apiserver_request_duration_seconds_count{{{CONFIGMAPS},scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\"}}"
    );
    assert_eq!(sample(&text, &count), Some(3.0), "{text}");
    let inf = format!(
        "apiserver_request_duration_seconds_bucket{{{CONFIGMAPS},scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\",le=\"+Inf\"}}"
    );
    assert_eq!(sample(&text, &inf), Some(3.0), "{text}");
}

#[tokio::test]
async fn made_up_resources_do_not_grow_the_metrics() {
    let s = TestServer::new().await;
    for i in 0..5 {
        let (code, _) = s.get(&format!("/api/v1/nonsense{i}")).await;
        assert_eq!(code, StatusCode::NOT_FOUND);
    }
    let text = metrics_text(&s).await;
    assert!(!text.contains("nonsense"), "{text}");
    let series = "apiserver_request_total{code=\"404\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"\",scope=\"cluster\",subresource=\"\",verb=\"LIST\",version=\"\"}";
    assert_eq!(sample(&text, series), Some(5.0), "{text}");
}

#[tokio::test]
async fn open_watches_are_a_gauge_that_falls_when_they_end() {
    let s = TestServer::new().await;
    let gauge = format!(
        "apiserver_longrunning_requests{{{CONFIGMAPS},scope=\"namespace\",subresource=\"\",verb=\"WATCH\",version=\"v1\"}}"
    );
    let first = s
        .watch("/api/v1/namespaces/default/configmaps?watch=true")
        .await;
    let second = s
        .watch("/api/v1/namespaces/default/configmaps?watch=true")
        .await;
    assert_eq!(sample(&metrics_text(&s).await, &gauge), Some(2.0));
    drop(first);
    // The watch notices its client is gone at once; give its task a moment to end.
    let mut open = None;
    for _ in 0..200 {
        open = sample(&metrics_text(&s).await, &gauge);
        if open == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(open, Some(1.0));
    drop(second);
}
