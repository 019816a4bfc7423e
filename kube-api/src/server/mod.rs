//! The API server: the Kubernetes REST API over any [`Store`], as a tower [`Service`](tower::Service).
//!
//! Start with [`ApiServer::new`]; serve it on a socket with [`ApiServer::serve_tls`] (settings
//! from [`secure::SecureServing`]) or in plain h2c with [`ApiServer::serve`], or call it
//! in-process as a `tower::Service<http::Request<B>>`. Each request is authenticated first
//! ([`authn`]), may act as another user ([`authz::impersonation`]), and is authorized
//! ([`authz`]) before it reaches a handler. Requests are parsed into a
//! [`request::RequestInfo`], dispatched to the [`handler`] of their verb, and stored through
//! the generic [`storage::Storage`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use kube_core::registry::{Registry, Verb};
use kube_core::status::StatusError;
use kube_store::Store;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Instrument;

pub mod admission;
pub mod authn;
pub mod authz;
pub mod clock;
pub mod crd;
pub mod discovery;
pub mod fieldmanager;
pub mod flowcontrol;
pub mod handler;
pub mod kubeconfig;
pub mod metrics;
pub mod negotiate;
pub mod openapi;
pub mod pki;
pub mod protobuf;
pub mod request;
pub mod response;
pub mod secure;
mod serve;
pub mod storage;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
pub mod tls;

use clock::{Clock, SystemClock};
use handler::Ctx;
use metrics::{Metrics, RequestLabels};
use request::{RequestInfo, parse_query};
use response::ResponseBody;
use storage::{
    DefaultStrategy, ListWatchSource, Storage, StoreSource, Strategy, WatchCache, WatchCacheConfig,
};

/// The largest request body the server reads (upstream's 3 MiB).
pub const MAX_REQUEST_BODY_BYTES: usize = 3 * 1024 * 1024;

/// How often [`ApiServer::serve`] repairs service allocations (upstream's interval).
pub const ALLOCATION_REPAIR_INTERVAL: Duration = Duration::from_secs(3 * 60);

