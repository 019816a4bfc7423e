//! The connect subresources: `pods/exec`, `pods/attach`, `pods/portforward`, `pods/proxy`,
//! `nodes/proxy` and `services/proxy`, which upstream forwards to a kubelet (or a service) and
//! usually upgrades to a stream (SPDY or WebSocket).
//!
//! This server has no kubelet connection yet: after the object is resolved as upstream does
//! (404 for a missing pod or node, 400 for a pod with no host assigned, 400 for an exec,
//! attach or port-forward that is not an upgrade request), the request is refused with 503
//! ServiceUnavailable naming the node. The refusal is never a `101 Switching Protocols`, and
//! the server's service marks every refused upgrade `Connection: close`, so the connection ends
//! after it and no byte the client sent after the request head is read as anything (the
//! lesson of CVE-2018-1002105: a refused upgrade must not leave a connection that carries
//! later bytes on with the server's credentials).
//!
//! The seam for the kubelet proxy to come: [`connect`] is the one place that resolves the
//! node; a `KubeletConnector` (node name to an authenticated HTTPS connection to its kubelet)
//! will take over where it returns the 503, and only answer `101` once the kubelet has.

use http::{HeaderMap, header};
use kube_core::status::StatusError;
use serde_json::Value;

use super::{Ctx, HandlerResult};

/// The subresources this module serves.
pub const SUBRESOURCES: [&str; 4] = ["exec", "attach", "portforward", "proxy"];

/// Whether `headers` ask for a protocol upgrade (`Connection: upgrade` with an `Upgrade`
/// header), as upstream's `httpstream.IsUpgradeRequest`.
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// A request for one of [`SUBRESOURCES`]: resolves the object, then refuses (see the module
/// docs).
pub async fn connect(ctx: &Ctx) -> HandlerResult {
    let r = &ctx.request;
    let object = ctx
        .storage()
        .get(&ctx.resource, &r.namespace, &r.name)
        .await?;
    let upgrade = is_upgrade_request(&ctx.headers);
    let streams = r.subresource != "proxy";
    match ctx.resource.plural.as_str() {
        "pods" => {
            let node = object
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if node.is_empty() {
                return Err(StatusError::bad_request(format!(
                    "pod {} does not have a host assigned",
                    r.name
                )));
            }
            if streams && !upgrade {
                return Err(StatusError::bad_request("Upgrade request required"));
            }
            Err(no_kubelet(node))
        }
        "nodes" => Err(no_kubelet(&r.name)),
        _ => Err(StatusError::service_unavailable(format!(
            "{} {:?} cannot be proxied to: this server has no proxy backend",
            ctx.resource.plural, r.name
        ))),
    }
}

fn no_kubelet(node: &str) -> StatusError {
    StatusError::service_unavailable(format!(
        "no kubelet connection for node {node:?}: this API server has no kubelet backend; \
         exec, attach, port-forward and proxy are unavailable"
    ))
}
