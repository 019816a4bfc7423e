//! The operator example's logic: a `WebApp` custom resource (`apps.example.com/v1`) whose
//! controller creates and owns a Deployment and a Service, and reports the Deployment's
//! availability in the WebApp's status.
//!
//! ```text
//! WebApp (spec.image, spec.replicas, spec.port)
//!   -> Deployment <name> (server-side applied, controller owner reference)
//!   -> Service <name>    (server-side applied, controller owner reference)
//!   <- status.availableReplicas, status.conditions[type=Available] from the Deployment
//! ```
//!
//! [`run`] installs the CRD if missing and runs the controller until its token is cancelled;
//! `examples/operator/main.rs` only parses flags and calls it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PodSpec, PodTemplateSpec, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::{ListableResource, Metadata, NamespaceResourceScope, Resource};
use kube_api::client::runtime::{
    ApiEventSink, BroadcasterConfig, EventBroadcaster, EventRecorder, EventType, Scope,
    SharedClock, SystemClock,
};
use kube_api::client::{Api, Client, Patch, PatchParams, PostParams};
use kube_control::CancellationToken;
use kube_control::controller::{Action, Controller, default_error_policy};
use kube_control::owner::controller_owner_ref;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The API group of [`WebApp`].
pub const GROUP: &str = "apps.example.com";
/// The name of the CRD.
pub const CRD_NAME: &str = "webapps.apps.example.com";
/// The field manager (and event reporter) of the controller.
pub const MANAGER: &str = "webapp-controller";
/// The label every child carries, so the child informers watch only these.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", MANAGER);
/// The label naming a child's WebApp (and the pods' selector).
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

/// A web application: an image run as `replicas` pods behind a Service.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WebApp {
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the user wants.
    #[serde(default)]
    pub spec: WebAppSpec,
    /// What the controller observed.
    #[serde(default)]
    pub status: Option<WebAppStatus>,
}

/// [`WebApp`]'s desired state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebAppSpec {
    /// The container image.
    pub image: String,
    /// How many pods (the CRD defaults it to 1).
    #[serde(default = "one")]
    pub replicas: i32,
    /// The port the container listens on and the Service serves (the CRD defaults it to 80).
    #[serde(default = "eighty")]
    pub port: i32,
}

fn one() -> i32 {
    1
}

fn eighty() -> i32 {
    80
}

