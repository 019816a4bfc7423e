//! Admission webhooks: MutatingWebhookConfiguration and ValidatingWebhookConfiguration
//! (admissionregistration.k8s.io/v1), called over HTTPS with AdmissionReview v1.
//!
//! For each request the configurations are read from the store (once, however often the
//! request is retried on conflicts), in name order as upstream's are. A webhook is
//! called when its `rules` (operations, apiGroups, apiVersions, resources with `*` and
//! `x/*`, scope), `namespaceSelector` and `objectSelector` match. It is reached at
//! `clientConfig.url`, or for `clientConfig.service` at the first address of the service's
//! Endpoints (upstream dials the service's cluster IP through kube-proxy, which tests do not
//! have), verified as `NAME.NAMESPACE.svc` against `caBundle`; a webhook without a `caBundle`
//! cannot be called (upstream falls back to the system roots). Calls time out after
//! `timeoutSeconds` (10 s by default). A failed call is ignored with `failurePolicy: Ignore`
//! and refuses the request (500) with `Fail`, the default. A denial answers the webhook's
//! status code (403 by default) with `admission webhook "NAME" denied the request: ...`.
//! Mutating webhooks run in order and their JSONPatch responses change the object; with
//! `reinvocationPolicy: IfNeeded` they run once more when a later plugin changed it.
//! Validating webhooks run concurrently. A dry-run request calls only webhooks whose
//! `sideEffects` is `None` or `NoneOnDryRun` and is refused (400) by any other that matches.
//! `matchPolicy` Equivalent and Exact behave alike: each resource is served at one version.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Full};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as ApiLabelSelector;
use kube_core::registry::ResourceInfo;
use kube_core::selector::label::LabelSelector;
use kube_core::status::{Reason, StatusError};
use rustls::pki_types::ServerName;
use serde_json::{Value, json};

use super::{Attributes, MutatingAdmission, Operation, ValidatingAdmission};
use crate::server::storage::{Storage, meta};

/// How long a call waits when `timeoutSeconds` is not set (upstream's 10 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest `timeoutSeconds` honoured (upstream's validation limit).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest AdmissionReview response read.
const MAX_RESPONSE_BYTES: usize = 3 * 1024 * 1024;

/// Errors of calling a webhook.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The webhook's `clientConfig` cannot be called.
    #[error("invalid client config: {0}")]
    ClientConfig(String),
    /// The `caBundle` does not hold a certificate.
    #[error("invalid caBundle: {0}")]
    CaBundle(String),
    /// Connecting (TCP or TLS) failed.
    #[error("failed to call webhook: Post {url:?}: {source}")]
    Connect {
        /// Where the call went.
        url: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("failed to call webhook: Post {url:?}: {source}")]
    Http {
        /// Where the call went.
        url: String,
        /// Why it failed.
        #[source]
        source: hyper::Error,
    },
    /// No answer within the timeout.
    #[error("failed to call webhook: Post {url:?}: context deadline exceeded")]
    Timeout {
        /// Where the call went.
        url: String,
    },
    /// The webhook answered a status other than 200.
    #[error("failed to call webhook: the server responded with the status code {0}")]
    HttpStatus(u16),
    /// The answer is not an AdmissionReview response for this request.
    #[error("received invalid webhook response: {0}")]
    InvalidResponse(String),
}

/// Which kind of configuration a plugin serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mutating,
    Validating,
}

impl Kind {
    fn info(self) -> ResourceInfo {
        let (kind, plural) = match self {
            Self::Mutating => (
                "MutatingWebhookConfiguration",
                "mutatingwebhookconfigurations",
            ),
            Self::Validating => (
                "ValidatingWebhookConfiguration",
                "validatingwebhookconfigurations",
            ),
        };
        ResourceInfo::new("admissionregistration.k8s.io", "v1", kind, plural, false)
    }
}

/// The mutating webhooks, as one [`MutatingAdmission`] plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct MutatingWebhooks;

/// The validating webhooks, as one [`ValidatingAdmission`] plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidatingWebhooks;

#[async_trait]
impl MutatingAdmission for MutatingWebhooks {
    fn name(&self) -> &str {
        "MutatingAdmissionWebhook"
    }

    fn handles(&self, _operation: Operation) -> bool {
        true
    }

