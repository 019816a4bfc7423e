//! Patches as the API server applies them to a stored object.
//!
//! - [`merge`]: JSON merge patch (RFC 7386), `application/merge-patch+json`.
//! - [`json`]: JSON patch (RFC 6902), `application/json-patch+json`.
//! - [`strategic`]: strategic merge patch, `application/strategic-merge-patch+json`, driven by
//!   the patch metadata of the built-in kinds in [`schema`].
//!
//! [`PatchType`] maps the request's Content-Type to one of these; [`apply`] dispatches.
//! Server-side apply (`application/apply-patch+yaml`) is recognised here but applied elsewhere.

use std::fmt;

use serde_json::Value;

pub mod json;
pub mod merge;
pub mod schema;
pub mod strategic;

pub use schema::SchemaRef;

/// The result type of this module.
pub type Result<T, E = PatchError> = std::result::Result<T, E>;

/// The patch types of a PATCH request, named by its Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PatchType {
    /// JSON patch (RFC 6902): a list of operations.
    Json,
    /// JSON merge patch (RFC 7386): a partial document, `null` deletes.
    Merge,
    /// Strategic merge patch: a merge patch that merges lists by key where the type says so.
    StrategicMerge,
    /// Server-side apply: a full intent document, merged by field ownership.
    Apply,
}

impl PatchType {
    /// Every patch type, in a fixed order.
    pub const ALL: [PatchType; 4] = [
        PatchType::Json,
        PatchType::Merge,
        PatchType::StrategicMerge,
        PatchType::Apply,
    ];

    /// The patch type a Content-Type header names. Parameters (`; charset=utf-8`) and case are
    /// ignored.
    pub fn from_content_type(content_type: &str) -> Result<Self> {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|t| t.content_type() == media)
            .ok_or_else(|| PatchError::UnsupportedContentType {
                content_type: content_type.to_owned(),
            })
    }

    /// The Content-Type of this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

impl fmt::Display for PatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.content_type())
    }
}

/// Applies a JSON, merge or strategic merge patch to `target`.
///
/// `schema` is the patch metadata of the target's kind ([`schema::for_kind`]); strategic merge
/// without one fails with [`PatchError::StrategicMergeUnsupported`] (upstream answers 415 for
/// custom resources). [`PatchType::Apply`] fails with [`PatchError::ApplyNotSupported`].
pub fn apply(
    patch_type: PatchType,
    target: &Value,
    patch: &Value,
    schema: Option<SchemaRef>,
) -> Result<Value> {
    match patch_type {
        PatchType::Json => json::apply(target, patch),
        PatchType::Merge => Ok(merge::apply(target, patch)),
        PatchType::StrategicMerge => match schema {
            Some(schema) => strategic::apply(target, patch, schema),
            None => Err(PatchError::StrategicMergeUnsupported),
        },
        PatchType::Apply => Err(PatchError::ApplyNotSupported),
    }
}

/// Why a patch could not be applied. Messages name the operation or the field path at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The Content-Type names no patch type.
    #[error("unsupported patch content type {content_type:?}")]
    UnsupportedContentType {
        /// The Content-Type as received.
        content_type: String,
    },
    /// Strategic merge patch was asked for a kind without patch metadata (custom resources).
    #[error("strategic merge patch is not supported for this kind")]
    StrategicMergeUnsupported,
    /// Server-side apply is not applied by this module.
    #[error("apply patches are not applied by this function")]
    ApplyNotSupported,
    /// The JSON patch document is not a list of operations.
    #[error("invalid JSON patch: {message}")]
    MalformedJsonPatch {
        /// What is wrong.
        message: String,
    },
    /// A JSON patch operation is not well formed (unknown `op`, missing `path`, `value`, ...).
    #[error("invalid JSON patch operation {index}: {message}")]
    MalformedOperation {
        /// The operation's index in the patch.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// The JSON patch holds more operations than allowed.
    #[error("the allowed maximum operations in a JSON patch is {max}, got {count}")]
    TooManyOperations {
        /// Operations in the patch.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A JSON patch operation does not apply to the document.
    #[error("JSON patch operation {index} ({op} {path:?}) does not apply: {reason}")]
    OperationFailed {
        /// The operation's index in the patch.
        index: usize,
        /// The operation (`add`, `remove`, ...).
        op: &'static str,
        /// The operation's `path`.
        path: String,
        /// Why it does not apply.
        reason: String,
    },
    /// A JSON patch `test` operation found a different value.
    #[error("JSON patch operation {index} (test {path:?}) failed: the value differs")]
    TestFailed {
        /// The operation's index in the patch.
        index: usize,
        /// The tested `path`.
        path: String,
    },
    /// The `copy` operations of a JSON patch would grow the document past the limit.
    #[error(
        "JSON patch operation {index} (copy {path:?}): copies add {size} bytes, over the limit of {limit}"
    )]
    CopyLimitExceeded {
        /// The operation's index in the patch.
        index: usize,
        /// The operation's `path`.
        path: String,
        /// Bytes copied so far, this copy included.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The strategic merge patch, or the object it patches, has the wrong shape at `path`.
    #[error("invalid strategic merge patch at {path}: {message}")]
    InvalidStrategicPatch {
        /// The field path (`spec.containers[name=app].ports`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A `$patch` directive names no known strategy.
    #[error("unknown patch directive {directive} at {path}")]
    UnknownDirective {
        /// The field path of the map holding the directive.
        path: String,
        /// The directive's value, as JSON.
        directive: String,
    },
    /// A list item has no merge key where the field merges by key.
    #[error("list item at {path} has no merge key {merge_key:?}")]
    MissingMergeKey {
        /// The field path of the list.
        path: String,
        /// The merge key.
        merge_key: &'static str,
    },
    /// A patch sets a field that its `$retainKeys` list does not keep.
    #[error("field {field:?} at {path} is set by the patch but missing from $retainKeys")]
    NotInRetainKeys {
        /// The field path of the map.
        path: String,
        /// The field.
        field: String,
    },
}

/// JSON equality with numbers compared by value (`1 == 1.0`), as Go's decoded values compare.
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_equal(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn number_equal(x: &serde_json::Number, y: &serde_json::Number) -> bool {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a == b;
    }
    match (x.as_f64(), y.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types_round_trip() {
        for t in PatchType::ALL {
            assert_eq!(PatchType::from_content_type(t.content_type()).ok(), Some(t));
        }
        assert_eq!(
            PatchType::from_content_type("Application/Merge-Patch+JSON; charset=utf-8").ok(),
            Some(PatchType::Merge)
        );
        assert!(matches!(
            PatchType::from_content_type("application/json"),
            Err(PatchError::UnsupportedContentType { .. })
        ));
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_equal(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!json_equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!json_equal(&json!(-1), &json!(u64::MAX)));
    }

    #[test]
    fn apply_dispatches() {
        let target = json!({"a": 1});
        let merged = apply(PatchType::Merge, &target, &json!({"b": 2}), None).ok();
        assert_eq!(merged, Some(json!({"a": 1, "b": 2})));
        assert!(matches!(
            apply(PatchType::StrategicMerge, &target, &json!({}), None),
            Err(PatchError::StrategicMergeUnsupported)
        ));
        assert!(matches!(
            apply(PatchType::Apply, &target, &json!({}), None),
            Err(PatchError::ApplyNotSupported)
        ));
    }
}
