//! The informer (client-go's `SharedIndexInformer`): a reflector filling a [`Store`], and event
//! handlers told of every change, each at its own pace.
//!
//! Every handler gets its own unbounded queue and task, so a slow handler delays only itself
//! (client-go's `processorListener`). Changes are applied to the store and queued for every
//! handler under one lock, so a handler added while the informer runs (a late joiner) first
//! gets a synthetic add per cached object, then every later change, with nothing lost or
//! repeated. Resyncs (optional, per handler) redeliver every cached object as an update with
//! `old == new`, in order with the other notifications.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use tokio::time::Instant;

use super::Object;
use super::delta::{Deleted, Delta};
use super::lister_watcher::ListerWatcher;
use super::reflector::{Reflector, ReflectorConfig, ReflectorSink, Transform};
use super::store::Store;

/// Reacts to changes of an informer's cache (client-go's `ResourceEventHandler`).
///
/// Calls for one handler are sequential and in the order the cache changed. They run on the
/// handler's own task, so they should be quick (typically: put a key on a work queue).
pub trait EventHandler<K>: Send + Sync + 'static {
    /// An object was added; `in_initial_list` for the first list and a late joiner's synthetic
    /// adds.
    fn on_add(&self, object: &Arc<K>, in_initial_list: bool) {
        let _ = (object, in_initial_list);
    }
    /// An object changed (`old` and `new` are the same object on a resync).
    fn on_update(&self, old: &Arc<K>, new: &Arc<K>) {
        let _ = (old, new);
    }
    /// An object was deleted; a tombstone when a relist noticed it gone.
    fn on_delete(&self, deleted: &Deleted<K>) {
        let _ = deleted;
    }
}

type AddFn<K> = Box<dyn Fn(&Arc<K>, bool) + Send + Sync>;
type UpdateFn<K> = Box<dyn Fn(&Arc<K>, &Arc<K>) + Send + Sync>;
type DeleteFn<K> = Box<dyn Fn(&Deleted<K>) + Send + Sync>;

/// An [`EventHandler`] from closures (client-go's `ResourceEventHandlerFuncs`).
pub struct HandlerFuncs<K> {
    add: Option<AddFn<K>>,
    update: Option<UpdateFn<K>>,
    delete: Option<DeleteFn<K>>,
}

impl<K> Default for HandlerFuncs<K> {
    fn default() -> Self {
        Self {
            add: None,
            update: None,
            delete: None,
        }
    }
}

impl<K> HandlerFuncs<K> {
    /// A handler ignoring everything until given closures.
    pub fn new() -> Self {
        Self::default()
    }
    /// Calls `f` on adds.
    pub fn on_add(mut self, f: impl Fn(&Arc<K>, bool) + Send + Sync + 'static) -> Self {
        self.add = Some(Box::new(f));
        self
    }
    /// Calls `f` on updates.
    pub fn on_update(mut self, f: impl Fn(&Arc<K>, &Arc<K>) + Send + Sync + 'static) -> Self {
        self.update = Some(Box::new(f));
        self
    }
    /// Calls `f` on deletes.
    pub fn on_delete(mut self, f: impl Fn(&Deleted<K>) + Send + Sync + 'static) -> Self {
        self.delete = Some(Box::new(f));
        self
    }
}

impl<K: Send + Sync + 'static> EventHandler<K> for HandlerFuncs<K> {
    fn on_add(&self, object: &Arc<K>, in_initial_list: bool) {
        if let Some(f) = &self.add {
            f(object, in_initial_list)
        }
    }
    fn on_update(&self, old: &Arc<K>, new: &Arc<K>) {
        if let Some(f) = &self.update {
            f(old, new)
        }
    }
    fn on_delete(&self, deleted: &Deleted<K>) {
        if let Some(f) = &self.delete {
            f(deleted)
        }
    }
}

enum Message<K> {
    Delta(Delta<K>),
    /// Everything of the first list (or a late joiner's snapshot) is queued before this.
    Synced,
}

struct Listener<K> {
    tx: mpsc::UnboundedSender<Message<K>>,
    resync: Option<Duration>,
    next_resync: Option<Instant>,
}

