//! GET of one object.

use http::{StatusCode, header};

use super::{Ctx, HandlerResult};
use crate::server::negotiate::accept_json;
use crate::server::response::json;

/// Answers the stored object.
pub async fn get(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    let r = &ctx.request;
    let obj = ctx
        .storage()
        .get(&ctx.resource, &r.namespace, &r.name)
        .await?;
    Ok(json(StatusCode::OK, &obj))
}