    async fn admit(&self, attrs: &mut Attributes, storage: &Storage) -> Result<(), StatusError> {
        if is_webhook_configuration(attrs) {
            return Ok(());
        }
        let hooks = matching(Kind::Mutating, attrs, storage).await?;
        let mut last_change = None;
        for (i, hook) in hooks.iter().enumerate() {
            // Reinvoked by the chain for a later plugin's change: only IfNeeded hooks run.
            if attrs.reinvoked && hook.reinvocation != "IfNeeded" {
                continue;
            }
            if mutate(hook, attrs, storage).await? {
                last_change = Some(i);
            }
        }
        // Upstream's reinvocation: once more, for IfNeeded hooks that ran before a change.
        if let Some(last) = last_change.filter(|_| !attrs.reinvoked) {
            for hook in hooks[..last]
                .iter()
                .filter(|h| h.reinvocation == "IfNeeded")
            {
                mutate(hook, attrs, storage).await?;
            }
        }
        Ok(())
    }
}

/// Calls one mutating webhook and applies its patch; whether the object changed.
async fn mutate(
    hook: &Hook,
    attrs: &mut Attributes,
    storage: &Storage,
) -> Result<bool, StatusError> {
    let Some(response) = call_or_fail(hook, attrs, storage).await? else {
        return Ok(false);
    };
    attrs.warnings.extend(response.warnings);
    let Some(patch) = response.patch else {
        return Ok(false);
    };
    let object = attrs.object.as_ref().ok_or_else(|| {
        StatusError::internal(format!(
            "admission webhook {:?} sent a patch for a request without an object",
            hook.name
        ))
    })?;
    let patched = kube_core::patch::json::apply(object, &patch).map_err(|e| {
        StatusError::internal(format!(
            "admission webhook {:?} sent a patch that does not apply: {e}",
            hook.name
        ))
    })?;
    let changed = patched != *object;
    attrs.object = Some(patched);
    Ok(changed)
}

#[async_trait]
impl ValidatingAdmission for ValidatingWebhooks {
    fn name(&self) -> &str {
        "ValidatingAdmissionWebhook"
    }

    fn handles(&self, _operation: Operation) -> bool {
        true
    }

    async fn validate(&self, attrs: &mut Attributes, storage: &Storage) -> Result<(), StatusError> {
        if is_webhook_configuration(attrs) {
            return Ok(());
        }
        let hooks = matching(Kind::Validating, attrs, storage).await?;
        let shared: &Attributes = attrs;
        let results =
            futures::future::join_all(hooks.iter().map(|hook| call_or_fail(hook, shared, storage)))
                .await;
        let mut warnings = Vec::new();
        for result in results {
            if let Some(response) = result? {
                warnings.extend(response.warnings);
            }
        }
        attrs.warnings.extend(warnings);
        Ok(())
    }
}

/// Webhook configurations are not sent to webhooks, so a broken webhook cannot lock out its
/// own repair (upstream's rule).
fn is_webhook_configuration(attrs: &Attributes) -> bool {
    attrs.group == "admissionregistration.k8s.io"
}

/// One webhook of a configuration, as read.
#[derive(Debug, Clone)]
struct Hook {
    name: String,
    client_config: Value,
    rules: Vec<Value>,
    fail_open: bool,
    timeout: Duration,
    namespace_selector: Option<Value>,
    object_selector: Option<Value>,
    side_effects: String,
    reinvocation: String,
}

impl Hook {
    fn parse(hook: &Value) -> Self {
        let text = |f: &str| hook.get(f).and_then(Value::as_str).unwrap_or("").to_owned();
        let timeout = hook
            .get("timeoutSeconds")
            .and_then(Value::as_u64)
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TIMEOUT)
            .min(MAX_TIMEOUT);
        Self {
            name: text("name"),
            client_config: hook.get("clientConfig").cloned().unwrap_or(Value::Null),
            rules: hook
                .get("rules")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            fail_open: text("failurePolicy") == "Ignore",
            timeout,
            namespace_selector: hook.get("namespaceSelector").cloned(),
            object_selector: hook.get("objectSelector").cloned(),
            side_effects: text("sideEffects"),
            reinvocation: text("reinvocationPolicy"),
        }
    }
}

