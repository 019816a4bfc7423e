//! The endpoints controller (upstream's `endpoints`): the Endpoints object of every Service
//! with a selector, listing its pods' addresses.
//!
//! A pod with an IP that has not finished is listed under `addresses` when Ready (or when the
//! Service has `publishNotReadyAddresses`), else under `notReadyAddresses`; a pod being
//! deleted is left out unless `publishNotReadyAddresses`. Each address names its node and
//! pod (`targetRef`), and its `hostname` when the pod's `subdomain` is the Service. Service
//! ports resolve by number or, for a named `targetPort`, by the pod's container port of that
//! name; addresses are grouped into subsets by the ports they resolve to. The object carries
//! the Service's labels and the [`LAST_CHANGE_TRIGGER_TIME`] annotation. Services without a
//! selector (the `kubernetes` Service among them) are left to whoever writes their
//! Endpoints. The Endpoints of a deleted Service are deleted.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
    ServicePort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_api::client::runtime::{Deleted, HandlerFuncs, Scope, SharedClock, Store, SystemClock};
use kube_api::client::{Api, DeleteParams, PostParams};
use tokio_util::sync::CancellationToken;

use super::StockController;
use super::podutil::{is_ready, is_terminal, is_terminating};
use crate::context::ControllerContext;
use crate::controller::{Action, Controller, ObjectRef, default_error_policy};

/// The annotation with the time of the last change of the Service or its pods that the
/// Endpoints reflect.
pub const LAST_CHANGE_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// The label a headless Service's endpoints carry.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// Errors of one reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("endpoints controller: {0}")]
    Api(#[from] kube_api::client::Error),
}

/// The endpoints controller, on the system clock.
pub fn controller() -> StockController {
    StockController {
        name: "endpoints",
        enabled_by_default: true,
        run: |ctx, token| Box::pin(run(ctx, token, Arc::new(SystemClock))),
    }
}

/// The Services of the pod's namespace whose selector picks the pod.
pub(crate) fn services_of(services: &Store<Service>, pod: &Pod) -> Vec<ObjectRef<Service>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    services
        .list_namespace(ns)
        .iter()
        .filter(|s| selects(s, pod))
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

/// The Service's selector, when it has a non-empty one.
pub(crate) fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
}

/// Whether the Service's selector picks the pod.
pub(crate) fn selects(svc: &Service, pod: &Pod) -> bool {
    let Some(sel) = selector(svc) else {
        return false;
    };
    let labels = pod.metadata.labels.as_ref();
    sel.iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The pod port a Service port sends to: `targetPort` as a number, or the pod's container
/// port of that name; the Service port itself without a `targetPort`.
pub(crate) fn resolve_port(port: &ServicePort, pod: &Pod) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(i)) if *i == 0 => Some(port.port),
        Some(IntOrString::Int(i)) => Some(*i),
        Some(IntOrString::String(name)) => {
            let protocol = port.protocol.as_deref().unwrap_or("TCP");
            pod.spec.as_ref()?.containers.iter().find_map(|c| {
                c.ports.iter().flatten().find_map(|p| {
                    (p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol)
                        .then_some(p.container_port)
                })
            })
        }
    }
}

/// The reference to a pod endpoints carry.
pub(crate) fn pod_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}

/// The pod's hostname in the Service's DNS: its `hostname` when its `subdomain` is the
/// Service.
pub(crate) fn hostname(svc: &Service, pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let sub = spec.subdomain.as_deref()?;
    (Some(sub) == svc.metadata.name.as_deref()).then(|| spec.hostname.clone())?
}

/// The labels the Service's endpoints carry: the Service's, and whether it is headless.
pub(crate) fn endpoint_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    let headless = svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None");
    if headless {
        labels.insert(HEADLESS_LABEL.to_owned(), String::new());
    }
    labels
}

