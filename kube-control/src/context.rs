//! [`ControllerContext`]: what every controller of a process shares — the client, one shared
//! informer per resource and scope, and the event broadcaster.

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube_api::client::Client;
use kube_api::client::api::{Api, ApiObject};
use kube_api::client::runtime::{
    ApiEventSink, BroadcasterConfig, EventBroadcaster, EventRecorder, Informer, ListerWatcher,
    Object, Scope, SharedClock, SharedInformerFactory, SystemClock,
};

/// What every controller of a process shares. Cloning is cheap; clones share everything.
#[derive(Clone)]
pub struct ControllerContext {
    client: Client,
    informers: SharedInformerFactory,
    events: Arc<EventBroadcaster>,
    identity: String,
    clock: SharedClock,
}

impl std::fmt::Debug for ControllerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerContext")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl ControllerContext {
    /// A context over `client`, with a new informer factory (not started) and an event
    /// broadcaster writing through the same client. Must be called inside a tokio runtime.
    pub fn new(client: Client) -> Self {
        let identity = std::env::var("HOSTNAME").unwrap_or_else(|_| "kube-control".to_owned());
        Self::with_factory(client, SharedInformerFactory::new(), identity)
    }

    /// A context over `client` sharing `informers`; events report `identity` as the
    /// reporting instance (upstream: the host name).
    pub fn with_factory(
        client: Client,
        informers: SharedInformerFactory,
        identity: impl Into<String>,
    ) -> Self {
        let sink = Arc::new(ApiEventSink::new(client.clone()));
        Self {
            events: Arc::new(EventBroadcaster::new(sink, BroadcasterConfig::default())),
            client,
            informers,
            identity: identity.into(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The same context reading wall-clock time from `clock` (the system clock by default;
    /// tests on a paused tokio clock give a `TokioClock`).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The wall-clock time controllers stamp into conditions and compare with
    /// (minReadySeconds, progress deadlines).
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The shared informer factory.
    pub fn informers(&self) -> &SharedInformerFactory {
        &self.informers
    }

    /// The reporting instance of events.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The shared informer of `K` in `scope` (one watch per resource and scope per process);
    /// it starts at once if the factory has started.
    pub fn informer<K: Object + ApiObject>(&self, scope: Scope) -> Informer<K> {
        let client = self.client.clone();
        let namespace = scope.namespace.clone();
        self.informers.informer(scope, move || {
            let api: Api<K> = match namespace {
                Some(ns) => Api::with_request(
                    client,
                    kube_api::client::Request::for_resource(
                        K::GROUP,
                        K::VERSION,
                        K::URL_PATH_SEGMENT,
                        Some(&ns),
                    ),
                    Some(ns),
                ),
                None => Api::all(client),
            };
            Arc::new(api) as Arc<dyn ListerWatcher<K>>
        })
    }

    /// The event broadcaster behind [`recorder`](Self::recorder): someone must
    /// [`run`](EventBroadcaster::run) it (once) for recorded events to be written;
    /// [`run_controllers`](crate::manager::run_controllers) does.
    pub fn events(&self) -> &EventBroadcaster {
        &self.events
    }

    /// An event recorder reporting as `controller` (for example `replicaset-controller`).
    /// Its events are written once the broadcaster runs ([`ControllerContext::start`] or
    /// [`run_controllers`](crate::manager::run_controllers)).
    pub fn recorder(&self, controller: &str) -> EventRecorder {
        self.events.new_recorder(controller, self.identity.clone())
    }

    /// Starts the informers asked for so far (later ones start when asked for) and the event
    /// broadcaster, which runs until `shutdown` is cancelled: for a process that runs its own
    /// controllers rather than [`run_controllers`](crate::manager::run_controllers), which does
    /// both. Call it once, inside a tokio runtime.
    ///
    /// # Panics
    /// The spawned broadcaster panics if it already runs (one start per context).
    pub fn start(&self, shutdown: tokio_util::sync::CancellationToken) {
        self.informers.start();
        let events = Arc::clone(&self.events);
        tokio::spawn(async move { events.run(shutdown.cancelled_owned()).await });
    }
}
