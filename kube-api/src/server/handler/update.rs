//! PUT of one object, its status, or a namespace's finalizers.

use http::{StatusCode, header};
use kube_core::status::StatusError;

use super::{Ctx, HandlerResult};
use crate::server::fieldmanager::FieldManager;
use crate::server::negotiate::{accept_json, body_is_json};
use crate::server::response::json;
use crate::server::storage::meta::meta_str;
use crate::server::storage::strategy::add_warnings;

/// Replaces the object with the body; answers 200 with the stored result.
pub async fn update(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    let content_type = ctx.header(header::CONTENT_TYPE);
    if !crate::server::protobuf::is_protobuf(content_type) {
        body_is_json(content_type)?;
    }
    let validation = ctx.field_validation()?;
    let dry_run = ctx.dry_run()?;
    let body = ctx.json_body()?;
    let warnings = validation.check_with(ctx.state.strategy.as_ref(), &ctx.resource, &body)?;
    let r = &ctx.request;
    let name = meta_str(&body, "name");
    if name.is_empty() {
        return Err(StatusError::bad_request(
            "name is required in the object's metadata",
        ));
    }
    if name != r.name {
        return Err(StatusError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            r.name
        )));
    }
    let ns = meta_str(&body, "namespace");
    if ctx.resource.namespaced && !ns.is_empty() && ns != r.namespace {
        return Err(StatusError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let manager = FieldManager::of_request(
        ctx.param("fieldManager"),
        ctx.header(header::USER_AGENT),
        &r.subresource,
    )?;
    let admit = ctx.admission(ctx.write_options("UpdateOptions"));
    let outcome = ctx
        .storage()
        .update_admitted(
            &ctx.resource,
            &r.namespace,
            &r.name,
            &r.subresource,
            dry_run,
            Some(&manager),
            Some(&admit),
            |_old| Ok(body.clone()),
        )
        .await?;
    let response = add_warnings(json(StatusCode::OK, &outcome.into_object()), &warnings);
    Ok(add_warnings(response, &admit.take_warnings()))
}
