//! The Controller builder an operator author uses (kube-rs's `Controller`, controller-runtime's
//! builder): what to watch, then a plain async reconcile per object.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::time::Duration;
//! # use futures::StreamExt;
//! # use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
//! # use kube_api::client::{Api, Client};
//! # use kube_api::client::runtime::Scope;
//! # use kube_control::controller::{Action, Controller, default_error_policy};
//! # #[derive(Debug, thiserror::Error)] #[error("failed")] struct Error;
//! async fn reconcile(d: Arc<Deployment>, ctx: Arc<Client>) -> Result<Action, Error> {
//!     Ok(Action::requeue(Duration::from_secs(300)))
//! }
//! # async fn run(client: Client) {
//! Controller::new(Api::<Deployment>::all(client.clone()), Scope::all())
//!     .owns(Api::<ReplicaSet>::all(client.clone()), Scope::all())
//!     .concurrency(4)
//!     .run(reconcile, default_error_policy, Arc::new(client))
//!     .for_each(|result| async move { let _ = result; })
//!     .await;
//! # }
//! ```
//!
//! How it runs (client-go's controller pattern):
//!
//! ```text
//! shared informers (K, owned children, watched kinds) -> handlers -> rate-limited work queue
//!   -> N workers: get key -> object from the K informer's cache -> reconcile -> Action -> done
//! ```
//!
//! - The work queue never hands one key to two workers, so one object is never reconciled twice
//!   at once; an object changing while it is reconciled is reconciled once more afterwards.
//! - Reconciles read the object from the informer cache. An object gone from the cache is not
//!   reconciled: a controller that must see deletions puts a finalizer on its objects
//!   ([`finalizer`](crate::finalizer::finalizer)).
//! - Informers come from a [`SharedInformerFactory`]: the controller's own, or one shared by
//!   every controller of the process ([`Controller::shared`]), so each resource is listed and
//!   watched once.
//! - Errors go to the error policy, whose [`Action`] (usually
//!   [`Action::requeue_with_backoff`]) decides the retry; a success resets the key's back-off.

mod action;
mod object_ref;
mod trigger;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{FutureExt, Stream};
use kube_api::client::api::{Api, ApiObject};
use kube_api::client::runtime::{HandlerFuncs, Object, Scope, SharedInformerFactory};
use kube_api::client::workqueue::{
    RateLimiter, RateLimitingQueue, default_controller_rate_limiter,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use action::{Action, default_error_policy};
pub use object_ref::ObjectRef;

use crate::metrics::{ControllerMetrics, Outcome};
use action::Next;
use trigger::{KeyQueue, Registered, Trigger};

/// Errors a controller's result stream reports, one per failed reconcile; the controller goes
/// on after each.
#[derive(Debug, thiserror::Error)]
pub enum Error<K, E: std::error::Error + 'static> {
    /// The reconcile returned an error (what the error policy then decided is in its
    /// [`Action`]).
    #[error("reconciling {object} failed: {source}")]
    ReconcileFailed {
        /// The object.
        object: ObjectRef<K>,
        /// The reconcile's error.
        #[source]
        source: E,
    },
    /// The reconcile panicked; the key is retried with back-off.
    #[error("reconciling {object} panicked: {message}")]
    ReconcilePanicked {
        /// The object.
        object: ObjectRef<K>,
        /// The panic message, if it was a string.
        message: String,
    },
}

/// What a controller's result stream yields for each reconcile.
pub type ReconcileResult<K, E> = Result<(ObjectRef<K>, Action), Error<K, E>>;

/// A controller of kind `K`: built with [`new`](Self::new) and the builder methods, started by
/// [`run`](Self::run). See the [module docs](self).
pub struct Controller<K: Object> {
    name: String,
    api: Api<K>,
    scope: Scope,
    factory: SharedInformerFactory,
    /// Whether the factory is the controller's own (stopped with it) rather than shared.
    own_factory: bool,
    triggers: Vec<Trigger<K>>,
    concurrency: usize,
    shutdown: Option<CancellationToken>,
    limiter: Option<Box<dyn RateLimiter<ObjectRef<K>>>>,
    metrics: ControllerMetrics,
}

