//! StatusError: upstream's codes, reasons and messages, the metav1.Status JSON shape, and
//! reading a Status back.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube_core::status::{Reason, StatusError};
use kube_core::validation::{ErrorList, FieldError, Path};
use serde_json::{Value, json};

fn body(error: StatusError) -> Value {
    serde_json::to_value(Status::from(error)).expect("Status serializes")
}

#[test]
fn constructors_match_upstream() {
    let cases = [
        (
            StatusError::not_found("", "pods", "web"),
            404,
            Reason::NotFound,
            "pods \"web\" not found",
        ),
        (
            StatusError::not_found("apps", "deployments", "web"),
            404,
            Reason::NotFound,
            "deployments.apps \"web\" not found",
        ),
        (
            StatusError::already_exists("", "pods", "web"),
            409,
            Reason::AlreadyExists,
            "pods \"web\" already exists",
        ),
        (
            StatusError::conflict("", "pods", "web"),
            409,
            Reason::Conflict,
            "Operation cannot be fulfilled on pods \"web\": the object has been modified; please apply your changes to the latest version and try again",
        ),
        (
            StatusError::conflict_with(
                "coordination.k8s.io",
                "leases",
                "lock",
                "the lease is held",
            ),
            409,
            Reason::Conflict,
            "Operation cannot be fulfilled on leases.coordination.k8s.io \"lock\": the lease is held",
        ),
        (
            StatusError::too_old_resource_version(5, 10),
            410,
            Reason::Expired,
            "too old resource version: 5 (10)",
        ),
        (
            StatusError::gone("the resource is gone"),
            410,
            Reason::Gone,
            "the resource is gone",
        ),
        (
            StatusError::bad_request("field label not supported: x"),
            400,
            Reason::BadRequest,
            "field label not supported: x",
        ),
        (
            StatusError::unauthorized(""),
            401,
            Reason::Unauthorized,
            "not authorized",
        ),
        (
            StatusError::forbidden("jane", "get", "", "pods", "default", "web", ""),
            403,
            Reason::Forbidden,
            "pods \"web\" is forbidden: User \"jane\" cannot get resource \"pods\" in API group \"\" in the namespace \"default\"",
        ),
        (
            StatusError::forbidden(
                "jane",
                "list",
                "apps",
                "deployments",
                "",
                "",
                "no RBAC policy matched",
            ),
            403,
            Reason::Forbidden,
            "deployments.apps is forbidden: User \"jane\" cannot list resource \"deployments\" in API group \"apps\" at the cluster scope: no RBAC policy matched",
        ),
        (
            StatusError::forbidden("jane", "get", "", "pods/log", "default", "web", ""),
            403,
            Reason::Forbidden,
            "pods \"web\" is forbidden: User \"jane\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"default\"",
        ),
        (
            StatusError::forbidden_path("system:anonymous", "get", "/metrics", ""),
            403,
            Reason::Forbidden,
            "forbidden: User \"system:anonymous\" cannot get path \"/metrics\"",
        ),
        (
            StatusError::method_not_supported("", "bindings", "list"),
            405,
            Reason::MethodNotAllowed,
            "list is not supported on resources of kind \"bindings\"",
        ),
        (
            StatusError::not_acceptable(&["application/json", "application/yaml"]),
            406,
            Reason::NotAcceptable,
            "only the following media types are accepted: application/json, application/yaml",
        ),
        (
            StatusError::request_entity_too_large("limit is 3145728"),
            413,
            Reason::RequestEntityTooLarge,
            "Request entity too large: limit is 3145728",
        ),
        (
            StatusError::unsupported_media_type(&["application/json"]),
            415,
            Reason::UnsupportedMediaType,
            "the body of the request was in an unknown format - accepted media types include: application/json",
        ),
        (
            StatusError::too_many_requests("slow down", 3),
            429,
            Reason::TooManyRequests,
            "slow down",
        ),
        (
            StatusError::internal("boom"),
            500,
            Reason::InternalError,
            "Internal error occurred: boom",
        ),
        (
            StatusError::server_timeout("", "pods", "create", 2),
            500,
            Reason::ServerTimeout,
            "The create operation against pods could not be completed at this time, please try again.",
        ),
        (
            StatusError::service_unavailable("etcd is down"),
            503,
            Reason::ServiceUnavailable,
            "etcd is down",
        ),
        (
            StatusError::timeout("request did not complete within 60s", 0),
            504,
            Reason::Timeout,
            "Timeout: request did not complete within 60s",
        ),
    ];
    for (error, code, reason, message) in cases {
        assert_eq!(error.code(), code, "{message}");
        assert_eq!(error.reason(), &reason, "{message}");
        assert_eq!(error.message(), message);
        assert_eq!(error.to_string(), message);
        let status = Status::from(error.clone());
        assert_eq!(status.code, Some(i32::from(code)));
        assert_eq!(status.reason.as_deref(), Some(reason.as_str()));
        assert_eq!(StatusError::from(status), error, "round trip of {message}");
    }
}

#[test]
fn not_found_json_is_what_upstream_returns() {
    let expected = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "pods \"web\" not found",
        "reason": "NotFound",
        "details": {"name": "web", "kind": "pods"},
        "code": 404
    });
    assert_eq!(body(StatusError::not_found("", "pods", "web")), expected);

    let expected = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "deployments.apps \"web\" already exists",
        "reason": "AlreadyExists",
        "details": {"name": "web", "group": "apps", "kind": "deployments"},
        "code": 409
    });
    assert_eq!(
        body(StatusError::already_exists("apps", "deployments", "web")),
        expected
    );
}

