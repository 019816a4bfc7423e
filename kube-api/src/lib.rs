//! The Kubernetes REST API.
//!
//! Both halves of the API, each behind a cargo feature:
//! - `server` (default): the API server on hyper + tower over any `kube_store::Store`:
//!   discovery, OpenAPI, CRUD, list, watch, patch, server-side printing, TLS serving with
//!   generated certificates, authentication (client certificates, tokens); admission and
//!   RBAC come with the security work;
//! - `client`: what client-go is upstream. Today the work queue; typed and dynamic clients,
//!   kubeconfig, reflector, informers, leader election, the event recorder and the in-process
//!   test server come next. It pulls in no server code.
//!
//! It builds on [`kube_core`] for the object model.

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "server")]
pub mod server;
#[cfg(all(feature = "client", feature = "server"))]
pub mod testing;
