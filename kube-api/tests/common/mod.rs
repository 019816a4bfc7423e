//! An in-process API server on a MemoryStore, and helpers to call it.
#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use kube_api::server::response::ResponseBody;
use kube_api::server::{ApiServer, Config};
use kube_store::{MemoryStore, Store};
use serde_json::Value;
use tower::ServiceExt;

pub struct TestServer {
    pub server: ApiServer,
    pub store: MemoryStore,
}

impl TestServer {
    pub async fn new() -> Self {
        let store = MemoryStore::new();
        let server = ApiServer::new(Arc::new(store.clone()) as Arc<dyn Store>, Config::default());
        server.ensure_system_namespaces().await.unwrap();
        Self { server, store }
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