/// The webhooks of every configuration of `kind` that match the request, in name order.
async fn matching(
    kind: Kind,
    attrs: &Attributes,
    storage: &Storage,
) -> Result<Vec<Hook>, StatusError> {
    let configs = configurations(kind, attrs, storage).await?;
    let mut hooks = Vec::new();
    let mut namespace_labels = None;
    for config in configs.iter() {
        let Some(list) = config.get("webhooks").and_then(Value::as_array) else {
            continue;
        };
        for hook in list.iter().map(Hook::parse) {
            if !hook.rules.iter().any(|r| rule_matches(r, attrs)) {
                continue;
            }
            if !selector_matches(hook.object_selector.as_ref(), attrs.object.as_ref())
                && !selector_matches(hook.object_selector.as_ref(), attrs.old_object.as_ref())
            {
                continue;
            }
            if let Some(selector) = hook.namespace_selector.as_ref() {
                if namespace_labels.is_none() {
                    namespace_labels = Some(namespace_object(attrs, storage).await?);
                }
                if let Some(Some(ns)) = &namespace_labels
                    && !selector_matches(Some(selector), Some(ns))
                {
                    continue;
                }
            }
            if attrs.dry_run && !matches!(hook.side_effects.as_str(), "None" | "NoneOnDryRun") {
                return Err(StatusError::bad_request(format!(
                    "admission webhook {:?} does not support dry run",
                    hook.name
                )));
            }
            hooks.push(hook);
        }
    }
    Ok(hooks)
}

/// The configurations of `kind`, in name order: read from the store once per request (one
/// range read; upstream keeps them in an informer) and kept in `attrs.reads` for its retries.
async fn configurations(
    kind: Kind,
    attrs: &Attributes,
    storage: &Storage,
) -> Result<Arc<Vec<Value>>, StatusError> {
    super::read_all(attrs, storage, &kind.info(), "").await
}

/// The namespace a namespaceSelector is matched against: the request's namespace, the
/// namespace object itself for namespaces, or none (always matching) for cluster-scoped
/// objects.
async fn namespace_object(
    attrs: &Attributes,
    storage: &Storage,
) -> Result<Option<Value>, StatusError> {
    if attrs.is_core("namespaces") || (attrs.group.is_empty() && attrs.resource == "namespaces") {
        return Ok(attrs.object.clone().or_else(|| attrs.old_object.clone()));
    }
    if attrs.namespace.is_empty() {
        return Ok(None);
    }
    let namespaces = ResourceInfo::new("", "v1", "Namespace", "namespaces", false);
    match storage.get(&namespaces, "", &attrs.namespace).await {
        Ok(ns) => Ok(Some(ns)),
        Err(e) if e.is_not_found() => Ok(Some(json!({}))),
        Err(e) => Err(e),
    }
}

/// Whether a metav1.LabelSelector (`None` or empty: everything) matches `obj`'s labels. An
/// absent object matches only an empty selector.
fn selector_matches(selector: Option<&Value>, obj: Option<&Value>) -> bool {
    let Some(selector) = selector.filter(|s| s.as_object().is_some_and(|o| !o.is_empty())) else {
        return true;
    };
    let Some(obj) = obj else {
        return false;
    };
    let Ok(api) = serde_json::from_value::<ApiLabelSelector>(selector.clone()) else {
        return false;
    };
    let Ok(selector) = LabelSelector::try_from(&api) else {
        return false;
    };
    selector.matches(&meta::labels(obj))
}

