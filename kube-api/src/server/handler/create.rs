//! POST to a collection.

use http::{StatusCode, header};

use super::{Ctx, HandlerResult};
use crate::server::negotiate::{accept_json, body_is_json};
use crate::server::response::json;

/// Creates the object in the body; answers 201 with it.
pub async fn create(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    body_is_json(ctx.header(header::CONTENT_TYPE))?;
    ctx.field_validation()?;
    let dry_run = ctx.dry_run()?;
    let obj = ctx.json_body()?;
    let created = ctx
        .storage()
        .create(&ctx.resource, &ctx.request.namespace, obj, dry_run)
        .await?;
    Ok(json(StatusCode::CREATED, &created))
}
