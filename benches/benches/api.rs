//! The API server over HTTP on loopback, on the embedded store: create / get / list / watch
//! throughput and latency at 1, 16 and 64 clients, watch fan-out to 1,000 watchers,
//! control-plane memory per stored pod, and a fixed-rate run of mutating calls.
//!
//! The server runs in-process on plain h2c (`ApiServer::serve`) with the default, anonymous
//! authentication: the figures are the API's, without TLS or authentication (the binaries
//! serve HTTPS).
//!
//! Run with `cargo bench -p benches --bench api`. Counts are bounded so the whole run takes
//! well under three minutes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kube_api::server::{ApiServer, Config};
use kube_store::{EmbeddedOptions, EmbeddedStore, Store};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Concurrent clients of the throughput rows.
const CLIENTS: [usize; 3] = [1, 16, 64];
/// Requests per create and get row.
const OPS: usize = 1_000;
/// Watchers of the fan-out rows.
const WATCHERS: [usize; 4] = [1, 16, 64, 1_000];
/// Writes whose delivery the fan-out rows time.
const FANOUT_WRITES: usize = 50;
/// Watch streams carried by one HTTP/2 connection.
const STREAMS_PER_CONN: usize = 100;

type Client = SendRequest<Full<Bytes>>;

/// A new HTTP/2 connection to the server.
async fn connect(addr: std::net::SocketAddr) -> Client {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// One request; the status and the whole body.
async fn call(
    client: &mut Client,
    method: Method,
    path: &str,
    body: Option<Bytes>,
) -> (StatusCode, Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(format!("http://bench{path}"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(Full::new(body.unwrap_or_default()))
        .expect("request");
    client.ready().await.expect("ready");
    let response = client.send_request(request).await.expect("send");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body)
}

/// A pod of realistic size (about 900 bytes of JSON): labels, annotations, one container with
/// env, ports, resources and probes.
fn pod(namespace: &str, name: &str, stamp: Option<u128>) -> Bytes {
    let mut annotations = serde_json::json!({
        "kubectl.kubernetes.io/default-container": "app",
        "example.com/owner": "team-payments",
    });
    if let Some(stamp) = stamp {
        annotations["bench/sent-ns"] = serde_json::Value::String(stamp.to_string());
    }
    let value = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": "web", "tier": "frontend", "pod-template-hash": "5d8c7f9b6d"},
            "annotations": annotations,
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
    });
    Bytes::from(serde_json::to_vec(&value).expect("pod json"))
}

async fn create_namespace(client: &mut Client, name: &str) {
    let body =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    let (status, _) = call(
        client,
        Method::POST,
        "/api/v1/namespaces",
        Some(Bytes::from(body.to_string())),
    )
    .await;
    assert!(
        status.is_success() || status == StatusCode::CONFLICT,
        "namespace {name}: {status}"
    );
}

/// Creates `count` pods in `namespace` over `clients` connections.
async fn create_pods(addr: std::net::SocketAddr, namespace: &str, count: usize, clients: usize) {
    run_clients(addr, clients, count, {
        let namespace = namespace.to_owned();
        move |mut client, i| {
            let namespace = namespace.clone();
            async move {
                let path = format!("/api/v1/namespaces/{namespace}/pods");
                let (status, _) = call(
                    &mut client,
                    Method::POST,
                    &path,
                    Some(pod(&namespace, &format!("p{i}"), None)),
                )
                .await;
                assert_eq!(status, StatusCode::CREATED);
                client
            }
        }
    })
    .await;
}

/// Runs `count` calls of `op` over `clients` concurrent connections; the latency of each.
async fn run_clients<F, Fut>(
    addr: std::net::SocketAddr,
    clients: usize,
    count: usize,
    op: F,
) -> Vec<Duration>
where
    F: Fn(Client, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Client> + Send,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let next = Arc::clone(&next);
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = connect(addr).await;
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return latencies;
                }
                let started = Instant::now();
                client = op(client, i).await;
                latencies.push(started.elapsed());
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("client task"));
    }
    all
}

/// A percentile of sorted latencies.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn row(name: &str, clients: usize, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "{name:<28} {clients:>8} {:>8} {:>12.0} {:>10} {:>10}",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(pct(&latencies, 0.50)),
        ms(pct(&latencies, 0.99)),
    );
}

fn header(title: &str, what: &str) {
    println!("\n{title}");
    println!(
        "{:<28} {what:>8} {:>8} {:>12} {:>10} {:>10}",
        "operation", "count", "per second", "p50 ms", "p99 ms"
    );
}

/// The process's resident set, in bytes, from /proc/self/statm.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

