//! The pod garbage collector (upstream's `pod-garbage-collector`): every 20 s it
//! - deletes the oldest terminated pods (phase `Succeeded` / `Failed`) beyond
//!   `terminatedPodGCThreshold` (12500; 0 turns it off);
//! - force-deletes (grace 0) pods bound to a node that does not exist: a node missing from
//!   the cache for the quarantine time (40 s) and confirmed gone by the API server;
//! - force-deletes pods being deleted that were never scheduled.
//!
//! Unlike upstream, it does not first mark an orphaned pod `Failed` with a `DisruptionTarget`
//! condition, and it leaves terminating pods on not-ready nodes (out-of-service taint) alone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube_api::client::runtime::Scope;
use kube_api::client::{Api, DeleteParams};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::StockController;
use super::podutil::{is_terminal, is_terminating};
use crate::context::ControllerContext;

/// The pod garbage collector's settings (upstream's flags).
#[derive(Debug, Clone)]
pub struct PodGcConfig {
    /// `--terminated-pod-gc-threshold`: how many terminated pods may exist; 0 keeps them all.
    pub terminated_pod_gc_threshold: usize,
    /// How often it looks.
    pub period: Duration,
    /// How long a node must be missing before its pods are deleted.
    pub quarantine: Duration,
}

impl Default for PodGcConfig {
    fn default() -> Self {
        Self {
            terminated_pod_gc_threshold: 12500,
            period: Duration::from_secs(20),
            quarantine: Duration::from_secs(40),
        }
    }
}

/// The pod garbage collector, with upstream's defaults.
pub fn controller() -> StockController {
    StockController {
        name: "pod-garbage-collector",
        enabled_by_default: true,
        run: |ctx, token| Box::pin(run(ctx, token, PodGcConfig::default())),
    }
}

/// Runs the pod garbage collector until `token` is cancelled.
pub async fn run(ctx: ControllerContext, token: CancellationToken, config: PodGcConfig) {
    let pods = ctx.informer::<Pod>(Scope::all());
    let nodes = ctx.informer::<Node>(Scope::all());
    ctx.informers().start();
    tokio::select! {
        _ = async { pods.wait_for_sync().await; nodes.wait_for_sync().await } => {}
        _ = token.cancelled() => return,
    }
    let mut missing_since: BTreeMap<String, Instant> = BTreeMap::new();
    loop {
        gc_once(
            &ctx,
            pods.store(),
            nodes.store(),
            &config,
            &mut missing_since,
        )
        .await;
        tokio::select! {
            _ = tokio::time::sleep(config.period) => {}
            _ = token.cancelled() => return,
        }
    }
}

fn force() -> DeleteParams {
    DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    }
}

async fn delete(ctx: &ControllerContext, pod: &Pod, params: &DeleteParams, why: &str) {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client().clone(), ns);
    match api.delete(name, params).await {
        Ok(_) => {
            tracing::info!(pod = %format!("{ns}/{name}"), "pod garbage collector: deleted {why} pod")
        }
        Err(e) if e.code() == Some(404) => {}
        Err(e) => {
            tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "pod garbage collector: delete failed")
        }
    }
}

async fn gc_once(
    ctx: &ControllerContext,
    pods: &kube_api::client::runtime::Store<Pod>,
    nodes: &kube_api::client::runtime::Store<Node>,
    config: &PodGcConfig,
    missing_since: &mut BTreeMap<String, Instant>,
) {
    let all = pods.list();
    // Terminated pods beyond the threshold, oldest first.
    if config.terminated_pod_gc_threshold > 0 {
        let mut terminated: Vec<_> = all.iter().filter(|p| is_terminal(p)).collect();
        if terminated.len() > config.terminated_pod_gc_threshold {
            terminated.sort_by_key(|p| {
                (
                    p.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    p.metadata.name.clone(),
                )
            });
            let excess = terminated.len() - config.terminated_pod_gc_threshold;
            for p in terminated.into_iter().take(excess) {
                delete(ctx, p, &DeleteParams::default(), "terminated").await;
            }
        }
    }
    // Pods on nodes that do not exist.
    let known: BTreeSet<String> = nodes
        .list()
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    let bound_to = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty())
    };
    let absent: BTreeSet<String> = all
        .iter()
        .filter_map(|p| bound_to(p))
        .filter(|n| !known.contains(n))
        .collect();
    missing_since.retain(|n, _| absent.contains(n));
    let node_api: Api<Node> = Api::all(ctx.client().clone());
    for node in &absent {
        let since = *missing_since
            .entry(node.clone())
            .or_insert_with(Instant::now);
        if since.elapsed() < config.quarantine {
            continue;
        }
        match node_api.get_opt(node).await {
            Ok(None) => {}
            Ok(Some(_)) => continue,
            Err(e) => {
                tracing::warn!(node = %node, error = %e, "pod garbage collector: checking a node failed");
                continue;
            }
        }
        for p in all
            .iter()
            .filter(|p| bound_to(p).as_deref() == Some(node.as_str()))
        {
            delete(ctx, p, &force(), "orphaned").await;
        }
    }
    // Terminating pods that were never scheduled.
    for p in all
        .iter()
        .filter(|p| is_terminating(p) && bound_to(p).is_none())
    {
        delete(ctx, p, &force(), "unscheduled terminating").await;
    }
}
