//! The authorization.k8s.io/v1 reviews, answered by the server's authorizer chain and never
//! stored: SubjectAccessReview (may this user do this), LocalSubjectAccessReview (the same in
//! one namespace), SelfSubjectAccessReview (may I: `kubectl auth can-i`) and
//! SelfSubjectRulesReview (what may I do in a namespace: `kubectl auth can-i --list`).

use std::collections::BTreeMap;

use http::{StatusCode, header};
use kube_core::status::StatusError;
use serde_json::{Value, json};

use super::{Ctx, HandlerResult};
use crate::server::authn::UserInfo;
use crate::server::authz::{Attributes, Decision};
use crate::server::negotiate::accept_json;
use crate::server::response;

/// The group of the reviews.
const GROUP: &str = "authorization.k8s.io";

/// Whether the request is the create of one of the four reviews.
pub fn is_review(group: &str, resource: &str) -> bool {
    group == GROUP
        && matches!(
            resource,
            "subjectaccessreviews"
                | "localsubjectaccessreviews"
                | "selfsubjectaccessreviews"
                | "selfsubjectrulesreviews"
        )
}

/// POST of a review: 201 with its `status`.
pub async fn create(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    let mut review = ctx.json_body()?;
    let kind = ctx.resource.kind.clone();
    let given = review
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !given.is_empty() && given != kind {
        return Err(StatusError::bad_request(format!(
            "the body is a {given}, not a {kind}"
        )));
    }
    let spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = match ctx.resource.plural.as_str() {
        "selfsubjectrulesreviews" => rules_review(ctx, &spec).await?,
        "selfsubjectaccessreviews" => access_review(ctx, &ctx.user, &spec).await?,
        plural => {
            let user = spec_user(&spec);
            if user.name.is_empty() && user.groups.is_empty() {
                return Err(StatusError::invalid(
                    GROUP,
                    &kind,
                    "",
                    &kube_core::validation::ErrorList::from(vec![
                        kube_core::validation::FieldError::required(
                            &kube_core::validation::Path::new("spec").child("user"),
                            "at least one of user or group must be specified",
                        ),
                    ]),
                ));
            }
            let mut spec = spec.clone();
            if plural == "localsubjectaccessreviews" {
                let ns = ctx.request.namespace.clone();
                let given = spec
                    .pointer("/resourceAttributes/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if spec.get("resourceAttributes").is_none() {
                    return Err(StatusError::bad_request(
                        "spec.resourceAttributes is required for a LocalSubjectAccessReview",
                    ));
                }
                if !given.is_empty() && given != ns {
                    return Err(StatusError::bad_request(format!(
                        "spec.resourceAttributes.namespace must match namespace: {ns}"
                    )));
                }
                spec["resourceAttributes"]["namespace"] = json!(ns);
            }
            access_review(ctx, &user, &spec).await?
        }
    };
    if let Some(map) = review.as_object_mut() {
        map.insert("kind".to_owned(), json!(kind));
        map.insert(
            "apiVersion".to_owned(),
            json!(format!("{GROUP}/{}", ctx.request.version)),
        );
        map.entry("metadata").or_insert_with(|| json!({}));
        map.insert("status".to_owned(), status);
    }
    Ok(response::json(StatusCode::CREATED, &review))
}

/// The user a SubjectAccessReview's spec names.
fn spec_user(spec: &Value) -> UserInfo {
    let s = |p: &str| {
        spec.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let groups = spec
        .get("groups")
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let extra: BTreeMap<String, Vec<String>> = spec
        .get("extra")
        .cloned()
        .and_then(|e| serde_json::from_value(e).ok())
        .unwrap_or_default();
    UserInfo {
        name: s("/user"),
        uid: s("/uid"),
        groups,
        extra,
    }
}

/// The attributes a review spec asks about for `user`.
fn attributes(user: &UserInfo, spec: &Value) -> Result<Attributes, StatusError> {
    let s = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    if let Some(r) = spec.get("resourceAttributes") {
        let mut a = Attributes::resource(
            user,
            &s(r, "/verb"),
            &s(r, "/group"),
            &s(r, "/resource"),
            &s(r, "/namespace"),
            &s(r, "/name"),
        );
        a.api_version = s(r, "/version");
        a.subresource = s(r, "/subresource");
        a.field_selector = s(r, "/fieldSelector/rawSelector");
        return Ok(a);
    }
    if let Some(n) = spec.get("nonResourceAttributes") {
        return Ok(Attributes::non_resource(
            user,
            &s(n, "/verb"),
            &s(n, "/path"),
        ));
    }
    Err(StatusError::bad_request(
        "exactly one of nonResourceAttributes or resourceAttributes must be specified",
    ))
}

async fn access_review(ctx: &Ctx, user: &UserInfo, spec: &Value) -> Result<Value, StatusError> {
    let a = attributes(user, spec)?;
    Ok(match ctx.state.authorizer.authorize(&a).await {
        Decision::Allow => json!({"allowed": true}),
        Decision::Deny(reason) => json!({"allowed": false, "denied": true, "reason": reason}),
        Decision::NoOpinion(reason) if reason.is_empty() => json!({"allowed": false}),
        Decision::NoOpinion(reason) => json!({"allowed": false, "reason": reason}),
    })
}

async fn rules_review(ctx: &Ctx, spec: &Value) -> Result<Value, StatusError> {
    let namespace = spec
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if namespace.is_empty() {
        return Err(StatusError::bad_request(
            "no namespace on request: spec.namespace is required",
        ));
    }
    let rules = ctx.state.authorizer.rules_for(&ctx.user, namespace).await;
    let resource: Vec<Value> = rules
        .resource_rules
        .iter()
        .map(|r| {
            let mut v =
                json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
            if !r.resource_names.is_empty() {
                v["resourceNames"] = json!(r.resource_names);
            }
            v
        })
        .collect();
    let non_resource: Vec<Value> = rules
        .non_resource_rules
        .iter()
        .map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}))
        .collect();
    Ok(json!({
        "resourceRules": resource,
        "nonResourceRules": non_resource,
        "incomplete": rules.incomplete,
    }))
}
