//! The `pods/eviction` subresource: a policy/v1 Eviction deletes the pod with the eviction's
//! DeleteOptions, unless the PodDisruptionBudget covering the pod allows no disruption
//! (upstream's `EvictionREST`).
//!
//! A pod that is terminal, pending or already being deleted, or not covered by a budget, is
//! deleted at once. Otherwise its one budget must have a current status
//! (`observedGeneration` at `metadata.generation`) and `disruptionsAllowed > 0`; the eviction
//! then takes one disruption (recording the pod in `status.disruptedPods`, so the disruption
//! controller keeps counting it until the deletion shows) before the pod is deleted; a pod
//! that is not Ready while the budget is healthy is deleted without taking one (the
//! `IfHealthyBudget` policy; `AlwaysAllow` deletes unready pods always). More than one budget
//! is a 500, as upstream.

use http::{StatusCode, header};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector as ApiLabelSelector, StatusCause, StatusDetails,
};
use kube_core::gvk::GroupVersionResource;
use kube_core::selector::LabelSelector;
use kube_core::status::Reason;
use kube_core::status::StatusError;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use super::{Ctx, HandlerResult};
use crate::server::admission::Operation;
use crate::server::negotiate::accept_json;
use crate::server::response::json;
use crate::server::storage::meta::meta_str;
use crate::server::storage::{DeleteOptions, ListOptions, Propagation};

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
    let pod = ctx.storage().get(&pods, &r.namespace, &r.name).await?;
    check_disruption_budget(ctx, &pod, options.dry_run).await?;
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

/// The 429 of an eviction a budget refuses, with upstream's `DisruptionBudget` cause.
fn budget_refuses(detail: String) -> StatusError {
    StatusError::new(
        429,
        Reason::TooManyRequests,
        "Cannot evict pod as it would violate the pod's disruption budget.",
        Some(StatusDetails {
            causes: Some(vec![StatusCause {
                reason: Some("DisruptionBudget".to_owned()),
                message: Some(detail),
                field: None,
            }]),
            ..StatusDetails::default()
        }),
    )
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Checks the budget covering `pod` and takes one disruption from it (upstream's
/// `checkAndDecrement`), or refuses the eviction.
async fn check_disruption_budget(ctx: &Ctx, pod: &Value, dry_run: bool) -> Result<(), StatusError> {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    if matches!(phase, Some("Succeeded" | "Failed" | "Pending"))
        || pod.pointer("/metadata/deletionTimestamp").is_some()
    {
        return Ok(());
    }
    let Some(pdbs) = ctx
        .state
        .config
        .registry
        .get_arc(&GroupVersionResource::new(
            "policy",
            "v1",
            "poddisruptionbudgets",
        ))
    else {
        return Ok(());
    };
    let namespace = meta_str(pod, "namespace").to_owned();
    let labels: BTreeMap<String, String> = pod
        .pointer("/metadata/labels")
        .cloned()
        .and_then(|l| serde_json::from_value(l).ok())
        .unwrap_or_default();
    let list = ctx
        .storage()
        .list(&pdbs, &namespace, &ListOptions::default())
        .await?;
    let covering: Vec<&Value> = list
        .items
        .iter()
        .filter(|pdb| {
            let selector: Option<ApiLabelSelector> = pdb
                .pointer("/spec/selector")
                .cloned()
                .and_then(|s| serde_json::from_value(s).ok());
            LabelSelector::from_api(selector.as_ref())
                .is_ok_and(|s| !s.is_empty() && s.matches(&labels))
        })
        .collect();
    let pdb = match covering.as_slice() {
        [] => return Ok(()),
        [one] => *one,
        _ => {
            return Err(StatusError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
    };
    let pdb_name = meta_str(pdb, "name").to_owned();
    let ready = is_ready(pod);
    let policy = pdb
        .pointer("/spec/unhealthyPodEvictionPolicy")
        .and_then(Value::as_str)
        .unwrap_or("IfHealthyBudget");
    let status_of = |pdb: &Value, field: &str| {
        pdb.pointer(&format!("/status/{field}"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    if !ready {
        if policy == "AlwaysAllow" {
            return Ok(());
        }
        let desired = status_of(pdb, "desiredHealthy");
        if status_of(pdb, "currentHealthy") >= desired && desired > 0 {
            return Ok(());
        }
    }
    let pod_name = meta_str(pod, "name").to_owned();
    let now = crate::server::clock::format_time(ctx.state.config.clock.now());
    let take = |stored: &Value| -> Result<Value, StatusError> {
        let generation = stored
            .pointer("/metadata/generation")
            .and_then(Value::as_i64);
        let observed = stored
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64);
        if observed < generation {
            return Err(StatusError::too_many_requests(
                format!(
                    "Cannot evict pod as it would violate the pod's disruption budget. The disruption budget {pdb_name} is still being processed by the server."
                ),
                10,
            ));
        }
        let allowed = status_of(stored, "disruptionsAllowed");
        if allowed < 0 {
            return Err(StatusError::forbidden_with(
                "",
                "pods",
                &pod_name,
                "pdb disruptions allowed is negative",
            ));
        }
        if allowed == 0 {
            return Err(budget_refuses(format!(
                "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                status_of(stored, "desiredHealthy"),
                status_of(stored, "currentHealthy")
            )));
        }
        let mut next = stored.clone();
        let status = next
            .as_object_mut()
            .map(|o| o.entry("status").or_insert_with(|| json!({})))
            .ok_or_else(|| StatusError::internal("a PodDisruptionBudget that is no object"))?;
        status["disruptionsAllowed"] = json!(allowed - 1);
        if !status.get("disruptedPods").is_some_and(Value::is_object) {
            status["disruptedPods"] = json!({});
        }
        status["disruptedPods"][&pod_name] = json!(now);
        if allowed - 1 == 0 {
            let conditions = status
                .as_object_mut()
                .map(|o| o.entry("conditions").or_insert_with(|| json!([])));
            if let Some(Value::Array(conditions)) = conditions {
                conditions.retain(|c| c["type"] != "DisruptionAllowed");
                conditions.push(json!({
                    "type": "DisruptionAllowed",
                    "status": "False",
                    "reason": "InsufficientPods",
                    "message": "",
                    "observedGeneration": observed,
                    "lastTransitionTime": now,
                }));
            }
        }
        Ok(next)
    };
    ctx.storage()
        .update(&pdbs, &namespace, &pdb_name, "status", dry_run, take)
        .await?;
    Ok(())
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
