//! Controllers for Kubernetes.
//!
//! This crate holds the stock controllers (deployment, replicaset, garbage collector,
//! namespace, ...) with the [`ControllerContext`] they share, the [`manager`] that selects
//! and runs them under leader election, and will hold the `Controller`
//! builder that operator authors use, the scheduler with its plugin extension points, and the
//! cloud controller manager behind the `CloudProvider` seam. It uses only the client half of
//! [`kube_api`].

pub mod context;
pub mod controllers;
pub mod manager;

pub use context::ControllerContext;
pub use controllers::{StockController, stock};
pub use tokio_util::sync::CancellationToken;
