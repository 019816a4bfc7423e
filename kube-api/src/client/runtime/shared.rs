//! The shared informer factory (client-go's `SharedInformerFactory`): one informer, so one
//! list and one watch, per resource type and scope in a process, however many consumers.
//!
//! Consumers ask for an informer with [`SharedInformerFactory::informer`] and add handlers to
//! it, before or after [`start`](SharedInformerFactory::start); an informer asked for after the
//! start starts at once, and a handler added to a running informer first gets synthetic adds of
//! the cache. [`HandlerRegistration::remove`](super::HandlerRegistration::remove) takes a
//! consumer away.

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use super::Object;
use super::informer::Informer;
use super::lister_watcher::ListerWatcher;
use super::reflector::ReflectorConfig;

/// What an informer watches beyond its type: a namespace (or all) and selectors.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Scope {
    /// The namespace; `None` for all namespaces or cluster-scoped resources.
    pub namespace: Option<String>,
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
}

impl Scope {
    /// Every object of the resource.
    pub fn all() -> Self {
        Self::default()
    }

    /// The objects of one namespace.
    pub fn namespace(namespace: impl Into<String>) -> Self {
        Self {
            namespace: Some(namespace.into()),
            ..Self::default()
        }
    }

    /// Restricts by label.
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    /// Restricts by field.
    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }
}

/// The identity of a shared informer: apiVersion, kind and scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InformerKey {
    /// The resource's apiVersion.
    pub api_version: &'static str,
    /// The resource's kind.
    pub kind: &'static str,
    /// The scope.
    pub scope: Scope,
}

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Entry {
    informer: Box<dyn Any + Send + Sync>,
    /// Runs the informer until the factory shuts down.
    run: Box<dyn Fn(tokio::sync::watch::Receiver<bool>) -> BoxFuture + Send + Sync>,
    wait_for_sync: Box<dyn Fn() -> BoxFuture + Send + Sync>,
    has_synced: Box<dyn Fn() -> bool + Send + Sync>,
    started: bool,
}

struct State {
    informers: BTreeMap<InformerKey, Entry>,
    started: bool,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Hands out one shared [`Informer`] per resource type and [`Scope`].
///
/// Cloning gives another handle on the same factory.
#[derive(Clone)]
pub struct SharedInformerFactory {
    state: Arc<Mutex<State>>,
    shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    config: Arc<dyn Fn() -> ReflectorConfig + Send + Sync>,
}

impl Default for SharedInformerFactory {
    fn default() -> Self {
        Self::new()
    }
}

impl SharedInformerFactory {
    /// A factory whose informers use the default [`ReflectorConfig`].
    pub fn new() -> Self {
        Self::with_config(ReflectorConfig::default)
    }

    /// A factory whose informers take their reflector settings from `config` (selectors are
    /// set from each informer's scope).
    pub fn with_config(config: impl Fn() -> ReflectorConfig + Send + Sync + 'static) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                informers: BTreeMap::new(),
                started: false,
                tasks: Vec::new(),
            })),
            shutdown: Arc::new(tokio::sync::watch::channel(false).0),
            config: Arc::new(config),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The informer for `K` in `scope`: the existing one, or a new one listing and watching
    /// through what `lister_watcher` makes (called only then; it must already restrict to
    /// `scope.namespace`). A new informer starts at once if the factory has started.
    pub fn informer<K: Object>(
        &self,
        scope: Scope,
        lister_watcher: impl FnOnce() -> Arc<dyn ListerWatcher<K>>,
    ) -> Informer<K> {
        let key = InformerKey {
            api_version: K::API_VERSION,
            kind: K::KIND,
            scope: scope.clone(),
        };
        let mut state = self.lock();
        if let Some(entry) = state.informers.get(&key)
            && let Some(informer) = entry.informer.downcast_ref::<Informer<K>>()
        {
            return informer.clone();
        }
        let mut config = (self.config)();
        config.label_selector = scope.label_selector.clone();
        config.field_selector = scope.field_selector.clone();
        let informer = Informer::new(lister_watcher(), config);
        let (run, wait, synced) = (informer.clone(), informer.clone(), informer.clone());
        let mut entry = Entry {
            informer: Box::new(informer.clone()),
            run: Box::new(move |mut stop| {
                let informer = run.clone();
                Box::pin(async move {
                    informer
                        .run(async move {
                            let _ = stop.wait_for(|s| *s).await;
                        })
                        .await
                })
            }),
            wait_for_sync: Box::new(move || {
                let informer = wait.clone();
                Box::pin(async move { informer.wait_for_sync().await })
            }),
            has_synced: Box::new(move || synced.has_synced()),
            started: false,
        };
        if state.started {
            entry.started = true;
            let task = tokio::spawn((entry.run)(self.shutdown.subscribe()));
            state.tasks.push(task);
        }
        state.informers.insert(key, entry);
        informer
    }

    /// Starts every informer not yet started, each on its own task (later ones start when asked
    /// for).
    pub fn start(&self) {
        let mut state = self.lock();
        state.started = true;
        let mut tasks = Vec::new();
        for entry in state.informers.values_mut() {
            if !entry.started {
                entry.started = true;
                tasks.push(tokio::spawn((entry.run)(self.shutdown.subscribe())));
            }
        }
        state.tasks.extend(tasks);
    }

    /// Waits until every started informer has synced; returns each one's key and state.
    pub async fn wait_for_cache_sync(&self) -> BTreeMap<InformerKey, bool> {
        let waits: Vec<(InformerKey, BoxFuture)> = self
            .lock()
            .informers
            .iter()
            .filter(|(_, e)| e.started)
            .map(|(k, e)| (k.clone(), (e.wait_for_sync)()))
            .collect();
        let mut result = BTreeMap::new();
        for (key, wait) in waits {
            wait.await;
            result.insert(key, true);
        }
        result
    }

    /// Every informer's key and whether it has synced.
    pub fn synced(&self) -> BTreeMap<InformerKey, bool> {
        self.lock()
            .informers
            .iter()
            .map(|(k, e)| (k.clone(), (e.has_synced)()))
            .collect()
    }

    /// Stops every informer and waits for them to end.
    pub async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        let tasks = std::mem::take(&mut self.lock().tasks);
        for t in tasks {
            let _ = t.await;
        }
    }
}
