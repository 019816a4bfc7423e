//! Overload: past the in-flight caps requests get 429 with Retry-After at once, reads and
//! health checks go on, and no admitted write is lost; watches have their own cap; a request
//! past its deadline gets 504 while its write still completes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use common::{TestServer, name_of};
use http::{Method, StatusCode};
use kube_api::server::Config;
use kube_api::server::flowcontrol::Limits;
use kube_store::{
    Deleted, KeyValue, ListRequest, ListResponse, MemoryStore, Result, Revision, Store, Watch,
    WatchRequest,
};
use serde_json::json;
use tokio::sync::watch;

/// A MemoryStore whose creates wait while the gate is closed: requests that write stay in
/// flight for as long as the test wants, without sleeps.
struct GatedStore {
    inner: MemoryStore,
    open: watch::Receiver<bool>,
}

#[async_trait]
impl Store for GatedStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        self.inner.get(key).await
    }
    async fn list(&self, request: ListRequest) -> Result<ListResponse> {
        self.inner.list(request).await
    }
    async fn create(&self, key: &str, value: Bytes) -> Result<Revision> {
        let mut open = self.open.clone();
        let _ = open.wait_for(|open| *open).await;
        self.inner.create(key, value).await
    }
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision> {
        self.inner.update(key, value, expected).await
    }
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        self.inner.delete(key, expected).await
    }
    async fn watch(&self, request: WatchRequest) -> Result<Watch> {
        self.inner.watch(request).await
    }
    async fn current_revision(&self) -> Result<Revision> {
        self.inner.current_revision().await
    }
    async fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.compact(revision).await
    }
}

