//! Reconcile throughput of the stock controllers (issue 6, acceptance 8): ReplicaSets of one
//! replica created at once, timed until every pod exists and every status is current; and
//! Deployments of one replica rolled to a new image, timed until every rollout completed.
//! Each scenario runs against the in-process server (the client calls the service directly)
//! and over HTTPS on loopback (generated certificates, the admin client certificate), both on
//! a MemoryStore.
//!
//! No kubelet runs: for the Deployments a pod marker watches pods and marks each new one
//! Running and Ready (one status patch per pod), so rollouts can progress. The marker runs on
//! the same client as the controllers, so its calls count against the figures.
//!
//! Counts come from `CONTROLLERS_BENCH_REPLICASETS` (default 10000) and
//! `CONTROLLERS_BENCH_DEPLOYMENTS` (default 1000); every phase gives up after
//! `CONTROLLERS_BENCH_TIMEOUT_SECS` (default 600) and reports "did not finish".
//!
//! Run with `cargo bench -p benches --bench controllers`.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{
    Container, Namespace, Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use kube_api::client::config::{Config as ClientConfig, KubeconfigOptions};
use kube_api::client::kubeconfig::Kubeconfig;
use kube_api::client::runtime::{Clock, HandlerFuncs, Scope, SystemClock};
use kube_api::client::{Api, Client, Patch, PatchParams, PostParams};
use kube_api::server::secure::SecureServing;
use kube_api::server::{ApiServer, Config};
use kube_api::testing::TestServer;
use kube_control::controllers::{deployment, replicaset};
use kube_control::{CancellationToken, ControllerContext, StockController, manager};
use kube_store::{MemoryStore, Store};

/// Concurrent create / patch calls of the setup and roll phases.
const CONCURRENCY: usize = 32;
/// Concurrent status patches of the pod marker.
const MARKER_CONCURRENCY: usize = 16;
/// How often convergence is checked (from the informer caches, no API calls).
const POLL: Duration = Duration::from_millis(100);

/// The benchmark's namespace.
const NAMESPACE: &str = "bench";

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How the controllers reach the server.
#[derive(Clone, Copy, Debug)]
enum Transport {
    /// The in-process client (no socket).
    InProcess,
    /// HTTPS on loopback with the admin client certificate.
    Https,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::InProcess => "in-process",
            Transport::Https => "HTTPS loopback",
        }
    }
}

/// A fresh server on a MemoryStore and a client to it over `transport`; the stop token of the
/// HTTPS listener.
async fn server(transport: Transport, dir: &Path) -> (Client, Option<CancellationToken>) {
    match transport {
        Transport::InProcess => (TestServer::start().await.client(), None),
        Transport::Https => {
            let mut config = Config::default();
            let secured = SecureServing::new(dir.join("pki"))
                .build(&config)
                .expect("secure serving");
            secured.configure(&mut config);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let url = format!("https://{}", listener.local_addr().expect("address"));
            let path = dir.join("kubeconfig");
            std::fs::write(&path, secured.admin_kubeconfig(&url)).expect("kubeconfig");
            let store = Arc::new(MemoryStore::new()) as Arc<dyn Store>;
            let server = ApiServer::new(store, config);
            let stop = CancellationToken::new();
            let stopped = stop.clone();
            tokio::spawn(
                server.serve_tls(listener, Arc::clone(&secured.tls), async move {
                    stopped.cancelled().await
                }),
            );
            let kubeconfig = Kubeconfig::read(&path).expect("read kubeconfig");
            let config = ClientConfig::from_kubeconfig(&kubeconfig, &KubeconfigOptions::default())
                .expect("client config");
            let client = Client::try_from(config).expect("client");
            (client, Some(stop))
        }
    }
}

/// Creates the benchmark namespace, retrying while the served server still bootstraps.
async fn create_namespace(client: &Client) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(NAMESPACE.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => return,
            Err(e) if Instant::now() > deadline => panic!("namespace {NAMESPACE}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A pod template labelled `app=<app>` running `image`.
fn template(app: &str, image: &str) -> (LabelSelector, PodTemplateSpec) {
    let labels = std::collections::BTreeMap::from([("app".to_owned(), app.to_owned())]);
    let selector = LabelSelector {
        match_labels: Some(labels.clone()),
        ..LabelSelector::default()
    };
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                image: Some(image.into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
    };
    (selector, template)
}

fn replica_set(i: usize) -> ReplicaSet {
    let name = format!("rs-{i}");
    let (selector, template) = template(&name, "registry.example.com/web:1");
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name),
            ..ObjectMeta::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(1),
            selector,
            template: Some(template),
            ..ReplicaSetSpec::default()
        },
        ..ReplicaSet::default()
    }
}