impl<K: Object> std::fmt::Debug for Controller<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("name", &self.name)
            .field("scope", &self.scope)
            .field("triggers", &self.triggers.len())
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl<K: Object + ApiObject> Controller<K> {
    /// A controller of the `K`s of `api` (its namespace, or all) that `scope`'s selectors pick
    /// (`scope.namespace` is taken from `api`). It has its own informer factory until given a
    /// shared one with [`shared`](Self::shared); it is named after `K`'s kind in lower case.
    pub fn new(api: Api<K>, scope: Scope) -> Self {
        let name = K::KIND.to_lowercase();
        Self {
            metrics: ControllerMetrics::new(name.clone()),
            name,
            api,
            scope,
            factory: SharedInformerFactory::new(),
            own_factory: true,
            triggers: Vec::new(),
            concurrency: 1,
            shutdown: None,
            limiter: None,
        }
    }

    /// [`new`](Self::new), with informers from `factory`.
    pub fn with_factory(api: Api<K>, scope: Scope, factory: &SharedInformerFactory) -> Self {
        Self::new(api, scope).shared(factory)
    }

    /// Takes informers from `factory` (one per process, for example
    /// [`ControllerContext::informers`](crate::ControllerContext::informers)), so controllers
    /// watching the same resource share one list and watch. The controller starts the factory
    /// when it runs (informers already started are left alone) and leaves it running when it
    /// stops; its own factory it stops with it.
    pub fn shared(mut self, factory: &SharedInformerFactory) -> Self {
        self.factory = factory.clone();
        self.own_factory = false;
        self
    }

    /// Names the controller (its metrics, its queue and its logs).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self.metrics = ControllerMetrics::new(self.name.clone());
        self
    }

    /// Also reconciles the owner of every `C` of `api` (in `scope`) whose controller owner
    /// reference points at a `K`, when the child is added, changed or deleted (upstream's
    /// `Owns`).
    pub fn owns<C: Object + ApiObject>(mut self, api: Api<C>, scope: Scope) -> Self {
        self.triggers.push(trigger::mapped(api, scope, |child: &C| {
            trigger::controller_key::<K>(child.metadata())
                .into_iter()
                .collect()
        }));
        self
    }

    /// Also reconciles the `K`s that `mapper` names for every `O` of `api` (in `scope`) that is
    /// added, changed (both its old and new state are mapped) or deleted (upstream's `Watches`
    /// with an `EnqueueRequestsFromMapFunc`).
    pub fn watches<O: Object + ApiObject>(
        mut self,
        api: Api<O>,
        scope: Scope,
        mapper: impl Fn(&O) -> Vec<ObjectRef<K>> + Send + Sync + 'static,
    ) -> Self {
        self.triggers.push(trigger::mapped(api, scope, mapper));
        self
    }

    /// Runs at most `n` reconciles at once (at least 1; default 1, as controller-runtime's
    /// `MaxConcurrentReconciles`). Whatever `n`, one key is never reconciled twice at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Retries keys with `limiter` instead of [`default_controller_rate_limiter`].
    pub fn rate_limiter(mut self, limiter: impl RateLimiter<ObjectRef<K>> + 'static) -> Self {
        self.limiter = Some(Box::new(limiter));
        self
    }

    /// Shuts down gracefully when `token` is cancelled: no new key is taken, reconciles in
    /// flight finish (their results are still yielded), then the result stream ends.
    /// Without it the controller runs until its stream is dropped, which aborts reconciles in
    /// flight.
    pub fn graceful_shutdown(mut self, token: CancellationToken) -> Self {
        self.shutdown = Some(token);
        self
    }

    /// The controller's metrics (they are recorded from [`run`](Self::run) on).
    pub fn metrics(&self) -> ControllerMetrics {
        self.metrics.clone()
    }

    /// Starts the controller and returns the stream of reconcile results. It waits for its
    /// informers' first lists, then runs its workers until shutdown.
    ///
    /// - `reconcile(object, ctx)`: makes the world match `object`, returning an [`Action`];
    /// - `error_policy(object, &error, ctx)`: the [`Action`] after a failed reconcile
    ///   ([`default_error_policy`] backs off per key).
    ///
    /// The work happens on spawned tasks, so this must be called inside a tokio runtime; the
    /// stream yields results as reconciles finish, holding back workers when it is not read.
    /// Dropping the stream stops the controller at once.
    pub fn run<Ctx, E, R, RFut, P>(
        self,
        reconcile: R,
        error_policy: P,
        ctx: Arc<Ctx>,
    ) -> Results<K, E>
    where
        Ctx: Send + Sync + 'static,
        E: std::error::Error + Send + Sync + 'static,
        R: Fn(Arc<K>, Arc<Ctx>) -> RFut + Send + Sync + 'static,
        RFut: Future<Output = Result<Action, E>> + Send + 'static,
        P: Fn(Arc<K>, &E, Arc<Ctx>) -> Action + Send + Sync + 'static,
    {
        let (tx, rx) = mpsc::channel(self.concurrency.max(16));
        let reconciler = Arc::new(Reconciler {
            reconcile,
            error_policy,
            ctx,
        });
        let driver = tokio::spawn(self.drive(reconciler, tx));
        Results { rx, driver }
    }

    async fn drive<Ctx, E, R, RFut, P>(
        self,
        reconciler: Arc<Reconciler<R, P, Ctx>>,
        tx: mpsc::Sender<ReconcileResult<K, E>>,
    ) where
        Ctx: Send + Sync + 'static,
        E: std::error::Error + Send + Sync + 'static,
        R: Fn(Arc<K>, Arc<Ctx>) -> RFut + Send + Sync + 'static,
        RFut: Future<Output = Result<Action, E>> + Send + 'static,
        P: Fn(Arc<K>, &E, Arc<Ctx>) -> Action + Send + Sync + 'static,
    {
        let queue: KeyQueue<K> = match self.limiter {
            Some(limiter) => RateLimitingQueue::named(self.name.clone(), limiter),
            None => RateLimitingQueue::named(self.name.clone(), default_controller_rate_limiter()),
        };
        let metrics = self.metrics.clone();
        metrics.set_max_concurrent(self.concurrency);
        let q = queue.clone();
        metrics.attach_queue(move || q.metrics());

        let informer = trigger::informer_for(&self.factory, self.api, self.scope);
        let (q1, q2) = (queue.clone(), queue.clone());
        let own = informer.add_event_handler(
            HandlerFuncs::new()
                .on_add(move |o: &Arc<K>, _| q1.add(ObjectRef::from_obj(o)))
                .on_update(move |_, new: &Arc<K>| q2.add(ObjectRef::from_obj(new))),
        );
        let mut synced = vec![];
        // Unregisters from the (possibly shared) informers however the driver ends, aborted
        // with a dropped stream included.
        let mut guard = Unregister {
            queue: queue.clone(),
            removes: vec![Box::new(move || own.remove())],
        };
        for trigger in self.triggers {
            let Registered {
                synced: waits,
                remove,
            } = trigger(&self.factory, &queue);
            synced.push(waits);
            guard.removes.push(remove);
        }
        self.factory.start();

        let stop = self.shutdown.unwrap_or_default();
        let all_synced = async {
            informer.wait_for_sync().await;
            for waits in synced {
                waits.await;
            }
        };
        let stopped_early = tokio::select! {
            _ = all_synced => false,
            _ = stop.cancelled() => true,
        };
        let mut workers = JoinSet::new();
        let name: Arc<str> = Arc::from(self.name.as_str());
        if !stopped_early {
            tracing::debug!(controller = %self.name, workers = self.concurrency, "informers synced; starting workers");
            for _ in 0..self.concurrency {
                workers.spawn(work(
                    Arc::clone(&name),
                    queue.clone(),
                    informer.store().clone(),
                    Arc::clone(&reconciler),
                    metrics.clone(),
                    stop.clone(),
                    tx.clone(),
                ));
            }
            stop.cancelled().await;
            tracing::debug!(controller = %self.name, "shutting down: finishing reconciles in flight");
        }
        while workers.join_next().await.is_some() {}
        drop(guard);
        if self.own_factory {
            self.factory.shutdown().await;
        }
    }
}

