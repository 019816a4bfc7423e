//! The client runtime: what client-go is upstream.
//!
//! Clients, the reflector, informers, the work queue and leader election live here, behind the
//! `client` feature; none of it depends on the server half of the crate. Controllers start with
//! [`workqueue::RateLimitingQueue`].

pub mod error;
pub mod runtime;
pub mod workqueue;

pub use error::{Error, Result};
