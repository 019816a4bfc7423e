//! The taint-eviction controller (upstream's `NoExecuteTaintManager`): a pod on a node with a
//! `NoExecute` taint it does not tolerate is deleted at once; one that tolerates every such
//! taint for a bounded time (the least `tolerationSeconds` of the tolerations in use) is
//! deleted that long after the controller first saw it so exposed; one that tolerates them
//! forever stays.
//!
//! The timer of a pod is a requeue of its key: when the taint goes (the node changes) or the
//! pod goes, the next reconcile finds nothing to do and forgets the timer, as upstream cancels
//! its timed worker. Timers run on `tokio::time`, so tests drive them with a paused clock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use kube_api::client::runtime::{Scope, Store};
use kube_api::client::{Api, DeleteParams};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::StockController;
use crate::context::ControllerContext;
use crate::controller::{Action, Controller, ObjectRef, default_error_policy};

/// Errors of a pod reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Deleting the pod failed; it is retried with back-off.
    #[error("deleting pod {pod}: {source}")]
    Delete {
        /// `namespace/name` of the pod.
        pod: String,
        /// The client's error.
        #[source]
        source: kube_api::client::Error,
    },
}

/// The stock controller `taint-eviction` (upstream: `taint-eviction-controller`).
pub fn controller() -> StockController {
    StockController {
        name: "taint-eviction",
        enabled_by_default: true,
        run: |ctx, token| Box::pin(run(ctx, token)),
    }
}

struct State {
    ctx: ControllerContext,
    nodes: Store<Node>,
    /// When each pod (by key and uid) was first seen under NoExecute taints it tolerates for
    /// a while.
    exposed: Mutex<BTreeMap<String, (String, Instant)>>,
}

/// Runs the controller until `token` is cancelled.
pub async fn run(ctx: ControllerContext, token: CancellationToken) {
    use futures::StreamExt;
    let client = ctx.client().clone();
    let nodes = ctx.informer::<Node>(Scope::all()).store().clone();
    let pods = ctx.informer::<Pod>(Scope::all()).store().clone();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        nodes,
        exposed: Mutex::new(BTreeMap::new()),
    });
    Controller::new(Api::<Pod>::all(client.clone()), Scope::all())
        .named("taint-eviction-controller")
        .shared(ctx.informers())
        .watches(
            Api::<Node>::all(client),
            Scope::all(),
            move |node: &Node| {
                let name = node.metadata.name.as_deref().unwrap_or_default();
                pods.list()
                    .iter()
                    .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name))
                    .map(|p| ObjectRef::from_meta(&p.metadata))
                    .collect()
            },
        )
        .concurrency(4)
        .graceful_shutdown(token)
        .run(reconcile, default_error_policy, state)
        .for_each(|_| async {})
        .await;
}

/// Whether `toleration` tolerates `taint` (upstream's `Toleration.ToleratesTaint`): the same
/// effect (or any, when empty), and the same key and value (`Equal`, the default) or the same
/// key (`Exists`; any key when the key is empty).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => key.is_empty() || key == taint.key,
        "Equal" => {
            key == taint.key
                && toleration.value.as_deref().unwrap_or_default()
                    == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

/// How long `tolerations` let a pod stay under `taints` (all NoExecute): `None` when some
/// taint is not tolerated (evict now), `Some(None)` for ever, `Some(Some(d))` for `d`
/// (upstream's `getMinTolerationTime` over the tolerations in use).
pub fn toleration_time(taints: &[&Taint], tolerations: &[Toleration]) -> Option<Option<Duration>> {
    let mut least: Option<Duration> = None;
    for taint in taints {
        let using: Vec<&Toleration> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if using.is_empty() {
            return None;
        }
        for t in using {
            if let Some(seconds) = t.toleration_seconds {
                let d = Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
                least = Some(least.map_or(d, |l| l.min(d)));
            }
        }
    }
    Some(least)
}

async fn reconcile(pod: Arc<Pod>, state: Arc<State>) -> Result<Action, Error> {
    let key = ObjectRef::from_obj(&*pod).cache_key();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let forget = || {
        state
            .exposed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        Ok(Action::await_change())
    };
    if pod.metadata.deletion_timestamp.is_some() {
        return forget();
    }
    let Some(node) = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .and_then(|n| state.nodes.get_by_name(None, n))
    else {
        return forget();
    };
    let taints: Vec<&Taint> = node
        .spec
        .iter()
        .flat_map(|s| s.taints.iter().flatten())
        .filter(|t| t.effect == "NoExecute")
        .collect();
    if taints.is_empty() {
        return forget();
    }
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let wait = match toleration_time(&taints, &tolerations) {
        None => Duration::ZERO,
        Some(None) => return forget(),
        Some(Some(d)) => d,
    };
    let now = Instant::now();
    let since = {
        let mut exposed = state.exposed.lock().unwrap_or_else(|e| e.into_inner());
        let entry = exposed.entry(key.clone()).or_insert((uid.clone(), now));
        if entry.0 != uid {
            *entry = (uid, now);
        }
        entry.1
    };
    let due = since + wait;
    if now < due {
        return Ok(Action::requeue(due - now));
    }
    let (ns, name) = (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    );
    tracing::info!(pod = %key, node = ?node.metadata.name, "evicting pod from a NoExecute-tainted node");
    let pods: Api<Pod> = Api::namespaced(state.ctx.client().clone(), &ns);
    match pods.delete(&name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(e) if e.code() == Some(404) => {}
        Err(source) => return Err(Error::Delete { pod: key, source }),
    }
    forget()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str) -> Taint {
        Taint {
            key: key.into(),
            effect: "NoExecute".into(),
            ..Taint::default()
        }
    }

    fn toleration(key: &str, op: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some(op.into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: seconds,
            ..Toleration::default()
        }
    }

    #[test]
    fn the_least_toleration_in_use_wins() {
        let t = taint("node.kubernetes.io/unreachable");
        assert_eq!(toleration_time(&[&t], &[]), None);
        assert_eq!(
            toleration_time(
                &[&t],
                &[toleration("node.kubernetes.io/unreachable", "Exists", None)]
            ),
            Some(None)
        );
        assert_eq!(
            toleration_time(
                &[&t],
                &[
                    toleration("node.kubernetes.io/unreachable", "Exists", Some(300)),
                    toleration("", "Exists", Some(60)),
                    toleration("other", "Exists", Some(1)),
                ]
            ),
            Some(Some(Duration::from_secs(60)))
        );
        assert!(!tolerates(&toleration("other", "Equal", None), &t));
    }
}
