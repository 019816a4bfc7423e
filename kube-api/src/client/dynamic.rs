//! [`DynamicApi`]: the API of any resource, found at run time by
//! [`Discovery`](super::discovery::Discovery), over
//! [`DynamicObject`] (client-go's dynamic client).

use k8s_openapi::api::autoscaling::v1::Scale;
use kube_core::dynamic::{DynamicList, DynamicObject};
use serde::Serialize;

use super::api::Api;
use super::discovery::ApiResource;
use super::params::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use super::request::Request;
use super::rest::{EventStream, ObjectOrStatus};
use super::{Client, Result};

/// The API of one resource, objects as JSON. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct DynamicApi {
    api: Api<DynamicObject>,
    resource: ApiResource,
}

impl DynamicApi {
    /// A cluster-scoped `resource`, or a namespaced one across every namespace.
    pub fn all(client: Client, resource: &ApiResource) -> Self {
        let request =
            Request::for_resource(&resource.group, &resource.version, &resource.plural, None);
        Self {
            api: Api::with_request(client, request, None),
            resource: resource.clone(),
        }
    }

    /// A namespaced `resource` in `namespace` (a cluster-scoped one ignores the namespace, as
    /// kubectl does).
    pub fn namespaced(client: Client, resource: &ApiResource, namespace: &str) -> Self {
        if !resource.namespaced {
            return Self::all(client, resource);
        }
        let request = Request::for_resource(
            &resource.group,
            &resource.version,
            &resource.plural,
            Some(namespace),
        );
        Self {
            api: Api::with_request(client, request, Some(namespace.to_owned())),
            resource: resource.clone(),
        }
    }

    /// The resource.
    pub fn resource(&self) -> &ApiResource {
        &self.resource
    }

    /// The same calls as a typed-looking [`Api`] of [`DynamicObject`].
    pub fn api(&self) -> &Api<DynamicObject> {
        &self.api
    }

    /// `object` with `apiVersion` and `kind` of the resource filled in when unset.
    fn typed(&self, object: &DynamicObject) -> DynamicObject {
        let mut o = object.clone();
        if o.api_version.is_empty() {
            o.api_version = self.resource.api_version.clone();
        }
        if o.kind.is_empty() {
            o.kind = self.resource.kind.clone();
        }
        o
    }

    /// The object `name`.
    pub async fn get(&self, name: &str) -> Result<DynamicObject> {
        self.api.get(name).await
    }

    /// The object `name`, or `None`.
    pub async fn get_opt(&self, name: &str) -> Result<Option<DynamicObject>> {
        self.api.get_opt(name).await
    }

    /// A page of the collection.
    pub async fn list(&self, params: &ListParams) -> Result<DynamicList> {
        self.api
            .client()
            .request(self.api.request().list(params)?)
            .await
    }

    /// Watches the collection.
    pub async fn watch(&self, params: &WatchParams) -> Result<EventStream<DynamicObject>> {
        self.api.watch(params).await
    }

    /// Creates `object` (its `apiVersion` and `kind` default to the resource's).
    pub async fn create(
        &self,
        params: &PostParams,
        object: &DynamicObject,
    ) -> Result<DynamicObject> {
        self.api.create(params, &self.typed(object)).await
    }

    /// Replaces the object `name`.
    pub async fn replace(
        &self,
        name: &str,
        params: &PostParams,
        object: &DynamicObject,
    ) -> Result<DynamicObject> {
        self.api.replace(name, params, &self.typed(object)).await
    }

    /// Patches the object `name`.
    pub async fn patch<P: Serialize>(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<DynamicObject> {
        self.api.patch(name, params, patch).await
    }

    /// Deletes the object `name`.
    pub async fn delete(
        &self,
        name: &str,
        params: &DeleteParams,
    ) -> Result<ObjectOrStatus<DynamicObject>> {
        self.api.delete(name, params).await
    }

    /// Deletes the objects `list` selects.
    pub async fn delete_collection(
        &self,
        params: &DeleteParams,
        list: &ListParams,
    ) -> Result<ObjectOrStatus<DynamicList>> {
        self.api
            .client()
            .request_object_or_status(self.api.request().delete_collection(params, list)?)
            .await
    }

    /// The object `name` through its `status` subresource.
    pub async fn get_status(&self, name: &str) -> Result<DynamicObject> {
        self.api.get_status(name).await
    }

    /// Replaces the status of `name`.
    pub async fn replace_status(
        &self,
        name: &str,
        params: &PostParams,
        object: &DynamicObject,
    ) -> Result<DynamicObject> {
        self.api
            .replace_status(name, params, &self.typed(object))
            .await
    }

    /// Patches the status of `name`.
    pub async fn patch_status<P: Serialize>(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<DynamicObject> {
        self.api.patch_status(name, params, patch).await
    }

    /// The `scale` subresource of `name`.
    pub async fn get_scale(&self, name: &str) -> Result<Scale> {
        self.api.get_scale(name).await
    }
}