/// Shuts the queue down and removes the controller's event handlers when dropped.
struct Unregister<K: Object> {
    queue: KeyQueue<K>,
    removes: Vec<Box<dyn FnOnce() + Send>>,
}

impl<K: Object> Drop for Unregister<K> {
    fn drop(&mut self) {
        self.queue.shutdown();
        for remove in self.removes.drain(..) {
            remove();
        }
    }
}

/// The user's reconcile, error policy and context.
struct Reconciler<R, P, Ctx> {
    reconcile: R,
    error_policy: P,
    ctx: Arc<Ctx>,
}

/// A worker: takes keys until `stop`, reconciling each from the cache.
async fn work<K, Ctx, E, R, RFut, P>(
    controller: Arc<str>,
    queue: KeyQueue<K>,
    store: kube_api::client::runtime::Store<K>,
    reconciler: Arc<Reconciler<R, P, Ctx>>,
    metrics: ControllerMetrics,
    stop: CancellationToken,
    tx: mpsc::Sender<ReconcileResult<K, E>>,
) where
    K: Object,
    Ctx: Send + Sync + 'static,
    E: std::error::Error + Send + Sync + 'static,
    R: Fn(Arc<K>, Arc<Ctx>) -> RFut + Send + Sync + 'static,
    RFut: Future<Output = Result<Action, E>> + Send + 'static,
    P: Fn(Arc<K>, &E, Arc<Ctx>) -> Action + Send + Sync + 'static,
{
    loop {
        let key = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            key = queue.get() => match key {
                Some(key) => key,
                None => return,
            },
        };
        let Some(object) = store.get(&key.cache_key()) else {
            // Deleted since it was queued: nothing to reconcile, and no back-off to keep.
            queue.forget(&key);
            queue.done(&key);
            continue;
        };
        metrics.started();
        let started = Instant::now();
        let ctx = Arc::clone(&reconciler.ctx);
        let span = tracing::info_span!("reconcile", controller = %controller, object = %key);
        let outcome = AssertUnwindSafe((reconciler.reconcile)(Arc::clone(&object), ctx))
            .catch_unwind()
            .instrument(span.clone())
            .await;
        let (action, result) = match outcome {
            Ok(Ok(action)) => (action, Ok((key.clone(), action))),
            Ok(Err(error)) => {
                let ctx = Arc::clone(&reconciler.ctx);
                let action = (reconciler.error_policy)(object, &error, ctx);
                let err = Error::ReconcileFailed {
                    object: key.clone(),
                    source: error,
                };
                (action, Err(err))
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let err = Error::ReconcilePanicked {
                    object: key.clone(),
                    message,
                };
                (Action::requeue_with_backoff(), Err(err))
            }
        };
        let failed = result.is_err();
        let outcome = match (failed, action.next()) {
            (true, _) => Outcome::Error,
            (false, Next::AwaitChange) => Outcome::Success,
            (false, Next::RequeueAfter(_)) => Outcome::RequeueAfter,
            (false, Next::Backoff) => Outcome::Requeue,
        };
        metrics.finished(outcome, started.elapsed());
        if let Err(e) = &result {
            span.in_scope(|| tracing::warn!(error = %e, "reconcile failed"));
        }
        match action.next() {
            Next::Backoff => queue.add_rate_limited(key.clone()),
            Next::AwaitChange | Next::RequeueAfter(_) => {
                if !failed {
                    queue.forget(&key);
                }
                if let Next::RequeueAfter(after) = action.next() {
                    queue.add_after(key.clone(), after);
                }
            }
        }
        queue.done(&key);
        // A dropped stream aborts this task anyway; nothing to do if nobody listens.
        let _ = tx.send(result).await;
    }
}

/// The results of a running controller, one per reconcile, ending after a graceful shutdown.
/// Dropping it stops the controller, aborting reconciles in flight.
pub struct Results<K, E: std::error::Error + 'static> {
    rx: mpsc::Receiver<ReconcileResult<K, E>>,
    driver: tokio::task::JoinHandle<()>,
}

impl<K, E: std::error::Error + 'static> std::fmt::Debug for Results<K, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Results").finish_non_exhaustive()
    }
}

impl<K, E: std::error::Error + 'static> Stream for Results<K, E> {
    type Item = ReconcileResult<K, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl<K, E: std::error::Error + 'static> Drop for Results<K, E> {
    fn drop(&mut self) {
        self.driver.abort();
    }
}
