//! The resourcequota controller (upstream's `ResourceQuotaController`): keeps each
//! ResourceQuota's `status.hard` (its `spec.hard`) and `status.used` current, recalculating a
//! namespace's quotas when an object they count changes there and every sync period
//! (`--resource-quota-sync-period`, 5 minutes) in full. Admission-time enforcement is the API
//! server's; this controller only keeps usage current.
//!
//! Usage is computed for the resources a quota names in `spec.hard`:
//! - object counts: `pods` (non-terminal), `services`, `services.nodeports` (node ports of
//!   NodePort and LoadBalancer services), `services.loadbalancers`, `configmaps`, `secrets`,
//!   `persistentvolumeclaims`, `replicationcontrollers`, `resourcequotas`, and
//!   `count/<resource>[.<group>]` for any resource discovery knows;
//! - compute over non-terminal pods: `requests.<name>` and `limits.<name>` for any resource
//!   (`requests.cpu`, `limits.memory`, ...), bare `cpu`, `memory` and `ephemeral-storage` as
//!   requests — a pod's request is the larger of its containers' sum and any init container,
//!   plus its overhead, as upstream;
//! - `requests.storage`: the storage requests of the persistent volume claims.
//!
//! Quota scopes `Terminating`, `NotTerminating`, `BestEffort` and `NotBestEffort` restrict
//! which pods count. Deliberate difference: `PriorityClass` and `CrossNamespacePodAffinity`
//! scopes (and `scopeSelector`) are not evaluated; such a quota counts as if unscoped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, ReplicationController, ResourceQuota,
    ResourceQuotaStatus, Secret, Service,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;
use kube_api::client::runtime::{Object, Scope, Store};
use kube_api::client::{Api, Discovery, ListParams, PostParams, Request};
use kube_core::quantity::{Format, Quantity};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::StockController;
use crate::context::ControllerContext;
use crate::controller::{Action, Controller, ObjectRef, default_error_policy};

/// How often every quota is recalculated in full (upstream's default sync period).
pub const SYNC_PERIOD: Duration = Duration::from_secs(300);

/// Errors of a quota reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Listing what a quota counts, or writing its status, failed; retried with back-off.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The client's error.
        #[source]
        source: kube_api::client::Error,
    },
}

/// The stock controller `resourcequota`.
pub fn controller() -> StockController {
    StockController {
        name: "resourcequota",
        enabled_by_default: true,
        run: |ctx, token| Box::pin(run(ctx, token)),
    }
}

struct State {
    ctx: ControllerContext,
    discovery: Mutex<Option<Discovery>>,
}

