//! `serviceaccounts/token` (a TokenRequest, authentication.k8s.io/v1): a service-account token
//! for chosen audiences and lifetime, optionally bound to a pod or secret; and
//! [`StoredObjects`], the [`TokenGetter`] that checks tokens against storage.
//!
//! As upstream: the audiences default to the server's, `expirationSeconds` to 3600, at least
//! 600 and at most 2^32 (422 otherwise), shortened to [`Config::max_token_expiration`] with a
//! warning; a bound object must exist (404), carry the given uid (409), and a bound pod must
//! run as the service account (400). Nothing is stored.
//!
//! [`Config::max_token_expiration`]: crate::server::Config::max_token_expiration

use std::sync::Arc;

use http::{HeaderValue, StatusCode, header};
use kube_core::gvk::GroupVersionResource;
use kube_core::registry::Registry;
use kube_core::status::StatusError;
use kube_core::validation::{ErrorList, FieldError, Path};
use serde_json::{Value, json};

use super::{Ctx, HandlerResult};
use crate::server::authn::service_account::{
    LiveObject, ObjectRef, TokenGetter, TokenObject, TokenSpec,
};
use crate::server::clock::format_time;
use crate::server::negotiate::accept_json;
use crate::server::response;
use crate::server::storage::Storage;

/// The default lifetime of a requested token (upstream's defaulting).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest lifetime a TokenRequest may ask for (10 minutes).
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The longest lifetime a TokenRequest may ask for (2^32 seconds).
pub const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

const GROUP: &str = "authentication.k8s.io";

/// POST of a TokenRequest for the service account the path names: 201 with `status.token`
/// and `status.expirationTimestamp`.
pub async fn create(ctx: &Ctx) -> HandlerResult {
    accept_json(ctx.header(header::ACCEPT))?;
    let Some(issuer) = ctx
        .state
        .config
        .token_issuer
        .as_ref()
        .filter(|t| t.can_issue())
    else {
        return Err(StatusError::service_unavailable(
            "this server issues no service-account tokens: it was started without a \
             service-account signing key",
        ));
    };
    let request = ctx.json_body()?;
    let kind = request
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !kind.is_empty() && kind != "TokenRequest" {
        return Err(StatusError::bad_request(format!(
            "the body is a {kind}, not a TokenRequest"
        )));
    }
    let namespace = ctx.request.namespace.as_str();
    let name = ctx.request.name.as_str();
    let account = ctx.storage().get(&ctx.resource, namespace, name).await?;
    let spec_in = request.get("spec").cloned().unwrap_or_else(|| json!({}));
    let requested = match spec_in.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(v) => v.as_i64().ok_or_else(|| {
            StatusError::bad_request(format!("spec.expirationSeconds: not an integer: {v}"))
        })?,
    };
    let mut errors = ErrorList::new();
    let path = Path::new("spec").child("expirationSeconds");
    if requested < MIN_EXPIRATION_SECONDS {
        errors.push(FieldError::invalid(
            &path,
            requested,
            "may not specify a duration less than 10 minutes",
        ));
    }
    if requested > MAX_EXPIRATION_SECONDS {
        errors.push(FieldError::invalid(
            &path,
            requested,
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    if !errors.is_empty() {
        return Err(StatusError::invalid(GROUP, "TokenRequest", "", &errors));
    }
    let mut seconds = requested;
    let mut warning = None;
    if let Some(max) = ctx.state.config.max_token_expiration {
        let max = i64::try_from(max.as_secs()).unwrap_or(i64::MAX);
        if seconds > max {
            warning = Some(format!(
                "requested expiration of {seconds} seconds shortened to {max} seconds"
            ));
            seconds = max;
        }
    }
    let audiences: Vec<String> = match spec_in.get("audiences") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            StatusError::bad_request(format!("spec.audiences: not a list of strings: {e}"))
        })?,
    };
    let mut spec = TokenSpec {
        namespace: namespace.to_owned(),
        service_account: ObjectRef {
            name: name.to_owned(),
            uid: text(&account, "/metadata/uid"),
        },
        audiences: if audiences.is_empty() {
            issuer.audiences().to_vec()
        } else {
            audiences
        },
        expiration_seconds: seconds,
        pod: None,
        secret: None,
    };
    let bound = spec_in.get("boundObjectRef").filter(|b| !b.is_null());
    if let Some(bound) = bound {
        bind(ctx, bound, &mut spec).await?;
    }
    let (token, exp) = issuer
        .issue_request(&spec)
        .map_err(|e| StatusError::internal(format!("issuing the token failed: {e}")))?;
    let expiration = k8s_openapi::jiff::Timestamp::from_second(exp)
        .map(format_time)
        .map_err(|e| StatusError::internal(format!("the token's expiry is out of range: {e}")))?;
    let mut spec_out = json!({"audiences": spec.audiences, "expirationSeconds": seconds});
    if let Some(bound) = bound {
        spec_out["boundObjectRef"] = bound.clone();
    }
    let mut out = response::json(
        StatusCode::CREATED,
        &json!({
            "kind": "TokenRequest",
            "apiVersion": format!("{GROUP}/v1"),
            "metadata": {"name": name, "namespace": namespace,
                         "creationTimestamp": Value::Null},
            "spec": spec_out,
            "status": {"token": token, "expirationTimestamp": expiration},
        }),
    );
    if let Some(w) = warning
        && let Ok(value) = HeaderValue::from_str(&format!("299 - \"{w}\""))
    {
        out.headers_mut().append(header::WARNING, value);
    }
    Ok(out)
}

