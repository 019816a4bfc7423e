//! The `scale` subresource of deployments, replica sets, stateful sets and replication
//! controllers: an autoscaling/v1 Scale read from, and written to, the parent's
//! `spec.replicas`; and of custom resources, at the paths of their CRD's `scale`.

use http::{StatusCode, header};
use kube_core::patch::{self, PatchType};
use kube_core::registry::{ResourceInfo, Verb};
use kube_core::status::{Reason, StatusError};
use kube_core::validation::{ErrorList, FieldError, Path};
use serde_json::{Value, json};

use super::{Ctx, HandlerResult};
use crate::server::negotiate::{accept_json, patch_type};
use crate::server::response::json;
use crate::server::storage::meta::meta_str;

/// GET, PUT or PATCH of `<parent>/scale`.
pub async fn scale(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    let r = &ctx.request;
    let info = &ctx.resource;
    let paths = match ctx.state.custom.version_of(info) {
        Some(version) => match &version.scale {
            Some(scale) => ScalePaths::custom(scale),
            None => return Err(crate::server::response::path_not_found()),
        },
        None => ScalePaths::default(),
    };
    match r.verb {
        Verb::Get => {
            let parent = ctx.storage().get(info, &r.namespace, &r.name).await?;
            Ok(json(StatusCode::OK, &paths.to_scale(&parent)))
        }
        Verb::Update | Verb::Patch => {
            let dry_run = ctx.dry_run()?;
            let change = if r.verb == Verb::Update {
                ScaleChange::Replace(body(ctx)?)
            } else {
                let kind = patch_type(ctx.header(header::CONTENT_TYPE))?;
                if kind == PatchType::Apply {
                    return Err(StatusError::unsupported_media_type(&[
                        PatchType::Json.content_type(),
                        PatchType::Merge.content_type(),
                        PatchType::StrategicMerge.content_type(),
                    ]));
                }
                ScaleChange::Patch(kind, ctx.json_body()?)
            };
            // Admitted as an UPDATE of the scale subresource. Upstream's plugins see the Scale;
            // here they see the parent object with the new replica count.
            let admit = ctx.admission(ctx.write_options("UpdateOptions"));
            let outcome = ctx
                .storage()
                .update_admitted(
                    info,
                    &r.namespace,
                    &r.name,
                    "",
                    dry_run,
                    None,
                    Some(&admit),
                    |old| apply(info, &paths, old, &change),
                )
                .await?;
            Ok(json(
                StatusCode::OK,
                &paths.to_scale(&outcome.into_object()),
            ))
        }
        _ => Err(StatusError::method_not_supported(
            &info.group,
            &format!("{}/scale", info.plural),
            r.verb.as_str(),
        )),
    }
}

/// What a write asks of the Scale.
enum ScaleChange {
    /// A whole new Scale (PUT).
    Replace(Value),
    /// A patch of the current Scale.
    Patch(PatchType, Value),
}

/// The request body as a Scale (protobuf bodies decode as autoscaling/v1 Scale).
fn body(ctx: &Ctx) -> Result<Value, StatusError> {
    if crate::server::protobuf::is_protobuf(ctx.header(header::CONTENT_TYPE)) {
        return Ok(crate::server::protobuf::decode(
            &ctx.body,
            Some(("autoscaling/v1", "Scale")),
        )?);
    }
    ctx.json_body()
}

/// The parent with the replicas of the Scale the change makes of `old`'s; 409 on a stale
/// resourceVersion, 422 on a negative or non-integer replica count.
fn apply(
    info: &ResourceInfo,
    paths: &ScalePaths,
    old: &Value,
    change: &ScaleChange,
) -> Result<Value, StatusError> {
    let current = paths.to_scale(old);
    let wanted = match change {
        ScaleChange::Replace(scale) => scale.clone(),
        ScaleChange::Patch(kind, body) => {
            // A Scale has no lists, so its strategic merge patch is a merge patch.
            let kind = match kind {
                PatchType::StrategicMerge => PatchType::Merge,
                other => *other,
            };
            patch::apply(kind, &current, body, None)
                .map_err(|e| StatusError::new(422, Reason::Invalid, e.to_string(), None))?
        }
    };
    let name = meta_str(old, "name");
    if meta_str(&wanted, "name") != name {
        return Err(StatusError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta_str(&wanted, "name")
        )));
    }
    let rv = meta_str(&wanted, "resourceVersion");
    if !rv.is_empty() && rv != meta_str(old, "resourceVersion") {
        return Err(StatusError::conflict(&info.group, &info.plural, name));
    }
    let path = Path::new("spec").child("replicas");
    let value = wanted
        .pointer("/spec/replicas")
        .cloned()
        .unwrap_or(json!(0));
    let mut errs = ErrorList::new();
    match value.as_i64() {
        Some(n) if n < 0 => errs.push(FieldError::invalid(
            &path,
            n,
            "must be greater than or equal to 0",
        )),
        Some(n) if i32::try_from(n).is_err() => errs.push(FieldError::invalid(
            &path,
            n,
            "must be less than or equal to 2147483647",
        )),
        Some(_) => {}
        None => errs.push(FieldError::invalid(
            &path,
            value.clone(),
            "must be an integer",
        )),
    }
    if !errs.is_empty() {
        return Err(StatusError::invalid("autoscaling", "Scale", name, &errs));
    }
    let mut new = old.clone();
    set_pointer(&mut new, &paths.spec_replicas, value);
    Ok(new)
}

