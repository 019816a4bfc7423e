//! The stock controllers of the controller manager, by upstream's names.
//!
//! Each controller is a module exposing `pub fn controller() -> StockController`, listed in
//! [`stock`]. Its `run` asks the [`ControllerContext`] for its informers, waits for them to
//! sync, works its queue until the token is cancelled, then lets in-flight work finish and
//! returns.

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::context::ControllerContext;

pub mod cronjob;
pub mod endpoints;
pub mod endpointslice;
pub mod job;
pub mod podgc;
pub mod podutil;
pub mod serviceaccount;
pub mod ttl_after_finished;

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
        job::controller(),
        cronjob::controller(),
        ttl_after_finished::controller(),
        endpoints::controller(),
        endpointslice::controller(),
        serviceaccount::controller(),
        podgc::controller(),
    ]
}
