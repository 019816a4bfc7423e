//! PATCH of one object or its status: JSON patch, merge patch, strategic merge patch and
//! server-side apply.

use http::{StatusCode, header};
use kube_core::patch::{self, PatchType, schema};
use kube_core::status::{Reason, StatusError};
use serde_json::Value;

use super::{Ctx, HandlerResult};
use crate::server::fieldmanager::{FieldManager, check_manager, options_invalid};
use crate::server::negotiate::{accept_json, patch_type};
use crate::server::response::json;
use crate::server::storage::meta::meta_str;
use crate::server::storage::strategy::add_warnings;

/// How deep an applied configuration may nest.
pub const MAX_APPLY_DEPTH: usize = 100;

/// The deepest nesting of YAML flow collections (`[`, `{`) an applied configuration may have
/// before it is parsed; twice the parser's own recursion limit (128), so only brackets inside
/// scalars could make it refuse what the parser would take.
pub const MAX_YAML_FLOW_DEPTH: usize = 256;

/// Applies the patch in the body to the stored object (retrying on conflicts with other
/// writers); answers 200 with the result (201 when an apply creates the object).
pub async fn patch(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    let kind = patch_type(ctx.header(header::CONTENT_TYPE))?;
    let validation = ctx.field_validation()?;
    let dry_run = ctx.dry_run()?;
    let info = &ctx.resource;
    let force = parse_force(ctx.param("force"))?;
    if kind == PatchType::Apply {
        return apply(ctx, force, dry_run, validation).await;
    }
    if force.is_some() {
        return Err(options_invalid(
            "PatchOptions",
            "force: Forbidden: may not be specified for non-apply patch",
        ));
    }
    let schema = match kind {
        PatchType::StrategicMerge => {
            let found = schema::for_kind(&info.group, &info.version, &info.kind);
            if found.is_none() {
                return Err(StatusError::unsupported_media_type(&[
                    PatchType::Json.content_type(),
                    PatchType::Merge.content_type(),
                    PatchType::Apply.content_type(),
                ]));
            }
            found
        }
        _ => None,
    };
    let body = ctx.json_body()?;
    let r = &ctx.request;
    let manager = FieldManager::of_request(
        ctx.param("fieldManager"),
        ctx.header(header::USER_AGENT),
        &r.subresource,
    )?;
    let mut warnings = Vec::new();
    let admit = ctx.admission(ctx.write_options("PatchOptions"));
    let outcome = ctx
        .storage()
        .update_admitted(
            info,
            &r.namespace,
            &r.name,
            &r.subresource,
            dry_run,
            Some(&manager),
            Some(&admit),
            |old| {
                let patched = patch::apply(kind, old, &body, schema).map_err(patch_error)?;
                warnings = validation.check_with(ctx.state.strategy.as_ref(), info, &patched)?;
                Ok(patched)
            },
        )
        .await?;
    warnings.extend(admit.take_warnings());
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

/// `force`: absent, `true` or `false` (400 otherwise).
fn parse_force(value: Option<&str>) -> Result<Option<bool>, StatusError> {
    match value {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(StatusError::bad_request(format!(
            "Invalid value for force: {other:?}: must be true or false"
        ))),
    }
}

/// Server-side apply: merges the applied configuration into the object by field
/// ownership, or creates the object from it.
async fn apply(
    ctx: &Ctx,
    force: Option<bool>,
    dry_run: bool,
    validation: crate::server::storage::strategy::FieldValidation,
) -> HandlerResult {
    let info = &ctx.resource;
    let r = &ctx.request;
    let Some(name) = ctx.param("fieldManager") else {
        return Err(options_invalid(
            "PatchOptions",
            "fieldManager: Required value: is required for apply patch",
        ));
    };
    check_manager(name, "PatchOptions")?;
    let force = force.unwrap_or(false);
    let config = parse_config(&ctx.body)?;
    check_config(ctx, &config)?;
    let warnings = validation.check_with(ctx.state.strategy.as_ref(), info, &config)?;
    let manager = FieldManager::new(name, &r.subresource);
    let clock = &ctx.state.config.clock;
    let admit = ctx.admission(ctx.write_options("PatchOptions"));
    for _ in 0..2 {
        let updated = ctx
            .storage()
            .update_admitted(
                info,
                &r.namespace,
                &r.name,
                &r.subresource,
                dry_run,
                Some(&manager),
                Some(&admit),
                |old| manager.apply(info, old, &config, force, clock.now()),
            )
            .await;
        match updated {
            Ok(outcome) => {
                let response =
                    add_warnings(json(StatusCode::OK, &outcome.into_object()), &warnings);
                return Ok(add_warnings(response, &admit.take_warnings()));
            }
            Err(e) if e.is_not_found() && r.subresource.is_empty() => {}
            Err(e) => return Err(e),
        }
        let empty = Value::Object(Default::default());
        let obj = manager.apply(info, &empty, &config, force, clock.now())?;
        match ctx
            .storage()
            .create_admitted(
                info,
                &r.namespace,
                obj,
                dry_run,
                Some(&manager),
                Some(&admit),
            )
            .await
        {
            Ok(created) => {
                let response = add_warnings(json(StatusCode::CREATED, &created), &warnings);
                return Ok(add_warnings(response, &admit.take_warnings()));
            }
            // Created meanwhile by another writer: apply to it.
            Err(e) if e.is_already_exists() => {}
            Err(e) => return Err(e),
        }
    }
    Err(StatusError::conflict(&info.group, &info.plural, &r.name))
}

/// The applied configuration: YAML (JSON is YAML) decoded to a JSON object, refused when it
/// nests deeper than [`MAX_APPLY_DEPTH`].
fn parse_config(body: &[u8]) -> Result<Value, StatusError> {
    if body.is_empty() {
        return Err(StatusError::bad_request("the request body is empty"));
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            // The YAML scanner's cost grows with the square of the flow nesting: refuse deep
            // flow collections before it runs (its recursion limit only applies after).
            if flow_depth(body) > MAX_YAML_FLOW_DEPTH {
                return Err(StatusError::bad_request(format!(
                    "error decoding YAML: flow collections nest deeper than \
                     {MAX_YAML_FLOW_DEPTH} levels (recursion limit exceeded)"
                )));
            }
            serde_yaml_ng::from_slice(body)
                .map_err(|e| StatusError::bad_request(format!("error decoding YAML: {e}")))?
        }
    };
    if depth(&value, 0) > MAX_APPLY_DEPTH {
        return Err(StatusError::bad_request(format!(
            "the applied configuration nests deeper than {MAX_APPLY_DEPTH} levels"
        )));
    }
    if !value.is_object() {
        return Err(StatusError::bad_request(
            "the applied configuration must be an object",
        ));
    }
    Ok(value)
}

