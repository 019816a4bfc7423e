//! The Kubernetes API object model, with no I/O and no async runtime.
//!
//! Start with [`registry::Registry`] (every built-in resource with its group, version, kind and
//! verbs), [`dynamic::DynamicObject`] (any kind as JSON), [`selector`] (label and field
//! selectors), [`validation`], [`patch`] (JSON merge, JSON patch and strategic merge patch),
//! [`status::StatusError`] (errors as metav1.Status), [`quantity::Quantity`] and
//! [`printers`] (the meta.k8s.io/v1 Table that `kubectl get` prints).
//! [`builtin`] defaults and validates the built-in kinds as upstream does.
//! [`crd`] validates CustomResourceDefinitions; [`schema`] validates, prunes and defaults
//! custom resources by their structural schemas.
//! The built-in types come from [`k8s_openapi`], re-exported here.

pub use k8s_openapi;

pub mod builtin;
pub mod crd;
pub mod dynamic;
pub mod gvk;
pub mod managedfields;
pub mod patch;
pub mod printers;
pub mod quantity;
pub mod registry;
pub mod schema;
pub mod selector;
pub mod status;
pub mod validation;