/// The namespaces the server creates at start.
pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Errors of serving on a socket.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Accepting a connection failed.
    #[error("accepting a connection failed")]
    Accept(#[source] std::io::Error),
    /// Creating the system namespaces or the `kubernetes` service at start failed.
    #[error("creating the system namespaces or the kubernetes service failed")]
    Bootstrap(#[source] StatusError),
}

/// The server's settings.
#[derive(Clone)]
pub struct Config {
    /// The resources served.
    pub registry: Registry,
    /// The clock objects are stamped with.
    pub clock: Arc<dyn Clock>,
    /// The per-kind hooks of create and update.
    pub strategy: Arc<dyn Strategy>,
    /// The largest request body accepted (413 above it).
    pub max_body_bytes: usize,
    /// How often a watch that allows bookmarks asks for progress.
    pub bookmark_interval: Duration,
    /// How long a watch without `timeoutSeconds` runs.
    pub watch_timeout: Duration,
    /// Serve lists and watches from a watch cache with these settings; `None` reads them
    /// straight from the store.
    pub watch_cache: Option<WatchCacheConfig>,
    /// The range service cluster IPs are allocated from; its first address is the
    /// `kubernetes` service's.
    pub service_cidr: storage::allocator::Ipv4Cidr,
    /// The range service node ports are allocated from.
    pub node_port_range: std::ops::RangeInclusive<u16>,
    /// Caps on requests in flight and open watches, and the request deadline.
    pub limits: flowcontrol::Limits,
    /// Who sends each request. The default has no authenticators and lets every request in
    /// as anonymous (for in-process embedders and tests); the binaries configure the chain.
    pub authentication: authn::Authentication,
    /// What each user may do. The default allows every request (for in-process embedders
    /// and tests); the binaries use `Node,RBAC` ([`authz::Authorization::node_rbac`]).
    pub authorization: authz::Authorization,
    /// The admission plugins every write passes ([`admission`]). The default is the
    /// built-in plugins and the webhooks ([`admission::Admission::builtin`]).
    pub admission: admission::Admission,
    /// Issues the tokens of TokenRequests (`serviceaccounts/token`) and, given to the server,
    /// checks the objects verified service-account tokens name against storage. Set from
    /// [`secure::Secured::configure`]; `None` answers TokenRequests with 503.
    pub token_issuer: Option<authn::service_account::ServiceAccountTokens>,
    /// The longest lifetime of a requested token (`--service-account-max-token-expiration`);
    /// longer requests are shortened with a warning.
    pub max_token_expiration: Option<Duration>,
}

/// Upstream's default node port range.
pub const DEFAULT_NODE_PORT_RANGE: std::ops::RangeInclusive<u16> = 30000..=32767;

impl Default for Config {
    fn default() -> Self {
        Self {
            registry: Registry::builtin(),
            clock: Arc::new(SystemClock),
            strategy: Arc::new(DefaultStrategy),
            max_body_bytes: MAX_REQUEST_BODY_BYTES,
            bookmark_interval: Duration::from_secs(60),
            watch_timeout: Duration::from_secs(30 * 60),
            watch_cache: Some(WatchCacheConfig::default()),
            service_cidr: storage::allocator::Ipv4Cidr::default(),
            node_port_range: DEFAULT_NODE_PORT_RANGE,
            limits: flowcontrol::Limits::default(),
            authentication: authn::Authentication::default(),
            authorization: authz::Authorization::default(),
            admission: admission::Admission::default(),
            token_issuer: None,
            max_token_expiration: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("resources", &self.registry.len())
            .field("max_body_bytes", &self.max_body_bytes)
            .field("bookmark_interval", &self.bookmark_interval)
            .field("watch_timeout", &self.watch_timeout)
            .field("watch_cache", &self.watch_cache)
            .field("service_cidr", &self.service_cidr)
            .field("node_port_range", &self.node_port_range)
            .field("limits", &self.limits)
            .field("authentication", &self.authentication)
            .field("authorization", &self.authorization)
            .field("admission", &self.admission)
            .field("token_issuer", &self.token_issuer)
            .field("max_token_expiration", &self.max_token_expiration)
            .finish_non_exhaustive()
    }
}

/// What every request shares.
#[derive(Debug)]
pub struct ServerState {
    /// The settings.
    pub config: Config,
    /// The generic storage.
    pub storage: Storage,
    /// The per-kind hooks.
    pub strategy: Arc<dyn Strategy>,
    /// Flips to true when the server shuts down; open watches end.
    pub shutdown: watch::Sender<bool>,
    /// The request metrics served on `/metrics`.
    pub metrics: Metrics,
    /// The caps on requests in flight and open watches.
    pub flow: flowcontrol::FlowControl,
    /// The served resources with the established CRDs, and their discovery and OpenAPI
    /// documents.
    pub custom: Arc<crd::CustomResources>,
    /// The authorizer chain built from [`Config::authorization`].
    pub authorizer: authz::Chain,
    /// The admission chain built from [`Config::admission`].
    pub admission: admission::Chain,
}

impl ServerState {
    /// The current snapshot of served resources; a request reads one snapshot throughout.
    pub fn snapshot(&self) -> Arc<crd::Snapshot> {
        self.custom.snapshot()
    }
}

impl std::fmt::Debug for dyn Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Strategy")
    }
}

/// The API server. Cloning is cheap; clones serve the same state.
#[derive(Debug, Clone)]
pub struct ApiServer {
    state: Arc<ServerState>,
}

