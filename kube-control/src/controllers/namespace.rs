//! The namespace controller (upstream's `pkg/controller/namespace`): empties a namespace that
//! is being deleted, then removes its `kubernetes` finalizer so the server lets it go.
//!
//! A sync of a terminating namespace discovers every namespaced resource that can be listed
//! and deleted, deletes its objects in the namespace (deletecollection where served), counts
//! what remains (objects held by finalizers or grace periods), reports the five deletion
//! conditions as upstream, and once nothing remains calls `namespaces/{name}/finalize`
//! without the `kubernetes` finalizer. A namespace with content left is looked at again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_api::client::discovery::{ApiResource, Discovery};
use kube_api::client::dynamic::DynamicApi;
use kube_api::client::runtime::{HandlerFuncs, Scope};
use kube_api::client::workqueue::{RateLimitingQueue, default_controller_rate_limiter};
use kube_api::client::{Api, DeleteParams, ListParams, PostParams};
use tokio_util::sync::CancellationToken;

use super::StockController;
use super::common::{self, Result, is_not_found};
use crate::context::ControllerContext;

/// The finalizer this controller owns.
pub const FINALIZER: &str = "kubernetes";
/// Workers (upstream's `--concurrent-namespace-syncs` is 10).
const WORKERS: usize = 2;
/// How soon a namespace with content left is looked at again.
const RECHECK: Duration = Duration::from_secs(2);

/// The stock controller entry.
pub fn controller() -> StockController {
    StockController {
        name: "namespace",
        enabled_by_default: true,
        run: |ctx, shutdown| run(ctx, shutdown).boxed(),
    }
}

/// Runs the controller until `shutdown`.
pub async fn run(ctx: ControllerContext, shutdown: CancellationToken) {
    let informer = ctx.informer::<Namespace>(Scope::all());
    let queue: RateLimitingQueue<String> =
        RateLimitingQueue::named("namespace", default_controller_rate_limiter());
    let enqueue = {
        let queue = queue.clone();
        move |ns: &Namespace| {
            if ns.metadata.deletion_timestamp.is_some() {
                queue.add(ns.metadata.name.clone().unwrap_or_default());
            }
        }
    };
    let e2 = enqueue.clone();
    let reg = informer.add_event_handler(
        HandlerFuncs::new()
            .on_add(move |ns: &Arc<Namespace>, _| enqueue(ns))
            .on_update(move |_, ns: &Arc<Namespace>| e2(ns)),
    );
    ctx.informers().start();
    if common::wait_for_sync(&shutdown, informer.wait_for_sync()).await {
        let (c, q) = (ctx.clone(), queue.clone());
        common::run_workers("namespace", queue, WORKERS, shutdown, move |name| {
            let (ctx, queue) = (c.clone(), q.clone());
            async move { sync(&ctx, &queue, &name).await }
        })
        .await;
    }
    reg.remove();
}

/// What one pass found.
#[derive(Default)]
struct Pass {
    discovery_error: Option<String>,
    delete_errors: Vec<String>,
    /// Remaining objects per resource.
    remaining: BTreeMap<String, usize>,
    /// Remaining objects per finalizer.
    finalizers: BTreeMap<String, usize>,
}

