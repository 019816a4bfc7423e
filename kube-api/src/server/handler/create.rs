//! POST to a collection.

use http::{StatusCode, header};

use super::{Ctx, HandlerResult};
use crate::server::fieldmanager::FieldManager;
use crate::server::negotiate::{accept_json, body_is_json};
use crate::server::response::json;
use crate::server::storage::strategy::add_warnings;

/// Creates the object in the body; answers 201 with it.
pub async fn create(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    let content_type = ctx.header(header::CONTENT_TYPE);
    if !crate::server::protobuf::is_protobuf(content_type) {
        body_is_json(content_type)?;
    }
    let validation = ctx.field_validation()?;
    let dry_run = ctx.dry_run()?;
    let obj = ctx.json_body()?;
    let warnings = validation.check_with(ctx.state.strategy.as_ref(), &ctx.resource, &obj)?;
    let manager = FieldManager::of_request(
        ctx.param("fieldManager"),
        ctx.header(header::USER_AGENT),
        "",
    )?;
    let admit = ctx.admission(ctx.write_options("CreateOptions"));
    let created = ctx
        .storage()
        .create_admitted(
            &ctx.resource,
            &ctx.request.namespace,
            obj,
            dry_run,
            Some(&manager),
            Some(&admit),
        )
        .await?;
    let response = add_warnings(json(StatusCode::CREATED, &created), &warnings);
    Ok(add_warnings(response, &admit.take_warnings()))
}
