//! The daemonset controller (upstream's `DaemonSetsController`): one pod per eligible node.
//!
//! - A node is eligible when the pod template's `nodeSelector` and required node affinity
//!   match it and every `NoSchedule`/`NoExecute` taint of it is tolerated by the template's
//!   tolerations plus upstream's automatic DaemonSet tolerations (not-ready and unreachable
//!   `NoExecute` for ever; disk-, memory- and pid-pressure and unschedulable `NoSchedule`;
//!   network-unavailable `NoSchedule` for host-network pods), which are added to every pod.
//!   A pod already running on a node that gained an untolerated `NoSchedule` taint stays
//!   (upstream's `shouldContinueRunning`); one facing an untolerated `NoExecute` taint goes.
//! - Placement: each pod requires its node through `spec.affinity.nodeAffinity`
//!   (`matchFields` `metadata.name`), as upstream, *and* has `spec.nodeName` set to it. The
//!   latter is deliberate (upstream leaves binding to the scheduler since 1.12): daemon pods
//!   then run, as before 1.12, where no scheduler does.
//! - Revisions: ControllerRevisions `<set>-<hash>`; pods carry `controller-revision-hash`
//!   (the hash) and `pod-template-generation`.
//! - `RollingUpdate` (the default): with `maxSurge` 0, old pods are deleted while at most
//!   `maxUnavailable` (default 1) eligible nodes lack an available pod (an unavailable old pod
//!   is replaced at once); with `maxSurge` > 0, a new pod starts beside the old one on up to
//!   `maxSurge` nodes and the old one goes once the new one is available. `OnDelete` replaces
//!   only deleted pods. Failed pods are deleted and recreated.
//! - Status: `desiredNumberScheduled`, `currentNumberScheduled`, `numberMisscheduled`,
//!   `numberReady`, `updatedNumberScheduled`, `numberAvailable`, `numberUnavailable`,
//!   `observedGeneration`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodTemplateSpec, Taint, Toleration,
};
use kube_api::client::runtime::{Clock, Scope, Store, SystemClock};
use kube_api::client::{Api, DeleteParams, PostParams};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::StockController;
use super::history::{self, REVISION_HASH_LABEL};
use super::int_or_percent;
use super::statefulset::{available, running_and_ready};
use super::taint_eviction::tolerates;
use crate::context::ControllerContext;
use crate::controller::{Action, Controller, ObjectRef, default_error_policy};
use crate::owner::{controller_owner_ref, is_controlled_by};

/// The (deprecated, still set) label with the DaemonSet generation a pod was made from.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// Errors of a DaemonSet reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pod or status write failed; retried with back-off.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The client's error.
        #[source]
        source: kube_api::client::Error,
    },
    /// Revision bookkeeping failed.
    #[error(transparent)]
    History(#[from] history::Error),
    /// The set was not read from the server.
    #[error(transparent)]
    Owner(#[from] crate::owner::Error),
    /// `maxUnavailable` or `maxSurge` is neither an integer nor a percentage.
    #[error(transparent)]
    Spec(#[from] int_or_percent::Error),
}

/// The stock controller `daemonset`.
pub fn controller() -> StockController {
    StockController {
        name: "daemonset",
        enabled_by_default: true,
        run: |ctx, token| Box::pin(run(ctx, token)),
    }
}

/// The pod creations and deletions of one set not yet seen in the cache (upstream's
/// `ControllerExpectations`): until they show, or [`EXPECTATIONS_TIMEOUT`] passes, the set is
/// not acted on again, so a stale cache never makes a second pod for a node.
#[derive(Default)]
struct Expectations {
    created: Vec<String>,
    deleted: Vec<String>,
    since: Option<Instant>,
}

/// How long unseen creations and deletions hold a set back (upstream: 5 minutes).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);

struct State {
    ctx: ControllerContext,
    expectations: Mutex<BTreeMap<String, Expectations>>,
    pods: Store<Pod>,
    nodes: Store<Node>,
    revisions: Store<ControllerRevision>,
}

/// Runs the controller until `token` is cancelled.
pub async fn run(ctx: ControllerContext, token: CancellationToken) {
    use futures::StreamExt;
    let client = ctx.client().clone();
    let sets = ctx.informer::<DaemonSet>(Scope::all()).store().clone();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        expectations: Mutex::new(BTreeMap::new()),
        pods: ctx.informer::<Pod>(Scope::all()).store().clone(),
        nodes: ctx.informer::<Node>(Scope::all()).store().clone(),
        revisions: ctx
            .informer::<ControllerRevision>(Scope::all())
            .store()
            .clone(),
    });
    Controller::new(Api::<DaemonSet>::all(client.clone()), Scope::all())
        .named("daemonset")
        .shared(ctx.informers())
        .owns(Api::<Pod>::all(client.clone()), Scope::all())
        .owns(Api::<ControllerRevision>::all(client.clone()), Scope::all())
        .watches(Api::<Node>::all(client), Scope::all(), move |_: &Node| {
            sets.list()
                .iter()
                .map(|s| ObjectRef::from_meta(&s.metadata))
                .collect()
        })
        .concurrency(2)
        .graceful_shutdown(token)
        .run(reconcile, default_error_policy, state)
        .for_each(|_| async {})
        .await;
}