/// Where a parent keeps what its Scale shows, as JSON pointers.
#[derive(Debug, Clone)]
struct ScalePaths {
    spec_replicas: String,
    status_replicas: String,
    /// The selector: a LabelSelector (built-in kinds) or, for custom resources, the
    /// serialized selector text `labelSelectorPath` points at.
    selector: Option<String>,
}

impl Default for ScalePaths {
    fn default() -> Self {
        Self {
            spec_replicas: "/spec/replicas".to_owned(),
            status_replicas: "/status/replicas".to_owned(),
            selector: Some("/spec/selector".to_owned()),
        }
    }
}

impl ScalePaths {
    /// The paths of a CRD version's `scale` (simple JSON paths such as `.spec.replicas`).
    fn custom(scale: &kube_core::crd::ScaleSpec) -> Self {
        let pointer = |p: &str| p.replace('.', "/");
        Self {
            spec_replicas: pointer(&scale.spec_replicas_path),
            status_replicas: pointer(&scale.status_replicas_path),
            selector: scale.label_selector_path.as_deref().map(pointer),
        }
    }

    /// The autoscaling/v1 Scale of `parent`.
    fn to_scale(&self, parent: &Value) -> Value {
        let mut scale = to_scale(parent);
        let replicas = |pointer: &str| parent.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
        scale["spec"]["replicas"] = json!(replicas(&self.spec_replicas));
        scale["status"] = json!({"replicas": replicas(&self.status_replicas)});
        let selector = self
            .selector
            .as_deref()
            .and_then(|p| parent.pointer(p))
            .map(|s| match s {
                Value::String(text) => text.clone(),
                other => selector_string(other),
            });
        if let Some(selector) = selector.filter(|s| !s.is_empty()) {
            scale["status"]["selector"] = json!(selector);
        }
        scale
    }
}

/// Sets the value at a JSON pointer, creating the objects on the way.
fn set_pointer(obj: &mut Value, pointer: &str, value: Value) {
    let mut at = obj;
    let parts: Vec<&str> = pointer.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let Some(map) = at.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            map.insert((*part).to_owned(), value);
            return;
        }
        at = map.entry(*part).or_insert_with(|| json!({}));
    }
}

/// The autoscaling/v1 Scale of a parent object.
pub fn to_scale(parent: &Value) -> Value {
    let meta = |field: &str| Value::String(meta_str(parent, field).to_owned());
    let replicas = |pointer: &str| parent.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
    let mut status = json!({"replicas": replicas("/status/replicas")});
    let selector = parent.pointer("/spec/selector").map(selector_string);
    if let Some(selector) = selector.filter(|s| !s.is_empty()) {
        status["selector"] = json!(selector);
    }
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": meta("name"),
            "namespace": meta("namespace"),
            "uid": meta("uid"),
            "resourceVersion": meta("resourceVersion"),
            "creationTimestamp": meta("creationTimestamp"),
        },
        "spec": {"replicas": replicas("/spec/replicas")},
        "status": status,
    })
}

/// A selector as label selector text, requirements sorted by key as upstream prints them: a
/// metav1.LabelSelector (`matchLabels`, `matchExpressions`) or a replication controller's
/// plain map.
pub fn selector_string(selector: &Value) -> String {
    let Some(map) = selector.as_object() else {
        return String::new();
    };
    let structured = map.contains_key("matchLabels") || map.contains_key("matchExpressions");
    let mut parts: Vec<(String, String)> = Vec::new();
    let labels = if structured {
        map.get("matchLabels").and_then(Value::as_object)
    } else {
        Some(map)
    };
    for (k, v) in labels.into_iter().flatten() {
        if let Some(v) = v.as_str() {
            parts.push((k.clone(), format!("{k}={v}")));
        }
    }
    let expressions = map
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for e in expressions {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let mut values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        values.sort_unstable();
        let text = match e.get("operator").and_then(Value::as_str) {
            Some("In") => format!("{key} in ({})", values.join(",")),
            Some("NotIn") => format!("{key} notin ({})", values.join(",")),
            Some("Exists") => key.to_owned(),
            Some("DoesNotExist") => format!("!{key}"),
            _ => continue,
        };
        parts.push((key.to_owned(), text));
    }
    parts.sort();
    parts
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_text_sorts_and_prints_expressions() {
        let s = json!({
            "matchLabels": {"tier": "web", "app": "x"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "gone", "operator": "DoesNotExist"},
            ],
        });
        assert_eq!(
            selector_string(&s),
            "app=x,env in (dev,prod),!gone,tier=web"
        );
        assert_eq!(selector_string(&json!({"app": "rc"})), "app=rc");
    }
}
