//! The endpointslice controller (upstream's `endpointslice`): the EndpointSlices of every
//! Service with a selector.
//!
//! Each pod with an IP that has not finished is an endpoint with conditions `serving` (the
//! pod is Ready), `terminating` (it is being deleted) and `ready` (serving and not
//! terminating, or always with `publishNotReadyAddresses`), its node, its pod (`targetRef`)
//! and, when its `subdomain` is the Service, its `hostname`. Endpoints are grouped by address
//! type and by the ports they resolve to (named `targetPort`s resolve per pod), at most
//! [`MAX_ENDPOINTS_PER_SLICE`] per slice. Slices carry the [`SERVICE_NAME_LABEL`] and
//! [`MANAGED_BY_LABEL`] labels, the Service's labels, and a controller reference to the
//! Service (so the garbage collector removes them with it).
//!
//! Unlike upstream, slices are packed afresh on each change rather than updated minimally,
//! and no topology hints or zones are written.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_api::client::runtime::{Scope, Store};
use kube_api::client::{Api, DeleteParams, ListParams, PostParams};
use tokio_util::sync::CancellationToken;

use super::StockController;
use super::endpoints::{
    endpoint_labels, hostname, pod_ref, resolve_port, selector, selects, services_of,
};
use super::podutil::{is_ready, is_terminal, is_terminating};
use crate::context::ControllerContext;
use crate::controller::{Action, Controller, default_error_policy};
use crate::owner::{self, controller_owner_ref};

/// The label naming a slice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label naming who manages a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of [`MANAGED_BY_LABEL`].
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// The most endpoints in one slice (upstream's `--max-endpoints-per-slice` default).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// Errors of one reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("endpointslice controller: {0}")]
    Api(#[from] kube_api::client::Error),
    /// The Service cannot own slices (it has no uid).
    #[error("endpointslice controller: {0}")]
    Owner(#[from] owner::Error),
}

/// The endpointslice controller.
pub fn controller() -> StockController {
    StockController {
        name: "endpointslice",
        enabled_by_default: true,
        run: |ctx, token| Box::pin(run(ctx, token)),
    }
}

/// Runs the endpointslice controller until `token` is cancelled.
pub async fn run(ctx: ControllerContext, token: CancellationToken) {
    let client = ctx.client().clone();
    let services = ctx.informer::<Service>(Scope::all()).store().clone();
    let pods = ctx.informer::<Pod>(Scope::all()).store().clone();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        pods,
    });
    Controller::new(Api::<Service>::all(client.clone()), Scope::all())
        .named("endpointslice-controller")
        .watches(
            Api::<Pod>::all(client.clone()),
            Scope::all(),
            move |pod: &Pod| services_of(&services, pod),
        )
        .owns(Api::<EndpointSlice>::all(client), Scope::all())
        .shared(ctx.informers())
        .concurrency(5)
        .graceful_shutdown(token)
        .run(reconcile, default_error_policy, state)
        .for_each(|_| async {})
        .await;
}

struct State {
    ctx: ControllerContext,
    pods: Store<Pod>,
}

/// One slice's worth: its address type, ports and endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// `IPv4` or `IPv6`.
    pub address_type: String,
    /// The ports.
    pub ports: Vec<EndpointPort>,
    /// At most [`MAX_ENDPOINTS_PER_SLICE`] endpoints, sorted by address.
    pub endpoints: Vec<Endpoint>,
}

/// The slices the Service should have, from its pods.
pub fn desired_slices(svc: &Service, pods: &[Arc<Pod>]) -> Vec<Desired> {
    let spec = svc.spec.clone().unwrap_or_default();
    let publish = spec.publish_not_ready_addresses == Some(true);
    let ports = spec.ports.unwrap_or_default();
    let mut groups: BTreeMap<(String, String), (Vec<EndpointPort>, Vec<Endpoint>)> =
        BTreeMap::new();
    for pod in pods.iter().filter(|p| selects(svc, p)) {
        let Some(ip) = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .filter(|ip| !ip.is_empty())
        else {
            continue;
        };
        if is_terminal(pod) {
            continue;
        }
        let resolved: Vec<EndpointPort> = ports
            .iter()
            .filter_map(|p| {
                resolve_port(p, pod).map(|port| EndpointPort {
                    name: Some(p.name.clone().unwrap_or_default()),
                    port: Some(port),
                    protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: p.app_protocol.clone(),
                })
            })
            .collect();
        if resolved.is_empty() && !ports.is_empty() {
            continue;
        }
        let serving = is_ready(pod);
        let terminating = is_terminating(pod);
        let address_type = if ip.contains(':') { "IPv6" } else { "IPv4" };
        let endpoint = Endpoint {
            addresses: vec![ip],
            conditions: Some(EndpointConditions {
                ready: Some(publish || (serving && !terminating)),
                serving: Some(serving),
                terminating: Some(terminating),
            }),
            hostname: hostname(svc, pod),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(pod_ref(pod)),
            ..Endpoint::default()
        };
        let key = (
            address_type.to_owned(),
            serde_json::to_string(&resolved).unwrap_or_default(),
        );
        groups
            .entry(key)
            .or_insert_with(|| (resolved, Vec::new()))
            .1
            .push(endpoint);
    }
    let mut out = Vec::new();
    for ((address_type, _), (ports, mut endpoints)) in groups {
        endpoints.sort_by(|a, b| a.addresses.cmp(&b.addresses));
        for chunk in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE) {
            out.push(Desired {
                address_type: address_type.clone(),
                ports: ports.clone(),
                endpoints: chunk.to_vec(),
            });
        }
    }
    if out.is_empty() {
        // Upstream keeps one empty slice for a Service without endpoints.
        out.push(Desired {
            address_type: "IPv4".into(),
            ports: Vec::new(),
            endpoints: Vec::new(),
        });
    }
    out
}

