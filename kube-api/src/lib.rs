//! The Kubernetes REST API.
//!
//! This crate will hold both halves of the API, each behind a cargo feature:
//! - `server`: discovery, CRUD, watch and the watch cache, admission, authentication and RBAC,
//!   served on hyper + tower over any [`kube_store::Store`];
//! - `client`: what client-go is upstream: typed and dynamic clients over HTTP or in-process,
//!   kubeconfig, reflector, informers, work queue, leader election and the event recorder, plus an
//!   in-process test server for `cargo test`.
//!
//! It builds on [`kube_core`] for the object model.

#[cfg(feature = "server")]
pub mod server;