/// Upstream's `AddOrUpdateDaemonPodTolerations`, for a pod with `host_network`.
pub fn daemon_tolerations(host_network: bool) -> Vec<Toleration> {
    let t = |key: &str, effect: &str| Toleration {
        key: Some(key.to_owned()),
        operator: Some("Exists".to_owned()),
        effect: Some(effect.to_owned()),
        ..Toleration::default()
    };
    let mut all = vec![
        t("node.kubernetes.io/not-ready", "NoExecute"),
        t("node.kubernetes.io/unreachable", "NoExecute"),
        t("node.kubernetes.io/disk-pressure", "NoSchedule"),
        t("node.kubernetes.io/memory-pressure", "NoSchedule"),
        t("node.kubernetes.io/pid-pressure", "NoSchedule"),
        t("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if host_network {
        all.push(t("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    all
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.clone().unwrap_or_default();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => !value.is_some_and(|v| values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// Whether `template`'s node selector and required node affinity admit `node`.
pub fn selects_node(template: &PodTemplateSpec, node: &Node) -> bool {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let Some(spec) = template.spec.as_ref() else {
        return true;
    };
    if !spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    let terms = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|r| r.node_selector_terms.clone());
    let Some(terms) = terms else { return true };
    let name = node.metadata.name.as_deref();
    terms.iter().any(|term| {
        let exprs = term.match_expressions.iter().flatten();
        let fields = term.match_fields.iter().flatten();
        let has_any = exprs.clone().next().is_some() || fields.clone().next().is_some();
        has_any
            && exprs
                .clone()
                .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
            && fields.clone().all(|r| {
                requirement_matches(r, (r.key == "metadata.name").then_some(name).flatten())
            })
    })
}

/// (should run a new pod, may keep a running one) on `node`, upstream's `NodeShouldRunDaemonPod`.
fn eligibility(
    template: &PodTemplateSpec,
    tolerations: &[Toleration],
    node: &Node,
) -> (bool, bool) {
    if !selects_node(template, node) {
        return (false, false);
    }
    let taints: Vec<&Taint> = node
        .spec
        .iter()
        .flat_map(|s| s.taints.iter().flatten())
        .collect();
    let untolerated = |effect: &str| {
        taints
            .iter()
            .filter(|t| t.effect == effect)
            .any(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
    };
    if untolerated("NoExecute") {
        return (false, false);
    }
    (!untolerated("NoSchedule"), true)
}

/// The template of the pods: the set's, with the automatic tolerations.
fn pod_template(set: &DaemonSet) -> PodTemplateSpec {
    let mut template = set.spec.template.clone();
    let spec = template.spec.get_or_insert_with(Default::default);
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for t in daemon_tolerations(spec.host_network == Some(true)) {
        if !tolerations
            .iter()
            .any(|x| x.key == t.key && x.effect == t.effect && x.operator == t.operator)
        {
            tolerations.push(t);
        }
    }
    template
}

fn new_pod(
    set: &DaemonSet,
    template: &PodTemplateSpec,
    hash: &str,
    node: &str,
) -> Result<Pod, Error> {
    let set_name = set.metadata.name.clone().unwrap_or_default();
    let mut meta = template.metadata.clone().unwrap_or_default();
    let mut labels = meta.labels.take().unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.into(), hash.to_owned());
    labels.insert(
        TEMPLATE_GENERATION_LABEL.into(),
        set.metadata.generation.unwrap_or(0).to_string(),
    );
    meta.labels = Some(labels);
    meta.name = None;
    meta.generate_name = Some(format!("{set_name}-"));
    meta.namespace = set.metadata.namespace.clone();
    meta.owner_references = Some(vec![controller_owner_ref(set)?]);
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.node_name = Some(node.to_owned());
    let pin = NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node.to_owned()]),
        }]),
        match_expressions: None,
    };
    // Upstream's ReplaceDaemonSetPodNodeNameNodeAffinity: the node pin replaces any required
    // terms (the node was chosen by them already).
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![pin],
    });
    Ok(Pod {
        metadata: meta,
        spec: Some(spec),
        status: None,
    })
}