/// [`WebApp`]'s observed state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebAppStatus {
    /// Available pods of the Deployment.
    #[serde(default)]
    pub available_replicas: i32,
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Available`: whether at least `spec.replicas` pods are available.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

impl Serialize for WebApp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Repr<'a> {
            api_version: &'static str,
            kind: &'static str,
            metadata: &'a ObjectMeta,
            spec: &'a WebAppSpec,
            #[serde(skip_serializing_if = "Option::is_none")]
            status: &'a Option<WebAppStatus>,
        }
        Repr {
            api_version: WebApp::API_VERSION,
            kind: WebApp::KIND,
            metadata: &self.metadata,
            spec: &self.spec,
            status: &self.status,
        }
        .serialize(serializer)
    }
}

impl Resource for WebApp {
    const API_VERSION: &'static str = "apps.example.com/v1";
    const GROUP: &'static str = GROUP;
    const KIND: &'static str = "WebApp";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "webapps";
    type Scope = NamespaceResourceScope;
}

impl ListableResource for WebApp {
    const LIST_KIND: &'static str = "WebAppList";
}

impl Metadata for WebApp {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl WebApp {
    /// A WebApp `name` in `namespace` running `image` as `replicas` pods on port 80.
    pub fn new(namespace: &str, name: &str, image: &str, replicas: i32) -> Self {
        Self {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(namespace.to_owned()),
                ..ObjectMeta::default()
            },
            spec: WebAppSpec {
                image: image.to_owned(),
                replicas,
                port: 80,
            },
            status: None,
        }
    }
}

/// Errors of the operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The client's error.
        #[source]
        source: kube_api::client::Error,
    },
    /// The WebApp is not as the server returns objects (no name or uid).
    #[error(transparent)]
    Owner(#[from] kube_control::owner::Error),
    /// The CRD was created but did not become Established in time.
    #[error("the CustomResourceDefinition {CRD_NAME} is not Established after {0:?}")]
    NotEstablished(Duration),
}

fn api_error(what: impl Into<String>) -> impl FnOnce(kube_api::client::Error) -> Error {
    let what = what.into();
    move |source| Error::Api { what, source }
}

/// The CustomResourceDefinition of [`WebApp`]: namespaced, with the status subresource and a
/// schema that defaults `replicas` to 1 and `port` to 80.
pub fn crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": "webapps", "singular": "webapp", "kind": "WebApp", "shortNames": ["wa"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["image"],
                            "properties": {
                                "image": {"type": "string"},
                                "replicas": {"type": "integer", "minimum": 0, "default": 1},
                                "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 80},
                            },
                        },
                        "status": {
                            "type": "object",
                            "properties": {
                                "availableReplicas": {"type": "integer"},
                                "observedGeneration": {"type": "integer"},
                                "conditions": {"type": "array", "items": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": true,
                                }},
                            },
                        },
                    },
                }},
                "additionalPrinterColumns": [
                    {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
                    {"name": "Desired", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Available", "type": "integer", "jsonPath": ".status.availableReplicas"},
                ],
            }],
        },
    }))
    .expect("the CRD literal is a CustomResourceDefinition")
}

/// Creates the CRD unless it exists, then waits (up to 30 s) until it is Established.
pub async fn install_crd(client: &Client) -> Result<(), Error> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    if crds
        .get_opt(CRD_NAME)
        .await
        .map_err(api_error("reading the CRD"))?
        .is_none()
    {
        tracing::info!(crd = CRD_NAME, "installing the CustomResourceDefinition");
        match crds.create(&PostParams::default(), &crd()).await {
            Ok(_) => {}
            // Another replica installed it meanwhile.
            Err(kube_api::client::Error::Api(e)) if e.is_already_exists() => {}
            Err(e) => return Err(api_error("creating the CRD")(e)),
        }
    }
    let limit = Duration::from_secs(30);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let crd = crds
            .get(CRD_NAME)
            .await
            .map_err(api_error("reading the CRD"))?;
        let established = crd
            .status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::NotEstablished(limit));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What every reconcile shares.
pub struct Context {
    client: Client,
    clock: SharedClock,
    recorder: EventRecorder,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

/// The labels of `app`'s children; the pods' selector is the instance label alone.
fn labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
        (INSTANCE_LABEL.to_owned(), name.to_owned()),
    ])
}

/// The Deployment `app` wants.
pub fn desired_deployment(app: &WebApp) -> Result<Deployment, Error> {
    let name = app.metadata.name.clone().unwrap_or_default();
    let selector = BTreeMap::from([(INSTANCE_LABEL.to_owned(), name.clone())]);
    Ok(Deployment {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: app.metadata.namespace.clone(),
            labels: Some(labels(&name)),
            owner_references: Some(vec![controller_owner_ref(app)?]),
            ..ObjectMeta::default()
        },
        spec: DeploymentSpec {
            replicas: Some(app.spec.replicas),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(&name)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "web".into(),
                        image: Some(app.spec.image.clone()),
                        ports: Some(vec![ContainerPort {
                            name: Some("http".into()),
                            container_port: app.spec.port,
                            ..ContainerPort::default()
                        }]),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        },
        status: None,
    })
}

/// The Service `app` wants: its port, to the pods' port of the same number.
pub fn desired_service(app: &WebApp) -> Result<Service, Error> {
    let name = app.metadata.name.clone().unwrap_or_default();
    Ok(Service {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: app.metadata.namespace.clone(),
            labels: Some(labels(&name)),
            owner_references: Some(vec![controller_owner_ref(app)?]),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([(INSTANCE_LABEL.to_owned(), name)])),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: app.spec.port,
                target_port: Some(IntOrString::Int(app.spec.port)),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

/// The status `app` should report, given its Deployment; the Available condition keeps its
/// transition time while its status stays the same.
pub fn desired_status(app: &WebApp, deployment: &Deployment, now: Time) -> WebAppStatus {
    let available = deployment
        .status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    let wanted = app.spec.replicas;
    let (status, reason) = if available >= wanted {
        ("True", "MinimumReplicasAvailable")
    } else {
        ("False", "MinimumReplicasUnavailable")
    };
    let previous = app
        .status
        .iter()
        .flat_map(|s| s.conditions.iter())
        .find(|c| c.type_ == "Available");
    let last_transition_time = match previous {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => now,
    };
    WebAppStatus {
        available_replicas: available,
        observed_generation: app.metadata.generation,
        conditions: vec![Condition {
            type_: "Available".into(),
            status: status.into(),
            reason: reason.into(),
            message: format!("{available} of {wanted} replicas available"),
            observed_generation: app.metadata.generation,
            last_transition_time,
        }],
    }
}

/// Brings `app`'s Deployment and Service to its spec and reports their state.
pub async fn reconcile(app: Arc<WebApp>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = app.metadata.namespace.clone().unwrap_or_default();
    let name = app.metadata.name.clone().unwrap_or_default();
    let apply = PatchParams::apply(MANAGER).force();
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &namespace);
    let deployment = deployments
        .patch(&name, &apply, &Patch::Apply(&desired_deployment(&app)?))
        .await
        .map_err(api_error(format!("applying Deployment {namespace}/{name}")))?;
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &namespace);
    services
        .patch(&name, &apply, &Patch::Apply(&desired_service(&app)?))
        .await
        .map_err(api_error(format!("applying Service {namespace}/{name}")))?;

    let status = desired_status(&app, &deployment, Time(ctx.clock.now()));
    if app.status.as_ref() != Some(&status) {
        let was_available = app
            .status
            .iter()
            .flat_map(|s| s.conditions.iter())
            .find(|c| c.type_ == "Available")
            .map(|c| c.status == "True");
        let now_available = status.conditions[0].status == "True";
        // Guarded by the resourceVersion this reconcile read: a reconcile working from a cache
        // that has not yet seen the previous status write gets 409 and is retried, so each
        // availability transition is written, and recorded as an event, once.
        let apps: Api<WebApp> = Api::namespaced(ctx.client.clone(), &namespace);
        apps.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"resourceVersion": app.metadata.resource_version},
                "status": status,
            })),
        )
        .await
        .map_err(api_error(format!(
            "updating the status of WebApp {namespace}/{name}"
        )))?;
        if was_available != Some(now_available) {
            let (type_, reason) = if now_available {
                (EventType::Normal, "Available")
            } else {
                (EventType::Warning, "Unavailable")
            };
            ctx.recorder.event_for(
                &*app,
                type_,
                reason,
                "Reconcile",
                status.conditions[0].message.clone(),
            );
        }
    }
    // Changes of the WebApp or its children trigger a reconcile; the periodic one repairs
    // anything missed.
    Ok(Action::requeue(Duration::from_secs(300)))
}

/// The WebApp controller over `client`: WebApps in every namespace, owning the Deployments and
/// Services labelled as [`MANAGED_BY`] this controller.
pub fn controller(client: &Client) -> Controller<WebApp> {
    let children = Scope::all().labels(format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
    Controller::new(Api::<WebApp>::all(client.clone()), Scope::all())
        .named(MANAGER)
        .owns(Api::<Deployment>::all(client.clone()), children.clone())
        .owns(Api::<Service>::all(client.clone()), children)
        .concurrency(4)
}

/// Installs the CRD if missing and runs the controller until `shutdown` is cancelled, then
/// lets reconciles in flight finish.
pub async fn run(client: Client, shutdown: CancellationToken) -> Result<(), Error> {
    install_crd(&client).await?;
    let broadcaster = Arc::new(EventBroadcaster::new(
        Arc::new(ApiEventSink::new(client.clone())),
        BroadcasterConfig::default(),
    ));
    let identity = std::env::var("HOSTNAME").unwrap_or_else(|_| MANAGER.to_owned());
    let ctx = Arc::new(Context {
        client: client.clone(),
        clock: Arc::new(SystemClock),
        recorder: broadcaster.new_recorder(MANAGER, identity),
    });
    let events = {
        let (broadcaster, stop) = (broadcaster.clone(), shutdown.clone());
        tokio::spawn(async move { broadcaster.run(stop.cancelled_owned()).await })
    };
    tracing::info!("running the WebApp controller");
    controller(&client)
        .graceful_shutdown(shutdown)
        .run(reconcile, default_error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((app, _)) => tracing::debug!(%app, "reconciled"),
                Err(e) => tracing::warn!(error = %e, "reconcile failed"),
            }
        })
        .await;
    let _ = events.await;
    Ok(())
}
