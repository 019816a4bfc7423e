//! `selfsubjectreviews` (authentication.k8s.io/v1): who the server takes the caller for, as
//! `kubectl auth whoami` asks.

use http::{StatusCode, header};
use kube_core::status::StatusError;
use serde_json::json;

use super::{Ctx, HandlerResult};
use crate::server::negotiate::accept_json;
use crate::server::response;

/// POST of a SelfSubjectReview: 201 with the caller's user in `status.userInfo`. Nothing is
/// stored. A JSON body must be a SelfSubjectReview; other encodings are not read, as the
/// review has no input.
pub async fn create(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    let is_protobuf = crate::server::protobuf::is_protobuf(ctx.header(header::CONTENT_TYPE));
    if !is_protobuf && !ctx.body.is_empty() {
        let body: serde_json::Value = ctx.json_body()?;
        let kind = body
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default();
        if !kind.is_empty() && kind != "SelfSubjectReview" {
            return Err(StatusError::bad_request(format!(
                "the body is a {kind}, not a SelfSubjectReview"
            )));
        }
    }
    Ok(response::json(
        StatusCode::CREATED,
        &json!({
            "kind": "SelfSubjectReview",
            "apiVersion": format!("authentication.k8s.io/{}", ctx.request.version),
            "metadata": {},
            "status": {"userInfo": ctx.user.to_json()},
        }),
    ))
}