/// Every quota of the namespace of `meta`.
fn quotas_of(
    quotas: &Store<ResourceQuota>,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Vec<ObjectRef<ResourceQuota>> {
    let ns = meta.namespace.as_deref().unwrap_or_default();
    quotas
        .list_namespace(ns)
        .iter()
        .map(|q| ObjectRef::from_meta(&q.metadata))
        .collect()
}

fn watch_counted<K: Object + kube_api::client::api::ApiObject>(
    controller: Controller<ResourceQuota>,
    ctx: &ControllerContext,
    quotas: &Store<ResourceQuota>,
) -> Controller<ResourceQuota> {
    let quotas = quotas.clone();
    controller.watches(
        Api::<K>::all(ctx.client().clone()),
        Scope::all(),
        move |o: &K| quotas_of(&quotas, o.metadata()),
    )
}

/// Runs the controller until `token` is cancelled.
pub async fn run(ctx: ControllerContext, token: CancellationToken) {
    use futures::StreamExt;
    let quotas = ctx.informer::<ResourceQuota>(Scope::all()).store().clone();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        discovery: Mutex::new(None),
    });
    let mut controller = Controller::new(
        Api::<ResourceQuota>::all(ctx.client().clone()),
        Scope::all(),
    )
    .named("resourcequota")
    .shared(ctx.informers());
    controller = watch_counted::<Pod>(controller, &ctx, &quotas);
    controller = watch_counted::<Service>(controller, &ctx, &quotas);
    controller = watch_counted::<ConfigMap>(controller, &ctx, &quotas);
    controller = watch_counted::<Secret>(controller, &ctx, &quotas);
    controller = watch_counted::<PersistentVolumeClaim>(controller, &ctx, &quotas);
    controller = watch_counted::<ReplicationController>(controller, &ctx, &quotas);
    controller
        .concurrency(2)
        .graceful_shutdown(token)
        .run(reconcile, default_error_policy, state)
        .for_each(|_| async {})
        .await;
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// A pod's effective requests or limits (`requests`: which of the two), as upstream's
/// `PodRequests`/`PodLimits`: the larger of the containers' sum and each init container, plus
/// the pod overhead.
pub fn pod_resources(pod: &Pod, requests: bool) -> BTreeMap<String, Quantity> {
    let mut total: BTreeMap<String, Quantity> = BTreeMap::new();
    let Some(spec) = pod.spec.as_ref() else {
        return total;
    };
    let of = |c: &k8s_openapi::api::core::v1::Container| {
        c.resources
            .as_ref()
            .and_then(|r| {
                if requests {
                    r.requests.clone()
                } else {
                    r.limits.clone()
                }
            })
            .unwrap_or_default()
    };
    for c in &spec.containers {
        for (name, q) in of(c) {
            add(&mut total, &name, &q);
        }
    }
    for c in spec.init_containers.iter().flatten() {
        for (name, q) in of(c) {
            let Ok(q) = Quantity::parse(&q.0) else {
                continue;
            };
            let e = total
                .entry(name)
                .or_insert_with(|| Quantity::from_i64(0, q.format()));
            if q > *e {
                *e = q;
            }
        }
    }
    for (name, q) in spec.overhead.iter().flatten() {
        add(&mut total, name, q);
    }
    total
}

fn add(total: &mut BTreeMap<String, Quantity>, name: &str, q: &ApiQuantity) {
    let Ok(q) = Quantity::parse(&q.0) else {
        return;
    };
    let e = total
        .entry(name.to_owned())
        .or_insert_with(|| Quantity::from_i64(0, q.format()));
    *e = e.checked_add(&q).unwrap_or_else(|| e.clone());
}

/// Whether `pod` is in every scope of `scopes`.
fn in_scopes(pod: &Pod, scopes: &[String]) -> bool {
    let terminating = pod
        .spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .is_some();
    let best_effort = pod_resources(pod, true).is_empty() && pod_resources(pod, false).is_empty();
    scopes.iter().all(|s| match s.as_str() {
        "Terminating" => terminating,
        "NotTerminating" => !terminating,
        "BestEffort" => best_effort,
        "NotBestEffort" => !best_effort,
        _ => true,
    })
}

fn count(n: usize) -> Quantity {
    Quantity::from_i64(i64::try_from(n).unwrap_or(i64::MAX), Format::DecimalSI)
}

async fn list<K>(state: &State, ns: &str) -> Result<Vec<K>, Error>
where
    K: k8s_openapi::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + k8s_openapi::ListableResource
        + kube_api::client::api::ApiObject,
{
    Api::<K>::namespaced(state.ctx.client().clone(), ns)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|source| Error::Api {
            what: format!("listing {} in {ns}", K::URL_PATH_SEGMENT),
            source,
        })
}

