//! PATCH of one object or its status: JSON patch, merge patch and strategic merge patch.

use http::{StatusCode, header};
use kube_core::patch::{self, PatchType, schema};
use kube_core::status::{Reason, StatusError};

use super::{Ctx, HandlerResult};
use crate::server::negotiate::{accept_json, patch_type};
use crate::server::response::json;
use crate::server::storage::strategy::add_warnings;

/// Applies the patch in the body to the stored object (retrying on conflicts with other
/// writers); answers 200 with the result.
pub async fn patch(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    let kind = patch_type(ctx.header(header::CONTENT_TYPE))?;
    let validation = ctx.field_validation()?;
    let dry_run = ctx.dry_run()?;
    let info = &ctx.resource;
    let schema = match kind {
        PatchType::Apply => {
            return Err(StatusError::new(
                415,
                Reason::UnsupportedMediaType,
                "server-side apply (application/apply-patch+yaml) is not supported by this server yet; use a JSON, merge or strategic merge patch",
                None,
            ));
        }
        PatchType::StrategicMerge => {
            let found = schema::for_kind(&info.group, &info.version, &info.kind);
            if found.is_none() {
                return Err(StatusError::unsupported_media_type(&[
                    PatchType::Json.content_type(),
                    PatchType::Merge.content_type(),
                ]));
            }
            found
        }
        _ => None,
    };
    let body = ctx.json_body()?;
    let r = &ctx.request;
    let mut warnings = Vec::new();
    let outcome = ctx
        .storage()
        .update(
            info,
            &r.namespace,
            &r.name,
            &r.subresource,
            dry_run,
            |old| {
                let patched = patch::apply(kind, old, &body, schema).map_err(patch_error)?;
                warnings = validation.check_with(ctx.state.strategy.as_ref(), info, &patched)?;
                Ok(patched)
            },
        )
        .await?;
    Ok(add_warnings(
        json(StatusCode::OK, &outcome.into_object()),
        &warnings,
    ))
}

/// A patch that fails as upstream's patcher answers: 400 for a JSON patch that does not
/// decode, 413 for one with too many operations, 422 for one that does not apply.
fn patch_error(e: patch::PatchError) -> StatusError {
    match e {
        patch::PatchError::MalformedJsonPatch { .. } => StatusError::bad_request(e.to_string()),
        patch::PatchError::TooManyOperations { .. } => {
            StatusError::request_entity_too_large(&e.to_string())
        }
        e => StatusError::new(422, Reason::Invalid, e.to_string(), None),
    }
}
