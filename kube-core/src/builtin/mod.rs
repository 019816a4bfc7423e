//! Defaulting and validation of the built-in kinds, as upstream's `SetDefaults_*` functions
//! and `pkg/apis/*/validation`.
//!
//! The API server calls [`default_object`] on every decoded body, then [`validate_create`] or
//! [`validate_update`]. Each known kind is decoded into its k8s-openapi type, defaulted and
//! re-encoded, so unknown fields are dropped as upstream drops them; [`unknown_fields`] lists
//! them first, for warnings or `fieldValidation=Strict`. Kinds this module does not know pass
//! through unchanged and without errors.

mod apps;
mod batch;
mod core;
mod other;
mod pod;
mod service;

pub use batch::parse_schedule;
pub use core::{MAX_DATA_SIZE, NAMESPACE_NAME_LABEL, is_config_map_key};
pub use pod::image_pull_policy;
pub use service::{NODE_PORT_MAX, NODE_PORT_MIN};

use std::any::TypeId;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector as ApiLabelSelector, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::{Metadata, NamespaceResourceScope, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::gvk::GroupVersionKind;
use crate::selector::label::LabelSelector;
use crate::validation::name::{is_qualified_name, is_valid_label_value};
use crate::validation::{
    ErrorList, FieldError, NameRule, Path, validate_object_meta, validate_object_meta_update,
};

/// Errors from defaulting an object.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not decode as its kind (a wrong type, a bad base64 string, ...).
    #[error("unable to decode {kind}: {source}")]
    Decode {
        /// The kind, as `group/version, Kind=kind`.
        kind: String,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// The defaulted object could not be encoded again.
    #[error("unable to encode {kind}: {source}")]
    Encode {
        /// The kind, as `group/version, Kind=kind`.
        kind: String,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Sets upstream's defaults on `object` of kind `gvk`, dropping the fields the kind does not
/// have. Kinds without rules are left unchanged.
pub fn default_object(gvk: &GroupVersionKind, object: &mut Value) -> Result<()> {
    visit(gvk, Defaulter(object)).unwrap_or(Ok(()))
}

/// Validates an object about to be created: its metadata (with the kind's name rule) and
/// its kind's rules. Call after [`default_object`].
pub fn validate_create(gvk: &GroupVersionKind, object: &Value) -> ErrorList {
    visit(gvk, CreateValidator(object)).unwrap_or_default()
}

/// Validates an update of `old` to `new`: metadata update rules, the kind's rules for the
/// new object, and which fields may change. Call after [`default_object`] on `new`.
pub fn validate_update(gvk: &GroupVersionKind, new: &Value, old: &Value) -> ErrorList {
    visit(gvk, UpdateValidator(new, old)).unwrap_or_default()
}

/// The fields of `object` that its kind does not have, as paths like `.spec.foo` or
/// `.spec.containers[0].bar`, sorted. Upstream's strict decoding refuses them with
/// `unknown field "spec.foo"`. Empty for kinds without rules and for objects that do not
/// decode.
pub fn unknown_fields(gvk: &GroupVersionKind, object: &Value) -> Vec<String> {
    let Some(Ok(known)) = visit(gvk, Reencoder(object)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    diff_fields(object, &known, &mut String::new(), &mut out);
    out.sort();
    out
}

/// The rules of one kind; the defaults of each method mean "no rule".
pub(crate) trait Rules:
    Resource<Scope: 'static> + Metadata<Ty = ObjectMeta> + DeserializeOwned + Serialize
{
    /// The rule `metadata.name` follows.
    const NAME_RULE: NameRule = NameRule::Dns1123Subdomain;

    /// Sets upstream's defaults.
    fn set_defaults(&mut self) {}

    /// Validates everything but metadata.
    fn validate(&self) -> ErrorList {
        ErrorList::new()
    }

    /// Validates an update: by default the create rules on the new object.
    fn validate_update(&self, old: &Self) -> ErrorList {
        let _ = old;
        self.validate()
    }
}

/// Something done with the type of one kind.
trait KindVisitor {
    type Output;
    fn visit<T: Rules>(self) -> Self::Output;
}

/// Calls `visitor` with the type of `gvk`, or returns `None` for kinds without rules.
fn visit<V: KindVisitor>(gvk: &GroupVersionKind, visitor: V) -> Option<V::Output> {
    macro_rules! kinds {
        ($($ty:ty),* $(,)?) => {
            $(
                if gvk.group == <$ty as Resource>::GROUP
                    && gvk.version == <$ty as Resource>::VERSION
                    && gvk.kind == <$ty as Resource>::KIND
                {
                    return Some(visitor.visit::<$ty>());
                }
            )*
        };
    }
    use k8s_openapi::api::{apps::v1 as apps, batch::v1 as batch, core::v1 as corev1};
    kinds!(
        corev1::Pod,
        corev1::PodTemplate,
        corev1::ReplicationController,
        corev1::Service,
        corev1::Namespace,
        corev1::ConfigMap,
        corev1::Secret,
        corev1::ServiceAccount,
        corev1::Node,
        corev1::Endpoints,
        corev1::Event,
        apps::Deployment,
        apps::ReplicaSet,
        apps::StatefulSet,
        apps::DaemonSet,
        batch::Job,
        batch::CronJob,
    );
    other::visit(gvk, visitor)
}

fn kind_name<T: Resource>() -> String {
    format!("{}, Kind={}", T::API_VERSION, T::KIND)
}

/// Decodes `object` as `T`, taking apiVersion and kind from `T`.
fn decode<T: Rules>(object: &Value) -> Result<T> {
    let mut object = object.clone();
    if let Value::Object(map) = &mut object {
        map.insert("apiVersion".into(), Value::from(T::API_VERSION));
        map.insert("kind".into(), Value::from(T::KIND));
    }
    serde_json::from_value(object).map_err(|source| Error::Decode {
        kind: kind_name::<T>(),
        source,
    })
}

fn encode<T: Rules>(object: &T) -> Result<Value> {
    serde_json::to_value(object).map_err(|source| Error::Encode {
        kind: kind_name::<T>(),
        source,
    })
}

fn is_namespaced<T: Rules>() -> bool {
    TypeId::of::<T::Scope>() == TypeId::of::<NamespaceResourceScope>()
}

/// The error list of an object that does not decode.
fn decode_errors(error: &Error) -> ErrorList {
    FieldError::internal(&Path::root(), error).into()
}

struct Defaulter<'a>(&'a mut Value);

impl KindVisitor for Defaulter<'_> {
    type Output = Result<()>;
    fn visit<T: Rules>(self) -> Result<()> {
        let mut typed: T = decode(self.0)?;
        typed.set_defaults();
        *self.0 = encode(&typed)?;
        Ok(())
    }
}

struct Reencoder<'a>(&'a Value);

impl KindVisitor for Reencoder<'_> {
    type Output = Result<Value>;
    fn visit<T: Rules>(self) -> Result<Value> {
        encode(&decode::<T>(self.0)?)
    }
}

