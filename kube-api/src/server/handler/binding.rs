//! Binding a pod to a node: the `pods/binding` subresource and the legacy `bindings`
//! resource of a namespace, as the scheduler uses them.

use http::{StatusCode, header};
use kube_core::status::{Reason, StatusError};
use serde_json::{Value, json};

use super::{Ctx, HandlerResult};
use crate::server::admission::Operation;
use crate::server::negotiate::accept_json;
use crate::server::response::json;
use crate::server::storage::{
    self,
    meta::{self, meta_str},
};
use kube_core::registry::ResourceInfo;

/// POST of a v1 Binding: sets the pod's `spec.nodeName` (409 if it is already bound or being
/// deleted) and its PodScheduled condition; answers 201 with a success Status.
pub async fn bind(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    let dry_run = ctx.dry_run()?;
    let binding = if crate::server::protobuf::is_protobuf(ctx.header(header::CONTENT_TYPE)) {
        crate::server::protobuf::decode(&ctx.body, Some(("v1", "Binding")))?
    } else {
        ctx.json_body()?
    };
    let r = &ctx.request;
    let name = meta_str(&binding, "name").to_owned();
    // On `pods/{name}/binding` the URL names the pod; on `bindings` the body does.
    let pod = if r.subresource.is_empty() {
        name.clone()
    } else {
        r.name.clone()
    };
    if name != pod {
        return Err(StatusError::bad_request(
            "name in URL does not match name in Binding object",
        ));
    }
    let ns = meta_str(&binding, "namespace");
    if !ns.is_empty() && ns != r.namespace {
        return Err(StatusError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let kind = binding
        .pointer("/target/kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !kind.is_empty() && kind != "Node" {
        return Err(StatusError::new(
            422,
            Reason::Invalid,
            "Binding target must be a Node",
            None,
        ));
    }
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if node.is_empty() {
        return Err(StatusError::new(
            422,
            Reason::Invalid,
            "Binding target.name is required",
            None,
        ));
    }
    let annotations = binding
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let pods = ctx
        .state
        .config
        .registry
        .get_arc(&kube_core::gvk::GroupVersionResource::new("", "v1", "pods"))
        .ok_or_else(|| StatusError::not_found("", "pods", &pod))?;
    // Admitted as a CREATE of pods/binding with the Binding as its object, as upstream.
    let admit = ctx.admission(ctx.write_options("CreateOptions"));
    let mut attrs = admit.attributes(&pods, Operation::Create, &r.namespace, &pod, dry_run);
    attrs.subresource = "binding".to_owned();
    attrs.kind = "Binding".to_owned();
    attrs.object = Some(binding.clone());
    admit.admit_and_validate(&mut attrs, ctx.storage()).await?;
    let now = crate::server::clock::format_time(ctx.state.config.clock.now());
    // Upstream's binding writes the pod directly (no update strategy): a pod update may not
    // change spec.nodeName, a binding may.
    guaranteed_write(ctx, &pods, &r.namespace, &pod, dry_run, |old| {
        if !meta_str(old, "deletionTimestamp").is_empty() {
            return Err(StatusError::conflict_with(
                "",
                "pods",
                &pod,
                &format!("pod {pod} is being deleted, cannot be assigned to a host"),
            ));
        }
        let bound = old
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !bound.is_empty() {
            return Err(StatusError::conflict_with(
                "",
                "pods",
                &pod,
                &format!("pod {pod} is already assigned to node {bound:?}"),
            ));
        }
        let mut new = old.clone();
        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("nodeName".to_owned(), json!(node));
        }
        if !annotations.is_empty() {
            let m = meta::metadata_mut(&mut new);
            let a = m.entry("annotations").or_insert_with(|| json!({}));
            if let Some(a) = a.as_object_mut() {
                for (k, v) in &annotations {
                    a.insert(k.clone(), v.clone());
                }
            }
        }
        set_scheduled(&mut new, &now);
        Ok(new)
    })
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

/// Reads the object, changes it with `change` and writes it if its revision is still the
/// one read, retrying on conflicts with other writers; the strategy is not consulted.
async fn guaranteed_write<F>(
    ctx: &Ctx,
    info: &ResourceInfo,
    namespace: &str,
    name: &str,
    dry_run: bool,
    mut change: F,
) -> Result<Value, StatusError>
where
    F: FnMut(&Value) -> Result<Value, StatusError>,
{
    let store = ctx.storage().store();
    let key = storage::key::object_key(info, namespace, name);
    for _ in 0..storage::MAX_UPDATE_ATTEMPTS {
        let kv = store
            .get(&key)
            .await
            .map_err(|e| storage::store_error(e, info, name))?
            .ok_or_else(|| StatusError::not_found(&info.group, &info.plural, name))?;
        let old = storage::decode(info, &kv)?;
        let mut new = change(&old)?;
        if dry_run {
            return Ok(new);
        }
        match store
            .update(&key, storage::encode(info, &new)?, kv.mod_revision)
            .await
        {
            Ok(revision) => {
                meta::set_meta(&mut new, "resourceVersion", revision.to_string());
                return Ok(new);
            }
            Err(kube_store::Error::Conflict { .. }) => {}
            Err(e) => return Err(storage::store_error(e, info, name)),
        }
    }
    Err(StatusError::conflict(&info.group, &info.plural, name))
}

/// Sets the pod's PodScheduled condition to True.
fn set_scheduled(pod: &mut Value, now: &str) {
    let Some(obj) = pod.as_object_mut() else {
        return;
    };
    let status = obj.entry("status").or_insert_with(|| json!({}));
    let Some(status) = status.as_object_mut() else {
        return;
    };
    let conditions = status
        .entry("conditions")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(list) = conditions.as_array_mut() else {
        return;
    };
    list.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
    list.push(json!({
        "type": "PodScheduled",
        "status": "True",
        "lastProbeTime": null,
        "lastTransitionTime": now,
    }));
}