/// How deep a value nests, stopping once past the limit.
fn depth(v: &Value, at: usize) -> usize {
    if at > MAX_APPLY_DEPTH {
        return at;
    }
    match v {
        Value::Object(m) => m.values().map(|c| depth(c, at + 1)).max().unwrap_or(at),
        Value::Array(a) => a.iter().map(|c| depth(c, at + 1)).max().unwrap_or(at),
        _ => at,
    }
}

/// 400 for a configuration naming another type or object, or carrying managedFields.
fn check_config(ctx: &Ctx, config: &Value) -> Result<(), StatusError> {
    let info = &ctx.resource;
    let text = |name: &str| config.get(name).and_then(Value::as_str).unwrap_or("");
    if text("apiVersion") != info.api_version() || text("kind") != info.kind {
        return Err(StatusError::bad_request(format!(
            "the applied configuration must be of apiVersion {} and kind {}, not {:?} {:?}",
            info.api_version(),
            info.kind,
            text("apiVersion"),
            text("kind")
        )));
    }
    let name = meta_str(config, "name");
    if name != ctx.request.name {
        return Err(StatusError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            ctx.request.name
        )));
    }
    let ns = meta_str(config, "namespace");
    if info.namespaced && !ns.is_empty() && ns != ctx.request.namespace {
        return Err(StatusError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(StatusError::bad_request(
            "metadata.managedFields must be nil",
        ));
    }
    Ok(())
}

/// The deepest nesting of flow collections (`[`, `{`) in `yaml`, counting every bracket,
/// quoted or not: linear in the input, and it can only overstate (brackets inside scalars
/// count), never hide nesting from the limit.
fn flow_depth(yaml: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for b in yaml {
        match b {
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}