/// The number of objects of `resource` (`deployments.apps`, `widgets.example.com`, `pods`)
/// in `ns`; `None` when discovery does not know it.
async fn count_generic(state: &State, resource: &str, ns: &str) -> Result<Option<usize>, Error> {
    let mut discovery = state.discovery.lock().await;
    let known = discovery
        .as_ref()
        .and_then(|d| d.resolve(resource))
        .is_some();
    if !known {
        match Discovery::run(state.ctx.client()).await {
            Ok(d) => *discovery = Some(d),
            Err(e) => tracing::debug!(error = %e, "discovery failed; count/ quotas wait"),
        }
    }
    let Some(r) = discovery
        .as_ref()
        .and_then(|d| d.resolve(resource))
        .filter(|r| r.namespaced)
        .cloned()
    else {
        return Ok(None);
    };
    drop(discovery);
    let request = Request::for_resource(&r.group, &r.version, &r.plural, Some(ns))
        .list(&ListParams::default())
        .map_err(|source| Error::Api {
            what: format!("listing {resource} in {ns}"),
            source,
        })?;
    let list: serde_json::Value = state
        .ctx
        .client()
        .request(request)
        .await
        .map_err(|source| Error::Api {
            what: format!("listing {resource} in {ns}"),
            source,
        })?;
    Ok(Some(
        list.get("items")
            .and_then(serde_json::Value::as_array)
            .map_or(0, Vec::len),
    ))
}

/// The usage in `ns` of each resource of `hard` (those it cannot measure are left out).
async fn usage(
    state: &State,
    ns: &str,
    hard: &BTreeMap<String, ApiQuantity>,
    scopes: &[String],
) -> Result<BTreeMap<String, Quantity>, Error> {
    let mut used = BTreeMap::new();
    let needs_pods = hard.keys().any(|k| {
        k == "pods"
            || k == "count/pods"
            || k.starts_with("requests.") && k != "requests.storage"
            || k.starts_with("limits.")
            || ["cpu", "memory", "ephemeral-storage"].contains(&k.as_str())
    });
    let pods: Vec<Pod> = if needs_pods {
        list::<Pod>(state, ns)
            .await?
            .into_iter()
            .filter(|p| !is_terminal(p) && in_scopes(p, scopes))
            .collect()
    } else {
        Vec::new()
    };
    let (mut requests, mut limits) = (BTreeMap::new(), BTreeMap::new());
    for pod in &pods {
        for (k, q) in pod_resources(pod, true) {
            add(&mut requests, &k, &ApiQuantity(q.to_string()));
        }
        for (k, q) in pod_resources(pod, false) {
            add(&mut limits, &k, &ApiQuantity(q.to_string()));
        }
    }
    let zero = || Quantity::from_i64(0, Format::DecimalSI);
    for key in hard.keys() {
        let value = match key.as_str() {
            "pods" | "count/pods" => count(pods.len()),
            "services" | "count/services" | "services.nodeports" | "services.loadbalancers" => {
                let services = list::<Service>(state, ns).await?;
                let kind = |s: &Service| {
                    s.spec
                        .as_ref()
                        .and_then(|s| s.type_.clone())
                        .unwrap_or_default()
                };
                match key.as_str() {
                    "services.loadbalancers" => count(
                        services
                            .iter()
                            .filter(|s| kind(s) == "LoadBalancer")
                            .count(),
                    ),
                    "services.nodeports" => count(
                        services
                            .iter()
                            .filter(|s| kind(s) == "NodePort" || kind(s) == "LoadBalancer")
                            .flat_map(|s| s.spec.iter().flat_map(|s| s.ports.iter().flatten()))
                            .count(),
                    ),
                    _ => count(services.len()),
                }
            }
            "configmaps" | "count/configmaps" => count(list::<ConfigMap>(state, ns).await?.len()),
            "secrets" | "count/secrets" => count(list::<Secret>(state, ns).await?.len()),
            "persistentvolumeclaims" | "count/persistentvolumeclaims" => {
                count(list::<PersistentVolumeClaim>(state, ns).await?.len())
            }
            "replicationcontrollers" | "count/replicationcontrollers" => {
                count(list::<ReplicationController>(state, ns).await?.len())
            }
            "resourcequotas" | "count/resourcequotas" => {
                count(list::<ResourceQuota>(state, ns).await?.len())
            }
            "requests.storage" => {
                let mut total = BTreeMap::new();
                for pvc in list::<PersistentVolumeClaim>(state, ns).await? {
                    let storage = pvc
                        .spec
                        .as_ref()
                        .and_then(|s| s.resources.as_ref())
                        .and_then(|r| r.requests.as_ref())
                        .and_then(|r| r.get("storage").cloned());
                    if let Some(q) = storage {
                        add(&mut total, "storage", &q);
                    }
                }
                total.remove("storage").unwrap_or_else(zero)
            }
            "cpu" | "memory" | "ephemeral-storage" => {
                requests.get(key.as_str()).cloned().unwrap_or_else(zero)
            }
            k => {
                if let Some(name) = k.strip_prefix("requests.") {
                    requests.get(name).cloned().unwrap_or_else(zero)
                } else if let Some(name) = k.strip_prefix("limits.") {
                    limits.get(name).cloned().unwrap_or_else(zero)
                } else if let Some(resource) = k.strip_prefix("count/") {
                    match count_generic(state, resource, ns).await? {
                        Some(n) => count(n),
                        None => continue,
                    }
                } else {
                    continue;
                }
            }
        };
        used.insert(key.clone(), value);
    }
    Ok(used)
}

