//! DELETE of one object or of a collection.

use http::{StatusCode, header};
use kube_core::status::StatusError;
use serde_json::{Value, json};

use super::{Ctx, HandlerResult};
use crate::server::negotiate::accept_json;
use crate::server::response::json;
use crate::server::storage::meta::meta_str;
use crate::server::storage::strategy::add_warnings;
use crate::server::storage::{DeleteOptions, DeleteOutcome, Propagation};

/// The delete options of the body (a metav1.DeleteOptions, optional) and query, the query
/// winning; also whether `orphanDependents: false` was given (answered with 202).
fn delete_options(ctx: &Ctx) -> Result<(DeleteOptions, bool), StatusError> {
    let body = if ctx.body.is_empty() {
        Value::Null
    } else {
        ctx.json_body()?
    };
    let mut options = DeleteOptions {
        dry_run: ctx.dry_run()?,
        ..DeleteOptions::default()
    };
    if let Some(list) = body.get("dryRun").and_then(Value::as_array) {
        for value in list {
            match value.as_str() {
                Some("All") => options.dry_run = true,
                other => {
                    return Err(StatusError::bad_request(format!(
                        "Invalid dryRun value: {other:?}: supported values: \"All\""
                    )));
                }
            }
        }
    }
    options.grace_period_seconds = body.get("gracePeriodSeconds").and_then(Value::as_i64);
    if let Some(grace) = ctx.param("gracePeriodSeconds") {
        options.grace_period_seconds = Some(grace.parse().map_err(|_| {
            StatusError::bad_request(format!("invalid gracePeriodSeconds: {grace:?}"))
        })?);
    }
    let mut policy = body
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(p) = ctx.param("propagationPolicy") {
        policy = Some(p.to_owned());
    }
    let mut orphan = body.get("orphanDependents").and_then(Value::as_bool);
    if let Some(o) = ctx.param("orphanDependents") {
        orphan = Some(o == "true");
    }
    options.propagation = match (policy, orphan) {
        (Some(_), Some(_)) => {
            return Err(StatusError::bad_request(
                "orphanDependents and propagationPolicy cannot both be set",
            ));
        }
        (Some(p), None) => Some(Propagation::parse(&p)?),
        (None, Some(true)) => Some(Propagation::Orphan),
        (None, Some(false)) => Some(Propagation::Background),
        (None, None) => None,
    };
    let pre = body.get("preconditions");
    options.precondition_uid = pre
        .and_then(|p| p.get("uid"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    options.precondition_resource_version = pre
        .and_then(|p| p.get("resourceVersion"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((options, orphan == Some(false)))
}

/// Deletes one object. Answers the object while finalizers or a grace period hold it; once
/// gone, the object (pods) or a success Status.
pub async fn delete(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    let (options, cascading) = delete_options(ctx)?;
    let r = &ctx.request;
    let info = &ctx.resource;
    let admit = ctx.admission(ctx.write_options("DeleteOptions"));
    let outcome = ctx
        .storage()
        .delete_admitted(info, &r.namespace, &r.name, &options, Some(&admit))
        .await?;
    let warnings = admit.take_warnings();
    let response = match outcome {
        DeleteOutcome::Pending(obj) => {
            let code = if cascading {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            Ok(json(code, &obj))
        }
        DeleteOutcome::Deleted(obj) => {
            if ctx.state.strategy.return_deleted_object(info) {
                return Ok(json(StatusCode::OK, &obj));
            }
            let mut details =
                json!({"name": r.name, "kind": info.plural, "uid": meta_str(&obj, "uid")});
            if !info.group.is_empty() {
                details["group"] = Value::String(info.group.clone());
            }
            Ok(json(
                StatusCode::OK,
                &json!({
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                }),
            ))
        }
    };
    response.map(|r| add_warnings(r, &warnings))
}

/// Deletes every selected object of a collection; answers the list of what was deleted.
pub async fn delete_collection(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    let (options, _) = delete_options(ctx)?;
    let list = super::list::list_options(ctx)?;
    let info = &ctx.resource;
    let admit = ctx.admission(ctx.write_options("DeleteOptions"));
    let items = ctx
        .storage()
        .delete_collection_admitted(info, &ctx.request.namespace, &list, &options, Some(&admit))
        .await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "kind": info.list_kind,
            "apiVersion": info.api_version(),
            "metadata": {},
            "items": items,
        }),
    ))
}