async fn gated(limits: Limits) -> (Arc<TestServer>, watch::Sender<bool>) {
    let (gate, open) = watch::channel(true);
    let store = Arc::new(GatedStore {
        inner: MemoryStore::new(),
        open,
    });
    let config = Config {
        limits,
        ..Config::default()
    };
    let s = TestServer::over_store(store, config).await;
    gate.send_replace(false);
    (Arc::new(s), gate)
}

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_caps_requests_get_429_and_no_write_is_lost() {
    let (s, gate) = gated(Limits {
        max_read_only: 8,
        max_mutating: 4,
        ..Limits::default()
    })
    .await;
    let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..20 {
        let (s, done) = (Arc::clone(&s), done.clone());
        tokio::spawn(async move {
            let body =
                serde_json::to_vec(&json!({"metadata": {"name": format!("cm{i:02}")}})).unwrap();
            let response = s
                .raw(Method::POST, CONFIGMAPS, "application/json", body)
                .await;
            let retry = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let _ = done.send((i, response.status(), retry));
        });
    }
    // Four are admitted and wait on the store; the other sixteen are refused at once.
    let mut refused = Vec::new();
    for _ in 0..16 {
        let (i, code, retry) = finished.recv().await.unwrap();
        assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry.as_deref(), Some("1"));
        refused.push(i);
    }
    // Reads have their own cap and health checks none: both answer while writes are full.
    let (code, list) = s.get(CONFIGMAPS).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    assert_eq!(s.get("/healthz").await.0, StatusCode::OK);
    let (code, status) = s
        .post(CONFIGMAPS, json!({"metadata": {"name": "one-more"}}))
        .await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(status["reason"], "TooManyRequests");
    assert_eq!(
        status["message"],
        "Too many requests, please try again later."
    );
    let (_, metrics) = s.get("/metrics").await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("apiserver_current_inflight_requests{request_kind=\"mutating\"} 4"),
        "{metrics}"
    );

    gate.send_replace(true);
    let mut created = Vec::new();
    for _ in 0..4 {
        let (i, code, _) = finished.recv().await.unwrap();
        assert_eq!(code, StatusCode::CREATED);
        created.push(format!("cm{i:02}"));
    }
    // Exactly the admitted writes are stored; the refused ones left nothing behind.
    let (_, list) = s.get(CONFIGMAPS).await;
    let mut stored: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| name_of(o).to_owned())
        .collect();
    stored.sort();
    created.sort();
    assert_eq!(stored, created);
    // Capacity is back.
    let (code, _) = s
        .post(CONFIGMAPS, json!({"metadata": {"name": "after"}}))
        .await;
    assert_eq!(code, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_have_their_own_cap() {
    let (s, _gate) = gated(Limits {
        max_watches: 2,
        ..Limits::default()
    })
    .await;
    let watch = format!("{CONFIGMAPS}?watch=true");
    let first = s.watch(&watch).await;
    let _second = s.watch(&watch).await;
    let (code, status) = s.get(&watch).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{status}");
    // Lists are not watches.
    assert_eq!(s.get(CONFIGMAPS).await.0, StatusCode::OK);
    drop(first);
    // The ended watch gives its place back as soon as its stream task notices.
    let mut code = StatusCode::TOO_MANY_REQUESTS;
    for _ in 0..200 {
        let response = s
            .raw(Method::GET, &watch, "application/json", Vec::new())
            .await;
        code = response.status();
        if code == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_deadline_a_request_gets_504_and_its_write_still_lands() {
    let (s, gate) = gated(Limits::default()).await;
    let (code, status) = s
        .post(
            &format!("{CONFIGMAPS}?timeout=100ms"),
            json!({"metadata": {"name": "slow"}}),
        )
        .await;
    assert_eq!(code, StatusCode::GATEWAY_TIMEOUT, "{status}");
    assert_eq!(status["reason"], "Timeout");
    assert_eq!(
        status["message"],
        "Timeout: request did not complete within requested timeout - context deadline exceeded"
    );
    let (code, status) = s.get(&format!("{CONFIGMAPS}?timeout=soon")).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{status}");
    // The handler was not cut off: once the store answers, the object is there.
    gate.send_replace(true);
    let mut found = StatusCode::NOT_FOUND;
    for _ in 0..200 {
        found = s.get(&format!("{CONFIGMAPS}/slow")).await.0;
        if found == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(found, StatusCode::OK);
}

/// Issue 5, acceptance 6: a load over loopback (TLS, one connection per request) past the
/// mutating cap. Each client retries on 429 as client-go does; every answer is a 201 or a
/// 429 with Retry-After, and every write lands exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_over_loopback_past_the_caps_gets_429s_and_loses_no_write() {
    const CLIENTS: usize = 40;
    let (gate, open) = watch::channel(true);
    let store = Arc::new(GatedStore {
        inner: MemoryStore::new(),
        open,
    });
    let config = Config {
        limits: Limits {
            max_mutating: 4,
            ..Limits::default()
        },
        ..Config::default()
    };
    let s = Arc::new(common::https::HttpsServer::start(store, config).await);
    let key = std::fs::read_to_string(s.secured.pki.path("admin.key")).unwrap();
    let admin = kube_api::server::test_util::Credentials::cert(&s.secured.pki.admin_cert_pem, &key);
    // Serving starts after the bootstrap writes (the kubernetes service); close the gate
    // once a request is answered.
    let (code, body) = s.request("GET", CONFIGMAPS, &admin, None).await;
    assert_eq!(code, 200, "{body}");
    gate.send_replace(false);
    let (refused_tx, mut refused_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let (s, admin, refused_tx) = (Arc::clone(&s), admin.clone(), refused_tx.clone());
        clients.push(tokio::spawn(async move {
            let body = json!({"metadata": {"name": format!("load-{i:02}")}}).to_string();
            let mut refusals = 0;
            loop {
                let (code, text) = s.request("POST", CONFIGMAPS, &admin, Some(&body)).await;
                match code {
                    201 => return refusals,
                    429 => {
                        let status: serde_json::Value = serde_json::from_str(&text).unwrap();
                        assert_eq!(status["reason"], "TooManyRequests", "{status}");
                        assert_eq!(status["details"]["retryAfterSeconds"], 1, "{status}");
                        refusals += 1;
                        let _ = refused_tx.send(());
                        tokio::task::yield_now().await;
                    }
                    other => panic!("load-{i:02}: {other} {text}"),
                }
            }
        }));
    }
    // Four writes hold the cap on the closed store; the others are refused at once.
    for _ in 0..CLIENTS - 4 {
        refused_rx.recv().await.unwrap();
    }
    gate.send_replace(true);
    let mut refusals = 0;
    for client in clients {
        refusals += tokio::time::timeout(Duration::from_secs(120), client)
            .await
            .expect("the load did not finish")
            .unwrap();
    }
    assert!(refusals >= CLIENTS - 4, "{refusals}");
    let (code, list) = s.request("GET", CONFIGMAPS, &admin, None).await;
    assert_eq!(code, 200, "{list}");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let mut names: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| name_of(o).to_owned())
        .collect();
    names.sort();
    let expected: Vec<String> = (0..CLIENTS).map(|i| format!("load-{i:02}")).collect();
    assert_eq!(names, expected);
    let (code, _) = s
        .request(
            "GET",
            "/healthz",
            &kube_api::server::test_util::Credentials::none(),
            None,
        )
        .await;
    assert_eq!(code, 200);
}
