//! Field paths and field errors, as upstream's `field.Path`, `field.Error` and `field.ErrorList`.

use std::collections::BTreeSet;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;
use serde_json::Value;

/// The path of a field inside an object, such as `spec.containers[0].image` or
/// `metadata.labels[app]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path(String);

impl Path {
    /// A path that starts at the named field, such as `metadata`.
    pub fn new(root: &str) -> Self {
        Self(root.to_owned())
    }

    /// The empty path; its first child prints without a leading dot.
    pub fn root() -> Self {
        Self::default()
    }

    /// The named child field: `metadata` -> `metadata.name`.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// An element of a list: `spec.containers` -> `spec.containers[0]`.
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// An entry of a map: `metadata.labels` -> `metadata.labels[app]`.
    pub fn key(&self, key: &str) -> Self {
        Self(format!("{}[{key}]", self.0))
    }

    /// The path as upstream prints it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind of a [`FieldError`], as upstream's `field.ErrorType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorType {
    /// A value that refers to something that does not exist.
    NotFound,
    /// A required value that is missing.
    Required,
    /// A value that must be unique but repeats an earlier one.
    Duplicate,
    /// A malformed value.
    Invalid,
    /// A value that is not one of the supported values.
    NotSupported,
    /// A value that is valid but not allowed here.
    Forbidden,
    /// A value that is too long.
    TooLong,
    /// A list with too many items.
    TooMany,
    /// A failure inside the validator rather than in the object.
    Internal,
    /// A value of the wrong type.
    TypeInvalid,
}

impl ErrorType {
    /// The words upstream prints for this type, such as `Invalid value`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "Not found",
            Self::Required => "Required value",
            Self::Duplicate => "Duplicate value",
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::Internal => "Internal error",
        }
    }

    /// The metav1.CauseType string, such as `FieldValueInvalid`.
    pub fn cause_type(self) -> &'static str {
        match self {
            Self::NotFound => "FieldValueNotFound",
            Self::Required => "FieldValueRequired",
            Self::Duplicate => "FieldValueDuplicate",
            Self::Invalid => "FieldValueInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Internal => "InternalError",
            Self::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// Parses a metav1.CauseType string back into a type.
    pub fn from_cause_type(cause: &str) -> Option<Self> {
        Some(match cause {
            "FieldValueNotFound" => Self::NotFound,
            "FieldValueRequired" => Self::Required,
            "FieldValueDuplicate" => Self::Duplicate,
            "FieldValueInvalid" => Self::Invalid,
            "FieldValueNotSupported" => Self::NotSupported,
            "FieldValueForbidden" => Self::Forbidden,
            "FieldValueTooLong" => Self::TooLong,
            "FieldValueTooMany" => Self::TooMany,
            "InternalError" => Self::Internal,
            "FieldValueTypeInvalid" => Self::TypeInvalid,
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validation failure: which field, what kind, the bad value and a detail message.
///
/// Displays as upstream does: `metadata.name: Invalid value: "Foo": <detail>`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field}: {}", self.body())]
pub struct FieldError {
    /// The kind of failure.
    pub error_type: ErrorType,
    /// The path of the offending field.
    pub field: Path,
    /// The offending value; `None` when upstream omits it from the message.
    pub bad_value: Option<Value>,
    /// A sentence a person can act on; may be empty.
    pub detail: String,
}

impl FieldError {
    /// A value that refers to something that does not exist.
    pub fn not_found(field: &Path, value: impl Into<Value>) -> Self {
        Self::with(
            ErrorType::NotFound,
            field,
            Some(value.into()),
            String::new(),
        )
    }

    /// A required value that is missing.
    pub fn required(field: &Path, detail: impl Into<String>) -> Self {
        Self::with(
            ErrorType::Required,
            field,
            Some(Value::from("")),
            detail.into(),
        )
    }

    /// A value that repeats an earlier one.
    pub fn duplicate(field: &Path, value: impl Into<Value>) -> Self {
        Self::with(
            ErrorType::Duplicate,
            field,
            Some(value.into()),
            String::new(),
        )
    }

    /// A malformed value.
    pub fn invalid(field: &Path, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self::with(ErrorType::Invalid, field, Some(value.into()), detail.into())
    }

    /// A value outside the supported set, listing the supported values.
    pub fn not_supported<S: AsRef<str>>(
        field: &Path,
        value: impl Into<Value>,
        supported: &[S],
    ) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s.as_ref())).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::with(ErrorType::NotSupported, field, Some(value.into()), detail)
    }

    /// A value that is valid but not allowed here.
    pub fn forbidden(field: &Path, detail: impl Into<String>) -> Self {
        Self::with(
            ErrorType::Forbidden,
            field,
            Some(Value::from("")),
            detail.into(),
        )
    }

    /// A value longer than `max_length` bytes (a negative maximum means unknown).
    pub fn too_long(field: &Path, value: impl Into<Value>, max_length: i64) -> Self {
        let detail = if max_length >= 0 {
            let unit = if max_length == 1 { "byte" } else { "bytes" };
            format!("must have at most {max_length} {unit}")
        } else {
            "value is too long".to_owned()
        };
        Self::with(ErrorType::TooLong, field, Some(value.into()), detail)
    }

    /// A list of `actual` items where at most `max` are allowed (negative means unknown).
    pub fn too_many(field: &Path, actual: i64, max: i64) -> Self {
        let detail = if max >= 0 {
            let unit = if max == 1 { "item" } else { "items" };
            format!("must have at most {max} {unit}")
        } else {
            "has too many items".to_owned()
        };
        let value = (actual >= 0).then(|| Value::from(actual));
        Self::with(ErrorType::TooMany, field, value, detail)
    }

    /// A failure inside the validator.
    pub fn internal(field: &Path, error: &dyn std::error::Error) -> Self {
        Self::with(ErrorType::Internal, field, None, error.to_string())
    }

    /// A value of the wrong type.
    pub fn type_invalid(field: &Path, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self::with(
            ErrorType::TypeInvalid,
            field,
            Some(value.into()),
            detail.into(),
        )
    }

    fn with(error_type: ErrorType, field: &Path, bad_value: Option<Value>, detail: String) -> Self {
        Self {
            error_type,
            field: field.clone(),
            bad_value,
            detail,
        }
    }

    /// The metav1.StatusCause an Invalid status carries for this error: the cause type,
    /// the message without the path, and the path.
    pub fn to_status_cause(&self) -> StatusCause {
        StatusCause {
            reason: Some(self.error_type.cause_type().to_owned()),
            message: Some(self.body()),
            field: (!self.field.as_str().is_empty()).then(|| self.field.as_str().to_owned()),
        }
    }

    /// The message without the field path, as upstream's `ErrorBody` (the text of a
    /// metav1.StatusCause).
    pub fn body(&self) -> String {
        let mut body = match (self.error_type, &self.bad_value) {
            (
                ErrorType::Required
                | ErrorType::Forbidden
                | ErrorType::TooLong
                | ErrorType::Internal,
                _,
            )
            | (_, None) => self.error_type.as_str().to_owned(),
            (_, Some(value)) => format!("{}: {}", self.error_type, display_value(value)),
        };
        if !self.detail.is_empty() {
            body.push_str(": ");
            body.push_str(&self.detail);
        }
        body
    }
}

/// Prints a bad value the way upstream's `%q` / `%v` do for strings and scalars; lists and
/// maps print as JSON.
fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        other => other.to_string(),
    }
}

