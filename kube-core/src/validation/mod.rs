//! Validation as upstream does it: field paths and errors ([`FieldError`], [`ErrorList`]),
//! name rules ([`name`]) and ObjectMeta rules ([`validate_object_meta`]).
//!
//! Messages match upstream's text, so clients that show or parse them see what a real API
//! server would say.

pub mod meta;
pub mod name;
pub mod path;

pub use meta::{
    FIELD_IMMUTABLE, TOTAL_ANNOTATION_SIZE_LIMIT, validate_annotations, validate_finalizers,
    validate_immutable, validate_labels, validate_object_meta, validate_object_meta_update,
    validate_owner_references,
};
pub use name::NameRule;
pub use path::{ErrorList, ErrorType, FieldError, Path};
