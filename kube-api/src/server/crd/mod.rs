//! Custom resources served from CustomResourceDefinitions, as upstream's
//! apiextensions-apiserver serves them.
//!
//! [`CustomResources`] holds the served [`Snapshot`]: the registry (built-in resources plus
//! every established CRD's served versions), its discovery and OpenAPI documents, and what
//! each custom resource version needs (schema, printer columns, scale paths). A request reads
//! one snapshot; the [`controller`] rebuilds it whenever a CRD changes in the store, so every
//! server on one store converges. [`CustomResourceStrategy`] wraps the server's strategy with
//! CRD defaulting and validation and with the structural schema (pruning, defaulting,
//! validation) of custom resources.

pub mod controller;
mod served;
mod strategy;

pub use served::{CustomResources, Snapshot};
pub use strategy::CustomResourceStrategy;
