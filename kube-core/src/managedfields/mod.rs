//! Server-side apply and managed fields, as upstream's structured-merge-diff.
//!
//! - [`path`]: path elements (`f:name`, `k:{"name":"x"}`, `v:"v"`, `i:0`) and paths.
//! - [`set`]: [`FieldSet`], the fields a manager owns, with union, intersection, difference.
//! - [`fieldsv1`]: the FieldsV1 encoding of field sets.
//! - [`typed`]: which lists are associative, sets or atomic and which maps are atomic.
//! - [`fields`]: the fields an object specifies, and what changed between two objects.
//! - [`merge`]: merging an applied configuration into a live object, pruning.
//! - [`managers`]: `metadata.managedFields` entries.
//! - [`updater`]: the ownership rules of updates and applies, conflicts.

pub mod fields;
pub mod fieldsv1;
pub mod managers;
pub mod merge;
pub mod path;
pub mod set;
pub mod typed;
pub mod updater;

pub use fields::{Comparison, compare, field_set};
pub use managers::{ManagedEntry, ManagerId, Managers, Operation};
pub use path::{Path, PathElement};
pub use set::FieldSet;
pub use typed::{BuiltinResolver, ListType, Type, TypeResolver};
pub use updater::{Conflict, Conflicts, Scope, Updater};

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong with field sets, managed fields and apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A FieldsV1 key is not `f:`, `k:`, `v:` or `i:` followed by a valid value.
    #[error("invalid path element {element:?}")]
    InvalidPathElement {
        /// The key as given.
        element: String,
    },
    /// A FieldsV1 document is not a tree of objects.
    #[error("invalid FieldsV1: {message}")]
    InvalidFieldsV1 {
        /// What was wrong.
        message: String,
    },
    /// An object or a FieldsV1 document nests deeper than the limit.
    #[error("the object nests deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// An associative list item omits a key field that has no default.
    #[error(
        "{path}: element {index}: associative list with keys has an element that omits key field {keys:?} (and doesn't have default value)"
    )]
    MissingKey {
        /// The list's path.
        path: String,
        /// The item's index.
        index: usize,
        /// The key fields.
        keys: Vec<String>,
    },
    /// An associative list or set holds two items with one key.
    #[error("{path}: duplicate entries for key {key}")]
    DuplicateKey {
        /// The list's path.
        path: String,
        /// The duplicated key.
        key: String,
    },
    /// A `metadata.managedFields` entry is invalid.
    #[error("metadata.managedFields{}{}: {message}", index.map(|i| format!("[{i}]")).unwrap_or_default(), if field.is_empty() { String::new() } else { format!(".{field}") })]
    InvalidManagedFields {
        /// The entry's index.
        index: Option<usize>,
        /// The entry's field.
        field: String,
        /// What was wrong.
        message: String,
    },
    /// An apply changes fields that other managers own.
    #[error("{0}")]
    Conflicts(Box<Conflicts>),
}
