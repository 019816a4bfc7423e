//! The `pods/eviction` subresource: a policy/v1 Eviction deletes the pod with the eviction's
//! DeleteOptions.

use http::{StatusCode, header};
use kube_core::gvk::GroupVersionResource;
use kube_core::status::StatusError;
use serde_json::{Value, json};

use super::{Ctx, HandlerResult};
use crate::server::admission::Operation;
use crate::server::negotiate::accept_json;
use crate::server::response::json;
use crate::server::storage::meta::meta_str;
use crate::server::storage::{DeleteOptions, Propagation};

/// POST of an Eviction: deletes the pod (404 if it does not exist); answers 201 with a
/// success Status, as upstream.
pub async fn evict(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    let eviction = if crate::server::protobuf::is_protobuf(ctx.header(header::CONTENT_TYPE)) {
        crate::server::protobuf::decode(&ctx.body, Some(("policy/v1", "Eviction")))?
    } else {
        ctx.json_body()?
    };
    let r = &ctx.request;
    let name = meta_str(&eviction, "name");
    if name != r.name {
        return Err(StatusError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let ns = meta_str(&eviction, "namespace");
    if !ns.is_empty() && ns != r.namespace {
        return Err(StatusError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let mut options = delete_options(eviction.get("deleteOptions").unwrap_or(&Value::Null))?;
    options.dry_run |= ctx.dry_run()?;
    let pods = ctx
        .state
        .config
        .registry
        .get_arc(&GroupVersionResource::new("", "v1", "pods"))
        .ok_or_else(|| StatusError::not_found("", "pods", &r.name))?;
    // Admitted as a CREATE of pods/eviction with the Eviction as its object, as upstream;
    // the delete it makes is not admitted again.
    let admit = ctx.admission(ctx.write_options("CreateOptions"));
    let mut attrs = admit.attributes(
        &pods,
        Operation::Create,
        &r.namespace,
        &r.name,
        options.dry_run,
    );
    attrs.subresource = "eviction".to_owned();
    attrs.kind = "Eviction".to_owned();
    attrs.object = Some(eviction.clone());
    admit.admit_and_validate(&mut attrs, ctx.storage()).await?;
    // Checking PodDisruptionBudgets (429 while a budget allows no disruption) belongs here;
    // until then every eviction is allowed.
    ctx.storage()
        .delete(&pods, &r.namespace, &r.name, &options)
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }),
    ))
}

/// The eviction's metav1.DeleteOptions.
fn delete_options(body: &Value) -> Result<DeleteOptions, StatusError> {
    let mut options = DeleteOptions {
        grace_period_seconds: body.get("gracePeriodSeconds").and_then(Value::as_i64),
        ..DeleteOptions::default()
    };
    for value in body
        .get("dryRun")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        if value.as_str() != Some("All") {
            return Err(StatusError::bad_request(format!(
                "Invalid dryRun value: {value}: supported values: \"All\""
            )));
        }
        options.dry_run = true;
    }
    options.propagation = match (
        body.get("propagationPolicy").and_then(Value::as_str),
        body.get("orphanDependents").and_then(Value::as_bool),
    ) {
        (Some(_), Some(_)) => {
            return Err(StatusError::bad_request(
                "orphanDependents and propagationPolicy cannot both be set",
            ));
        }
        (Some(p), None) => Some(Propagation::parse(p)?),
        (None, Some(true)) => Some(Propagation::Orphan),
        (None, Some(false)) => Some(Propagation::Background),
        (None, None) => None,
    };
    let pre = body.get("preconditions");
    let text = |field: &str| {
        pre.and_then(|p| p.get(field))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    options.precondition_uid = text("uid");
    options.precondition_resource_version = text("resourceVersion");
    Ok(options)
}