fn not_found(e: &kube_api::client::Error) -> bool {
    e.code() == Some(404)
}

async fn reconcile(svc: Arc<Service>, state: Arc<State>) -> Result<Action, Error> {
    if selector(&svc).is_none() || svc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = svc.metadata.namespace.clone().unwrap_or_default();
    let name = svc.metadata.name.clone().unwrap_or_default();
    let pods = state.pods.list_namespace(&ns);
    let desired = desired_slices(&svc, &pods);
    let api: Api<EndpointSlice> = Api::namespaced(state.ctx.client().clone(), &ns);
    let mut existing = api
        .list(&ListParams::default().labels(&format!(
            "{SERVICE_NAME_LABEL}={name},{MANAGED_BY_LABEL}={CONTROLLER_NAME}"
        )))
        .await?
        .items;
    existing.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut labels = endpoint_labels(&svc);
    labels.insert(SERVICE_NAME_LABEL.to_owned(), name.clone());
    labels.insert(MANAGED_BY_LABEL.to_owned(), CONTROLLER_NAME.to_owned());
    let owner = controller_owner_ref(svc.as_ref())?;

    for want in desired {
        let ports = (!want.ports.is_empty()).then(|| want.ports.clone());
        // Reuse a slice of the same address type and ports, else any spare one of the type.
        let pos = existing
            .iter()
            .position(|s| s.address_type == want.address_type && s.ports == ports)
            .or_else(|| {
                existing
                    .iter()
                    .position(|s| s.address_type == want.address_type)
            });
        match pos {
            Some(i) => {
                let mut slice = existing.remove(i);
                let same = slice.ports == ports
                    && slice.endpoints.as_deref().unwrap_or_default() == want.endpoints.as_slice()
                    && slice.metadata.labels.as_ref() == Some(&labels);
                if !same {
                    slice.ports = ports;
                    slice.endpoints = Some(want.endpoints);
                    slice.metadata.labels = Some(labels.clone());
                    let slice_name = slice.metadata.name.clone().unwrap_or_default();
                    api.replace(&slice_name, &PostParams::default(), &slice)
                        .await?;
                }
            }
            None => {
                let slice = EndpointSlice {
                    metadata: ObjectMeta {
                        generate_name: Some(format!("{name}-")),
                        namespace: Some(ns.clone()),
                        labels: Some(labels.clone()),
                        owner_references: Some(vec![owner.clone()]),
                        ..ObjectMeta::default()
                    },
                    address_type: want.address_type,
                    ports,
                    endpoints: Some(want.endpoints),
                };
                api.create(&PostParams::default(), &slice).await?;
            }
        }
    }
    for spare in existing {
        let spare_name = spare.metadata.name.unwrap_or_default();
        match api.delete(&spare_name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(i: usize, port: i32) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": format!("p{i:03}"), "namespace": "ns", "labels": {"app": "a"}},
                "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]},
                "status": {"podIP": format!("10.0.{}.{}", i / 200, i % 200 + 1), "phase": "Running",
                           "conditions": [{"type": "Ready", "status": "True"}]},
            }))
            .unwrap(),
        )
    }

    #[test]
    fn slices_hold_at_most_100_endpoints_and_one_port_set() {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "a", "namespace": "ns"},
            "spec": {"selector": {"app": "a"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]},
        }))
        .unwrap();
        let mut pods: Vec<Arc<Pod>> = (0..150).map(|i| pod(i, 8080)).collect();
        pods.extend((150..160).map(|i| pod(i, 9090)));
        let slices = desired_slices(&svc, &pods);
        let shape: Vec<(Option<i32>, usize)> = slices
            .iter()
            .map(|s| (s.ports[0].port, s.endpoints.len()))
            .collect();
        assert_eq!(
            shape,
            [(Some(8080), 100), (Some(8080), 50), (Some(9090), 10)]
        );
        assert!(slices.iter().all(|s| s.address_type == "IPv4"));
        assert!(slices[0].endpoints.iter().all(|e| {
            let c = e.conditions.clone().unwrap_or_default();
            (c.ready, c.serving, c.terminating) == (Some(true), Some(true), Some(false))
        }));
    }
}