/// Runs the endpoints controller until `token` is cancelled, stamping times from `clock`.
pub async fn run(ctx: ControllerContext, token: CancellationToken, clock: SharedClock) {
    let client = ctx.client().clone();
    let services = ctx.informer::<Service>(Scope::all());
    let pods = ctx.informer::<Pod>(Scope::all()).store().clone();
    let c = client.clone();
    let on_delete =
        services.add_event_handler(HandlerFuncs::new().on_delete(move |d: &Deleted<Service>| {
            let svc = d.object();
            let (Some(ns), Some(name)) =
                (svc.metadata.namespace.clone(), svc.metadata.name.clone())
            else {
                return;
            };
            if selector(svc).is_none() {
                return;
            }
            let api: Api<Endpoints> = Api::namespaced(c.clone(), &ns);
            tokio::spawn(async move {
                let _ = api.delete(&name, &DeleteParams::default()).await;
            });
        }));
    let store = services.store().clone();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        clock,
        pods,
    });
    Controller::new(Api::<Service>::all(client.clone()), Scope::all())
        .named("endpoint-controller")
        .watches(
            Api::<Pod>::all(client.clone()),
            Scope::all(),
            move |pod: &Pod| services_of(&store, pod),
        )
        .watches(
            Api::<Endpoints>::all(client),
            Scope::all(),
            |ep: &Endpoints| vec![ObjectRef::from_meta(&ep.metadata)],
        )
        .shared(ctx.informers())
        .concurrency(5)
        .graceful_shutdown(token)
        .run(reconcile, default_error_policy, state)
        .for_each(|_| async {})
        .await;
    on_delete.remove();
}

struct State {
    ctx: ControllerContext,
    clock: SharedClock,
    pods: Store<Pod>,
}

/// The subsets of the Service's Endpoints, from its pods.
pub fn subsets(svc: &Service, pods: &[Arc<Pod>]) -> Vec<EndpointSubset> {
    let spec = svc.spec.clone().unwrap_or_default();
    let publish = spec.publish_not_ready_addresses == Some(true);
    let ports = spec.ports.unwrap_or_default();
    // Ports (as JSON, for a stable key) -> (ports, ready, not ready).
    type Group = (
        Vec<EndpointPort>,
        Vec<EndpointAddress>,
        Vec<EndpointAddress>,
    );
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for pod in pods.iter().filter(|p| selects(svc, p)) {
        let Some(ip) = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .filter(|ip| !ip.is_empty())
        else {
            continue;
        };
        if is_terminal(pod) || (is_terminating(pod) && !publish) {
            continue;
        }
        let resolved: Vec<EndpointPort> = ports
            .iter()
            .filter_map(|p| {
                resolve_port(p, pod).map(|port| EndpointPort {
                    name: p.name.clone(),
                    port,
                    protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: p.app_protocol.clone(),
                })
            })
            .collect();
        if resolved.is_empty() && !ports.is_empty() {
            continue;
        }
        let address = EndpointAddress {
            ip,
            hostname: hostname(svc, pod),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(pod_ref(pod)),
        };
        let key = serde_json::to_string(&resolved).unwrap_or_default();
        let group = groups
            .entry(key)
            .or_insert_with(|| (resolved, Vec::new(), Vec::new()));
        if publish || is_ready(pod) {
            group.1.push(address);
        } else {
            group.2.push(address);
        }
    }
    groups
        .into_values()
        .map(|(ports, mut ready, mut not_ready)| {
            ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            not_ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect()
}

async fn reconcile(svc: Arc<Service>, state: Arc<State>) -> Result<Action, Error> {
    if selector(&svc).is_none() {
        return Ok(Action::await_change());
    }
    let ns = svc.metadata.namespace.clone().unwrap_or_default();
    let name = svc.metadata.name.clone().unwrap_or_default();
    let pods = state.pods.list_namespace(&ns);
    let subsets = subsets(&svc, &pods);
    let labels = endpoint_labels(&svc);
    let api: Api<Endpoints> = Api::namespaced(state.ctx.client().clone(), &ns);
    let existing = api.get_opt(&name).await?;
    let current_subsets = existing
        .as_ref()
        .and_then(|e| e.subsets.clone())
        .unwrap_or_default();
    let current_labels = existing
        .as_ref()
        .and_then(|e| e.metadata.labels.clone())
        .unwrap_or_default();
    if existing.is_some() && current_subsets == subsets && current_labels == labels {
        return Ok(Action::await_change());
    }
    let now = state.clock.now();
    let stamp = k8s_openapi::jiff::Timestamp::from_second(now.as_second()).unwrap_or(now);
    let mut meta = existing
        .as_ref()
        .map(|e| e.metadata.clone())
        .unwrap_or(ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            ..ObjectMeta::default()
        });
    meta.labels = Some(labels);
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(LAST_CHANGE_TRIGGER_TIME.to_owned(), stamp.to_string());
    let endpoints = Endpoints {
        metadata: meta,
        subsets: (!subsets.is_empty()).then_some(subsets),
    };
    let result = if existing.is_some() {
        api.replace(&name, &PostParams::default(), &endpoints).await
    } else {
        api.create(&PostParams::default(), &endpoints).await
    };
    match result {
        Ok(_) => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}