#[test]
fn invalid_carries_causes() {
    let mut errors = ErrorList::new();
    errors.push(FieldError::required(
        &Path::new("metadata").child("name"),
        "name or generateName is required",
    ));
    errors.push(FieldError::invalid(
        &Path::new("spec")
            .child("containers")
            .index(0)
            .child("image"),
        "",
        "must not be empty",
    ));
    let error = StatusError::invalid("", "Pod", "web", &errors);
    assert!(error.is_invalid());
    assert_eq!(
        error.message(),
        "Pod \"web\" is invalid: [metadata.name: Required value: name or generateName is required, spec.containers[0].image: Invalid value: \"\": must not be empty]"
    );
    let expected = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Pod \"web\" is invalid: [metadata.name: Required value: name or generateName is required, spec.containers[0].image: Invalid value: \"\": must not be empty]",
        "reason": "Invalid",
        "details": {
            "name": "web",
            "kind": "Pod",
            "causes": [
                {
                    "reason": "FieldValueRequired",
                    "message": "Required value: name or generateName is required",
                    "field": "metadata.name"
                },
                {
                    "reason": "FieldValueInvalid",
                    "message": "Invalid value: \"\": must not be empty",
                    "field": "spec.containers[0].image"
                }
            ]
        },
        "code": 422
    });
    assert_eq!(body(error), expected);

    let one = ErrorList::from(FieldError::invalid(
        &Path::new("metadata").child("name"),
        "Foo",
        "bad",
    ));
    assert_eq!(
        StatusError::invalid("apps", "Deployment", "Foo", &one).message(),
        "Deployment.apps \"Foo\" is invalid: metadata.name: Invalid value: \"Foo\": bad"
    );
    assert_eq!(
        StatusError::invalid("", "Pod", "web", &ErrorList::new()).message(),
        "Pod \"web\" is invalid"
    );
}

#[test]
fn retry_after_and_internal_details() {
    let error = StatusError::too_many_requests("slow down", 3);
    assert_eq!(error.retry_after_seconds(), Some(3));
    assert!(error.is_too_many_requests());
    assert_eq!(
        body(error),
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "slow down", "reason": "TooManyRequests",
            "details": {"retryAfterSeconds": 3}, "code": 429
        })
    );
    assert_eq!(
        StatusError::timeout("x", 0).retry_after_seconds(),
        None,
        "zero means no advice"
    );

    let error = StatusError::internal("boom");
    assert_eq!(error.causes().len(), 1);
    assert_eq!(
        body(error),
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Internal error occurred: boom", "reason": "InternalError",
            "details": {"causes": [{"message": "boom"}]}, "code": 500
        })
    );

    assert_eq!(
        body(StatusError::too_old_resource_version(5, 10)),
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "too old resource version: 5 (10)", "reason": "Expired", "code": 410
        })
    );
}

#[test]
fn parse_back_from_server_json() {
    let json = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "pods \"web\" not found", "reason": "NotFound",
        "details": {"name": "web", "kind": "pods"}, "code": 404
    });
    let status: Status = serde_json::from_value(json).expect("valid Status");
    let error = StatusError::from(status);
    assert!(error.is_not_found());
    assert!(!error.is_conflict());
    assert_eq!(error.code(), 404);
    assert_eq!(error.details().and_then(|d| d.name.as_deref()), Some("web"));

    // No reason: the code decides, as upstream's IsNotFound.
    let status: Status =
        serde_json::from_value(json!({"code": 404, "message": "gone"})).expect("valid Status");
    assert!(StatusError::from(status).is_not_found());

    // A reason this crate does not know is kept, and the code alone no longer decides.
    let status: Status =
        serde_json::from_value(json!({"code": 404, "reason": "Teapot"})).expect("valid Status");
    let error = StatusError::from(status);
    assert_eq!(error.reason(), &Reason::Other("Teapot".to_owned()));
    assert_eq!(Status::from(&error).reason.as_deref(), Some("Teapot"));

    // A missing or absurd code reads as 500.
    let status: Status = serde_json::from_value(json!({"code": 70000})).expect("valid Status");
    assert_eq!(StatusError::from(status).code(), 500);

    let expired: Status =
        serde_json::from_value(json!({"code": 410, "reason": "Expired"})).expect("valid Status");
    assert!(StatusError::from(expired).is_resource_expired());
}

#[test]
fn reasons_round_trip() {
    for reason in [
        "",
        "Unauthorized",
        "Forbidden",
        "NotFound",
        "AlreadyExists",
        "Conflict",
        "Gone",
        "Invalid",
        "ServerTimeout",
        "StorageReadError",
        "Timeout",
        "TooManyRequests",
        "BadRequest",
        "MethodNotAllowed",
        "NotAcceptable",
        "RequestEntityTooLarge",
        "UnsupportedMediaType",
        "InternalError",
        "Expired",
        "ServiceUnavailable",
        "SomethingNew",
    ] {
        assert_eq!(Reason::parse(reason).as_str(), reason);
    }
    assert_eq!(Reason::parse("NotFound"), Reason::NotFound);
}