async fn sync(
    ctx: &ControllerContext,
    queue: &RateLimitingQueue<String>,
    name: &str,
) -> Result<()> {
    let api: Api<Namespace> = Api::all(ctx.client().clone());
    let Some(ns) = api.get_opt(name).await? else {
        return Ok(());
    };
    if ns.metadata.deletion_timestamp.is_none() {
        return Ok(());
    }
    let finalizers = ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let pass = delete_content(ctx, name).await;
    let done = pass.discovery_error.is_none()
        && pass.delete_errors.is_empty()
        && pass.remaining.is_empty();
    let ns = write_conditions(&api, ns, &pass, Time(ctx.now())).await?;
    if !done {
        queue.add_after(name.to_owned(), RECHECK);
        return Ok(());
    }
    let mut finalized = ns.clone();
    if let Some(spec) = finalized.spec.as_mut() {
        spec.finalizers = Some(finalizers.into_iter().filter(|f| f != FINALIZER).collect());
    }
    match api
        .replace_subresource("finalize", name, &PostParams::default(), &finalized)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The namespaced resources whose objects can be listed and deleted, one version per group.
fn deletable(discovery: &Discovery) -> Vec<ApiResource> {
    let mut by_group_kind: BTreeMap<(String, String), ApiResource> = BTreeMap::new();
    for r in discovery.resources() {
        let verbs = |v: &str| r.verbs.iter().any(|x| x == v);
        if !r.namespaced || r.plural.contains('/') || !verbs("list") {
            continue;
        }
        if !verbs("delete") && !verbs("deletecollection") {
            continue;
        }
        let key = (r.group.clone(), r.plural.clone());
        match by_group_kind.get(&key) {
            Some(existing) if existing.preferred || !r.preferred => {}
            _ => {
                by_group_kind.insert(key, r.clone());
            }
        }
    }
    by_group_kind.into_values().collect()
}

async fn delete_content(ctx: &ControllerContext, namespace: &str) -> Pass {
    let mut pass = Pass::default();
    let discovery = match Discovery::run(ctx.client()).await {
        Ok(d) => d,
        Err(e) => {
            pass.discovery_error = Some(e.to_string());
            return pass;
        }
    };
    for resource in deletable(&discovery) {
        let api = DynamicApi::namespaced(ctx.client().clone(), &resource, namespace);
        let label = if resource.group.is_empty() {
            resource.plural.clone()
        } else {
            format!("{}.{}", resource.plural, resource.group)
        };
        if resource.verbs.iter().any(|v| v == "deletecollection") {
            if let Err(e) = api
                .delete_collection(&DeleteParams::background(), &ListParams::default())
                .await
                && !is_not_found(&e)
            {
                pass.delete_errors.push(format!("{label}: {e}"));
            }
        } else {
            match api.list(&ListParams::default()).await {
                Ok(list) => {
                    for o in list.items {
                        let name = o.metadata.name.clone().unwrap_or_default();
                        if let Err(e) = api.delete(&name, &DeleteParams::background()).await
                            && !is_not_found(&e)
                        {
                            pass.delete_errors.push(format!("{label}: {e}"));
                        }
                    }
                }
                Err(e) => pass.delete_errors.push(format!("{label}: {e}")),
            }
        }
        match api.list(&ListParams::default()).await {
            Ok(list) if !list.items.is_empty() => {
                pass.remaining.insert(label, list.items.len());
                for o in &list.items {
                    for f in o.metadata.finalizers.iter().flatten() {
                        *pass.finalizers.entry(f.clone()).or_default() += 1;
                    }
                }
            }
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => pass.delete_errors.push(format!("{label}: {e}")),
        }
    }
    pass
}

fn condition(
    now: Time,
    type_: &str,
    failed: Option<String>,
    ok_reason: &str,
    ok_message: &str,
    failed_reason: &str,
) -> NamespaceCondition {
    let (status, reason, message) = match failed {
        Some(m) => ("True", failed_reason, m),
        None => ("False", ok_reason, ok_message.to_owned()),
    };
    NamespaceCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: Some(now),
    }
}

/// Sets the five deletion conditions (upstream's `namespaceConditionUpdater`), keeping the
/// transition time of one whose status did not change.
async fn write_conditions(
    api: &Api<Namespace>,
    ns: Namespace,
    pass: &Pass,
    now: Time,
) -> Result<Namespace> {
    let list = |m: &BTreeMap<String, usize>, what: &str| {
        m.iter()
            .map(|(k, n)| format!("{k} has {n} {what}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let wanted = [
        condition(
            now.clone(),
            "NamespaceDeletionDiscoveryFailure",
            pass.discovery_error
                .as_ref()
                .map(|e| format!("Discovery failed for some groups: {e}")),
            "ResourcesDiscovered",
            "All resources successfully discovered",
            "DiscoveryFailed",
        ),
        condition(
            now.clone(),
            "NamespaceDeletionGroupVersionParsingFailure",
            None,
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
            "GroupVersionParsingFailed",
        ),
        condition(
            now.clone(),
            "NamespaceDeletionContentFailure",
            (!pass.delete_errors.is_empty()).then(|| {
                format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    pass.delete_errors.len(),
                    pass.delete_errors.join(", ")
                )
            }),
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
            "ContentDeletionFailed",
        ),
        condition(
            now.clone(),
            "NamespaceContentRemaining",
            (!pass.remaining.is_empty()).then(|| {
                format!(
                    "Some resources are remaining: {}",
                    list(&pass.remaining, "resource instances")
                )
            }),
            "ContentRemoved",
            "All content successfully removed",
            "SomeResourcesRemain",
        ),
        condition(
            now.clone(),
            "NamespaceFinalizersRemaining",
            (!pass.finalizers.is_empty()).then(|| {
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    list(&pass.finalizers, "resource instances").replace(" has ", " in ")
                )
            }),
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished",
            "SomeFinalizersRemain",
        ),
    ];
    let mut status = ns.status.clone().unwrap_or_default();
    let mut conditions = status.conditions.clone().unwrap_or_default();
    let mut changed = false;
    for mut w in wanted {
        match conditions.iter_mut().find(|c| c.type_ == w.type_) {
            Some(c) if c.status == w.status && c.reason == w.reason && c.message == w.message => {}
            Some(c) => {
                if c.status == w.status {
                    w.last_transition_time = c.last_transition_time.clone();
                }
                *c = w;
                changed = true;
            }
            None => {
                conditions.push(w);
                changed = true;
            }
        }
    }
    if !changed {
        return Ok(ns);
    }
    status.conditions = Some(conditions);
    let mut new = ns.clone();
    new.status = Some(status);
    let name = ns.metadata.name.clone().unwrap_or_default();
    match api
        .replace_status(&name, &PostParams::default(), &new)
        .await
    {
        Ok(updated) => Ok(updated),
        Err(e) if is_not_found(&e) => Ok(ns),
        Err(e) => Err(e.into()),
    }
}
