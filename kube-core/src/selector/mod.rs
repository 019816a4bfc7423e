//! Label and field selectors, as upstream's `labels` and `fields` packages.
//!
//! [`LabelSelector`] parses `app=web,tier in (a,b),!canary` or converts a
//! metav1.LabelSelector; [`FieldSelector`] parses `metadata.name=web,status.phase!=Running`
//! and [`field::field_set`] gives the fields of an object that it matches against.

pub mod field;
pub mod label;

pub use field::FieldSelector;
pub use label::{LabelSelector, Requirement};
