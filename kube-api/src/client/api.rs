//! [`Api<K>`]: the typed API of one kind, in one namespace or across the cluster
//! (client-go's typed clientsets, kube-rs's `Api`).
//!
//! ```no_run
//! # async fn run(client: kube_api::client::Client) -> kube_api::client::Result<()> {
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube_api::client::{Api, ListParams, PostParams};
//!
//! let maps: Api<ConfigMap> = Api::namespaced(client, "team");
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! maps.create(&PostParams::default(), &cm).await?;
//! let list = maps.list(&ListParams::default().labels("app=web")).await?;
//! # let _ = list;
//! # Ok(())
//! # }
//! ```

use std::fmt::Debug;
use std::marker::PhantomData;

use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::{ListableResource, NamespaceResourceScope, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::params::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use super::request::Request;
use super::rest::{EventStream, ObjectOrStatus};
use super::{Client, Error, Result};

/// The objects the generic calls of [`Api`] accept: anything that is JSON both ways.
pub trait ApiObject: Serialize + DeserializeOwned + Clone + Debug + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Debug + Send + Sync + 'static> ApiObject for T {}

/// The API of kind `K` in one namespace, or across the cluster. Cloning is cheap.
/// See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Api<K> {
    client: Client,
    request: Request,
    namespace: Option<String>,
    _kind: PhantomData<fn() -> K>,
}

impl<K: Resource> Api<K> {
    /// The cluster-scoped kind `K`, or a namespaced one across every namespace (list and watch
    /// only: single-object calls need a namespace).
    pub fn all(client: Client) -> Self {
        Self::with_request(
            client,
            Request::for_resource(K::GROUP, K::VERSION, K::URL_PATH_SEGMENT, None),
            None,
        )
    }
}

impl<K: Resource<Scope = NamespaceResourceScope>> Api<K> {
    /// The namespaced kind `K` in `namespace`.
    pub fn namespaced(client: Client, namespace: &str) -> Self {
        Self::with_request(
            client,
            Request::for_resource(K::GROUP, K::VERSION, K::URL_PATH_SEGMENT, Some(namespace)),
            Some(namespace.to_owned()),
        )
    }

    /// The namespaced kind `K` in the client's default namespace.
    pub fn default_namespaced(client: Client) -> Self {
        let ns = client.default_namespace().to_owned();
        Self::namespaced(client, &ns)
    }
}

impl<K> Api<K> {
    /// The API at `request`'s collection path; `namespace` is what [`Api::namespace`] says.
    pub fn with_request(client: Client, request: Request, namespace: Option<String>) -> Self {
        Self {
            client,
            request,
            namespace,
            _kind: PhantomData,
        }
    }

    /// The namespace this API is in, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The client underneath.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The request builder of the collection.
    pub fn request(&self) -> &Request {
        &self.request
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| Error::InvalidRequest(format!("the object does not serialize: {e}")))
}

impl<K: ApiObject> Api<K> {
    /// The object `name`.
    pub async fn get(&self, name: &str) -> Result<K> {
        self.client.request(self.request.get(name)?).await
    }

    /// The object `name`, or `None` if it does not exist.
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>> {
        match self.get(name).await {
            Ok(o) => Ok(Some(o)),
            Err(Error::Api(e)) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Watches the collection: ADDED / MODIFIED / DELETED / BOOKMARK events until the server
    /// ends the watch. An ERROR event ends up as [`Error::Api`] (410 Gone: list again).
    pub async fn watch(&self, params: &WatchParams) -> Result<EventStream<K>> {
        self.client
            .request_events(self.request.watch(params)?)
            .await
    }

    /// Creates `object`; the server's copy comes back.
    pub async fn create(&self, params: &PostParams, object: &K) -> Result<K> {
        self.client
            .request(self.request.create(params, to_json(object)?)?)
            .await
    }

    /// Replaces the object `name` with `object` (its resourceVersion, if set, must be current).
    pub async fn replace(&self, name: &str, params: &PostParams, object: &K) -> Result<K> {
        self.client
            .request(self.request.replace(name, None, params, to_json(object)?)?)
            .await
    }

    /// Patches the object `name`.
    pub async fn patch<P: Serialize>(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<K> {
        self.client
            .request(self.request.patch(name, None, params, patch)?)
            .await
    }

    /// Deletes the object `name`: the object while its deletion is pending (finalizers, grace),
    /// or a Success Status once it is gone.
    pub async fn delete(&self, name: &str, params: &DeleteParams) -> Result<ObjectOrStatus<K>> {
        self.client
            .request_object_or_status(self.request.delete(name, params)?)
            .await
    }

    /// The subresource `subresource` of `name`, as `T`.
    pub async fn get_subresource<T: DeserializeOwned>(
        &self,
        subresource: &str,
        name: &str,
    ) -> Result<T> {
        self.client
            .request(self.request.get_subresource(subresource, name)?)
            .await
    }

    /// Replaces the subresource `subresource` of `name` with `body`.
    pub async fn replace_subresource<T: Serialize + DeserializeOwned>(
        &self,
        subresource: &str,
        name: &str,
        params: &PostParams,
        body: &T,
    ) -> Result<T> {
        self.client
            .request(
                self.request
                    .replace(name, Some(subresource), params, to_json(body)?)?,
            )
            .await
    }

    /// Patches the subresource `subresource` of `name`.
    pub async fn patch_subresource<T: DeserializeOwned, P: Serialize>(
        &self,
        subresource: &str,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<T> {
        self.client
            .request(self.request.patch(name, Some(subresource), params, patch)?)
            .await
    }

    /// The object `name` through its `status` subresource.
    pub async fn get_status(&self, name: &str) -> Result<K> {
        self.get_subresource("status", name).await
    }

    /// Replaces the status of `name` (the rest of `object` is ignored by the server).
    pub async fn replace_status(&self, name: &str, params: &PostParams, object: &K) -> Result<K> {
        self.replace_subresource("status", name, params, object)
            .await
    }

    /// Patches the status of `name`.
    pub async fn patch_status<P: Serialize>(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<K> {
        self.patch_subresource("status", name, params, patch).await
    }

    /// The `scale` subresource of `name` (autoscaling/v1 Scale).
    pub async fn get_scale(&self, name: &str) -> Result<Scale> {
        self.get_subresource("scale", name).await
    }

    /// Replaces the `scale` subresource of `name`.
    pub async fn replace_scale(
        &self,
        name: &str,
        params: &PostParams,
        scale: &Scale,
    ) -> Result<Scale> {
        self.replace_subresource("scale", name, params, scale).await
    }

    /// Patches the `scale` subresource of `name`.
    pub async fn patch_scale<P: Serialize>(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<Scale> {
        self.patch_subresource("scale", name, params, patch).await
    }
}

impl<K: ApiObject + ListableResource> Api<K> {
    /// A page of the collection (all of it, unless [`ListParams::limit`] is set).
    pub async fn list(&self, params: &ListParams) -> Result<k8s_openapi::List<K>> {
        self.client.request(self.request.list(params)?).await
    }

    /// Deletes the objects `list` selects: the list of those still pending deletion, or a
    /// Status.
    pub async fn delete_collection(
        &self,
        params: &DeleteParams,
        list: &ListParams,
    ) -> Result<ObjectOrStatus<k8s_openapi::List<K>>> {
        self.client
            .request_object_or_status(self.request.delete_collection(params, list)?)
            .await
    }
}
