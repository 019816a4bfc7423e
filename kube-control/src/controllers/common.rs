//! What the stock controllers share (upstream's `pkg/controller/controller_utils.go`):
//! expectations, controller references and their adoption and release, the pod-from-template
//! helper, and the worker loop over a rate-limited work queue.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube_api::client::api::{Api, ApiObject};
use kube_api::client::runtime::store::IndexFunc;
use kube_api::client::runtime::{Object, Store};
use kube_api::client::workqueue::RateLimitingQueue;
use kube_api::client::{Patch, PatchParams};
use kube_core::selector::label::LabelSelector;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Errors of a controller's sync of one key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error(transparent)]
    Api(#[from] kube_api::client::Error),
    /// The object cannot be acted on as it is (an invalid selector, ...).
    #[error("{0}")]
    Invalid(String),
    /// Several calls of one batch failed; the first error is kept.
    #[error("{count} of the calls failed, the first: {first}")]
    Aggregate {
        /// How many failed.
        count: usize,
        /// The first failure.
        #[source]
        first: Box<Error>,
    },
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How long an expectation is waited for before the controller syncs anyway (upstream's
/// `ExpectationsTimeout`).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
struct Expectation {
    adds: i64,
    deletes: BTreeSet<String>,
    at: Instant,
}

/// Creations and deletions a controller made and has not yet seen through its informer
/// (upstream's `UIDTrackingControllerExpectations`): while a key has some outstanding, its
/// controller does not act on a cache that may not show them yet, so a slow watch never makes
/// it create or delete twice. Deletions are tracked by pod key, so seeing one deletion twice
/// (the deletionTimestamp, then the delete) counts once.
#[derive(Debug, Default)]
pub struct Expectations {
    inner: Mutex<BTreeMap<String, Expectation>>,
}

impl Expectations {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Expectation>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `key` may sync: nothing outstanding, never recorded, or waited for longer than
    /// [`EXPECTATIONS_TIMEOUT`].
    pub fn satisfied(&self, key: &str) -> bool {
        match self.lock().get(key) {
            None => true,
            Some(e) => {
                (e.adds <= 0 && e.deletes.is_empty()) || e.at.elapsed() > EXPECTATIONS_TIMEOUT
            }
        }
    }

    /// Records that `key` is about to create `adds` objects.
    pub fn expect_creations(&self, key: &str, adds: usize) {
        self.lock().insert(
            key.to_owned(),
            Expectation {
                adds: adds as i64,
                deletes: BTreeSet::new(),
                at: Instant::now(),
            },
        );
    }

    /// Records that `key` is about to delete the objects `keys`.
    pub fn expect_deletions(&self, key: &str, keys: impl IntoIterator<Item = String>) {
        self.lock().insert(
            key.to_owned(),
            Expectation {
                adds: 0,
                deletes: keys.into_iter().collect(),
                at: Instant::now(),
            },
        );
    }

    /// One creation of `key` was seen (or failed, so will never be seen).
    pub fn creation_observed(&self, key: &str) {
        if let Some(e) = self.lock().get_mut(key) {
            e.adds -= 1;
        }
    }

    /// The deletion of `object` by `key` was seen (or failed).
    pub fn deletion_observed(&self, key: &str, object: &str) {
        if let Some(e) = self.lock().get_mut(key) {
            e.deletes.remove(object);
        }
    }

    /// Forgets `key` (its owner is gone).
    pub fn delete(&self, key: &str) {
        self.lock().remove(key);
    }
}

pub use crate::owner::controller_of;

/// A controller reference to `owner` (kind `K`), blocking its foreground deletion.
pub fn controller_ref<K: Object>(owner: &K) -> OwnerReference {
    let meta = owner.metadata();
    OwnerReference {
        api_version: K::API_VERSION.to_owned(),
        kind: K::KIND.to_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The controller index: objects under their controller's uid, orphans under
/// `orphan:<namespace>` (upstream's `controllerUIDIndex` with its orphan key).
pub const CONTROLLER_INDEX: &str = "controller-uid";

/// Adds the [`CONTROLLER_INDEX`] to a (shared) cache unless another controller did.
pub fn add_controller_index<K: Object>(store: &Store<K>) {
    let f: IndexFunc<K> = Arc::new(|o: &K| {
        let meta = o.metadata();
        vec![match controller_of(meta) {
            Some(r) => r.uid.clone(),
            None => format!("orphan:{}", meta.namespace.as_deref().unwrap_or_default()),
        }]
    });
    let _ = store.add_indexer(CONTROLLER_INDEX, f);
}

/// What a controller with `uid` in `namespace` may claim: the objects it controls and the
/// orphans of the namespace (every object of the namespace if the index is missing).
pub fn controlled_or_orphans<K: Object>(
    store: &Store<K>,
    namespace: &str,
    uid: &str,
) -> Vec<Arc<K>> {
    let owned = store.by_index(CONTROLLER_INDEX, uid);
    let orphans = store.by_index(CONTROLLER_INDEX, &format!("orphan:{namespace}"));
    match (owned, orphans) {
        (Ok(mut owned), Ok(orphans)) => {
            owned.extend(orphans);
            owned
        }
        _ => store.list_namespace(namespace),
    }
}

/// The cache key of an object (`namespace/name`).
pub fn key_of<K: Object>(obj: &K) -> String {
    kube_api::client::runtime::store::key_of(obj.metadata())
}

/// Splits a `namespace/name` key.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

/// The labels of `meta` (empty when it has none).
pub fn labels(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

/// Whether `meta` carries a deletionTimestamp.
pub fn is_deleting(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

/// Adopts and releases `candidates` for `owner` (upstream's `ControllerRefManager`):
/// an object controlled by `owner` that still matches `selector` is kept, one that stopped
/// matching is released (its controller reference removed); an orphan that matches is adopted
/// unless `owner` or the orphan is being deleted. Before the first adoption the owner is read
/// again from the server (upstream's `RecheckDeletionTimestamp`): a cache that has not yet
/// seen its deletion, or its replacement by a namesake, adopts nothing. Returns what `owner`
/// controls afterwards. Writes are JSON merge patches carrying the object's resourceVersion,
/// so a concurrent change makes them fail with a conflict rather than overwrite it.
pub async fn claim<O: Object + ApiObject, K: Object + ApiObject>(
    api_of: impl Fn(&str) -> Api<K>,
    owner_api: &Api<O>,
    owner: &O,
    selector: &LabelSelector,
    candidates: Vec<Arc<K>>,
) -> Result<Vec<Arc<K>>> {
    let owner_uid = owner.metadata().uid.clone().unwrap_or_default();
    let owner_deleting = is_deleting(owner.metadata());
    let mut can_adopt: Option<bool> = None;
    let mut claimed = Vec::new();
    let mut errors = Vec::new();
    for obj in candidates {
        let meta = obj.metadata();
        let matches = selector.matches(&labels(meta));
        let ns = meta.namespace.clone().unwrap_or_default();
        let name = meta.name.clone().unwrap_or_default();
        match controller_of(meta) {
            Some(r) if r.uid != owner_uid => {}
            Some(_) if matches => claimed.push(obj),
            Some(_) => {
                if owner_deleting {
                    continue;
                }
                let refs: Vec<OwnerReference> = meta
                    .owner_references
                    .iter()
                    .flatten()
                    .filter(|r| r.uid != owner_uid)
                    .cloned()
                    .collect();
                if let Err(e) = patch_owner_refs(&api_of(&ns), &name, meta, refs).await
                    && !is_not_found(&e)
                {
                    errors.push(Error::Api(e));
                }
            }
            None => {
                if !matches || owner_deleting || is_deleting(meta) {
                    continue;
                }
                if can_adopt.is_none() {
                    let name = owner.metadata().name.as_deref().unwrap_or_default();
                    let fresh = owner_api.get_opt(name).await?;
                    can_adopt = Some(fresh.is_some_and(|f| {
                        f.metadata().uid.as_deref() == Some(owner_uid.as_str())
                            && !is_deleting(f.metadata())
                    }));
                }
                if can_adopt == Some(false) {
                    continue;
                }
                let mut refs: Vec<OwnerReference> =
                    meta.owner_references.clone().unwrap_or_default();
                refs.push(controller_ref(owner));
                match patch_owner_refs(&api_of(&ns), &name, meta, refs).await {
                    Ok(adopted) => claimed.push(Arc::new(adopted)),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => errors.push(Error::Api(e)),
                }
            }
        }
    }
    match aggregate(errors) {
        Some(e) => Err(e),
        None => Ok(claimed),
    }
}

async fn patch_owner_refs<K: ApiObject>(
    api: &Api<K>,
    name: &str,
    meta: &ObjectMeta,
    refs: Vec<OwnerReference>,
) -> kube_api::client::Result<K> {
    let patch = serde_json::json!({
        "metadata": {
            "ownerReferences": refs,
            "uid": meta.uid,
            "resourceVersion": meta.resource_version,
        }
    });
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
}

/// Whether the server answered 404.
pub fn is_not_found(e: &kube_api::client::Error) -> bool {
    e.status().is_some_and(|s| s.is_not_found())
}

/// Whether the server answered 409 AlreadyExists.
pub fn is_already_exists(e: &kube_api::client::Error) -> bool {
    e.status().is_some_and(|s| s.is_already_exists())
}

/// One error of many, or none.
pub fn aggregate(mut errors: Vec<Error>) -> Option<Error> {
    match errors.len() {
        0 => None,
        1 => errors.pop(),
        count => Some(Error::Aggregate {
            count,
            first: Box::new(errors.swap_remove(0)),
        }),
    }
}

/// A pod from `template` owned by `owner`, named `<owner>-` plus the server's random suffix
/// (upstream's `GetPodFromTemplate`).
pub fn pod_from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    owner_name: &str,
    owner_ref: OwnerReference,
) -> Pod {
    let tmeta = template.metadata.clone().unwrap_or_default();
    let mut prefix = format!("{owner_name}-");
    if !kube_core::validation::name::is_dns1123_subdomain(&format!("{prefix}x")).is_empty() {
        prefix = owner_name.to_owned();
    }
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(prefix),
            namespace: Some(namespace.to_owned()),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner_ref]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// Whether a pod is active: neither finished nor being deleted (upstream's `IsPodActive`).
pub fn is_pod_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded" | "Failed")) && !is_deleting(&pod.metadata)
}

/// The pod's Ready condition, if true: when it last turned true.
pub fn pod_ready_since(pod: &Pod) -> Option<Option<Timestamp>> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .map(|c| c.last_transition_time.as_ref().map(|t| t.0))
}

/// Whether a pod is ready.
pub fn is_pod_ready(pod: &Pod) -> bool {
    pod_ready_since(pod).is_some()
}

/// Whether a pod has been ready for `min_ready_seconds` at `now` (upstream's
/// `IsPodAvailable`).
pub fn is_pod_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    match pod_ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => false,
        Some(Some(since)) => since
            .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(
                min_ready_seconds as i64,
            ))
            .is_ok_and(|t| t <= now),
    }
}

