//! The stock controllers of the controller manager, by upstream's names.
//!
//! Each controller is a module exposing `pub fn controller() -> StockController`, listed in
//! [`stock`]. Its `run` asks the [`ControllerContext`] for its informers, waits for them to
//! sync, works its queue until the token is cancelled, then lets in-flight work finish and
//! returns. [`common`] holds what they share: expectations, controller references and their
//! claiming, pods from templates, the worker loop.

pub mod common;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod garbage_collector;
pub mod history;
pub mod int_or_percent;
pub mod namespace;
pub mod node_lifecycle;
pub mod replicaset;
pub mod resource_quota;
pub mod statefulset;
pub mod taint_eviction;

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
        daemonset::controller(),
        deployment::controller(),
        disruption::controller(),
        garbage_collector::controller(),
        namespace::controller(),
        node_lifecycle::controller(),
        replicaset::controller(),
        resource_quota::controller(),
        statefulset::controller(),
        taint_eviction::controller(),
    ]
}
