//! `tokenreviews` (authentication.k8s.io/v1): whether a bearer token authenticates, and as
//! whom, judged by the server's authentication chain.

use http::{StatusCode, header};
use kube_core::status::StatusError;
use serde_json::json;

use super::{Ctx, HandlerResult};
use crate::server::negotiate::accept_json;
use crate::server::response;

/// POST of a TokenReview (JSON): 201 with `status.authenticated` and `status.user`, or
/// `status.error` for a rejected token. Nothing is stored. The spec is echoed, token
/// included, as upstream does.
pub async fn create(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    let review = ctx.json_body()?;
    let kind = review
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default();
    if !kind.is_empty() && kind != "TokenReview" {
        return Err(StatusError::bad_request(format!(
            "the body is a {kind}, not a TokenReview"
        )));
    }
    let spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
    let token = spec
        .get("token")
        .and_then(|t| t.as_str())
        .unwrap_or_default();
    if token.is_empty() {
        return Err(StatusError::bad_request(
            "token is required for TokenReview in authentication",
        ));
    }
    let authentication = &ctx.state.config.authentication;
    let status = match authentication.authenticate_token(token).await {
        Ok(Some(user)) => json!({"authenticated": true, "user": user.to_json()}),
        Ok(None) => json!({"authenticated": false, "user": {}}),
        Err(e) => json!({"authenticated": false, "user": {}, "error": e.to_string()}),
    };
    Ok(response::json(
        StatusCode::CREATED,
        &json!({
            "kind": "TokenReview",
            "apiVersion": format!("authentication.k8s.io/{}", ctx.request.version),
            "metadata": {},
            "spec": spec,
            "status": status,
        }),
    ))
}
