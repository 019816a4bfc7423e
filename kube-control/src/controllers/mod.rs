//! The stock controllers of the controller manager, by upstream's names.
//!
//! Each controller is a module exposing `pub fn controller() -> StockController`, listed in
//! [`stock`]. Its `run` asks the [`ControllerContext`] for its informers, waits for them to
//! sync, works its queue until the token is cancelled, then lets in-flight work finish and
//! returns. [`common`] holds what they share: expectations, controller references and their
//! claiming, pods from templates, the worker loop.

pub mod common;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod garbage_collector;
pub mod history;
pub mod int_or_percent;
pub mod job;
pub mod namespace;
pub mod node_lifecycle;
pub mod podgc;
pub mod podutil;
pub mod replicaset;
pub mod resource_quota;
pub mod serviceaccount;
pub mod statefulset;
pub mod taint_eviction;
pub mod ttl_after_finished;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::context::ControllerContext;

/// How a stock controller is started.
pub type RunFn = fn(ControllerContext, CancellationToken) -> BoxFuture<'static, ()>;

/// A stock controller the manager can run.
#[derive(Clone, Copy)]
pub struct StockController {
    /// Upstream's name (`replicaset`, `garbage-collector`, ...), as `--controllers` takes it.
    pub name: &'static str,
    /// Whether `*` in `--controllers` includes it.
    pub enabled_by_default: bool,
    /// Runs the controller until the token is cancelled.
    pub run: RunFn,
}

impl std::fmt::Debug for StockController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StockController")
            .field("name", &self.name)
            .field("enabled_by_default", &self.enabled_by_default)
            .finish_non_exhaustive()
    }
}

/// Every stock controller, in a fixed order.
pub fn stock() -> Vec<StockController> {
    vec![
        cronjob::controller(),
        daemonset::controller(),
        deployment::controller(),
        disruption::controller(),
        endpoints::controller(),
        endpointslice::controller(),
        garbage_collector::controller(),
        job::controller(),
        namespace::controller(),
        node_lifecycle::controller(),
        podgc::controller(),
        replicaset::controller(),
        resource_quota::controller(),
        serviceaccount::controller(),
        statefulset::controller(),
        taint_eviction::controller(),
        ttl_after_finished::controller(),
    ]
}
