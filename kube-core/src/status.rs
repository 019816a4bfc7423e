//! API errors as metav1.Status, with upstream's codes, reasons and messages.
//!
//! [`StatusError`] is what a handler returns and what a client gets back: the server turns
//! it into a [`Status`] body (`From<StatusError> for Status`), a client parses the body back
//! (`From<Status> for StatusError`) and asks [`StatusError::reason`].

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

use crate::validation::ErrorList;
use crate::validation::path::go_quote;

/// The message of a conflict caused by a stale resourceVersion.
pub const OPTIMISTIC_LOCK_MESSAGE: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// Why a request failed: metav1.StatusReason.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No reason given (`""`).
    Unknown,
    /// 401: the request carries no valid credentials.
    Unauthorized,
    /// 403: the user may not do this.
    Forbidden,
    /// 404: the object does not exist.
    NotFound,
    /// 409: an object with this name already exists.
    AlreadyExists,
    /// 409: the write conflicts with the stored object.
    Conflict,
    /// 410: the resource is gone.
    Gone,
    /// 422: the object failed validation.
    Invalid,
    /// 500 or 504: the server could not finish in time; retry.
    ServerTimeout,
    /// 500: the stored data could not be read.
    StoreReadError,
    /// 504: the request did not finish within its timeout.
    Timeout,
    /// 429: too many requests; retry later.
    TooManyRequests,
    /// 400: the request is malformed.
    BadRequest,
    /// 405: the verb is not supported on this resource.
    MethodNotAllowed,
    /// 406: no acceptable response media type.
    NotAcceptable,
    /// 413: the request body is too large.
    RequestEntityTooLarge,
    /// 415: the request body media type is not supported.
    UnsupportedMediaType,
    /// 500: the server failed.
    InternalError,
    /// 410: the requested resourceVersion is too old.
    Expired,
    /// 503: the server cannot serve the request now.
    ServiceUnavailable,
    /// A reason this crate does not know, kept as sent.
    Other(String),
}

impl Reason {
    /// The reason string, such as `NotFound`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Unknown => "",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "NotFound",
            Self::AlreadyExists => "AlreadyExists",
            Self::Conflict => "Conflict",
            Self::Gone => "Gone",
            Self::Invalid => "Invalid",
            Self::ServerTimeout => "ServerTimeout",
            Self::StoreReadError => "StorageReadError",
            Self::Timeout => "Timeout",
            Self::TooManyRequests => "TooManyRequests",
            Self::BadRequest => "BadRequest",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::NotAcceptable => "NotAcceptable",
            Self::RequestEntityTooLarge => "RequestEntityTooLarge",
            Self::UnsupportedMediaType => "UnsupportedMediaType",
            Self::InternalError => "InternalError",
            Self::Expired => "Expired",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::Other(other) => other,
        }
    }

    /// Parses a reason string; unknown strings become [`Reason::Other`].
    pub fn parse(reason: &str) -> Self {
        match reason {
            "" => Self::Unknown,
            "Unauthorized" => Self::Unauthorized,
            "Forbidden" => Self::Forbidden,
            "NotFound" => Self::NotFound,
            "AlreadyExists" => Self::AlreadyExists,
            "Conflict" => Self::Conflict,
            "Gone" => Self::Gone,
            "Invalid" => Self::Invalid,
            "ServerTimeout" => Self::ServerTimeout,
            "StorageReadError" => Self::StoreReadError,
            "Timeout" => Self::Timeout,
            "TooManyRequests" => Self::TooManyRequests,
            "BadRequest" => Self::BadRequest,
            "MethodNotAllowed" => Self::MethodNotAllowed,
            "NotAcceptable" => Self::NotAcceptable,
            "RequestEntityTooLarge" => Self::RequestEntityTooLarge,
            "UnsupportedMediaType" => Self::UnsupportedMediaType,
            "InternalError" => Self::InternalError,
            "Expired" => Self::Expired,
            "ServiceUnavailable" => Self::ServiceUnavailable,
            other => Self::Other(other.to_owned()),
        }
    }

    fn is_known(&self) -> bool {
        !matches!(self, Self::Unknown | Self::Other(_))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed API request: HTTP code, reason, message and details, as upstream's
/// `apierrors.StatusError`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct StatusError {
    code: u16,
    reason: Reason,
    message: String,
    /// Boxed: details are rare and large, and `Result<_, StatusError>` is on every path.
    details: Option<Box<StatusDetails>>,
}

