//! The basic work queue (upstream's `workqueue/queue.go`).
//!
//! Keys come out in FIFO order. A key added while it waits in the queue is not queued twice; a key
//! added while a worker processes it is marked dirty and queued again when the worker calls
//! [`Queue::done`], so no key is ever processed by two workers at once.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::delaying::Waiting;
use super::metrics::{MetricsSnapshot, Recorder};

/// A FIFO work queue of keys with deduplication and exclusive processing.
///
/// Cheap to clone: clones share one queue, so it can be handed to many worker tasks. A worker
/// loops on [`get`](Self::get), processes the key and then calls [`done`](Self::done) with it:
///
/// ```
/// # use kube_api::client::workqueue::Queue;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let queue = Queue::named("pods");
/// queue.add("default/web-0".to_string());
/// queue.shutdown();
/// while let Some(key) = queue.get().await {
///     // ... reconcile `key` ...
///     queue.done(&key);
/// }
/// # }
/// ```
pub struct Queue<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for Queue<K> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K> std::fmt::Debug for Queue<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

struct Shared<K> {
    name: String,
    state: Mutex<State<K>>,
    /// Woken when a key may be ready for a worker, or on shutdown.
    ready: Notify,
    /// Woken when the last key being processed is done, or when a drain is cancelled.
    idle: Notify,
}

/// The queue's bookkeeping, under one lock.
pub(super) struct State<K> {
    /// Keys ready for a worker, in order.
    queue: VecDeque<K>,
    /// Keys that need processing: those in `queue` and those added again while processing.
    dirty: HashSet<K>,
    /// Keys a worker holds.
    processing: HashSet<K>,
    shutting_down: bool,
    draining: bool,
    /// Keys added with a delay, not yet due.
    pub(super) waiting: Waiting<K>,
    pub(super) metrics: Recorder<K>,
}

impl<K: Clone + Eq + Hash> State<K> {
    pub(super) fn shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// Adds `key` unless shutting down or already dirty; returns whether it was queued for a
    /// worker (so one should be woken).
    pub(super) fn add(&mut self, key: K, now: Instant) -> bool {
        if self.shutting_down || self.dirty.contains(&key) {
            return false;
        }
        self.metrics.add(&key, now);
        self.dirty.insert(key.clone());
        if self.processing.contains(&key) {
            return false;
        }
        self.queue.push_back(key);
        true
    }

    /// Moves delayed keys that are due into the queue; returns how many were queued.
    fn promote_due(&mut self, now: Instant) -> usize {
        let mut queued = 0;
        while let Some(key) = self.waiting.pop_due(now) {
            if self.add(key, now) {
                queued += 1;
            }
        }
        queued
    }
}