async fn throughput(addr: std::net::SocketAddr) {
    header(
        "HTTP throughput (embedded store, loopback, HTTP/2)",
        "clients",
    );
    let mut setup = connect(addr).await;
    for clients in CLIENTS {
        let namespace = format!("create-{clients}");
        create_namespace(&mut setup, &namespace).await;
        let started = Instant::now();
        let ns = namespace.clone();
        let latencies = run_clients(addr, clients, OPS, move |mut client, i| {
            let ns = ns.clone();
            async move {
                let path = format!("/api/v1/namespaces/{ns}/pods");
                let (status, _) = call(
                    &mut client,
                    Method::POST,
                    &path,
                    Some(pod(&ns, &format!("p{i}"), None)),
                )
                .await;
                assert_eq!(status, StatusCode::CREATED);
                client
            }
        })
        .await;
        row("create pod", clients, started.elapsed(), latencies);
    }
    for clients in CLIENTS {
        let started = Instant::now();
        let latencies = run_clients(addr, clients, OPS, move |mut client, i| async move {
            let path = format!("/api/v1/namespaces/create-1/pods/p{}", i % OPS);
            let (status, _) = call(&mut client, Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK);
            client
        })
        .await;
        row("get pod", clients, started.elapsed(), latencies);
    }
    for (size, lists) in [(100usize, 400usize), (1_000, 60)] {
        let namespace = format!("list-{size}");
        create_namespace(&mut setup, &namespace).await;
        create_pods(addr, &namespace, size, 16).await;
        for clients in CLIENTS {
            let started = Instant::now();
            let ns = namespace.clone();
            let latencies = run_clients(addr, clients, lists, move |mut client, _| {
                let ns = ns.clone();
                async move {
                    let (status, body) = call(
                        &mut client,
                        Method::GET,
                        &format!("/api/v1/namespaces/{ns}/pods"),
                        None,
                    )
                    .await;
                    assert_eq!(status, StatusCode::OK);
                    assert!(body.len() > size * 1000, "list of {size} pods");
                    client
                }
            })
            .await;
            row(
                &format!("list {size} pods"),
                clients,
                started.elapsed(),
                latencies,
            );
        }
    }
}

/// Opens `count` watches of `namespace`'s pods; each sends the stamp (nanoseconds since
/// `epoch`) of every pod it sees, with its own index.
async fn open_watchers(
    addr: std::net::SocketAddr,
    namespace: &str,
    count: usize,
    epoch: Instant,
    seen: mpsc::UnboundedSender<(usize, u128, Duration)>,
) {
    let mut client = connect(addr).await;
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    for w in 0..count {
        if w > 0 && w % STREAMS_PER_CONN == 0 {
            client = connect(addr).await;
        }
        let mut client = client.clone();
        let path = format!(
            "/api/v1/namespaces/{namespace}/pods?watch=true&resourceVersion=0&allowWatchBookmarks=false"
        );
        let seen = seen.clone();
        let ready = ready_tx.clone();
        tokio::spawn(async move {
            let request = Request::builder()
                .uri(format!("http://bench{path}"))
                .body(Full::new(Bytes::new()))
                .expect("request");
            client.ready().await.expect("ready");
            let response = client.send_request(request).await.expect("watch");
            let _ = ready.send(());
            let mut body = response.into_body();
            let mut buf = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                buf.extend_from_slice(&data);
                while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=end).collect();
                    if let Some(stamp) = find_stamp(&line) {
                        let _ = seen.send((w, stamp, epoch.elapsed()));
                    }
                }
            }
        });
    }
    for _ in 0..count {
        ready_rx.recv().await;
    }
}

/// The `bench/sent-ns` annotation of a watch line, without parsing the whole event.
fn find_stamp(line: &[u8]) -> Option<u128> {
    const NEEDLE: &[u8] = b"\"bench/sent-ns\":\"";
    let at = line.windows(NEEDLE.len()).position(|w| w == NEEDLE)? + NEEDLE.len();
    let end = line[at..].iter().position(|b| *b == b'"')?;
    std::str::from_utf8(&line[at..at + end]).ok()?.parse().ok()
}

async fn fan_out(addr: std::net::SocketAddr) {
    header(
        "Watch delivery: delay from a create to its delivery at every watcher",
        "watchers",
    );
    let mut client = connect(addr).await;
    for watchers in WATCHERS {
        let namespace = format!("watch-{watchers}");
        create_namespace(&mut client, &namespace).await;
        let epoch = Instant::now();
        let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
        open_watchers(addr, &namespace, watchers, epoch, seen_tx).await;
        let started = Instant::now();
        let mut sent = Vec::new();
        for i in 0..FANOUT_WRITES {
            let stamp = epoch.elapsed().as_nanos();
            let path = format!("/api/v1/namespaces/{namespace}/pods");
            let (status, _) = call(
                &mut client,
                Method::POST,
                &path,
                Some(pod(&namespace, &format!("p{i}"), Some(stamp))),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED);
            sent.push(stamp);
        }
        // The last delivery of each write, across all watchers.
        let mut last = std::collections::BTreeMap::<u128, (usize, Duration)>::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let expected = watchers * FANOUT_WRITES;
        let mut delivered = 0;
        while delivered < expected {
            match tokio::time::timeout_at(deadline, seen_rx.recv()).await {
                Ok(Some((_, stamp, at))) => {
                    delivered += 1;
                    let entry = last.entry(stamp).or_insert((0, Duration::ZERO));
                    entry.0 += 1;
                    entry.1 = entry.1.max(at);
                }
                _ => break,
            }
        }
        let elapsed = started.elapsed();
        let delays: Vec<Duration> = last
            .iter()
            .filter(|(_, (n, _))| *n == watchers)
            .map(|(stamp, (_, at))| at.saturating_sub(Duration::from_nanos(*stamp as u64)))
            .collect();
        if delivered < expected {
            println!("  ({delivered} of {expected} deliveries within 30 s)");
        }
        row("watch delivery (all)", watchers, elapsed, delays);
    }
}