/// Runs `workers` workers over `queue` until `shutdown`, then lets in-flight syncs finish
/// (upstream's `wait.UntilWithContext(worker)` per worker). A sync that fails is retried with
/// the queue's rate limit; one that succeeds resets the key's back-off.
pub async fn run_workers<F, Fut>(
    name: &'static str,
    queue: RateLimitingQueue<String>,
    workers: usize,
    shutdown: CancellationToken,
    sync: F,
) where
    F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let mut tasks = Vec::new();
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let sync = sync.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(key) = queue.get().await {
                match sync(key.clone()).await {
                    Ok(()) => queue.forget(&key),
                    Err(e) => {
                        // A conflict only means the cache was behind: retried, as upstream,
                        // without a warning.
                        if matches!(&e, Error::Api(api) if api.code() == Some(409)) {
                            tracing::debug!(controller = name, %key, error = %e, "sync conflicted; retrying");
                        } else {
                            tracing::warn!(controller = name, %key, error = %e, "sync failed; retrying");
                        }
                        queue.add_rate_limited(key.clone());
                    }
                }
                queue.done(&key);
            }
        }));
    }
    shutdown.cancelled().await;
    queue.shutdown_with_drain().await;
    for t in tasks {
        let _ = t.await;
    }
}

/// Waits for `synced` unless `shutdown` comes first; false when shut down.
pub async fn wait_for_sync(shutdown: &CancellationToken, synced: impl Future<Output = ()>) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = synced => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn expectations_wait_for_every_observation_then_time_out() {
        let e = Expectations::default();
        assert!(e.satisfied("ns/rs"));
        e.expect_creations("ns/rs", 2);
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(!e.satisfied("ns/rs"));
        e.creation_observed("ns/rs");
        assert!(e.satisfied("ns/rs"));
        e.expect_deletions("ns/rs", ["ns/a".to_owned()]);
        e.deletion_observed("ns/rs", "ns/b");
        assert!(!e.satisfied("ns/rs"));
        tokio::time::advance(EXPECTATIONS_TIMEOUT + Duration::from_secs(1)).await;
        assert!(e.satisfied("ns/rs"), "expired");
        e.expect_deletions("ns/rs", ["ns/a".to_owned()]);
        e.deletion_observed("ns/rs", "ns/a");
        e.deletion_observed("ns/rs", "ns/a");
        assert!(e.satisfied("ns/rs"));
    }
}