impl ApiServer {
    /// A server over `store`.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        let source: Arc<dyn ListWatchSource> = match &config.watch_cache {
            Some(cache) => Arc::new(WatchCache::new(Arc::clone(&store), cache.clone())),
            None => Arc::new(StoreSource(Arc::clone(&store))),
        };
        let allocator = storage::allocator::ServiceAllocator::new(
            Arc::clone(&store),
            config.service_cidr,
            config.node_port_range.clone(),
        );
        let custom = Arc::new(crd::CustomResources::new(config.registry.clone()));
        let strategy: Arc<dyn Strategy> =
            Arc::new(authz::escalation::EscalationStrategy::new(Arc::new(
                crd::CustomResourceStrategy::new(Arc::clone(&config.strategy), Arc::clone(&custom)),
            )));
        let authorizer = authz::Chain::new(&config.authorization, &store);
        let storage = Storage::new(
            store,
            source,
            Arc::clone(&config.clock),
            Arc::clone(&strategy),
        )
        .with_allocator(allocator);
        if let Some(issuer) = &config.token_issuer {
            // Verified tokens are checked against this server's objects.
            issuer.set_getter(handler::tokenrequest::StoredObjects::new(
                storage.clone(),
                config.registry.clone(),
            ));
        }
        let (shutdown, _) = watch::channel(false);
        let state = Arc::new(ServerState {
            admission: admission::Chain::new(config.admission.clone()),
            authorizer,
            strategy,
            custom,
            flow: flowcontrol::FlowControl::new(config.limits.clone()),
            config,
            storage,
            shutdown,
            metrics: Metrics::new(),
        });
        // The CRD controllers follow the store for as long as the server lives.
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(crd::controller::run(Arc::downgrade(&state)));
        }
        Self { state }
    }

    /// The shared state (storage, settings).
    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// Creates the system namespaces that do not exist yet.
    pub async fn ensure_system_namespaces(&self) -> Result<(), StatusError> {
        let Some(info) =
            self.state
                .config
                .registry
                .get_arc(&kube_core::gvk::GroupVersionResource::new(
                    "",
                    "v1",
                    "namespaces",
                ))
        else {
            return Ok(());
        };
        for name in SYSTEM_NAMESPACES {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            match self.state.storage.create(&info, "", obj, false).await {
                Ok(_) => {}
                Err(e) if e.is_already_exists() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// With RBAC on: creates upstream's default roles and bindings that do not exist yet
    /// ([`authz::bootstrap`]), fills in the aggregated ClusterRoles, and waits for the
    /// authorizer's index to hold them.
    pub async fn ensure_default_policy(&self) -> Result<(), StatusError> {
        let Some(rbac) = self.state.authorizer.rbac() else {
            return Ok(());
        };
        authz::bootstrap::ensure(&self.state).await?;
        authz::rbac::aggregate(&self.state, rbac).await?;
        self.state.authorizer.sync().await;
        Ok(())
    }

    /// Creates the `kubernetes` service in `default` if it does not exist: the first address of
    /// the service range, port 443 to the server's `port`.
    pub async fn ensure_kubernetes_service(&self, port: u16) -> Result<(), StatusError> {
        let Some(info) =
            self.state
                .config
                .registry
                .get_arc(&kube_core::gvk::GroupVersionResource::new(
                    "", "v1", "services",
                ))
        else {
            return Ok(());
        };
        let Some(ip) = self.state.config.service_cidr.nth(0) else {
            return Ok(());
        };
        // Its address is held once it exists: a second create would fail on the address.
        match self.state.storage.get(&info, "default", "kubernetes").await {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == 404 => {}
            Err(e) => return Err(e),
        }
        let obj = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "type": "ClusterIP",
                "clusterIP": ip.to_string(),
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
                "sessionAffinity": "None",
            },
        });
        match self
            .state
            .storage
            .create(&info, "default", obj, false)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_already_exists() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One run of the service allocation repair (see [`storage::allocator::repair`]):
    /// releases allocation keys `repair` has found leaked often enough, and records keys that
    /// services hold without one. `None` when services allocate nothing.
    pub async fn repair_service_allocations(
        &self,
        repair: &mut storage::allocator::Repair,
    ) -> Option<Result<storage::allocator::RepairReport, kube_store::Error>> {
        let allocator = self.state.storage.allocator()?;
        let services =
            self.state
                .config
                .registry
                .get(&kube_core::gvk::GroupVersionResource::new(
                    "", "v1", "services",
                ))?;
        let prefix = storage::key::collection_prefix(services, "");
        Some(repair.run(allocator, &prefix).await)
    }

    /// Repairs service allocations every [`ALLOCATION_REPAIR_INTERVAL`] until the server
    /// shuts down.
    pub async fn run_allocation_repair(self) {
        let mut repair = storage::allocator::Repair::new();
        let mut shutdown = self.state.shutdown.subscribe();
        let mut ticks = tokio::time::interval(ALLOCATION_REPAIR_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            match self.repair_service_allocations(&mut repair).await {
                None => return,
                Some(Ok(report)) => {
                    for key in &report.released {
                        tracing::warn!(%key, "released a leaked service allocation");
                    }
                    for key in &report.recorded {
                        tracing::warn!(%key, "recorded a service allocation that had no key");
                    }
                    for key in &report.conflicting {
                        tracing::warn!(%key, "two services claim one allocation");
                    }
                }
                Some(Err(e)) => tracing::warn!(error = %e, "repairing service allocations failed"),
            }
        }
    }

    /// Ends every open watch; requests after this still work.
    pub fn shutdown_watches(&self) {
        self.state.shutdown.send_replace(true);
    }

    /// Serves HTTP/1.1 and h2c on `listener` until `shutdown` resolves, then ends open
    /// watches and waits for requests in flight. Creates the system namespaces first.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        self.bootstrap(&listener).await?;
        serve::run(self, listener, None, shutdown).await
    }

    /// [`serve`](Self::serve) over TLS with `tls` (see [`tls::server_config`]): HTTP/2 or
    /// HTTP/1.1 by ALPN; client certificates, if presented, reach the authenticators.
    pub async fn serve_tls(
        self,
        listener: TcpListener,
        tls: Arc<rustls::ServerConfig>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        self.bootstrap(&listener).await?;
        serve::run(
            self,
            listener,
            Some(tokio_rustls::TlsAcceptor::from(tls)),
            shutdown,
        )
        .await
    }

    /// The system namespaces and the `kubernetes` service, before serving; then the service
    /// allocation repair loop.
    async fn bootstrap(&self, listener: &TcpListener) -> Result<(), Error> {
        self.ensure_system_namespaces()
            .await
            .map_err(Error::Bootstrap)?;
        self.ensure_default_policy()
            .await
            .map_err(Error::Bootstrap)?;
        let port = listener.local_addr().map_err(Error::Accept)?.port();
        self.ensure_kubernetes_service(port)
            .await
            .map_err(Error::Bootstrap)?;
        // Serve the stored CRDs from the first request on.
        crd::controller::sync(&self.state)
            .await
            .map_err(Error::Bootstrap)?;
        tokio::spawn(self.clone().run_allocation_repair());
        Ok(())
    }

    /// Answers one request whose body has been read.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<ResponseBody> {
        let (parts, body) = request.into_parts();
        // Authentication comes first, as upstream: an unauthenticated request learns nothing.
        let user = match self.state.config.authentication.authenticate(&parts).await {
            Ok(user) => user,
            Err(e) => return response::error(&e),
        };
        // Impersonation comes next: everything after sees the impersonated user.
        let user =
            match authz::impersonation::impersonate(&self.state.authorizer, &user, &parts.headers)
                .await
            {
                Ok(Some(impersonated)) => impersonated,
                Ok(None) => user,
                Err(e) => return response::error(&e),
            };
        let query = parse_query(parts.uri.query());
        let Some(info) = RequestInfo::parse(&parts.method, parts.uri.path(), &query) else {
            return response::error(&StatusError::method_not_supported(
                "",
                "",
                parts.method.as_str(),
            ));
        };
        let span = tracing::info_span!(
            "request",
            verb = %info.verb,
            resource = %info.resource,
            subresource = %info.subresource,
            namespace = %info.namespace,
            name = %info.name,
            path = %info.path,
            user = %user.name,
            code = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let labels = self.metric_labels(&info, &parts.method, &parts.headers, &query);
        let started = tokio::time::Instant::now();
        let response = self
            .admit_and_route(info, user, query, parts.headers, parts.method, body)
            .instrument(span.clone())
            .await;
        let code = response.status().as_u16();
        let latency = started.elapsed();
        span.record("code", code);
        span.record("latency_ms", latency.as_secs_f64() * 1000.0);
        tracing::debug!(parent: &span, "served");
        self.state.metrics.observe(labels, code, latency);
        response
    }

    /// The metric labels of a request. Names the client made up (an unknown resource or
    /// subresource) are reported empty, so no request can grow the metrics without bound.
    fn metric_labels(
        &self,
        info: &RequestInfo,
        method: &Method,
        headers: &http::HeaderMap,
        query: &std::collections::BTreeMap<String, String>,
    ) -> RequestLabels {
        let mut labels = RequestLabels::of(info, method, headers, query);
        if info.is_resource_request {
            let gvr = kube_core::gvk::GroupVersionResource::new(
                &info.group,
                &info.version,
                &info.resource,
            );
            match self.state.snapshot().registry.get(&gvr) {
                Some(resource) => {
                    if !info.subresource.is_empty()
                        && resource.subresource(&info.subresource).is_none()
                    {
                        labels.subresource.clear();
                    }
                }
                None => {
                    labels.group.clear();
                    labels.version.clear();
                    labels.resource.clear();
                    labels.subresource.clear();
                }
            }
        }
        labels
    }

    /// Admits the request under its cap (429 over it) and routes it; a request that is not
    /// long-running runs as its own task under its deadline (504 past it, the task running on
    /// so that no write is cut in half).
    async fn admit_and_route(
        &self,
        info: RequestInfo,
        user: authn::UserInfo,
        query: std::collections::BTreeMap<String, String>,
        headers: http::HeaderMap,
        method: Method,
        body: Bytes,
    ) -> Response<ResponseBody> {
        use flowcontrol::RequestKind;
        let flow = &self.state.flow;
        let kind = RequestKind::of(&info);
        let deadline = match flow.deadline(kind, query.get("timeout").map(String::as_str)) {
            Ok(deadline) => deadline,
            Err(e) => return response::error(&e),
        };
        // Watches take their place under the watch cap in their handler, for as long as they
        // stream.
        let admitted = match kind {
            RequestKind::LongRunning => None,
            _ => match flow.admit(kind) {
                Ok(admitted) => Some(admitted),
                Err(e) => return response::error(&e),
            },
        };
        let Some(deadline) = deadline else {
            let _admitted = admitted;
            return self.route(info, user, query, headers, method, body).await;
        };
        let server = self.clone();
        let task = tokio::spawn(
            async move {
                let _admitted = admitted;
                server.route(info, user, query, headers, method, body).await
            }
            .in_current_span(),
        );
        match tokio::time::timeout(deadline, task).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => response::error(&StatusError::internal(format!(
                "the request handler failed: {e}"
            ))),
            Err(_) => response::error(&flowcontrol::deadline_exceeded()),
        }
    }

    async fn route(
        &self,
        info: RequestInfo,
        user: authn::UserInfo,
        query: std::collections::BTreeMap<String, String>,
        headers: http::HeaderMap,
        method: Method,
        body: Bytes,
    ) -> Response<ResponseBody> {
        // Authorization before anything is resolved, as upstream's filter: a user who may not
        // ask learns nothing, not even whether a resource exists.
        if !self.state.authorizer.allows_everything() {
            let attributes = authz::Attributes::of_request(
                &user,
                &info,
                &method,
                query.get("fieldSelector").map(String::as_str),
            );
            if let Err(e) = self.state.authorizer.check(&attributes).await {
                return response::error(&e);
            }
        }
        if !info.is_resource_request {
            return self.non_resource(&info, &method, &headers);
        }
        let snapshot = self.state.snapshot();
        let registry = &snapshot.registry;
        let gvr =
            kube_core::gvk::GroupVersionResource::new(&info.group, &info.version, &info.resource);
        let Some(resource) = registry.get_arc(&gvr) else {
            return response::error(&response::path_not_found());
        };
        let scoped_right = if resource.namespaced {
            !info.namespace.is_empty() || matches!(info.verb, Verb::List | Verb::Watch)
        } else {
            info.namespace.is_empty() || (info.group.is_empty() && info.resource == "namespaces")
        };
        if !scoped_right {
            return response::error(&response::path_not_found());
        }
        // Writes of one object need its name; a create names none (upstream routes neither).
        let misrouted = match info.verb {
            Verb::Update | Verb::Patch => info.name.is_empty(),
            Verb::Create => !info.name.is_empty() && info.subresource.is_empty(),
            _ => false,
        };
        if misrouted {
            return response::error(&StatusError::new(
                405,
                kube_core::status::Reason::MethodNotAllowed,
                "the server does not allow this method on the requested resource",
                None,
            ));
        }
        if !info.subresource.is_empty() {
            let served = (matches!(
                info.subresource.as_str(),
                "status" | "finalize" | "scale" | "binding" | "eviction" | "token"
            ) || handler::connect::SUBRESOURCES.contains(&info.subresource.as_str()))
                && resource
                    .subresource(&info.subresource)
                    .is_some_and(|s| s.verbs.contains(&info.verb));
            if !served {
                return response::error(&response::path_not_found());
            }
        } else if !resource.supports(info.verb) {
            return response::error(&StatusError::method_not_supported(
                &resource.group,
                &resource.plural,
                info.verb.as_str(),
            ));
        }
        let legacy_binding = info.group.is_empty()
            && info.resource == "bindings"
            && info.subresource.is_empty()
            && info.verb == Verb::Create;
        let self_subject_review = info.group == "authentication.k8s.io"
            && info.resource == "selfsubjectreviews"
            && info.verb == Verb::Create;
        let token_review = info.group == "authentication.k8s.io"
            && info.resource == "tokenreviews"
            && info.verb == Verb::Create;
        let access_review = handler::accessreview::is_review(&info.group, &info.resource)
            && info.verb == Verb::Create;
        if !resource.stored
            && !legacy_binding
            && !self_subject_review
            && !token_review
            && !access_review
        {
            return response::error(&StatusError::method_not_supported(
                &resource.group,
                &resource.plural,
                info.verb.as_str(),
            ));
        }
        let ctx = Ctx {
            state: Arc::clone(&self.state),
            request: info,
            resource,
            user,
            query,
            headers,
            body,
        };
        let result = match (ctx.request.subresource.as_str(), ctx.request.verb) {
            ("scale", _) => handler::scale::scale(&ctx).await,
            ("binding", _) => handler::binding::bind(&ctx).await,
            ("eviction", _) => handler::eviction::evict(&ctx).await,
            ("token", _) => handler::tokenrequest::create(&ctx).await,
            (s, _) if handler::connect::SUBRESOURCES.contains(&s) => {
                handler::connect::connect(&ctx).await
            }
            _ if legacy_binding => handler::binding::bind(&ctx).await,
            _ if self_subject_review => handler::selfsubjectreview::create(&ctx).await,
            _ if token_review => handler::tokenreview::create(&ctx).await,
            _ if access_review => handler::accessreview::create(&ctx).await,
            _ => match self.escalation_caller(&ctx).await {
                Ok(Some(caller)) => authz::escalation::scope(caller, self.dispatch(&ctx)).await,
                Ok(None) => self.dispatch(&ctx).await,
                Err(e) => Err(e),
            },
        };
        crd::controller::after_write(&ctx, &result).await;
        self.after_rbac_write(&ctx, &result).await;
        result.unwrap_or_else(|e| response::error(&e))
    }

    /// The writer of an RBAC object whose write the escalation check must judge, with the
    /// `escalate` / `bind` decisions taken for it; `None` when nothing is checked.
    async fn escalation_caller(
        &self,
        ctx: &Ctx,
    ) -> Result<Option<authz::escalation::Caller>, StatusError> {
        let chain = &self.state.authorizer;
        let Some(rbac) = chain.rbac() else {
            return Ok(None);
        };
        let r = &ctx.request;
        let writes = matches!(r.verb, Verb::Create | Verb::Update | Verb::Patch);
        if !writes
            || !authz::escalation::is_rbac(&ctx.resource)
            || ctx
                .user
                .groups
                .iter()
                .any(|g| g == authn::SYSTEM_MASTERS_GROUP)
        {
            return Ok(None);
        }
        let group = authz::rbac::GROUP;
        let mut caller = authz::escalation::Caller {
            user: ctx.user.clone(),
            rbac: Arc::clone(rbac),
            may_escalate: false,
            may_bind: None,
        };
        match ctx.resource.plural.as_str() {
            "roles" | "clusterroles" => {
                let a = authz::Attributes::resource(
                    &ctx.user,
                    "escalate",
                    group,
                    &ctx.resource.plural,
                    &r.namespace,
                    &r.name,
                );
                caller.may_escalate = chain.authorize(&a).await.is_allowed();
            }
            _ => {
                let role_ref = match r.verb {
                    Verb::Patch => match ctx
                        .storage()
                        .get(&ctx.resource, &r.namespace, &r.name)
                        .await
                    {
                        Ok(existing) => Some(authz::escalation::role_ref_of(&existing)),
                        Err(_) => None,
                    },
                    _ => ctx
                        .json_body()
                        .ok()
                        .map(|b| authz::escalation::role_ref_of(&b)),
                };
                if let Some(role_ref) = role_ref {
                    let resource = if role_ref.kind == "Role" {
                        "roles"
                    } else {
                        "clusterroles"
                    };
                    let a = authz::Attributes::resource(
                        &ctx.user,
                        "bind",
                        group,
                        resource,
                        &r.namespace,
                        &role_ref.name,
                    );
                    if chain.authorize(&a).await.is_allowed() {
                        caller.may_bind = Some(role_ref);
                    }
                }
            }
        }
        Ok(Some(caller))
    }

    /// After a write of an RBAC object through this server: fills in aggregated ClusterRoles
    /// and waits until the authorizer's index holds the write, so the caller's next request
    /// is judged by it.
    async fn after_rbac_write(&self, ctx: &Ctx, result: &handler::HandlerResult) {
        let Some(rbac) = self.state.authorizer.rbac() else {
            return;
        };
        let wrote = matches!(
            ctx.request.verb,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection
        );
        if !wrote
            || !authz::escalation::is_rbac(&ctx.resource)
            || !result.as_ref().is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        if ctx.resource.plural == "clusterroles"
            && let Err(e) = authz::rbac::aggregate(&self.state, rbac).await
        {
            tracing::warn!(error = %e, "aggregating ClusterRoles failed");
        }
        self.state.authorizer.sync().await;
    }

    /// Runs the handler of the request's verb.
    async fn dispatch(&self, ctx: &Ctx) -> handler::HandlerResult {
        match ctx.request.verb {
            Verb::Get => handler::get::get(ctx).await,
            Verb::List => handler::list::list(ctx).await,
            Verb::Watch => handler::watch::watch(ctx).await,
            Verb::Create => handler::create::create(ctx).await,
            Verb::Update => handler::update::update(ctx).await,
            Verb::Patch => handler::patch::patch(ctx).await,
            Verb::Delete => handler::delete::delete(ctx).await,
            Verb::DeleteCollection => handler::delete::delete_collection(ctx).await,
        }
    }

    /// Health checks, discovery and OpenAPI documents.
    fn non_resource(
        &self,
        info: &RequestInfo,
        method: &Method,
        headers: &http::HeaderMap,
    ) -> Response<ResponseBody> {
        if method != Method::GET && method != Method::HEAD {
            return response::error(&StatusError::method_not_supported("", "", method.as_str()));
        }
        let path = info.path.trim_end_matches('/');
        let health = ["/healthz", "/livez", "/readyz"]
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/")));
        if health {
            return response::with_type(StatusCode::OK, "text/plain; charset=utf-8", "ok");
        }
        if path == "/metrics" {
            return response::with_type(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                format!(
                    "{}{}",
                    self.state.metrics.render(),
                    self.state.flow.render()
                ),
            );
        }
        let accept = headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let aggregated = discovery::negotiate_aggregated(accept);
        let snapshot = self.state.snapshot();
        let d = &snapshot.discovery;
        let o = &snapshot.openapi;
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let body = match segments.as_slice() {
            ["api"] if aggregated => {
                return response::with_type(
                    StatusCode::OK,
                    discovery::AGGREGATED_CONTENT_TYPE,
                    d.aggregated_core(),
                );
            }
            ["apis"] if aggregated => {
                return response::with_type(
                    StatusCode::OK,
                    discovery::AGGREGATED_CONTENT_TYPE,
                    d.aggregated_apis(),
                );
            }
            ["api"] => Some(d.api_versions()),
            ["apis"] => Some(d.api_group_list()),
            ["api", version] => d.api_resource_list("", version),
            ["apis", group] => d.api_group(group),
            ["apis", group, version] => d.api_resource_list(group, version),
            ["version"] => Some(d.version()),
            ["openapi", "v2"] if !negotiate::openapi_v2_acceptable(Some(accept)) => {
                if accept.contains(openapi::V2_PROTOBUF) {
                    // Upstream answers the protobuf document as octet-stream.
                    return response::with_type(
                        StatusCode::OK,
                        "application/octet-stream",
                        openapi::OpenApi::v2_protobuf(),
                    );
                }
                return response::error(&StatusError::not_acceptable(&negotiate::SERVED));
            }
            ["openapi", "v2"] => Some(o.v2()),
            ["openapi", "v3"] => Some(o.v3_index()),
            ["openapi", "v3", rest @ ..] => o.v3_group_version(&rest.join("/")),
            _ => None,
        };
        match body {
            Some(body) => response::with_type(StatusCode::OK, response::APPLICATION_JSON, body),
            None => response::error(&response::path_not_found()),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> tower::Service<Request<B>> for ApiServer
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let server = self.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            // A refused upgrade ends its connection (see handler::connect).
            let upgrade = handler::connect::is_upgrade_request(&parts.headers);
            let close = |mut response: Response<ResponseBody>| {
                if upgrade && response.status() != StatusCode::SWITCHING_PROTOCOLS {
                    response.headers_mut().insert(
                        http::header::CONNECTION,
                        http::HeaderValue::from_static("close"),
                    );
                }
                response
            };
            let limit = server.state.config.max_body_bytes;
            let bytes = match Limited::new(body, limit).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    let err = if e.is::<http_body_util::LengthLimitError>() {
                        StatusError::request_entity_too_large(&format!("limit is {limit}"))
                    } else {
                        StatusError::bad_request(format!("reading the request body failed: {e}"))
                    };
                    return Ok(close(response::error(&err)));
                }
            };
            Ok(close(
                server.handle(Request::from_parts(parts, bytes)).await,
            ))
        })
    }
}