struct CreateValidator<'a>(&'a Value);

impl KindVisitor for CreateValidator<'_> {
    type Output = ErrorList;
    fn visit<T: Rules>(self) -> ErrorList {
        let typed: T = match decode(self.0) {
            Ok(typed) => typed,
            Err(error) => return decode_errors(&error),
        };
        let mut errs = validate_object_meta(typed.metadata(), is_namespaced::<T>(), T::NAME_RULE);
        errs.append(typed.validate());
        errs
    }
}

struct UpdateValidator<'a>(&'a Value, &'a Value);

impl KindVisitor for UpdateValidator<'_> {
    type Output = ErrorList;
    fn visit<T: Rules>(self) -> ErrorList {
        let (new, old): (T, T) = match (decode(self.0), decode(self.1)) {
            (Ok(new), Ok(old)) => (new, old),
            (Err(error), _) | (_, Err(error)) => return decode_errors(&error),
        };
        let mut errs = validate_object_meta_update(new.metadata(), old.metadata());
        errs.append(new.validate_update(&old));
        errs
    }
}

/// Appends to `out` the paths of `input` that `known` lacks. Nulls count as absent.
fn diff_fields(input: &Value, known: &Value, path: &mut String, out: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(input), Value::Object(known)) => {
            for (key, value) in input {
                if value.is_null() {
                    continue;
                }
                let len = path.len();
                path.push('.');
                path.push_str(key);
                match known.get(key) {
                    Some(known) => diff_fields(value, known, path, out),
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Value::Array(input), Value::Array(known)) => {
            for (i, (value, known)) in input.iter().zip(known).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                diff_fields(value, known, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

// Helpers shared by the kind families.

/// Upstream's `IsNegativeErrorMsg`.
pub(crate) const IS_NEGATIVE: &str = "must be greater than or equal to 0";

/// Upstream's `ValidateNonnegativeField`.
pub(crate) fn non_negative(value: impl Into<i64>, path: &Path) -> ErrorList {
    let value = value.into();
    if value < 0 {
        FieldError::invalid(path, value, IS_NEGATIVE).into()
    } else {
        ErrorList::new()
    }
}

/// `Some` field's non-negative check.
pub(crate) fn opt_non_negative<N: Into<i64> + Copy>(value: Option<N>, path: &Path) -> ErrorList {
    value.map(|v| non_negative(v, path)).unwrap_or_default()
}

/// Upstream's `IsValidPortNum` message.
pub(crate) const PORT_RANGE: &str = "must be between 1 and 65535, inclusive";

/// Whether `port` is a valid port number.
pub(crate) fn is_valid_port_num(port: i32) -> bool {
    (1..=65535).contains(&port)
}

/// Upstream's `IsValidPortName` (an IANA_SVC_NAME).
pub(crate) fn is_valid_port_name(port: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if port.len() > 15 {
        errs.push("must be no more than 15 characters".to_owned());
    }
    if !port
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !port.bytes().any(|b| b.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if port.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

/// Upstream's `ValidateLabelSelector` (with its options off), then the selector as a
/// [`LabelSelector`] when it converts.
pub(crate) fn validate_label_selector(
    selector: &ApiLabelSelector,
    path: &Path,
) -> (ErrorList, Option<LabelSelector>) {
    let mut errs = ErrorList::new();
    let expressions = path.child("matchExpressions");
    for (i, req) in selector.match_expressions.iter().flatten().enumerate() {
        let at = expressions.index(i);
        let values = req.values.as_deref().unwrap_or_default();
        match req.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                &at.child("values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                &at.child("values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(
                &at.child("operator"),
                other,
                "not a valid selector operator",
            )),
        }
        for msg in is_qualified_name(&req.key) {
            errs.push(FieldError::invalid(&at.child("key"), req.key.as_str(), msg));
        }
        for (j, value) in values.iter().enumerate() {
            for msg in is_valid_label_value(value) {
                errs.push(FieldError::invalid(
                    &at.child("values").index(j),
                    value.as_str(),
                    msg,
                ));
            }
        }
    }
    if let Some(labels) = &selector.match_labels {
        errs.append(crate::validation::validate_labels(
            labels,
            &path.child("matchLabels"),
        ));
    }
    let converted = if errs.is_empty() {
        LabelSelector::from_api(Some(selector)).ok()
    } else {
        None
    };
    (errs, converted)
}

/// Upstream's `ValidatePositiveIntOrPercent`.
pub(crate) fn validate_int_or_percent(value: &IntOrString, path: &Path) -> ErrorList {
    match value {
        IntOrString::String(s) => {
            if percent_value(s).is_none() {
                FieldError::invalid(
                    path,
                    s.as_str(),
                    crate::validation::name::regex_error(
                        "a valid percent string must be a numeric string followed by an ending '%'",
                        "[0-9]+%",
                        &["1%", "93%"],
                    ),
                )
                .into()
            } else {
                ErrorList::new()
            }
        }
        IntOrString::Int(i) => non_negative(*i, path),
    }
}

/// The number of a `[0-9]+%` string.
pub(crate) fn percent_value(s: &str) -> Option<i64> {
    let digits = s.strip_suffix('%')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The value of an int or a percentage, for "is zero" checks (upstream's
/// `getIntOrPercentValue`).
pub(crate) fn int_or_percent_value(value: &IntOrString) -> i64 {
    match value {
        IntOrString::Int(i) => i64::from(*i),
        IntOrString::String(s) => percent_value(s).unwrap_or_default(),
    }
}

/// Upstream's `IsNotMoreThan100Percent`.
pub(crate) fn not_more_than_100_percent(value: &IntOrString, path: &Path) -> ErrorList {
    match value {
        IntOrString::String(s) if percent_value(s).is_some_and(|p| p > 100) => {
            FieldError::invalid(path, s.as_str(), "must not be greater than 100%").into()
        }
        _ => ErrorList::new(),
    }
}

/// The JSON of a value, for error messages.
pub(crate) fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