/// Whether a RuleWithOperations matches the request.
fn rule_matches(rule: &Value, attrs: &Attributes) -> bool {
    let list = |f: &str| -> Vec<&str> {
        rule.get(f)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let any = |values: &[&str], want: &str| values.iter().any(|v| *v == "*" || *v == want);
    if !any(&list("operations"), attrs.operation.as_str())
        || !any(&list("apiGroups"), &attrs.group)
        || !any(&list("apiVersions"), &attrs.version)
    {
        return false;
    }
    let resource_ok = list("resources").iter().any(|r| {
        let (res, sub) = r.split_once('/').unwrap_or((r, ""));
        let res_ok = res == "*" || res == attrs.resource;
        let sub_ok = if r.contains('/') {
            sub == "*" || sub == attrs.subresource
        } else {
            // `*` alone means every resource but no subresource, as upstream.
            attrs.subresource.is_empty()
        };
        res_ok && sub_ok
    });
    if !resource_ok {
        return false;
    }
    match rule.get("scope").and_then(Value::as_str).unwrap_or("*") {
        "Namespaced" => !attrs.namespace.is_empty(),
        "Cluster" => attrs.namespace.is_empty(),
        _ => true,
    }
}

/// What a webhook answered that allowed the request.
#[derive(Debug, Default)]
struct Allowed {
    patch: Option<Value>,
    warnings: Vec<String>,
}

/// Calls `hook`; `Ok(None)` when the call failed and the hook fails open.
async fn call_or_fail(
    hook: &Hook,
    attrs: &Attributes,
    storage: &Storage,
) -> Result<Option<Allowed>, StatusError> {
    match call(hook, attrs, storage).await {
        Ok(Ok(allowed)) => Ok(Some(allowed)),
        Ok(Err(denied)) => Err(denied),
        Err(e) if hook.fail_open => {
            tracing::warn!(webhook = %hook.name, error = %e, "failed calling webhook, failing open");
            Ok(None)
        }
        Err(e) => Err(StatusError::internal(format!(
            "failed calling webhook {:?}: {e}",
            hook.name
        ))),
    }
}

/// The AdmissionReview of a request.
fn review(uid: &str, attrs: &Attributes) -> Value {
    let kind = json!({"group": attrs.group, "version": attrs.version, "kind": attrs.kind});
    let resource =
        json!({"group": attrs.group, "version": attrs.version, "resource": attrs.resource});
    let mut request = json!({
        "uid": uid,
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "name": attrs.name,
        "operation": attrs.operation.as_str(),
        "userInfo": {
            "username": attrs.user.name,
            "uid": attrs.user.uid,
            "groups": attrs.user.groups,
            "extra": attrs.user.extra,
        },
        "object": attrs.object,
        "oldObject": attrs.old_object,
        "dryRun": attrs.dry_run,
        "options": attrs.options,
    });
    if !attrs.subresource.is_empty() {
        request["subResource"] = json!(attrs.subresource);
        request["requestSubResource"] = json!(attrs.subresource);
    }
    if !attrs.namespace.is_empty() {
        request["namespace"] = json!(attrs.namespace);
    }
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": request,
    })
}

/// Calls the webhook: `Err` when the call failed, `Ok(Err)` when it denied the request.
async fn call(
    hook: &Hook,
    attrs: &Attributes,
    storage: &Storage,
) -> Result<Result<Allowed, StatusError>, Error> {
    let uid = uuid::Uuid::new_v4().to_string();
    let body = serde_json::to_vec(&review(&uid, attrs))
        .map_err(|e| Error::InvalidResponse(e.to_string()))?;
    let (address, server_name, uri) = target(&hook.client_config, storage).await?;
    let ca = ca_bundle(&hook.client_config)?;
    let url = uri.to_string();
    let answer = tokio::time::timeout(hook.timeout, post(&address, server_name, uri, ca, body))
        .await
        .map_err(|_| Error::Timeout { url: url.clone() })??;
    let review: Value =
        serde_json::from_slice(&answer).map_err(|e| Error::InvalidResponse(e.to_string()))?;
    let response = review
        .get("response")
        .ok_or_else(|| Error::InvalidResponse("the response is missing".into()))?;
    if response.get("uid").and_then(Value::as_str) != Some(uid.as_str()) {
        return Err(Error::InvalidResponse(format!(
            "expected response.uid={uid:?}, got {:?}",
            response.get("uid")
        )));
    }
    let warnings = response
        .get("warnings")
        .and_then(Value::as_array)
        .map(|w| {
            w.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if response.get("allowed").and_then(Value::as_bool) != Some(true) {
        return Ok(Err(denial(&hook.name, response.get("status"))));
    }
    let patch = match response.get("patch").and_then(Value::as_str) {
        None | Some("") => None,
        Some(encoded) => {
            let patch_type = response.get("patchType").and_then(Value::as_str);
            if patch_type != Some("JSONPatch") {
                return Err(Error::InvalidResponse(format!(
                    "unsupported patchType {patch_type:?}: only \"JSONPatch\" is supported"
                )));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| Error::InvalidResponse(format!("the patch is not base64: {e}")))?;
            Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| Error::InvalidResponse(format!("the patch is not JSON: {e}")))?,
            )
        }
    };
    Ok(Ok(Allowed { patch, warnings }))
}

/// The Status a denial answers: the webhook's code (403 when it gives none), reason and
/// message, prefixed as upstream's.
fn denial(name: &str, status: Option<&Value>) -> StatusError {
    let status = status.cloned().unwrap_or(Value::Null);
    let code = status
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(403);
    let message = status.get("message").and_then(Value::as_str).unwrap_or("");
    let message = if message.is_empty() {
        format!("admission webhook {name:?} denied the request without explanation")
    } else {
        format!("admission webhook {name:?} denied the request: {message}")
    };
    let reason = match status.get("reason").and_then(Value::as_str) {
        Some(r) if !r.is_empty() => Reason::parse(r),
        _ if code == 403 => Reason::Forbidden,
        _ => Reason::Unknown,
    };
    StatusError::new(code, reason, message, None)
}