async fn fixed_rate(addr: std::net::SocketAddr) {
    const RATE: u64 = 200;
    const SECONDS: u64 = 10;
    header(
        "Fixed rate: creates and deletes at 200/s for 10 s (target p99 < 10 ms)",
        "clients",
    );
    let mut setup = connect(addr).await;
    create_namespace(&mut setup, "rate").await;
    let client = connect(addr).await;
    let mut ticker = tokio::time::interval(Duration::from_nanos(1_000_000_000 / RATE));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    let started = Instant::now();
    for i in 0..(RATE * SECONDS) {
        let scheduled = ticker.tick().await;
        let mut client = client.clone();
        tasks.push(tokio::spawn(async move {
            // Pairs: create p{n}, then delete it on the next tick.
            let n = i / 2;
            let (method, path, body) = if i % 2 == 0 {
                (
                    Method::POST,
                    "/api/v1/namespaces/rate/pods".to_owned(),
                    Some(pod("rate", &format!("p{n}"), None)),
                )
            } else {
                (
                    Method::DELETE,
                    format!("/api/v1/namespaces/rate/pods/p{n}"),
                    None,
                )
            };
            let (status, _) = call(&mut client, method, &path, body).await;
            (status, scheduled.elapsed())
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for task in tasks {
        let (status, latency) = task.await.expect("rate task");
        if !status.is_success() {
            failed += 1;
        }
        latencies.push(latency);
    }
    row("create/delete at 200/s", 1, started.elapsed(), latencies);
    if failed > 0 {
        println!("  ({failed} calls failed, e.g. a delete that overtook its create)");
    }
}

async fn memory_per_pod(addr: std::net::SocketAddr) {
    println!("\nControl-plane memory per stored pod (RSS slope, store + watch cache + server)");
    let mut client = connect(addr).await;
    create_namespace(&mut client, "mem").await;
    // Start the pods watch cache's reads of this namespace, as a real control plane would.
    let _ = call(
        &mut client,
        Method::GET,
        "/api/v1/namespaces/mem/pods?limit=1",
        None,
    )
    .await;
    let object_size = pod("mem", "p0000", None).len() as f64;
    let mut points = Vec::new();
    let mut created = 0;
    for target in [1_000usize, 5_000] {
        let batch = target - created;
        let base = created;
        run_clients(addr, 16, batch, move |mut client, i| async move {
            let name = format!("p{:04}", base + i);
            let (status, _) = call(
                &mut client,
                Method::POST,
                "/api/v1/namespaces/mem/pods",
                Some(pod("mem", &name, None)),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED);
            client
        })
        .await;
        created = target;
        // One full list, so the served state is what a controller would read.
        let (status, _) = call(
            &mut client,
            Method::GET,
            "/api/v1/namespaces/mem/pods",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        points.push((target, rss_bytes().unwrap_or(0)));
    }
    let (n1, r1) = points[0];
    let (n2, r2) = points[1];
    let slope = (r2 as f64 - r1 as f64) / (n2 - n1) as f64;
    println!(
        "{:<40} {:>12}",
        "RSS at 1,000 pods (MiB)",
        format!("{:.1}", r1 as f64 / 1048576.0)
    );
    println!(
        "{:<40} {:>12}",
        "RSS at 5,000 pods (MiB)",
        format!("{:.1}", r2 as f64 / 1048576.0)
    );
    println!("{:<40} {:>12.0}", "bytes per pod (slope)", slope);
    println!("{:<40} {:>12.0}", "pod JSON size (bytes)", object_size);
    println!(
        "{:<40} {:>12.0}",
        "overhead per pod (slope - JSON)",
        slope - object_size
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(
            EmbeddedStore::open(dir.path(), EmbeddedOptions::default())
                .await
                .expect("embedded store"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = ApiServer::new(store, Config::default());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(listener, async {
            let _ = stop_rx.await;
        }));
        // Wait for the system namespaces.
        let mut client = connect(addr).await;
        loop {
            let (status, _) =
                call(&mut client, Method::GET, "/api/v1/namespaces/default", None).await;
            if status == StatusCode::OK {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let started = Instant::now();
        memory_per_pod(addr).await;
        throughput(addr).await;
        fan_out(addr).await;
        fixed_rate(addr).await;
        println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
        let _ = stop_tx.send(());
        let _ = serving.await;
    });
}
