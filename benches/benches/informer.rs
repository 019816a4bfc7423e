//! Informer memory and time to sync for 10,000 pods: this project's informer beside kube-rs's
//! reflector, on the same objects from the same server in the same run.
//!
//! Each cache is built in a child process of its own (this binary re-run with
//! `INFORMER_BENCH_CHILD` set), so neither inherits the other's heap: the child starts the API
//! server on a MemoryStore, creates the pods, warms the server's watch cache with one list,
//! then measures resident memory (`/proc/self/statm`) before and after the cache syncs. Our
//! informer reads in-process through the server's tower service; kube-rs over HTTP on
//! loopback (it has no in-process transport), so sync times differ by the HTTP hop too.
//!
//! Run with `cargo bench -p benches --bench informer`. `INFORMER_BENCH_PODS` overrides the count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use k8s_openapi::List;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent;
use kube_api::client::runtime::{
    Informer, ListParams, ListerWatcher, ReflectorConfig, WatchParams, WatchStream,
};
use kube_api::client::{Error, Result};
use kube_api::server::{ApiServer, Config};
use kube_store::MemoryStore;
use tower::ServiceExt;

const NAMESPACE: &str = "bench";

fn pod(name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app": "web", "tier": "frontend", "pod-template-hash": "5d8c7f9b6d"},
            "annotations": {"kubectl.kubernetes.io/default-container": "app", "example.com/owner": "team-payments"},
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [{
                "name": "app",
                "image": "registry.example.com/payments/web:1.27.3",
                "args": ["--port=8080", "--log-level=info"],
                "env": [
                    {"name": "MODE", "value": "production"},
                    {"name": "REGION", "value": "eu-west-1"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                ],
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                },
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
                "livenessProbe": {"httpGet": {"path": "/livez", "port": 8080}, "periodSeconds": 10},
            }],
        },
    })
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

async fn call(server: &ApiServer, method: Method, uri: &str, body: Vec<u8>) -> (u16, Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = server.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body)
}

/// A ListerWatcher calling the server's tower service in-process.
struct InProcess {
    server: ApiServer,
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    q.join("&")
}

fn api_error(status: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>(body) {
        Ok(s) => Error::Api(s.into()),
        Err(_) => Error::Transport(format!("HTTP {status}").into()),
    }
}

impl ListerWatcher<Pod> for InProcess {
    fn list<'a>(&'a self, p: &'a ListParams) -> BoxFuture<'a, Result<List<Pod>>> {
        Box::pin(async move {
            let q = query(&[
                ("limit", p.limit.map(|l| l.to_string())),
                ("continue", p.continue_token.clone()),
                ("resourceVersion", p.resource_version.clone()),
                (
                    "resourceVersionMatch",
                    p.version_match.map(|m| m.as_str().into()),
                ),
            ]);
            let uri = format!("/api/v1/namespaces/{NAMESPACE}/pods?{q}");
            let (status, body) = call(&self.server, Method::GET, &uri, Vec::new()).await;
            if status != 200 {
                return Err(api_error(status, &body));
            }
            serde_json::from_slice(&body).map_err(|e| Error::Decode {
                context: "pod list".into(),
                source: e,
            })
        })
    }

    fn watch<'a>(&'a self, p: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<Pod>>> {
        Box::pin(async move {
            let q = query(&[
                ("watch", Some("true".into())),
                ("resourceVersion", p.resource_version.clone()),
                (
                    "resourceVersionMatch",
                    p.version_match.map(|m| m.as_str().into()),
                ),
                ("allowWatchBookmarks", p.bookmarks.then(|| "true".into())),
                (
                    "sendInitialEvents",
                    p.send_initial_events.then(|| "true".into()),
                ),
                ("timeoutSeconds", p.timeout_seconds.map(|t| t.to_string())),
            ]);
            let uri = format!("/api/v1/namespaces/{NAMESPACE}/pods?{q}");
            let request = Request::builder()
                .uri(uri)
                .body(Full::new(Bytes::new()))
                .expect("request");
            let response = self
                .server
                .clone()
                .oneshot(request)
                .await
                .expect("infallible");
            let status = response.status().as_u16();
            if status != 200 {
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes();
                return Err(api_error(status, &body));
            }
            let body = response.into_body();
            let stream =
                futures::stream::unfold(
                    (body, Vec::<u8>::new()),
                    |(mut body, mut buffer)| async move {
                        loop {
                            if let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
                                let line: Vec<u8> = buffer.drain(..=pos).collect();
                                let event = serde_json::from_slice::<WatchEvent<Pod>>(&line)
                                    .map_err(|e| Error::Decode {
                                        context: "watch event".into(),
                                        source: e,
                                    });
                                return Some((event, (body, buffer)));
                            }
                            match body.frame().await? {
                                Ok(frame) => {
                                    if let Ok(data) = frame.into_data() {
                                        buffer.extend_from_slice(&data);
                                    }
                                }
                                Err(e) => {
                                    return Some((
                                        Err(Error::Transport(e.to_string().into())),
                                        (body, buffer),
                                    ));
                                }
                            }
                        }
                    },
                );
            Ok(stream.boxed())
        })
    }
}