fn lock<K>(shared: &Shared<K>) -> MutexGuard<'_, State<K>> {
    // A panic while holding the lock leaves the sets consistent (each update is a single
    // insert or remove), so a poisoned lock is still usable.
    shared.state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K: Clone + Eq + Hash + Send + 'static> Default for Queue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Queue<K> {
    /// An unnamed queue.
    pub fn new() -> Self {
        Self::named("")
    }

    /// A queue whose metrics carry `name`.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            shared: Arc::new(Shared {
                name: name.into(),
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    dirty: HashSet::new(),
                    processing: HashSet::new(),
                    shutting_down: false,
                    draining: false,
                    waiting: Waiting::default(),
                    metrics: Recorder::new(),
                }),
                ready: Notify::new(),
                idle: Notify::new(),
            }),
        }
    }

    /// The queue's name, as given to [`named`](Self::named).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Runs `f` on the locked state and wakes as many workers as it says keys were queued.
    pub(super) fn with_state<R>(&self, f: impl FnOnce(&mut State<K>) -> (R, usize)) -> R {
        let (r, queued) = f(&mut lock(&self.shared));
        for _ in 0..queued {
            self.shared.ready.notify_one();
        }
        r
    }

    /// Wakes every waiting worker so it looks at the queue again (a nearer delayed key, or
    /// shutdown).
    pub(super) fn wake_all(&self) {
        self.shared.ready.notify_waiters();
    }

    /// Marks `key` as needing processing. Does nothing if it is already queued or after
    /// shutdown; if a worker holds it, it is queued again once that worker is done.
    pub fn add(&self, key: K) {
        let now = Instant::now();
        self.with_state(|st| ((), usize::from(st.add(key, now))));
    }

    /// Waits for the next key and hands it to the caller, who must call [`done`](Self::done)
    /// with it when finished. Returns `None` once the queue is shut down and empty.
    ///
    /// Cancel safe: a `get` dropped before it completes takes no key.
    pub async fn get(&self) -> Option<K> {
        loop {
            let notified = self.shared.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next_due = {
                let mut st = lock(&self.shared);
                let now = Instant::now();
                if !st.shutting_down {
                    st.promote_due(now);
                }
                if let Some(key) = st.queue.pop_front() {
                    st.metrics.get(&key, now);
                    st.dirty.remove(&key);
                    st.processing.insert(key.clone());
                    if !st.queue.is_empty() {
                        // Keys promoted here, or wake-ups this call absorbed: pass them on.
                        self.shared.ready.notify_one();
                    }
                    return Some(key);
                }
                if st.shutting_down {
                    return None;
                }
                st.waiting.next_due()
            };
            match next_due {
                Some(at) => {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Marks `key` as processed. If it was added again meanwhile, it goes back in the queue.
    /// Does nothing for a key no worker holds.
    pub fn done(&self, key: &K) {
        let now = Instant::now();
        let mut st = lock(&self.shared);
        if !st.processing.remove(key) {
            return;
        }
        st.metrics.done(key, now);
        if st.dirty.contains(key) {
            st.queue.push_back(key.clone());
            drop(st);
            self.shared.ready.notify_one();
        } else if st.processing.is_empty() {
            drop(st);
            self.shared.idle.notify_waiters();
        }
    }

    /// Keys ready for a worker now (not counting delayed keys not yet due).
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.with_state(|st| {
            let queued = if st.shutting_down {
                0
            } else {
                st.promote_due(now)
            };
            (st.queue.len(), queued)
        })
    }

    /// Whether no key is ready for a worker.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the queue: further adds are ignored, delayed keys are dropped, and workers get the
    /// keys still queued, then `None`. Also ends a [`shutdown_with_drain`](Self::shutdown_with_drain)
    /// that is waiting.
    pub fn shutdown(&self) {
        {
            let mut st = lock(&self.shared);
            st.shutting_down = true;
            st.draining = false;
            st.waiting.clear();
        }
        self.shared.ready.notify_waiters();
        self.shared.idle.notify_waiters();
    }

    /// Like [`shutdown`](Self::shutdown), then waits until every key a worker holds is done.
    pub async fn shutdown_with_drain(&self) {
        {
            let mut st = lock(&self.shared);
            st.shutting_down = true;
            st.draining = true;
            st.waiting.clear();
        }
        self.shared.ready.notify_waiters();
        loop {
            let idle = self.shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            {
                let st = lock(&self.shared);
                if !st.draining || st.processing.is_empty() {
                    return;
                }
            }
            idle.await;
        }
    }

    /// Whether [`shutdown`](Self::shutdown) or [`shutdown_with_drain`](Self::shutdown_with_drain)
    /// was called.
    pub fn is_shutting_down(&self) -> bool {
        lock(&self.shared).shutting_down
    }

    /// The queue's metrics now.
    pub fn metrics(&self) -> MetricsSnapshot {
        let now = Instant::now();
        let st = lock(&self.shared);
        st.metrics.snapshot(&self.shared.name, st.dirty.len(), now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::client::workqueue::tests::within;

    #[tokio::test(start_paused = true)]
    async fn fifo_and_dedup() {
        let q = Queue::new();
        for k in ["a", "b", "a", "c", "b"] {
            q.add(k);
        }
        assert_eq!(q.len(), 3);
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(within(q.get()).await);
        }
        assert_eq!(got, vec![Some("a"), Some("b"), Some("c")]);
        assert_eq!(q.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn add_while_processing_requeues_on_done() {
        let q = Queue::new();
        q.add(1);
        assert_eq!(within(q.get()).await, Some(1));
        q.add(1);
        q.add(1);
        assert_eq!(q.len(), 0, "a held key is not queued");
        q.done(&1);
        assert_eq!(q.len(), 1);
        assert_eq!(within(q.get()).await, Some(1));
        q.done(&1);
        assert_eq!(q.len(), 0);
        // done on a key nobody holds changes nothing.
        q.done(&1);
        assert_eq!(q.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_hands_out_remaining_then_none() {
        let q = Queue::new();
        q.add("a");
        q.shutdown();
        q.add("b");
        assert!(q.is_shutting_down());
        assert_eq!(within(q.get()).await, Some("a"));
        assert_eq!(within(q.get()).await, None);
        assert_eq!(within(q.get()).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_wakes_waiting_workers() {
        let q: Queue<u32> = Queue::new();
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                tokio::spawn(async move { within(q.get()).await })
            })
            .collect();
        tokio::task::yield_now().await;
        q.shutdown();
        for w in workers {
            assert_eq!(within(w).await.ok(), Some(None));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn get_waits_for_add() {
        let q: Queue<u32> = Queue::new();
        let worker = {
            let q = q.clone();
            tokio::spawn(async move { within(q.get()).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!worker.is_finished());
        q.add(7);
        assert_eq!(within(worker).await.ok(), Some(Some(7)));
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_get_takes_nothing() {
        let q: Queue<u32> = Queue::new();
        let timed_out = tokio::time::timeout(Duration::from_millis(10), q.get()).await;
        assert!(timed_out.is_err());
        q.add(1);
        assert_eq!(within(q.get()).await, Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_held_keys() {
        let q = Queue::new();
        q.add("a");
        q.add("b");
        let a = within(q.get()).await;
        assert_eq!(a, Some("a"));
        let drain = {
            let q = q.clone();
            tokio::spawn(async move { q.shutdown_with_drain().await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!drain.is_finished(), "\"a\" is still held");
        // The queued key is still handed out while draining.
        assert_eq!(within(q.get()).await, Some("b"));
        q.done(&"a");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!drain.is_finished(), "\"b\" is still held");
        q.done(&"b");
        assert!(within(drain).await.is_ok());
        assert_eq!(within(q.get()).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_a_drain() {
        let q = Queue::new();
        q.add(1);
        assert_eq!(within(q.get()).await, Some(1));
        let drain = {
            let q = q.clone();
            tokio::spawn(async move { q.shutdown_with_drain().await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!drain.is_finished());
        q.shutdown();
        assert!(within(drain).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_track_depth_latency_and_work() {
        let q = Queue::named("test");
        q.add("a");
        q.add("b");
        q.add("a");
        tokio::time::advance(Duration::from_millis(50)).await;
        let a = within(q.get()).await;
        assert_eq!(a, Some("a"));
        tokio::time::advance(Duration::from_secs(2)).await;
        let m = q.metrics();
        assert_eq!(m.name, "test");
        assert_eq!(m.adds, 2);
        assert_eq!(m.depth, 1);
        assert_eq!(m.queue_duration.count, 1);
        assert!((m.queue_duration.sum - 0.05).abs() < 1e-9);
        assert_eq!(m.work_duration.count, 0);
        assert!((m.unfinished_work_seconds - 2.0).abs() < 1e-9);
        assert!((m.longest_running_processor_seconds - 2.0).abs() < 1e-9);
        q.done(&"a");
        let m = q.metrics();
        assert_eq!(m.work_duration.count, 1);
        assert!((m.work_duration.sum - 2.0).abs() < 1e-9);
        assert_eq!(m.unfinished_work_seconds, 0.0);
        let text = m.to_prometheus_text();
        assert!(
            text.contains("workqueue_adds_total{name=\"test\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("workqueue_work_duration_seconds_count{name=\"test\"} 1\n"));
    }
}
