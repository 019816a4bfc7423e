//! The API server: the Kubernetes REST API over any [`Store`], as a tower [`Service`](tower::Service).
//!
//! Start with [`ApiServer::new`]; serve it on a socket with [`ApiServer::serve`], or call it
//! in-process as a `tower::Service<http::Request<B>>`. Requests are parsed into a
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

pub mod clock;
pub mod discovery;
pub mod fieldmanager;
pub mod handler;
pub mod kubeconfig;
pub mod negotiate;
pub mod openapi;
pub mod protobuf;
pub mod request;
pub mod response;
pub mod storage;

use clock::{Clock, SystemClock};
use discovery::Discovery;
use handler::Ctx;
use openapi::OpenApi;
use request::{RequestInfo, parse_query};
use response::ResponseBody;
use storage::{
    DefaultStrategy, ListWatchSource, Storage, StoreSource, Strategy, WatchCache, WatchCacheConfig,
};

/// The largest request body the server reads (upstream's 3 MiB).
pub const MAX_REQUEST_BODY_BYTES: usize = 3 * 1024 * 1024;

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
    /// The discovery documents.
    pub discovery: Discovery,
    /// The OpenAPI documents.
    pub openapi: OpenApi,
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
        let storage = Storage::new(
            store,
            source,
            Arc::clone(&config.clock),
            Arc::clone(&config.strategy),
        )
        .with_allocator(allocator);
        let (shutdown, _) = watch::channel(false);
        Self {
            state: Arc::new(ServerState {
                discovery: Discovery::new(&config.registry),
                openapi: OpenApi::new(&config.registry),
                strategy: Arc::clone(&config.strategy),
                config,
                storage,
                shutdown,
            }),
        }
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
        use hyper_util::rt::{TokioExecutor, TokioIo};
        use hyper_util::server::conn::auto::Builder;
        use hyper_util::server::graceful::GracefulShutdown;
        use hyper_util::service::TowerToHyperService;

        self.ensure_system_namespaces()
            .await
            .map_err(Error::Bootstrap)?;
        let port = listener.local_addr().map_err(Error::Accept)?.port();
        self.ensure_kubernetes_service(port)
            .await
            .map_err(Error::Bootstrap)?;
        let builder = Builder::new(TokioExecutor::new());
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => accepted.map_err(Error::Accept)?,
                () = &mut shutdown => break,
            };
            let service = TowerToHyperService::new(self.clone());
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
        self.shutdown_watches();
        graceful.shutdown().await;
        Ok(())
    }

    /// Answers one request whose body has been read.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<ResponseBody> {
        let (parts, body) = request.into_parts();
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
            code = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let started = tokio::time::Instant::now();
        let response = self
            .route(info, query, parts.headers, parts.method, body)
            .instrument(span.clone())
            .await;
        span.record("code", response.status().as_u16());
        span.record("latency_ms", started.elapsed().as_secs_f64() * 1000.0);
        tracing::debug!(parent: &span, "served");
        response
    }

    async fn route(
        &self,
        info: RequestInfo,
        query: std::collections::BTreeMap<String, String>,
        headers: http::HeaderMap,
        method: Method,
        body: Bytes,
    ) -> Response<ResponseBody> {
        if !info.is_resource_request {
            return self.non_resource(&info, &method, &headers);
        }
        let registry = &self.state.config.registry;
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
        if !info.subresource.is_empty() {
            let served = matches!(
                info.subresource.as_str(),
                "status" | "finalize" | "scale" | "binding" | "eviction"
            ) && resource
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
        if !resource.stored && !legacy_binding {
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
            query,
            headers,
            body,
        };
        let result = match (ctx.request.subresource.as_str(), ctx.request.verb) {
            ("scale", _) => handler::scale::scale(&ctx).await,
            ("binding", _) => handler::binding::bind(&ctx).await,
            ("eviction", _) => handler::eviction::evict(&ctx).await,
            _ if legacy_binding => handler::binding::bind(&ctx).await,
            _ => self.dispatch(&ctx).await,
        };
        result.unwrap_or_else(|e| response::error(&e))
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
        let accept = headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let aggregated = discovery::negotiate_aggregated(accept);
        let d = &self.state.discovery;
        let o = &self.state.openapi;
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
            let limit = server.state.config.max_body_bytes;
            let bytes = match Limited::new(body, limit).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    let err = if e.is::<http_body_util::LengthLimitError>() {
                        StatusError::request_entity_too_large(&format!("limit is {limit}"))
                    } else {
                        StatusError::bad_request(format!("reading the request body failed: {e}"))
                    };
                    return Ok(response::error(&err));
                }
            };
            Ok(server.handle(Request::from_parts(parts, bytes)).await)
        })
    }
}