/// Starts a server with `pods` pods; returns it and its loopback address.
async fn server_with_pods(pods: usize) -> (ApiServer, std::net::SocketAddr) {
    let server = ApiServer::new(Arc::new(MemoryStore::new()), Config::default());
    server
        .ensure_system_namespaces()
        .await
        .expect("system namespaces");
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
    call(
        &server,
        Method::POST,
        "/api/v1/namespaces",
        ns.to_string().into_bytes(),
    )
    .await;
    for i in 0..pods {
        let (status, body) = call(
            &server,
            Method::POST,
            &format!("/api/v1/namespaces/{NAMESPACE}/pods"),
            pod(&format!("pod-{i:05}")).to_string().into_bytes(),
        )
        .await;
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    }
    // Warm the server's watch cache so its memory is not counted below.
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("/api/v1/namespaces/{NAMESPACE}/pods"),
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener, std::future::pending()).await });
    (server, addr)
}

async fn child(which: &str, pods: usize) {
    let (server, addr) = server_with_pods(pods).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_bytes();
    let started = Instant::now();
    match which {
        "ours" => {
            let informer =
                Informer::new(Arc::new(InProcess { server }), ReflectorConfig::default());
            let i = informer.clone();
            tokio::spawn(async move { i.run(std::future::pending()).await });
            informer.wait_for_sync().await;
            let elapsed = started.elapsed();
            let after = rss_bytes();
            println!(
                "{} {} {} {}",
                before,
                after,
                elapsed.as_micros(),
                informer.store().len()
            );
        }
        "kube-rs" => {
            let config = kube::Config::new(format!("http://{addr}").parse().expect("uri"));
            let client = kube::Client::try_from(config).expect("kube client");
            let api: kube::Api<Pod> = kube::Api::namespaced(client, NAMESPACE);
            let (reader, writer) = kube::runtime::reflector::store();
            let stream = kube::runtime::reflector(
                writer,
                kube::runtime::watcher(api, kube::runtime::watcher::Config::default()),
            );
            tokio::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                while stream.next().await.is_some() {}
            });
            reader.wait_until_ready().await.expect("reflector ready");
            let elapsed = started.elapsed();
            let after = rss_bytes();
            println!(
                "{} {} {} {}",
                before,
                after,
                elapsed.as_micros(),
                reader.state().len()
            );
        }
        other => panic!("unknown cache {other}"),
    }
}

fn main() {
    let pods: usize = std::env::var("INFORMER_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    if let Ok(which) = std::env::var("INFORMER_BENCH_CHILD") {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(child(&which, pods));
        return;
    }
    let exe = std::env::current_exe().expect("current exe");
    let mut table = benches::Table::new([
        "cache",
        "pods",
        "RSS delta (MiB)",
        "bytes per pod",
        "time to sync (ms)",
    ]);
    let mut deltas = Vec::new();
    for which in ["ours", "kube-rs"] {
        let output = std::process::Command::new(&exe)
            .env("INFORMER_BENCH_CHILD", which)
            .env("INFORMER_BENCH_PODS", pods.to_string())
            .output()
            .expect("run the child");
        assert!(
            output.status.success(),
            "{which}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = String::from_utf8_lossy(&output.stdout);
        let fields: Vec<u64> = line
            .lines()
            .last()
            .unwrap_or_default()
            .split_whitespace()
            .map(|f| f.parse().expect("a number"))
            .collect();
        let (before, after, micros, count) = (fields[0], fields[1], fields[2], fields[3]);
        assert_eq!(count as usize, pods, "{which} cached every pod");
        let delta = after.saturating_sub(before);
        deltas.push(delta);
        table.row([
            which.to_owned(),
            pods.to_string(),
            format!("{:.1}", delta as f64 / (1024.0 * 1024.0)),
            format!("{}", delta / pods.max(1) as u64),
            format!("{:.1}", micros as f64 / 1000.0),
        ]);
    }
    println!("{table}");
    if deltas[1] > 0 {
        println!(
            "ours / kube-rs memory: {:.2}",
            deltas[0] as f64 / deltas[1] as f64
        );
    }
}
