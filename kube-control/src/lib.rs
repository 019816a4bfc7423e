//! Controllers for Kubernetes.
//!
//! Operator authors start with [`Controller`]: watch a kind (and what it owns), reconcile each
//! object with a plain async fn returning an [`Action`]; [`finalizer`](finalizer::finalizer)
//! sees deletions through, [`owner`] builds and reads owner references, [`metrics`] renders
//! Prometheus text. The crate also holds the stock controllers (deployment, replicaset, ...)
//! with the [`ControllerContext`] they share and the [`manager`] that selects and runs them
//! under leader election, and re-exports the client runtime it is built on
//! ([`runtime`]: informers, leader election, events; [`workqueue`]). It uses only the client
//! half of [`kube_api`].

pub mod context;
pub mod controller;
pub mod controllers;
pub mod finalizer;
pub mod manager;
pub mod metrics;
pub mod owner;

pub use context::ControllerContext;
pub use controller::{Action, Controller, ObjectRef};
pub use controllers::{StockController, stock};
pub use kube_api::client::{runtime, workqueue};
pub use tokio_util::sync::CancellationToken;
