//! An in-process API server over any store, and helpers to call it.
//!
//! [`TestServer::new`] runs on a MemoryStore; [`TestServer::on`] on a chosen [`StoreKind`];
//! [`on_every_store!`] generates one test per store from one async fn taking a [`TestServer`].
#![allow(dead_code)]

pub mod binary;
pub mod https;
pub mod kubectl;

use std::any::Any;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use kube_api::server::response::ResponseBody;
use kube_api::server::{ApiServer, Config};
use kube_store::test_util::etcd::{EtcdServer, shared_store};
use kube_store::{EmbeddedStore, MemoryStore, Store};
use serde_json::Value;
use tower::ServiceExt;

/// The store a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A MemoryStore.
    Memory,
    /// An EmbeddedStore in a temporary directory.
    Embedded,
    /// A key prefix of the etcd the test run shares.
    Etcd,
    /// A private etcd, for tests that compact.
    PrivateEtcd,
}

/// Generates, for each named `async fn case(s: TestServer)` of the calling file, one test per
/// store: `memory::case`, `embedded::case` and `etcd::case`. Cases listed after `isolated:`
/// compact the store, so on etcd they get a private etcd rather than a prefix of the shared one.
/// Cases listed after `paused:` run under a paused clock on memory and embedded stores (and in
/// real time on etcd, whose client needs it), so they must keep their timers short.
#[allow(unused_macros)]
macro_rules! on_every_store {
    ($($case:ident),* $(,)? $(; isolated: $($iso:ident),* $(,)?)? $(; paused: $($paused:ident),* $(,)?)?) => {
        crate::common::on_every_store!(@store memory, Memory, Memory, Memory;
            $($case),*; $($($iso),*)?; $($($paused),*)?);
        crate::common::on_every_store!(@store embedded, Embedded, Embedded, Embedded;
            $($case),*; $($($iso),*)?; $($($paused),*)?);
        crate::common::on_every_store!(@store etcd, Etcd, PrivateEtcd, Etcd;
            $($case),*; $($($iso),*)?; $($($paused),*)?);
    };
    (@store $module:ident, $kind:ident, $isolated:ident, $paused_kind:ident;
        $($case:ident),*; $($iso:ident),*; $($paused:ident),*) => {
        mod $module {
            use super::common::{StoreKind, TestServer};
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(TestServer::on(StoreKind::$kind).await).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $iso() {
                    super::$iso(TestServer::on(StoreKind::$isolated).await).await;
                }
            )*
            $(
                crate::common::on_every_store!(@paused $paused_kind, $paused);
            )*
        }
    };
    (@paused Etcd, $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            super::$case(TestServer::on(StoreKind::Etcd).await).await;
        }
    };
    (@paused $kind:ident, $case:ident) => {
        #[tokio::test(start_paused = true)]
        async fn $case() {
            super::$case(TestServer::paused(StoreKind::$kind).await).await;
        }
    };
}

#[allow(unused_imports)]
pub(crate) use on_every_store;

pub struct TestServer {
    pub server: ApiServer,
    pub store: Arc<dyn Store>,
    pub kind: StoreKind,
    /// What must live as long as the server: a temporary directory or an etcd process.
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl TestServer {
    /// A server on a fresh MemoryStore.
    pub async fn new() -> Self {
        Self::on(StoreKind::Memory).await
    }

    /// A server on a fresh store of `kind`, with the default settings.
    pub async fn on(kind: StoreKind) -> Self {
        Self::with_config(kind, Config::default()).await
    }

    /// A server on a fresh store of `kind` for a test under a paused clock: without request
    /// deadlines, since the paused clock jumps ahead while a request waits on real I/O (the
    /// embedded store's writer thread), which would fire them at once.
    pub async fn paused(kind: StoreKind) -> Self {
        let mut config = Config::default();
        config.limits.request_timeout = std::time::Duration::ZERO;
        Self::with_config(kind, config).await
    }

    /// A server over `store` (a MemoryStore wrapped by the test, say) with `config`.
    pub async fn over_store(store: Arc<dyn Store>, config: Config) -> Self {
        let server = ApiServer::new(Arc::clone(&store), config);
        Self::over(server, store, StoreKind::Memory).await
    }

    /// A server on a fresh store of `kind` with `config`.
    pub async fn with_config(kind: StoreKind, config: Config) -> Self {
        let (store, guard): (Arc<dyn Store>, Option<Box<dyn Any + Send + Sync>>) = match kind {
            StoreKind::Memory => (Arc::new(MemoryStore::new()), None),
            StoreKind::Embedded => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let store = EmbeddedStore::open(dir.path(), Default::default())
                    .await
                    .expect("the embedded store opens in an empty directory");
                (Arc::new(store), Some(Box::new(dir)))
            }
            StoreKind::Etcd => (
                Arc::new(shared_store().await.expect("the shared test etcd")),
                None,
            ),
            StoreKind::PrivateEtcd => {
                let etcd = EtcdServer::start().await.expect("a private etcd");
                let store = etcd.store().await.expect("a store on the private etcd");
                (Arc::new(store), Some(Box::new(etcd)))
            }
        };
        let server = ApiServer::new(Arc::clone(&store), config);
        server.ensure_system_namespaces().await.unwrap();
        Self {
            server,
            store,
            kind,
            _guard: guard,
        }
    }

    /// A test server around `server`, already built over `store` (e.g. a reopened store).
    pub async fn over(server: ApiServer, store: Arc<dyn Store>, kind: StoreKind) -> Self {
        server.ensure_system_namespaces().await.unwrap();
        Self {
            server,
            store,
            kind,
            _guard: None,
        }
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> http::Response<ResponseBody> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        self.server.clone().oneshot(request).await.unwrap()
    }

    pub async fn call_typed(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        let response = self.raw(method, path, content_type, bytes).await;
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
        };
        (status, value)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_typed(method, path, "application/json", body)
            .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a ConfigMap `name` in `ns` with `labels`; returns it.
    pub async fn configmap(&self, ns: &str, name: &str, labels: Value) -> Value {
        let (code, obj) = self
            .post(
                &format!("/api/v1/namespaces/{ns}/configmaps"),
                serde_json::json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{obj}");
        obj
    }

    /// Opens a watch and returns its streaming body.
    pub async fn watch(&self, path: &str) -> WatchStream {
        let response = self
            .raw(Method::GET, path, "application/json", Vec::new())
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        WatchStream {
            body: response.into_body(),
            buffer: Vec::new(),
        }
    }
}

pub struct WatchStream {
    body: ResponseBody,
    buffer: Vec<u8>,
}

impl WatchStream {
    /// The next event as (type, object), or None when the stream ends.
    pub async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=pos).collect();
                let event: Value = serde_json::from_slice(&line).unwrap();
                return Some((
                    event["type"].as_str().unwrap().to_owned(),
                    event["object"].clone(),
                ));
            }
            let frame = self.body.frame().await?.unwrap();
            if let Ok(data) = frame.into_data() {
                self.buffer.extend_from_slice(&data);
            }
        }
    }
}

pub fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

pub fn rv_of(obj: &Value) -> String {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