struct Processor<K> {
    store: Store<K>,
    listeners: Mutex<BTreeMap<u64, Listener<K>>>,
    next_id: AtomicU64,
}

impl<K: Object> Processor<K> {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Listener<K>>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn distribute(listeners: &mut BTreeMap<u64, Listener<K>>, delta: &Delta<K>) {
        for l in listeners.values() {
            let _ = l.tx.unbounded_send(Message::Delta(delta.clone()));
        }
    }
}

impl<K: Object> ReflectorSink<K> for Processor<K> {
    fn replace(&self, objects: Vec<Arc<K>>) {
        let mut listeners = self.lock();
        for delta in self.store.replace(objects) {
            Self::distribute(&mut listeners, &delta);
        }
        for l in listeners.values() {
            let _ = l.tx.unbounded_send(Message::Synced);
        }
    }

    fn upsert(&self, object: Arc<K>) {
        let mut listeners = self.lock();
        let delta = self.store.apply_upsert(object);
        Self::distribute(&mut listeners, &delta);
    }

    fn delete(&self, object: Arc<K>) {
        let mut listeners = self.lock();
        if let Some(delta) = self.store.apply_delete(object) {
            Self::distribute(&mut listeners, &delta);
        }
    }
}

/// A registered handler; [`remove`](Self::remove) it to stop its notifications.
pub struct HandlerRegistration<K: Object> {
    id: u64,
    processor: Weak<Processor<K>>,
    synced: tokio::sync::watch::Receiver<bool>,
}

impl<K: Object> HandlerRegistration<K> {
    /// Whether the handler has been handed every object of the initial list (or, for a late
    /// joiner, of the cache when it joined).
    pub fn has_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits until [`has_synced`](Self::has_synced).
    pub async fn wait_for_sync(&mut self) {
        let _ = self.synced.wait_for(|s| *s).await;
    }

    /// Removes the handler: it gets what was already queued for it, then nothing more.
    pub fn remove(self) {
        if let Some(p) = self.processor.upgrade() {
            p.lock().remove(&self.id);
        }
    }
}

struct Inner<K: Object> {
    processor: Arc<Processor<K>>,
    lw: Arc<dyn ListerWatcher<K>>,
    config: Mutex<Option<ReflectorConfig>>,
    transform: Mutex<Option<Transform<K>>>,
    started: AtomicBool,
}

/// A reflector, its [`Store`] and any number of [`EventHandler`]s. Cloning gives another handle
/// on the same informer.
pub struct Informer<K: Object> {
    inner: Arc<Inner<K>>,
}