/// Resolves `spec.boundObjectRef` into `spec`: the object must exist in the namespace and
/// carry the given uid; a pod must run as the service account.
async fn bind(ctx: &Ctx, bound: &Value, spec: &mut TokenSpec) -> Result<(), StatusError> {
    let kind = bound
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let api_version = bound
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("v1");
    let object_name = bound
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let uid = bound.get("uid").and_then(Value::as_str).unwrap_or_default();
    let resource = match (api_version, kind) {
        ("v1", "Pod") => "pods",
        ("v1", "Secret") => "secrets",
        _ => {
            return Err(StatusError::bad_request(format!(
                "cannot bind token to object of type {api_version}, Kind={kind}"
            )));
        }
    };
    if object_name.is_empty() {
        let mut errors = ErrorList::new();
        errors.push(FieldError::required(
            &Path::new("spec").child("boundObjectRef").child("name"),
            "",
        ));
        return Err(StatusError::invalid(GROUP, "TokenRequest", "", &errors));
    }
    let snapshot = ctx.state.snapshot();
    let info = snapshot
        .registry
        .get(&GroupVersionResource::new("", "v1", resource))
        .ok_or_else(|| StatusError::internal(format!("the server does not serve {resource}")))?;
    let object = ctx
        .storage()
        .get(info, &spec.namespace, object_name)
        .await?;
    if kind == "Pod" {
        let runs_as = text(&object, "/spec/serviceAccountName");
        let runs_as = if runs_as.is_empty() {
            "default"
        } else {
            &runs_as
        };
        if runs_as != spec.service_account.name {
            return Err(StatusError::bad_request(format!(
                "cannot bind token for serviceaccount {:?} to pod running with different \
                 serviceaccount name.",
                spec.service_account.name
            )));
        }
    }
    let live_uid = text(&object, "/metadata/uid");
    if !uid.is_empty() && uid != live_uid {
        return Err(StatusError::conflict_with(
            "",
            kind,
            object_name,
            &format!(
                "the UID in the bound object reference ({uid}) does not match the UID in \
                 record. The object might have been deleted and then recreated"
            ),
        ));
    }
    let reference = ObjectRef {
        name: object_name.to_owned(),
        uid: live_uid,
    };
    if kind == "Pod" {
        spec.pod = Some(reference);
    } else {
        spec.secret = Some(reference);
    }
    Ok(())
}

fn text(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The [`TokenGetter`] over the server's storage: one read of the store per object.
#[derive(Debug, Clone)]
pub struct StoredObjects {
    storage: Storage,
    registry: Registry,
}

impl StoredObjects {
    /// Reads through `storage` the resources of `registry`.
    pub fn new(storage: Storage, registry: Registry) -> Arc<Self> {
        Arc::new(Self { storage, registry })
    }
}

#[async_trait::async_trait]
impl TokenGetter for StoredObjects {
    async fn get(
        &self,
        kind: TokenObject,
        namespace: &str,
        name: &str,
    ) -> Result<Option<LiveObject>, String> {
        let gvr = GroupVersionResource::new("", "v1", kind.resource());
        let info = self
            .registry
            .get(&gvr)
            .ok_or_else(|| format!("the server does not serve {}", kind.resource()))?;
        let object = match self.storage.get(info, namespace, name).await {
            Ok(object) => object,
            Err(e) if e.code() == 404 => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let deletion_timestamp = object
            .pointer("/metadata/deletionTimestamp")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
            .map(|t| t.as_second());
        Ok(Some(LiveObject {
            uid: text(&object, "/metadata/uid"),
            deletion_timestamp,
        }))
    }
}