/// Quotes a string as Go's `%q` does.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A list of field errors, as upstream's `field.ErrorList`.
///
/// Displays as upstream's aggregate: one error alone, or `[a, b]`, repeats removed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ErrorList(Vec<FieldError>);

impl ErrorList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one error.
    pub fn push(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// Appends every error of another list.
    pub fn append(&mut self, mut other: ErrorList) {
        self.0.append(&mut other.0);
    }

    /// True when validation passed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The errors in the order they were found.
    pub fn iter(&self) -> std::slice::Iter<'_, FieldError> {
        self.0.iter()
    }

    /// The errors as a slice.
    pub fn as_slice(&self) -> &[FieldError] {
        &self.0
    }

    /// `Ok(())` when empty, otherwise the list as an error.
    pub fn into_result(self) -> Result<(), ErrorList> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for ErrorList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut seen = BTreeSet::new();
        let messages: Vec<String> = self
            .0
            .iter()
            .map(ToString::to_string)
            .filter(|m| seen.insert(m.clone()))
            .collect();
        match messages.as_slice() {
            [] => Ok(()),
            [one] => f.write_str(one),
            many => write!(f, "[{}]", many.join(", ")),
        }
    }
}

impl std::error::Error for ErrorList {}

impl From<FieldError> for ErrorList {
    fn from(error: FieldError) -> Self {
        Self(vec![error])
    }
}

impl From<Vec<FieldError>> for ErrorList {
    fn from(errors: Vec<FieldError>) -> Self {
        Self(errors)
    }
}

impl FromIterator<FieldError> for ErrorList {
    fn from_iter<I: IntoIterator<Item = FieldError>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl Extend<FieldError> for ErrorList {
    fn extend<I: IntoIterator<Item = FieldError>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl IntoIterator for ErrorList {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ErrorList {
    type Item = &'a FieldError;
    type IntoIter = std::slice::Iter<'a, FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
