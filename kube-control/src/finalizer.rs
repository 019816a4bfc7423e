//! The finalizer helper (kube-rs's `kube_runtime::finalizer`, semantically): a reconcile that
//! must clean up outside the cluster before its object goes away.
//!
//! [`finalizer`] makes sure the object carries the finalizer while it lives, hands the reconcile
//! an [`Event::Apply`] for a live object and an [`Event::Cleanup`] once its deletion is
//! requested, and removes the finalizer after a successful cleanup so the deletion completes.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use k8s_openapi::api::core::v1::ConfigMap;
//! # use kube_api::client::Api;
//! # use kube_control::controller::Action;
//! # use kube_control::finalizer::{finalizer, Event};
//! # #[derive(Debug, thiserror::Error)] #[error("x")] struct Error;
//! async fn reconcile(cm: Arc<ConfigMap>, api: Arc<Api<ConfigMap>>) -> Result<Action, kube_control::finalizer::Error<Error>> {
//!     finalizer(&api, "example.com/cleanup", cm, |event| async move {
//!         match event {
//!             Event::Apply(cm) => Ok(Action::await_change()),
//!             Event::Cleanup(cm) => Ok(Action::await_change()),
//!         }
//!     })
//!     .await
//! }
//! ```

use std::future::Future;
use std::sync::Arc;

use k8s_openapi::Resource;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_api::client::api::ApiObject;
use kube_api::client::{Api, Patch, PatchParams, Request};
use serde_json::json;

use crate::controller::Action;

/// What the reconcile of [`finalizer`] is asked to do.
#[derive(Debug)]
pub enum Event<K> {
    /// The object lives (and carries the finalizer): bring the world to its spec.
    Apply(Arc<K>),
    /// The object's deletion was requested: clean up. Once this succeeds the finalizer is
    /// removed and the server deletes the object; on error it stays and cleanup is retried.
    Cleanup(Arc<K>),
}

/// Errors of [`finalizer`]; `E` is the reconcile's own error.
#[derive(Debug, thiserror::Error)]
pub enum Error<E: std::error::Error + 'static> {
    /// The reconcile of a live object failed.
    #[error("reconciling failed: {0}")]
    ApplyFailed(#[source] E),
    /// The cleanup of a deleted object failed; the finalizer stays.
    #[error("cleaning up failed: {0}")]
    CleanupFailed(#[source] E),
    /// Adding the finalizer failed (a 422 whose test failed: the object changed meanwhile and
    /// the next reconcile sees the new version).
    #[error("adding the finalizer failed: {0}")]
    AddFinalizer(#[source] kube_api::client::Error),
    /// Removing the finalizer failed.
    #[error("removing the finalizer failed: {0}")]
    RemoveFinalizer(#[source] kube_api::client::Error),
    /// The object has no name, so it cannot be patched.
    #[error("the object has no metadata.name")]
    UnnamedObject,
    /// The finalizer name is not a qualified name (`domain/name`).
    #[error("finalizer {0:?} is not a qualified name such as example.com/cleanup")]
    InvalidFinalizerName(String),
}

/// Runs `reconcile` under the finalizer `name` (a qualified name such as
/// `example.com/cleanup`) of `object`:
///
/// - live, without the finalizer: adds it with a JSON patch guarded by a `test` of the
///   resourceVersion, and returns [`Action::await_change`] (the patch itself triggers the next
///   reconcile), without calling `reconcile`;
/// - live, with the finalizer: `reconcile(Event::Apply)`;
/// - being deleted, with the finalizer: `reconcile(Event::Cleanup)`, then, if it succeeded,
///   removes the finalizer with a JSON patch that first tests the entry is still ours;
/// - being deleted, without the finalizer: nothing to do.
///
/// `api` is the API of `K`; for a namespaced object, its namespace is taken from the object,
/// so `Api::all` works too.
pub async fn finalizer<K, F, Fut, E>(
    api: &Api<K>,
    name: &str,
    object: Arc<K>,
    reconcile: F,
) -> Result<Action, Error<E>>
where
    K: Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + ApiObject,
    F: FnOnce(Event<K>) -> Fut,
    Fut: Future<Output = Result<Action, E>>,
    E: std::error::Error + 'static,
{
    if !name.contains('/') {
        return Err(Error::InvalidFinalizerName(name.to_owned()));
    }
    let meta = object.metadata();
    let object_name = meta.name.clone().ok_or(Error::UnnamedObject)?;
    let api = api_for(api, meta.namespace.as_deref());
    let position = meta.finalizers.iter().flatten().position(|f| f == name);
    let deleting = meta.deletion_timestamp.is_some();
    match (position, deleting) {
        (Some(_), false) => reconcile(Event::Apply(object))
            .await
            .map_err(Error::ApplyFailed),
        (Some(index), true) => {
            let action = reconcile(Event::Cleanup(object))
                .await
                .map_err(Error::CleanupFailed)?;
            let path = format!("/metadata/finalizers/{index}");
            let patch = json!([
                {"op": "test", "path": path, "value": name},
                {"op": "remove", "path": path},
            ]);
            match api
                .patch(&object_name, &PatchParams::default(), &Patch::Json(patch))
                .await
            {
                Ok(_) => Ok(action),
                Err(kube_api::client::Error::Api(e)) if e.is_not_found() => Ok(action),
                Err(e) => Err(Error::RemoveFinalizer(e)),
            }
        }
        (None, false) => {
            let rv = meta.resource_version.clone().unwrap_or_default();
            let add = if meta.finalizers.is_none() {
                json!({"op": "add", "path": "/metadata/finalizers", "value": [name]})
            } else {
                json!({"op": "add", "path": "/metadata/finalizers/-", "value": name})
            };
            let patch = json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
                add,
            ]);
            api.patch(&object_name, &PatchParams::default(), &Patch::Json(patch))
                .await
                .map_err(Error::AddFinalizer)?;
            Ok(Action::await_change())
        }
        (None, true) => Ok(Action::await_change()),
    }
}

/// `api` in `namespace` (the object's), when it is not already there.
fn api_for<K: Resource + Clone>(api: &Api<K>, namespace: Option<&str>) -> Api<K> {
    match namespace {
        Some(ns) if api.namespace() != Some(ns) => Api::with_request(
            api.client().clone(),
            Request::for_resource(K::GROUP, K::VERSION, K::URL_PATH_SEGMENT, Some(ns)),
            Some(ns.to_owned()),
        ),
        _ => api.clone(),
    }
}