impl<K: Object> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K: Object> Informer<K> {
    /// An informer over `lw`, its store indexed by namespace.
    pub fn new(lw: Arc<dyn ListerWatcher<K>>, config: ReflectorConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                processor: Arc::new(Processor {
                    store: Store::with_namespace_index(),
                    listeners: Mutex::new(BTreeMap::new()),
                    next_id: AtomicU64::new(0),
                }),
                lw,
                config: Mutex::new(Some(config)),
                transform: Mutex::new(None),
                started: AtomicBool::new(false),
            }),
        }
    }

    /// Applies `transform` to every object before it is cached; only before [`run`](Self::run).
    pub fn set_transform(&self, transform: Transform<K>) {
        *self
            .inner
            .transform
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(transform);
    }

    /// The cache (add indexers to it with [`Store::add_indexer`]).
    pub fn store(&self) -> &Store<K> {
        &self.inner.processor.store
    }

    /// Whether the first list has been cached.
    pub fn has_synced(&self) -> bool {
        self.store().has_synced()
    }

    /// Waits until the first list has been cached.
    pub async fn wait_for_sync(&self) {
        self.store().wait_for_sync().await
    }

    /// Whether [`run`](Self::run) has been called.
    pub fn is_started(&self) -> bool {
        self.inner.started.load(Ordering::SeqCst)
    }

    /// Adds a handler without resyncs.
    pub fn add_event_handler(&self, handler: impl EventHandler<K>) -> HandlerRegistration<K> {
        self.add_event_handler_with_resync(handler, None)
    }

    /// Adds a handler, resynced every `resync` when given. If the informer has cached anything
    /// already, the handler first gets a synthetic add per cached object.
    pub fn add_event_handler_with_resync(
        &self,
        handler: impl EventHandler<K>,
        resync: Option<Duration>,
    ) -> HandlerRegistration<K> {
        let processor = &self.inner.processor;
        let (tx, rx) = mpsc::unbounded();
        let (synced_tx, synced_rx) = tokio::sync::watch::channel(false);
        let id = processor.next_id.fetch_add(1, Ordering::SeqCst);
        {
            let mut listeners = processor.lock();
            if processor.store.has_synced() {
                for object in processor.store.list() {
                    let _ = tx.unbounded_send(Message::Delta(Delta::Added {
                        object,
                        in_initial_list: true,
                    }));
                }
                let _ = tx.unbounded_send(Message::Synced);
            }
            listeners.insert(
                id,
                Listener {
                    tx,
                    resync,
                    next_resync: resync.map(|r| Instant::now() + r),
                },
            );
        }
        tokio::spawn(run_listener(rx, Arc::new(handler), synced_tx));
        HandlerRegistration {
            id,
            processor: Arc::downgrade(processor),
            synced: synced_rx,
        }
    }

    /// How many handlers are registered.
    pub fn handler_count(&self) -> usize {
        self.inner.processor.lock().len()
    }

    /// Runs the reflector and resyncs until `shutdown` completes.
    ///
    /// # Panics
    /// If called twice on one informer.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        assert!(
            !self.inner.started.swap(true, Ordering::SeqCst),
            "an informer runs once"
        );
        let config = self
            .inner
            .config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_default();
        let sink: Arc<dyn ReflectorSink<K>> = Arc::clone(&self.inner.processor) as _;
        let mut reflector = Reflector::new(Arc::clone(&self.inner.lw), sink, config);
        if let Some(t) = self
            .inner
            .transform
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            reflector = reflector.with_transform(t);
        }
        let processor = Arc::clone(&self.inner.processor);
        tokio::select! {
            _ = shutdown => {}
            _ = reflector.run(std::future::pending()) => {}
            _ = resync_loop(processor) => {}
        }
        // Ending the listeners' queues ends their tasks once drained.
        self.inner.processor.lock().clear();
    }
}

async fn resync_loop<K: Object>(processor: Arc<Processor<K>>) {
    loop {
        let next = processor
            .lock()
            .values()
            .filter_map(|l| l.next_resync)
            .min();
        match next {
            Some(at) => tokio::time::sleep_until(at).await,
            None => tokio::time::sleep(Duration::from_secs(1)).await,
        }
        let now = Instant::now();
        let mut listeners = processor.lock();
        if !processor.store.has_synced() {
            continue;
        }
        let mut objects = None;
        for l in listeners.values_mut() {
            if let (Some(period), Some(at)) = (l.resync, l.next_resync)
                && at <= now
            {
                let objects = objects.get_or_insert_with(|| processor.store.list());
                for o in objects.iter() {
                    let _ = l.tx.unbounded_send(Message::Delta(Delta::Updated {
                        old: Arc::clone(o),
                        new: Arc::clone(o),
                    }));
                }
                l.next_resync = Some(now + period);
            }
        }
    }
}

async fn run_listener<K: Object>(
    mut rx: mpsc::UnboundedReceiver<Message<K>>,
    handler: Arc<dyn EventHandler<K>>,
    synced: tokio::sync::watch::Sender<bool>,
) {
    while let Some(message) = rx.next().await {
        match message {
            Message::Delta(Delta::Added {
                object,
                in_initial_list,
            }) => handler.on_add(&object, in_initial_list),
            Message::Delta(Delta::Updated { old, new }) => handler.on_update(&old, &new),
            Message::Delta(Delta::Deleted(d)) => handler.on_delete(&d),
            Message::Synced => {
                synced.send_replace(true);
            }
        }
    }
}

#[cfg(test)]
#[path = "informer_tests.rs"]
mod tests;
