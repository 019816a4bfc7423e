//! What the controller tests share: a player of nodes (until a simulated kubelet exists, it
//! marks every pod Running and Ready) and waiting for a condition.

#![allow(dead_code)]

mod kubelets;
mod outcomes;
pub mod workloads;

// Kubelets that renew Leases, run bound pods and finish deletions, and `follow` for orderings
// seen on every watch event (the node, stateful and policy controller tests).
#[allow(unused_imports)] // each test file uses one of the two players
pub use kubelets::*;
// A kubelet whose pods succeed or fail with exit codes (the job, cronjob, endpoints and
// housekeeping tests).
#[allow(unused_imports)]
pub use outcomes::*;

use std::cell::OnceCell;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_api::client::runtime::{Clock, HandlerFuncs, Scope, SharedClock, SystemClock, TokioClock};
use kube_api::client::{Api, Client, PostParams};
use kube_control::{CancellationToken, ControllerContext};

thread_local! {
    static CLOCK: OnceCell<SharedClock> = const { OnceCell::new() };
}

/// The test's wall clock, shared by the node player and the controllers: it moves with the
/// (paused) tokio clock. One per test thread, so one per test.
pub fn clock() -> SharedClock {
    CLOCK.with(|c| {
        c.get_or_init(|| Arc::new(TokioClock::new(SystemClock.now())))
            .clone()
    })
}

/// An image no node can pull: its pods stay Pending.
pub const UNPULLABLE: &str = "unpullable";

/// Marks every pod that is not yet Running and Ready so, `delay` after it appears, until the
/// token is cancelled; pods of an image starting with [`UNPULLABLE`] stay Pending.
pub fn play_nodes(client: Client, delay: Duration) -> CancellationToken {
    let token = CancellationToken::new();
    let ctx = ControllerContext::new(client.clone());
    let informer = ctx.informer::<Pod>(Scope::all());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let tx2 = tx.clone();
    let needs = |p: &Pod| {
        let pullable = p.spec.iter().flat_map(|s| &s.containers).all(|c| {
            !c.image
                .as_deref()
                .is_some_and(|i| i.starts_with(UNPULLABLE))
        });
        pullable
            && p.metadata.deletion_timestamp.is_none()
            && p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Running")
    };
    let key = |p: &Pod| {
        (
            p.metadata.namespace.clone().unwrap_or_default(),
            p.metadata.name.clone().unwrap_or_default(),
        )
    };
    informer.add_event_handler(
        HandlerFuncs::new()
            .on_add(move |p: &Arc<Pod>, _| {
                if needs(p) {
                    let _ = tx.send(key(p));
                }
            })
            .on_update(move |_, p: &Arc<Pod>| {
                if needs(p) {
                    let _ = tx2.send(key(p));
                }
            }),
    );
    ctx.informers().start();
    let stop = token.clone();
    let clock = clock();
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => break,
                n = rx.recv() => n,
            };
            let Some((ns, name)) = next else { break };
            let (client, clock) = (client.clone(), clock.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                mark_running(&client, &clock, &ns, &name).await;
            });
        }
        ctx.informers().shutdown().await;
    });
    token
}

async fn mark_running(client: &Client, clock: &SharedClock, ns: &str, name: &str) {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    for _ in 0..5 {
        let Ok(Some(mut pod)) = api.get_opt(name).await else {
            return;
        };
        if pod.metadata.deletion_timestamp.is_some() {
            return;
        }
        let now = Time(clock.now());
        let ready = |t: &str| PodCondition {
            type_: t.into(),
            status: "True".into(),
            last_transition_time: Some(now.clone()),
            ..PodCondition::default()
        };
        pod.status = Some(PodStatus {
            phase: Some("Running".into()),
            start_time: Some(now.clone()),
            conditions: Some(vec![
                ready("PodScheduled"),
                ready("Initialized"),
                ready("ContainersReady"),
                ready("Ready"),
            ]),
            ..PodStatus::default()
        });
        if api
            .replace_status(name, &PostParams::default(), &pod)
            .await
            .is_ok()
        {
            return;
        }
    }
}

/// Polls `check` every 10 ms until it returns `Some`, failing the test after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts the stock controller `name` on its own context; cancel the token to stop it.
pub fn start_controller(
    client: Client,
    name: &str,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let c = kube_control::stock()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no stock controller {name}"));
    let ctx = ControllerContext::new(client).with_clock(clock());
    let token = CancellationToken::new();
    let run = (c.run)(ctx.clone(), token.clone());
    let handle = tokio::spawn(async move {
        run.await;
        ctx.informers().shutdown().await;
    });
    (token, handle)
}