async fn reconcile(quota: Arc<ResourceQuota>, state: Arc<State>) -> Result<Action, Error> {
    let ns = quota.metadata.namespace.clone().unwrap_or_default();
    let name = quota.metadata.name.clone().unwrap_or_default();
    let spec = quota.spec.clone().unwrap_or_default();
    let hard = spec.hard.clone().unwrap_or_default();
    let scopes = spec.scopes.clone().unwrap_or_default();
    let used = usage(&state, &ns, &hard, &scopes).await?;
    let status = ResourceQuotaStatus {
        hard: Some(hard),
        used: Some(
            used.into_iter()
                .map(|(k, q)| (k, ApiQuantity(q.to_string())))
                .collect(),
        ),
    };
    if !same_status(quota.status.as_ref(), &status) {
        let mut next = (*quota).clone();
        next.status = Some(status);
        Api::<ResourceQuota>::namespaced(state.ctx.client().clone(), &ns)
            .replace_status(&name, &PostParams::default(), &next)
            .await
            .map_err(|source| Error::Api {
                what: format!("updating the status of quota {ns}/{name}"),
                source,
            })?;
    }
    Ok(Action::requeue(SYNC_PERIOD))
}

/// Whether two statuses hold the same quantities (compared as values: `1000m == 1`).
fn same_status(old: Option<&ResourceQuotaStatus>, new: &ResourceQuotaStatus) -> bool {
    let Some(old) = old else { return false };
    let eq = |a: &Option<BTreeMap<String, ApiQuantity>>,
              b: &Option<BTreeMap<String, ApiQuantity>>| {
        let (a, b) = (a.clone().unwrap_or_default(), b.clone().unwrap_or_default());
        a.len() == b.len()
            && a.iter().all(|(k, q)| {
                b.get(k).is_some_and(|r| {
                    q.0 == r.0 || Quantity::parse(&q.0).ok() == Quantity::parse(&r.0).ok()
                })
            })
    };
    eq(&old.hard, &new.hard) && eq(&old.used, &new.used)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};

    use super::*;

    fn container(cpu: &str) -> Container {
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: Some([("cpu".to_owned(), ApiQuantity(cpu.into()))].into()),
                ..ResourceRequirements::default()
            }),
            ..Container::default()
        }
    }

    #[test]
    fn init_containers_raise_requests_to_their_largest() {
        let mut pod = Pod {
            spec: Some(PodSpec {
                containers: vec![container("100m"), container("200m")],
                init_containers: Some(vec![container("250m")]),
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        assert_eq!(pod_resources(&pod, true)["cpu"].to_string(), "300m");
        pod.spec.as_mut().unwrap().init_containers = Some(vec![container("1")]);
        assert_eq!(
            pod_resources(&pod, true)["cpu"],
            Quantity::parse("1").unwrap()
        );
        assert!(pod_resources(&pod, false).is_empty());
        assert!(!in_scopes(&pod, &["BestEffort".into()]));
    }
}