/// Where to call: the socket address, the name to verify, and the request URI.
async fn target(
    client_config: &Value,
    storage: &Storage,
) -> Result<(String, ServerName<'static>, Uri), Error> {
    if let Some(url) = client_config.get("url").and_then(Value::as_str) {
        let uri: Uri = url
            .parse()
            .map_err(|e| Error::ClientConfig(format!("invalid url {url:?}: {e}")))?;
        if uri.scheme_str() != Some("https") {
            return Err(Error::ClientConfig(format!("url {url:?} is not https")));
        }
        let host = uri
            .host()
            .ok_or_else(|| Error::ClientConfig(format!("url {url:?} has no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(443);
        let name = ServerName::try_from(host.clone())
            .map_err(|e| Error::ClientConfig(format!("invalid host {host:?}: {e}")))?;
        return Ok((socket_address(&host, port), name, uri));
    }
    let Some(service) = client_config.get("service") else {
        return Err(Error::ClientConfig(
            "one of url and service is required".into(),
        ));
    };
    let text = |f: &str| service.get(f).and_then(Value::as_str).unwrap_or("");
    let (namespace, name, path) = (text("namespace"), text("name"), text("path"));
    let port = service.get("port").and_then(Value::as_u64).unwrap_or(443);
    let (ip, target_port) = service_endpoint(storage, namespace, name, port).await?;
    let dns = format!("{name}.{namespace}.svc");
    let uri: Uri = format!(
        "https://{dns}:{port}{}",
        if path.is_empty() { "/" } else { path }
    )
    .parse()
    .map_err(|e| Error::ClientConfig(format!("invalid service path {path:?}: {e}")))?;
    let server_name = ServerName::try_from(dns.clone())
        .map_err(|e| Error::ClientConfig(format!("invalid service name {dns:?}: {e}")))?;
    Ok((socket_address(&ip, target_port), server_name, uri))
}

/// `host:port`, bracketing IPv6 addresses.
fn socket_address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The first address of the service's Endpoints and the target port of its `port`.
async fn service_endpoint(
    storage: &Storage,
    namespace: &str,
    name: &str,
    port: u64,
) -> Result<(String, u16), Error> {
    let unavailable = |why: String| {
        Error::ClientConfig(format!(
            "service {namespace}/{name} is not reachable: {why}"
        ))
    };
    let services = ResourceInfo::new("", "v1", "Service", "services", true);
    let endpoints = ResourceInfo::new("", "v1", "Endpoints", "endpoints", true);
    let svc = storage
        .get(&services, namespace, name)
        .await
        .map_err(|e| unavailable(e.message().to_owned()))?;
    let ports = svc.pointer("/spec/ports").and_then(Value::as_array);
    let entry = ports
        .and_then(|p| {
            p.iter()
                .find(|p| p.get("port").and_then(Value::as_u64) == Some(port))
        })
        .ok_or_else(|| unavailable(format!("it has no port {port}")))?;
    let ep = storage
        .get(&endpoints, namespace, name)
        .await
        .map_err(|e| unavailable(e.message().to_owned()))?;
    let subset = ep
        .pointer("/subsets/0")
        .ok_or_else(|| unavailable("it has no endpoints".into()))?;
    let ip = subset
        .pointer("/addresses/0/ip")
        .and_then(Value::as_str)
        .ok_or_else(|| unavailable("it has no ready addresses".into()))?;
    let port_name = entry.get("name").and_then(Value::as_str).unwrap_or("");
    let target = subset
        .get("ports")
        .and_then(Value::as_array)
        .and_then(|ports| {
            ports
                .iter()
                .find(|p| p.get("name").and_then(Value::as_str).unwrap_or("") == port_name)
                .or_else(|| ports.first())
        })
        .and_then(|p| p.get("port"))
        .and_then(Value::as_u64)
        .or_else(|| entry.get("targetPort").and_then(Value::as_u64))
        .unwrap_or(port);
    let target = u16::try_from(target).map_err(|_| unavailable(format!("bad port {target}")))?;
    Ok((ip.to_owned(), target))
}

/// The trust roots of `caBundle` (base64 of PEM certificates, as JSON carries bytes).
fn ca_bundle(client_config: &Value) -> Result<rustls::RootCertStore, Error> {
    let encoded = client_config
        .get("caBundle")
        .and_then(Value::as_str)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| Error::CaBundle("caBundle is empty".into()))?;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| Error::CaBundle(format!("not base64: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    let certs = crate::server::tls::certificates_from_pem(&pem, "caBundle")
        .map_err(|e| Error::CaBundle(e.to_string()))?;
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| Error::CaBundle(e.to_string()))?;
    }
    Ok(roots)
}

/// POSTs `body` to `uri` at `address` over TLS (HTTP/1.1), verifying `name` against `roots`;
/// returns the body of a 200 answer.
async fn post(
    address: &str,
    name: ServerName<'static>,
    uri: Uri,
    roots: rustls::RootCertStore,
    body: Vec<u8>,
) -> Result<Bytes, Error> {
    let url = uri.to_string();
    let connect = |source| Error::Connect {
        url: url.clone(),
        source,
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(crate::server::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| connect(std::io::Error::other(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .map_err(connect)?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .map_err(connect)?;
    let http = |source| Error::Http {
        url: url.clone(),
        source,
    };
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(http)?;
    let driver = tokio::spawn(connection);
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let host = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    let request = http::Request::post(path)
        .header(http::header::HOST, host)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| Error::ClientConfig(e.to_string()))?;
    let response = sender.send_request(request).await.map_err(http)?;
    let status = response.status();
    let collected = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| Error::InvalidResponse(format!("reading the response failed: {e}")))?
        .to_bytes();
    driver.abort();
    if status != http::StatusCode::OK {
        return Err(Error::HttpStatus(status.as_u16()));
    }
    Ok(collected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::admission::Chain;
    use crate::server::authn::UserInfo;

    fn pod_attrs(operation: Operation, subresource: &str) -> Attributes {
        let info = ResourceInfo::new("", "v1", "Pod", "pods", true);
        let chain = Chain::new(super::super::Admission::none());
        let user = UserInfo::new("alice", ["devs"]);
        let request = super::super::Request::new(&chain, &user, subresource);
        request.attributes(&info, operation, "team", "web", false)
    }

    #[test]
    fn rules_match_operations_resources_subresources_and_scope() {
        let rule = json!({"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]});
        assert!(rule_matches(&rule, &pod_attrs(Operation::Create, "")));
        assert!(!rule_matches(&rule, &pod_attrs(Operation::Update, "")));
        assert!(!rule_matches(
            &rule,
            &pod_attrs(Operation::Create, "binding")
        ));
        let star = json!({"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"], "scope": "Namespaced"});
        assert!(rule_matches(&star, &pod_attrs(Operation::Update, "status")));
        let cluster = json!({"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "scope": "Cluster"});
        assert!(!rule_matches(&cluster, &pod_attrs(Operation::Create, "")));
        let status = json!({"operations": ["UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods/status"]});
        assert!(rule_matches(
            &status,
            &pod_attrs(Operation::Update, "status")
        ));
        assert!(!rule_matches(&status, &pod_attrs(Operation::Update, "")));
    }

    #[test]
    fn selectors_match_labels() {
        let pod = json!({"metadata": {"labels": {"app": "web"}}});
        assert!(selector_matches(None, Some(&pod)));
        assert!(selector_matches(Some(&json!({})), None));
        assert!(selector_matches(
            Some(&json!({"matchLabels": {"app": "web"}})),
            Some(&pod)
        ));
        assert!(!selector_matches(
            Some(&json!({"matchLabels": {"app": "db"}})),
            Some(&pod)
        ));
        let expr =
            json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]});
        assert!(selector_matches(Some(&expr), Some(&pod)));
        assert!(!selector_matches(Some(&expr), None));
    }

    #[test]
    fn denials_keep_the_webhook_code_and_name_it() {
        let e = denial(
            "policy.example.com",
            Some(&json!({"message": "no", "code": 422})),
        );
        assert_eq!(e.code(), 422);
        assert_eq!(
            e.message(),
            "admission webhook \"policy.example.com\" denied the request: no"
        );
        let e = denial("w", None);
        assert_eq!(e.code(), 403);
        assert_eq!(
            e.message(),
            "admission webhook \"w\" denied the request without explanation"
        );
    }
}
