//! The client runtime: what client-go is upstream.
//!
//! [`Client`] sends requests over any transport; [`Api`] is the typed API of one kind;
//! [`DynamicApi`] the API of any resource, found by [`Discovery`]; [`Config`] reads kubeconfig
//! files and in-cluster settings and builds the HTTP(S) transport. Controllers start with
//! [`workqueue::RateLimitingQueue`]. None of it depends on the server half of the crate.

pub mod api;
pub mod config;
pub mod discovery;
pub mod dynamic;
pub mod error;
pub mod kubeconfig;
pub mod params;
pub mod request;
pub mod rest;
pub mod runtime;
pub mod transport;
pub mod workqueue;

pub use api::Api;
pub use config::{Auth, Config, KubeconfigOptions};
pub use discovery::{ApiResource, Discovery};
pub use dynamic::DynamicApi;
pub use error::{Error, Result};
pub use kubeconfig::Kubeconfig;
pub use params::{
    DeleteParams, FieldValidation, ListParams, Patch, PatchParams, PostParams, PropagationPolicy,
    VersionMatch, WatchParams,
};
pub use request::{Body, Request};
pub use rest::{Client, EventStream, ObjectOrStatus};