/// `resource` or `resource.group`, as upstream's `GroupResource.String`.
fn qualified(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_owned()
    } else {
        format!("{name}.{group}")
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn details(group: &str, kind: &str, name: &str) -> Option<StatusDetails> {
    Some(StatusDetails {
        group: non_empty(group),
        kind: non_empty(kind),
        name: non_empty(name),
        ..StatusDetails::default()
    })
}

fn retry_details(retry_after_seconds: u32) -> Option<StatusDetails> {
    Some(StatusDetails {
        retry_after_seconds: (retry_after_seconds > 0)
            .then(|| i32::try_from(retry_after_seconds).unwrap_or(i32::MAX)),
        ..StatusDetails::default()
    })
}

impl StatusError {
    /// Any status error.
    pub fn new(
        code: u16,
        reason: Reason,
        message: impl Into<String>,
        details: Option<StatusDetails>,
    ) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: details.map(Box::new),
        }
    }

    /// 404 NotFound: `pods "web" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            404,
            Reason::NotFound,
            format!(
                "{} {} not found",
                qualified(resource, group),
                go_quote(name)
            ),
            details(group, resource, name),
        )
    }

    /// 409 AlreadyExists: `pods "web" already exists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        Self::new(
            409,
            Reason::AlreadyExists,
            format!(
                "{} {} already exists",
                qualified(resource, group),
                go_quote(name)
            ),
            details(group, resource, name),
        )
    }

    /// 409 Conflict from a stale resourceVersion: `Operation cannot be fulfilled on pods
    /// "web": the object has been modified; ...`.
    pub fn conflict(group: &str, resource: &str, name: &str) -> Self {
        Self::conflict_with(group, resource, name, OPTIMISTIC_LOCK_MESSAGE)
    }

    /// 409 Conflict with another cause: `Operation cannot be fulfilled on pods "web": <cause>`.
    pub fn conflict_with(group: &str, resource: &str, name: &str, cause: &str) -> Self {
        Self::new(
            409,
            Reason::Conflict,
            format!(
                "Operation cannot be fulfilled on {} {}: {cause}",
                qualified(resource, group),
                go_quote(name)
            ),
            details(group, resource, name),
        )
    }

    /// 422 Invalid: `Pod "web" is invalid: <errors>`, one cause per field error.
    pub fn invalid(group: &str, kind: &str, name: &str, errors: &ErrorList) -> Self {
        let causes = errors.iter().map(|e| e.to_status_cause()).collect();
        let subject = format!("{} {}", qualified(kind, group), go_quote(name));
        let message = if errors.is_empty() {
            format!("{subject} is invalid")
        } else {
            format!("{subject} is invalid: {errors}")
        };
        let mut details = details(group, kind, name);
        if let Some(d) = details.as_mut() {
            d.causes = Some(causes);
        }
        Self::new(422, Reason::Invalid, message, details)
    }

    /// 410 Gone.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, Reason::Gone, message, None)
    }

    /// 410 Expired: the requested resourceVersion is no longer available.
    pub fn resource_expired(message: impl Into<String>) -> Self {
        Self::new(410, Reason::Expired, message, None)
    }

    /// 410 Expired for a watch or list from a compacted revision:
    /// `too old resource version: 5 (10)`.
    pub fn too_old_resource_version(requested: u64, oldest: u64) -> Self {
        Self::resource_expired(format!("too old resource version: {requested} ({oldest})"))
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, Reason::BadRequest, message, None)
    }

    /// 401 Unauthorized; an empty message becomes `not authorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.is_empty() {
            message = "not authorized".to_owned();
        }
        Self::new(401, Reason::Unauthorized, message, None)
    }

    /// 403 Forbidden for a resource request, worded as upstream's authorizer:
    /// `pods "web" is forbidden: User "jane" cannot get resource "pods" in API group "" in
    /// the namespace "default"`. `resource` may name a subresource (`pods/log`); an empty
    /// `namespace` reads `at the cluster scope`; a non-empty `reason` is appended.
    pub fn forbidden(
        user: &str,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: &str,
        name: &str,
        reason: &str,
    ) -> Self {
        let scope = if namespace.is_empty() {
            "at the cluster scope".to_owned()
        } else {
            format!("in the namespace {}", go_quote(namespace))
        };
        let mut message = format!(
            "User {} cannot {verb} resource {} in API group {} {scope}",
            go_quote(user),
            go_quote(resource),
            go_quote(group)
        );
        if !reason.is_empty() {
            message.push_str(": ");
            message.push_str(reason);
        }
        let plural = resource.split_once('/').map_or(resource, |(r, _)| r);
        Self::forbidden_with(group, plural, name, &message)
    }

    /// 403 Forbidden for a non-resource request: `forbidden: User "jane" cannot get path
    /// "/metrics"`.
    pub fn forbidden_path(user: &str, verb: &str, path: &str, reason: &str) -> Self {
        let mut message = format!(
            "User {} cannot {verb} path {}",
            go_quote(user),
            go_quote(path)
        );
        if !reason.is_empty() {
            message.push_str(": ");
            message.push_str(reason);
        }
        Self::forbidden_with("", "", "", &message)
    }

    /// 403 Forbidden with any cause, as upstream's `NewForbidden`:
    /// `pods "web" is forbidden: <cause>`.
    pub fn forbidden_with(group: &str, resource: &str, name: &str, cause: &str) -> Self {
        let message = if group.is_empty() && resource.is_empty() {
            format!("forbidden: {cause}")
        } else if name.is_empty() {
            format!("{} is forbidden: {cause}", qualified(resource, group))
        } else {
            format!(
                "{} {} is forbidden: {cause}",
                qualified(resource, group),
                go_quote(name)
            )
        };
        Self::new(
            403,
            Reason::Forbidden,
            message,
            details(group, resource, name),
        )
    }

    /// 405 MethodNotAllowed: `<action> is not supported on resources of kind "pods"`.
    pub fn method_not_supported(group: &str, resource: &str, action: &str) -> Self {
        Self::new(
            405,
            Reason::MethodNotAllowed,
            format!(
                "{action} is not supported on resources of kind {}",
                go_quote(&qualified(resource, group))
            ),
            details(group, resource, ""),
        )
    }

    /// 406 NotAcceptable, listing the media types the server can send.
    pub fn not_acceptable(accepted: &[&str]) -> Self {
        Self::new(
            406,
            Reason::NotAcceptable,
            format!(
                "only the following media types are accepted: {}",
                accepted.join(", ")
            ),
            None,
        )
    }

    /// 413 RequestEntityTooLarge: `Request entity too large: <message>`.
    pub fn request_entity_too_large(message: &str) -> Self {
        Self::new(
            413,
            Reason::RequestEntityTooLarge,
            format!("Request entity too large: {message}"),
            None,
        )
    }

    /// 415 UnsupportedMediaType, listing the media types the server reads.
    pub fn unsupported_media_type(accepted: &[&str]) -> Self {
        Self::new(
            415,
            Reason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
            None,
        )
    }

    /// 429 TooManyRequests, telling the client when to retry.
    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: u32) -> Self {
        Self::new(
            429,
            Reason::TooManyRequests,
            message,
            retry_details(retry_after_seconds),
        )
    }

    /// 500 InternalError: `Internal error occurred: <error>`.
    pub fn internal(error: impl fmt::Display) -> Self {
        let cause = error.to_string();
        Self::new(
            500,
            Reason::InternalError,
            format!("Internal error occurred: {cause}"),
            Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    message: Some(cause),
                    ..StatusCause::default()
                }]),
                ..StatusDetails::default()
            }),
        )
    }

    /// 500 ServerTimeout: `The <operation> operation against <resource> could not be
    /// completed at this time, please try again.`
    pub fn server_timeout(
        group: &str,
        resource: &str,
        operation: &str,
        retry_after_seconds: u32,
    ) -> Self {
        let mut details = details(group, resource, operation);
        if let Some(d) = details.as_mut() {
            d.retry_after_seconds =
                retry_details(retry_after_seconds).and_then(|r| r.retry_after_seconds);
        }
        Self::new(
            500,
            Reason::ServerTimeout,
            format!(
                "The {operation} operation against {} could not be completed at this time, please try again.",
                qualified(resource, group)
            ),
            details,
        )
    }

    /// 503 ServiceUnavailable.
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(503, Reason::ServiceUnavailable, message, None)
    }

    /// 504 Timeout: `Timeout: <message>`.
    pub fn timeout(message: &str, retry_after_seconds: u32) -> Self {
        Self::new(
            504,
            Reason::Timeout,
            format!("Timeout: {message}"),
            retry_details(retry_after_seconds),
        )
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The reason.
    pub fn reason(&self) -> &Reason {
        &self.reason
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The details: group, kind, name, causes and retry delay.
    pub fn details(&self) -> Option<&StatusDetails> {
        self.details.as_deref()
    }

    /// The field causes, as an Invalid error carries them.
    pub fn causes(&self) -> &[StatusCause] {
        self.details
            .as_ref()
            .and_then(|d| d.causes.as_deref())
            .unwrap_or_default()
    }

    /// How long the server asks the client to wait before retrying.
    pub fn retry_after_seconds(&self) -> Option<u32> {
        self.details
            .as_ref()
            .and_then(|d| d.retry_after_seconds)
            .and_then(|s| u32::try_from(s).ok())
            .filter(|s| *s > 0)
    }

    /// The reason matches, or the reason is unknown and the code matches (as upstream's
    /// `IsNotFound` and friends).
    fn is(&self, reason: &Reason, code: u16) -> bool {
        self.reason == *reason || (!self.reason.is_known() && self.code == code)
    }

    /// 404 NotFound.
    pub fn is_not_found(&self) -> bool {
        self.is(&Reason::NotFound, 404)
    }

    /// 409 AlreadyExists.
    pub fn is_already_exists(&self) -> bool {
        self.reason == Reason::AlreadyExists
    }

    /// 409 Conflict.
    pub fn is_conflict(&self) -> bool {
        self.is(&Reason::Conflict, 409)
    }

    /// 422 Invalid.
    pub fn is_invalid(&self) -> bool {
        self.is(&Reason::Invalid, 422)
    }

    /// 410 Expired or Gone: relist from scratch.
    pub fn is_resource_expired(&self) -> bool {
        self.reason == Reason::Expired || self.is(&Reason::Gone, 410)
    }

    /// 403 Forbidden.
    pub fn is_forbidden(&self) -> bool {
        self.is(&Reason::Forbidden, 403)
    }

    /// 429 TooManyRequests.
    pub fn is_too_many_requests(&self) -> bool {
        self.is(&Reason::TooManyRequests, 429)
    }

    /// The metav1.Status body (kind Status, apiVersion v1, status Failure).
    pub fn to_status(&self) -> Status {
        Status {
            code: Some(i32::from(self.code)),
            details: self.details.as_deref().cloned(),
            message: Some(self.message.clone()),
            reason: non_empty(self.reason.as_str()),
            status: Some("Failure".to_owned()),
            ..Status::default()
        }
    }
}

impl From<StatusError> for Status {
    fn from(error: StatusError) -> Self {
        Status {
            code: Some(i32::from(error.code)),
            details: error.details.map(|d| *d),
            message: Some(error.message),
            reason: non_empty(error.reason.as_str()),
            status: Some("Failure".to_owned()),
            ..Status::default()
        }
    }
}

impl From<&StatusError> for Status {
    fn from(error: &StatusError) -> Self {
        error.to_status()
    }
}

/// Reads a Status a server returned. A code outside 100..=599 becomes 500.
impl From<Status> for StatusError {
    fn from(status: Status) -> Self {
        let code = status
            .code
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (100..=599).contains(c))
            .unwrap_or(500);
        Self {
            code,
            reason: Reason::parse(status.reason.as_deref().unwrap_or_default()),
            message: status.message.unwrap_or_default(),
            details: status.details.map(Box::new),
        }
    }
}