fn revision_data(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut t {
        m.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

fn hash_of(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(REVISION_HASH_LABEL)
        .map(String::as_str)
}

/// The node a daemon pod is on (or pinned to).
fn node_of(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.clone() {
        return Some(n);
    }
    spec.affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms
        .iter()
        .flat_map(|t| t.match_fields.iter().flatten())
        .find(|r| r.key == "metadata.name" && r.operator == "In")
        .and_then(|r| r.values.as_ref()?.first().cloned())
}

async fn reconcile(set: Arc<DaemonSet>, state: Arc<State>) -> Result<Action, Error> {
    if set.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = set.metadata.namespace.clone().unwrap_or_default();
    let name = set.metadata.name.clone().unwrap_or_default();
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let key = format!("{ns}/{name}");
    if !expectations_met(&state, &key, &ns) {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let client = state.ctx.client().clone();
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let status = set.status.clone().unwrap_or_default();
    let template = pod_template(&set);
    let tolerations = template
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();

    let existing = history::owned(&state.revisions, &ns, &uid);
    let revision = history::ensure(
        &client,
        &ns,
        &name,
        controller_owner_ref(&*set)?,
        set.spec.selector.match_labels.clone().unwrap_or_default(),
        revision_data(&set.spec.template),
        status.collision_count,
        &existing,
    )
    .await?;
    let hash = revision
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(REVISION_HASH_LABEL).cloned())
        .unwrap_or_default();

    // Pods by node (terminating ones apart: they only hold back the next pod of that node).
    let mut by_node: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
    let mut terminating_on: BTreeMap<String, usize> = BTreeMap::new();
    for pod in state.pods.list_namespace(&ns) {
        if !is_controlled_by(&pod.metadata, &set.metadata) {
            continue;
        }
        let Some(node) = node_of(&pod) else { continue };
        if pod.metadata.deletion_timestamp.is_some() {
            *terminating_on.entry(node).or_default() += 1;
        } else {
            by_node.entry(node).or_default().push(pod);
        }
    }
    for pods in by_node.values_mut() {
        pods.sort_by(|a, b| {
            a.metadata
                .creation_timestamp
                .cmp(&b.metadata.creation_timestamp)
        });
    }

    let min_ready =
        Duration::from_secs(u64::try_from(set.spec.min_ready_seconds.unwrap_or(0)).unwrap_or(0));
    let now = SystemClock.now();
    let is_available = |p: &Pod| available(p, min_ready, now);
    let mut deletes: Vec<Arc<Pod>> = Vec::new();
    let mut creates: Vec<String> = Vec::new();
    let nodes = state.nodes.list();
    let mut desired = Vec::new();
    for node in &nodes {
        let node_name = node.metadata.name.clone().unwrap_or_default();
        let (should_run, may_continue) = eligibility(&template, &tolerations, node);
        let pods = by_node.get(&node_name).cloned().unwrap_or_default();
        let (failed, live): (Vec<_>, Vec<_>) = pods
            .into_iter()
            .partition(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed"));
        deletes.extend(failed);
        if should_run || (may_continue && !live.is_empty()) {
            desired.push(node_name.clone());
            if live.is_empty() {
                if terminating_on.get(&node_name).copied().unwrap_or(0) == 0 {
                    creates.push(node_name);
                }
            } else if live.len() > 1 {
                // Duplicates: keep the newest-revision, oldest pod (surge pairs are handled by
                // the rolling update below).
                let keep_new = live.iter().any(|p| hash_of(p) == Some(hash.as_str()));
                if !keep_new {
                    deletes.extend(live[1..].iter().cloned());
                }
            }
        } else {
            deletes.extend(live);
        }
    }
    // Pods on nodes that are gone.
    for (node, pods) in &by_node {
        if !nodes
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some(node.as_str()))
        {
            deletes.extend(pods.iter().cloned());
        }
    }

    // Rolling update.
    let strategy = set.spec.update_strategy.clone().unwrap_or_default();
    if strategy.type_.as_deref() != Some("OnDelete") && creates.is_empty() {
        let total = i32::try_from(desired.len()).unwrap_or(i32::MAX);
        let rolling = strategy.rolling_update.unwrap_or_default();
        let max_surge = match &rolling.max_surge {
            Some(v) => int_or_percent::scaled(v, total, true)?,
            None => 0,
        };
        let max_unavailable = match &rolling.max_unavailable {
            Some(v) => int_or_percent::scaled(v, total, true)?,
            None => 1,
        };
        let max_unavailable = if max_surge == 0 {
            max_unavailable.max(1)
        } else {
            max_unavailable
        };
        if max_surge == 0 {
            let mut unavailable = desired
                .iter()
                .filter(|n| {
                    !by_node
                        .get(*n)
                        .is_some_and(|pods| pods.iter().any(|p| is_available(p)))
                })
                .count();
            for node in &desired {
                let Some(pods) = by_node.get(node) else {
                    continue;
                };
                let Some(old) = pods.iter().find(|p| hash_of(p) != Some(hash.as_str())) else {
                    continue;
                };
                if pods.len() > 1 {
                    continue;
                }
                if !is_available(old) {
                    deletes.push(old.clone());
                } else if unavailable < usize::try_from(max_unavailable).unwrap_or(0) {
                    deletes.push(old.clone());
                    unavailable += 1;
                }
            }
        } else {
            let mut surging = desired
                .iter()
                .filter(|n| by_node.get(*n).is_some_and(|p| p.len() > 1))
                .count();
            for node in &desired {
                let Some(pods) = by_node.get(node) else {
                    continue;
                };
                let new: Vec<&Arc<Pod>> = pods
                    .iter()
                    .filter(|p| hash_of(p) == Some(hash.as_str()))
                    .collect();
                let old: Vec<&Arc<Pod>> = pods
                    .iter()
                    .filter(|p| hash_of(p) != Some(hash.as_str()))
                    .collect();
                if old.is_empty() {
                    continue;
                }
                match new.first() {
                    Some(n) if is_available(n) => deletes.extend(old.into_iter().cloned()),
                    Some(_) => {}
                    None => {
                        if old.iter().all(|p| !is_available(p)) {
                            deletes.extend(old.into_iter().cloned());
                            creates.push(node.clone());
                        } else if surging < usize::try_from(max_surge).unwrap_or(0) {
                            creates.push(node.clone());
                            surging += 1;
                        }
                    }
                }
            }
        }
    }

    if !deletes.is_empty() || !creates.is_empty() {
        let mut all = state.expectations.lock().unwrap_or_else(|e| e.into_inner());
        let e = all.entry(key.clone()).or_default();
        e.since = Some(Instant::now());
        e.deleted = deletes
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        e.created.clear();
    }
    for pod in &deletes {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        match pods_api.delete(&pod_name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if e.code() == Some(404) => {}
            Err(source) => {
                return Err(Error::Api {
                    what: format!("deleting pod {ns}/{pod_name}"),
                    source,
                });
            }
        }
    }
    for node in &creates {
        let pod = new_pod(&set, &template, &hash, node)?;
        let created = pods_api
            .create(&PostParams::default(), &pod)
            .await
            .map_err(|source| Error::Api {
                what: format!("creating a pod of daemonset {ns}/{name} on node {node}"),
                source,
            })?;
        let mut all = state.expectations.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(key.clone())
            .or_default()
            .created
            .extend(created.metadata.name);
    }
    if !deletes.is_empty() || !creates.is_empty() {
        // The status follows once the cache shows the changes.
        return Ok(Action::requeue(Duration::from_secs(1)));
    }

    // Status (from what the cache shows now; the writes above come back as events).
    let mut st = DaemonSetStatus {
        observed_generation: set.metadata.generation,
        collision_count: status.collision_count,
        conditions: status.conditions.clone(),
        desired_number_scheduled: i32::try_from(desired.len()).unwrap_or(i32::MAX),
        ..DaemonSetStatus::default()
    };
    let (mut updated, mut avail) = (0, 0);
    for node in &desired {
        let pods = by_node.get(node).cloned().unwrap_or_default();
        if pods.is_empty() {
            continue;
        }
        st.current_number_scheduled += 1;
        if pods.iter().any(|p| running_and_ready(p)) {
            st.number_ready += 1;
        }
        if pods.iter().any(|p| is_available(p)) {
            avail += 1;
        }
        if pods.iter().any(|p| hash_of(p) == Some(hash.as_str())) {
            updated += 1;
        }
    }
    st.number_misscheduled =
        i32::try_from(by_node.keys().filter(|n| !desired.contains(n)).count()).unwrap_or(0);
    st.updated_number_scheduled = Some(updated);
    st.number_available = Some(avail);
    st.number_unavailable = Some(st.desired_number_scheduled - avail);
    if set.status.as_ref() != Some(&st) {
        let mut next = (*set).clone();
        next.status = Some(st);
        Api::<DaemonSet>::namespaced(client.clone(), &ns)
            .replace_status(&name, &PostParams::default(), &next)
            .await
            .map_err(|source| Error::Api {
                what: format!("updating the status of daemonset {ns}/{name}"),
                source,
            })?;
    }

    let live: Vec<String> = vec![revision.metadata.name.clone().unwrap_or_default()];
    let limit = usize::try_from(set.spec.revision_history_limit.unwrap_or(10)).unwrap_or(10);
    history::prune(
        &client,
        &ns,
        &history::owned(&state.revisions, &ns, &uid),
        &live,
        limit,
    )
    .await?;

    if !min_ready.is_zero() && avail < st_ready(&by_node, &desired) {
        return Ok(Action::requeue(min_ready));
    }
    Ok(Action::await_change())
}

/// Whether the cache shows every creation and deletion expected of set `key` (or they timed
/// out); clears them when so.
fn expectations_met(state: &State, key: &str, ns: &str) -> bool {
    let mut all = state.expectations.lock().unwrap_or_else(|e| e.into_inner());
    let Some(e) = all.get(key) else { return true };
    let timed_out = e
        .since
        .is_some_and(|since| since.elapsed() >= EXPECTATIONS_TIMEOUT);
    let created = e
        .created
        .iter()
        .all(|n| state.pods.get_by_name(Some(ns), n).is_some());
    let deleted = e.deleted.iter().all(|n| {
        state
            .pods
            .get_by_name(Some(ns), n)
            .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
    });
    if timed_out || (created && deleted) {
        all.remove(key);
        return true;
    }
    false
}

fn st_ready(by_node: &BTreeMap<String, Vec<Arc<Pod>>>, desired: &[String]) -> i32 {
    i32::try_from(
        desired
            .iter()
            .filter(|n| {
                by_node
                    .get(*n)
                    .is_some_and(|p| p.iter().any(|p| running_and_ready(p)))
            })
            .count(),
    )
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{NodeSpec, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn node(name: &str, taint: Option<(&str, &str)>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some([("disk".to_owned(), "ssd".to_owned())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                taints: taint.map(|(k, e)| {
                    vec![Taint {
                        key: k.into(),
                        effect: e.into(),
                        ..Taint::default()
                    }]
                }),
                ..NodeSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn eligibility_follows_selectors_and_taints() {
        let mut set = DaemonSet::default();
        set.spec.template.spec = Some(PodSpec {
            node_selector: Some([("disk".to_owned(), "ssd".to_owned())].into()),
            ..PodSpec::default()
        });
        let template = pod_template(&set);
        let tol = template.spec.clone().unwrap().tolerations.unwrap();
        assert_eq!(eligibility(&template, &tol, &node("a", None)), (true, true));
        let unreachable = node("b", Some(("node.kubernetes.io/unreachable", "NoExecute")));
        assert_eq!(eligibility(&template, &tol, &unreachable), (true, true));
        let custom = node("c", Some(("dedicated", "NoSchedule")));
        assert_eq!(eligibility(&template, &tol, &custom), (false, true));
        let evicting = node("d", Some(("dedicated", "NoExecute")));
        assert_eq!(eligibility(&template, &tol, &evicting), (false, false));
        let mut other = node("e", None);
        other.metadata.labels = None;
        assert_eq!(eligibility(&template, &tol, &other), (false, false));
    }
}