fn deployment(i: usize) -> Deployment {
    let name = format!("deploy-{i}");
    let (selector, template) = template(&name, "registry.example.com/web:1");
    Deployment {
        metadata: ObjectMeta {
            name: Some(name),
            ..ObjectMeta::default()
        },
        spec: DeploymentSpec {
            replicas: Some(1),
            selector,
            template,
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    }
}

/// Runs `op(i)` for `0..count`, `CONCURRENCY` at a time; the elapsed time.
async fn fan_out<F, Fut>(count: usize, op: F) -> Duration
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let started = Instant::now();
    futures::stream::iter(0..count)
        .map(op)
        .buffer_unordered(CONCURRENCY)
        .collect::<()>()
        .await;
    started.elapsed()
}

/// Polls `done` every [`POLL`] until it holds (the elapsed time since `since`) or `timeout`
/// passes (`None`).
async fn until(
    since: Instant,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) -> Option<Duration> {
    loop {
        if done() {
            return Some(since.elapsed());
        }
        if since.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Marks every pod not yet Running as Running and Ready, as it appears in the context's pod
/// informer (a stand-in for the kubelets), until `stop`.
fn mark_pods(ctx: &ControllerContext, stop: CancellationToken) {
    let informer = ctx.informer::<Pod>(Scope::all());
    let (tx, rx) = futures::channel::mpsc::unbounded::<String>();
    let needs = |p: &Pod| {
        p.metadata.deletion_timestamp.is_none()
            && p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Running")
    };
    let tx2 = tx.clone();
    informer.add_event_handler(
        HandlerFuncs::new()
            .on_add(move |p: &Arc<Pod>, _| {
                if needs(p) {
                    let _ = tx.unbounded_send(p.metadata.name.clone().unwrap_or_default());
                }
            })
            .on_update(move |_, p: &Arc<Pod>| {
                if needs(p) {
                    let _ = tx2.unbounded_send(p.metadata.name.clone().unwrap_or_default());
                }
            }),
    );
    let api: Api<Pod> = Api::namespaced(ctx.client().clone(), NAMESPACE);
    tokio::spawn(async move {
        let marking = rx
            .map(|name| {
                let api = api.clone();
                async move {
                    let now = Time(SystemClock.now());
                    let condition = |t: &str| PodCondition {
                        type_: t.into(),
                        status: "True".into(),
                        last_transition_time: Some(now.clone()),
                        ..PodCondition::default()
                    };
                    let status = PodStatus {
                        phase: Some("Running".into()),
                        start_time: Some(now.clone()),
                        conditions: Some(vec![
                            condition("PodScheduled"),
                            condition("Initialized"),
                            condition("ContainersReady"),
                            condition("Ready"),
                        ]),
                        ..PodStatus::default()
                    };
                    // A pod deleted meanwhile (an old one of a rollout) fails; nothing to do.
                    let patch = serde_json::json!({ "status": status });
                    let _ = api
                        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await;
                }
            })
            .buffer_unordered(MARKER_CONCURRENCY)
            .collect::<()>();
        tokio::select! {
            _ = marking => {}
            _ = stop.cancelled() => {}
        }
    });
}

/// One row of the table.
struct Row {
    scenario: &'static str,
    transport: Transport,
    objects: usize,
    create: Duration,
    converged: Option<Duration>,
}

impl Row {
    fn print(&self) {
        let (converged, rate) = match self.converged {
            Some(d) => (
                format!("{:.2}", d.as_secs_f64()),
                format!("{:.0}", self.objects as f64 / d.as_secs_f64()),
            ),
            None => ("did not finish".to_owned(), "-".to_owned()),
        };
        println!(
            "{:<26} {:<15} {:>8} {:>10.2} {:>15} {:>10}",
            self.scenario,
            self.transport.label(),
            self.objects,
            self.create.as_secs_f64(),
            converged,
            rate
        );
    }
}

fn header() {
    println!(
        "{:<26} {:<15} {:>8} {:>10} {:>15} {:>10}",
        "scenario", "transport", "objects", "create s", "converged s", "objects/s"
    );
}

/// Starts `controllers` on `ctx` until the returned token is cancelled.
fn start(ctx: &ControllerContext, controllers: Vec<StockController>) -> CancellationToken {
    let token = CancellationToken::new();
    let (ctx, shutdown) = (ctx.clone(), token.clone());
    tokio::spawn(async move { manager::run_controllers(ctx, &controllers, shutdown).await });
    token
}

/// `count` ReplicaSets of one replica created at once: the time to create them, and from the
/// first create until every pod exists and every status has `replicas == 1` for the current
/// generation.
async fn replica_sets(transport: Transport, count: usize, timeout: Duration) -> Row {
    let dir = tempfile::tempdir().expect("tempdir");
    let (client, serving) = server(transport, dir.path()).await;
    create_namespace(&client).await;
    let ctx = ControllerContext::new(client.clone());
    let sets = ctx.informer::<ReplicaSet>(Scope::all());
    let pods = ctx.informer::<Pod>(Scope::all());
    let controllers = start(&ctx, vec![replicaset::controller()]);
    ctx.informers().start();
    ctx.informers().wait_for_cache_sync().await;

    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), NAMESPACE);
    let started = Instant::now();
    let create = fan_out(count, |i| {
        let api = api.clone();
        async move {
            api.create(&PostParams::default(), &replica_set(i))
                .await
                .expect("create ReplicaSet");
        }
    })
    .await;
    let converged = until(started, timeout, || {
        pods.store().len() >= count
            && sets.store().len() == count
            && sets.store().list().iter().all(|rs| {
                rs.status.as_ref().is_some_and(|s| {
                    s.replicas == 1 && s.observed_generation == rs.metadata.generation
                })
            })
    })
    .await;
    if converged.is_none() {
        let current = sets
            .store()
            .list()
            .iter()
            .filter(|rs| {
                rs.status.as_ref().is_some_and(|s| {
                    s.replicas == 1 && s.observed_generation == rs.metadata.generation
                })
            })
            .count();
        println!(
            "(ReplicaSets over {}: at the timeout {} pods existed, {current} of {count} \
             statuses were current)",
            transport.label(),
            pods.store().len()
        );
    }
    controllers.cancel();
    if let Some(stop) = serving {
        stop.cancel();
    }
    Row {
        scenario: "ReplicaSets created",
        transport,
        objects: count,
        create,
        converged,
    }
}

/// Whether `d`'s rollout of its current generation completed (as `kubectl rollout status`
/// judges it: every replica updated and available, no old replica left).
fn rolled_out(d: &Deployment) -> bool {
    let want = d.spec.replicas.unwrap_or(1);
    d.status.as_ref().is_some_and(|s| {
        s.observed_generation == d.metadata.generation
            && s.updated_replicas == Some(want)
            && s.available_replicas == Some(want)
            && s.replicas == Some(want)
    })
}

/// `count` Deployments of one replica, created and rolled out (not timed), then all patched to
/// a new image at once: the time to patch them, and from the first patch until every rollout
/// completed.
async fn deployments(transport: Transport, count: usize, timeout: Duration) -> Row {
    let dir = tempfile::tempdir().expect("tempdir");
    let (client, serving) = server(transport, dir.path()).await;
    create_namespace(&client).await;
    let ctx = ControllerContext::new(client.clone());
    let deploys = ctx.informer::<Deployment>(Scope::all());
    let marker = CancellationToken::new();
    mark_pods(&ctx, marker.clone());
    let controllers = start(
        &ctx,
        vec![deployment::controller(), replicaset::controller()],
    );
    ctx.informers().start();
    ctx.informers().wait_for_cache_sync().await;

    let api: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let setup = Instant::now();
    fan_out(count, |i| {
        let api = api.clone();
        async move {
            api.create(&PostParams::default(), &deployment(i))
                .await
                .expect("create Deployment");
        }
    })
    .await;
    let ready = until(setup, timeout, || {
        deploys.store().len() == count && deploys.store().list().iter().all(|d| rolled_out(d))
    })
    .await;
    let (create, converged) = match ready {
        None => {
            println!("(setup: {count} Deployments did not roll out within {timeout:?})");
            (Duration::ZERO, None)
        }
        Some(took) => {
            println!(
                "(setup: {count} Deployments created and available in {:.2} s over {})",
                took.as_secs_f64(),
                transport.label()
            );
            let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "registry.example.com/web:2"}
            ]}}}});
            let started = Instant::now();
            let create = fan_out(count, |i| {
                let (api, patch) = (api.clone(), &patch);
                async move {
                    api.patch(
                        &format!("deploy-{i}"),
                        &PatchParams::default(),
                        &Patch::Merge(patch),
                    )
                    .await
                    .expect("patch Deployment");
                }
            })
            .await;
            let converged = until(started, timeout, || {
                deploys
                    .store()
                    .list()
                    .iter()
                    .all(|d| d.metadata.generation == Some(2) && rolled_out(d))
            })
            .await;
            (create, converged)
        }
    };
    controllers.cancel();
    marker.cancel();
    if let Some(stop) = serving {
        stop.cancel();
    }
    Row {
        scenario: "Deployments rolled",
        transport,
        objects: count,
        create,
        converged,
    }
}

fn main() {
    let replica_set_count = env_count("CONTROLLERS_BENCH_REPLICASETS", 10_000);
    let deployment_count = env_count("CONTROLLERS_BENCH_DEPLOYMENTS", 1_000);
    let timeout = Duration::from_secs(env_count("CONTROLLERS_BENCH_TIMEOUT_SECS", 600) as u64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let started = Instant::now();
        let mut rows = Vec::new();
        for transport in [Transport::InProcess, Transport::Https] {
            // Each row also as it completes, in case a later phase is cut short.
            let row = replica_sets(transport, replica_set_count, timeout).await;
            row.print();
            rows.push(row);
            let row = deployments(transport, deployment_count, timeout).await;
            row.print();
            rows.push(row);
        }
        println!(
            "\nReconcile throughput (MemoryStore; create s: creating or patching every object, \
             {CONCURRENCY} calls in flight; converged s: from the first call until every \
             status is current)"
        );
        header();
        for row in &rows {
            row.print();
        }
        println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
    });
}
