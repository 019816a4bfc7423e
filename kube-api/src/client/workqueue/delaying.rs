//! The delaying queue (upstream's `workqueue/delaying_queue.go`): a [`Queue`] whose keys can be
//! added after a delay.
//!
//! Delayed keys wait in a set ordered by due time (ties in the order they were added). A key
//! already waiting keeps the earlier of its two due times. No background task runs: workers
//! blocked in [`Queue::get`] sleep until the nearest due time with `tokio::time`, so a paused
//! clock drives the queue deterministically.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::ops::Deref;
use std::time::Duration;

use tokio::time::Instant;

use super::queue::Queue;

/// A [`Queue`] that also takes keys to add later ([`add_after`](Self::add_after)).
///
/// Dereferences to the [`Queue`] for `get`, `done`, `shutdown` and the rest. Cheap to clone.
pub struct DelayingQueue<K> {
    queue: Queue<K>,
}

impl<K> Clone for DelayingQueue<K> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<K> std::fmt::Debug for DelayingQueue<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelayingQueue")
            .field("queue", &self.queue)
            .finish()
    }
}

impl<K> Deref for DelayingQueue<K> {
    type Target = Queue<K>;

    fn deref(&self) -> &Queue<K> {
        &self.queue
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Default for DelayingQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> DelayingQueue<K> {
    /// An unnamed delaying queue.
    pub fn new() -> Self {
        Self::named("")
    }

    /// A delaying queue whose metrics carry `name`.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            queue: Queue::named(name),
        }
    }

    /// Adds `key` once `delay` has passed (at once for a zero delay). Counts as a retry in the
    /// metrics. Ignored after shutdown; delayed keys not yet due at shutdown are dropped.
    pub fn add_after(&self, key: K, delay: Duration) {
        let now = Instant::now();
        let nearer = self.queue.with_state(|st| {
            if st.shutting_down() {
                return (false, 0);
            }
            st.metrics.retry();
            if delay.is_zero() {
                return (false, usize::from(st.add(key, now)));
            }
            (st.waiting.insert(key, due_at(now, delay)), 0)
        });
        if nearer {
            // Workers sleep until the previous nearest due time: have them look again.
            self.queue.wake_all();
        }
    }

    /// Delayed keys not yet moved into the queue.
    pub fn waiting(&self) -> usize {
        self.queue.with_state(|st| (st.waiting.len(), 0))
    }
}

/// `now + delay`, saturating about thirty years out (as tokio does for far-off sleeps).
fn due_at(now: Instant, delay: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    now.checked_add(delay.min(FAR))
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

/// Delayed keys by due time; each key at most once.
#[derive(Debug)]
pub(crate) struct Waiting<K> {
    /// Keyed by due time, then by a sequence number that keeps ties in insertion order.
    by_due: BTreeMap<(Instant, u64), K>,
    entries: HashMap<K, (Instant, u64)>,
    next_seq: u64,
}

impl<K> Default for Waiting<K> {
    fn default() -> Self {
        Self {
            by_due: BTreeMap::new(),
            entries: HashMap::new(),
            next_seq: 0,
        }
    }
}

impl<K: Clone + Eq + Hash> Waiting<K> {
    /// Schedules `key` at `due`, or moves it earlier if it already waits for later. Returns
    /// whether it is now the first key due.
    pub(crate) fn insert(&mut self, key: K, due: Instant) -> bool {
        if let Some(&(old_due, seq)) = self.entries.get(&key) {
            if old_due <= due {
                return false;
            }
            self.by_due.remove(&(old_due, seq));
        }
        let slot = (due, self.next_seq);
        self.next_seq += 1;
        self.by_due.insert(slot, key.clone());
        self.entries.insert(key, slot);
        self.by_due.keys().next() == Some(&slot)
    }

    /// The nearest due time.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.by_due.keys().next().map(|(due, _)| *due)
    }

    /// Takes the first key due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<K> {
        let entry = self.by_due.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        let key = entry.remove();
        self.entries.remove(&key);
        Some(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_due.len()
    }

    pub(crate) fn clear(&mut self) {
        self.by_due.clear();
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::workqueue::tests::within;

    #[tokio::test(start_paused = true)]
    async fn add_after_orders_by_due_time_then_insertion() {
        let q = DelayingQueue::new();
        q.add_after("c", Duration::from_millis(30));
        q.add_after("a", Duration::from_millis(10));
        q.add_after("b1", Duration::from_millis(20));
        q.add_after("b2", Duration::from_millis(20));
        q.add_after("now", Duration::ZERO);
        assert_eq!(q.len(), 1);
        assert_eq!(q.waiting(), 4);
        let start = Instant::now();
        let mut got = Vec::new();
        for _ in 0..5 {
            let k = within(q.get()).await;
            got.push((k, Instant::now() - start));
        }
        assert_eq!(
            got,
            vec![
                (Some("now"), Duration::ZERO),
                (Some("a"), Duration::from_millis(10)),
                (Some("b1"), Duration::from_millis(20)),
                (Some("b2"), Duration::from_millis(20)),
                (Some("c"), Duration::from_millis(30)),
            ]
        );
        assert_eq!(q.metrics().retries, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_key_keeps_the_earlier_due_time() {
        let q = DelayingQueue::new();
        q.add_after(1, Duration::from_secs(10));
        q.add_after(1, Duration::from_secs(20));
        assert_eq!(q.waiting(), 1);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(q.len(), 1);
        assert_eq!(q.waiting(), 0);

        q.add_after(2, Duration::from_secs(20));
        q.add_after(2, Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(q.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn nearer_key_wakes_a_sleeping_worker() {
        let q = DelayingQueue::new();
        q.add_after("late", Duration::from_secs(60));
        let worker = {
            let q = q.clone();
            tokio::spawn(async move {
                let k = within(q.get()).await;
                (k, Instant::now())
            })
        };
        tokio::task::yield_now().await;
        let start = Instant::now();
        q.add_after("soon", Duration::from_secs(1));
        let (k, at) = within(worker).await.expect("worker ran");
        assert_eq!(k, Some("soon"));
        assert_eq!(at - start, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn due_keys_reach_every_sleeping_worker() {
        let q = DelayingQueue::new();
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                tokio::spawn(async move { within(q.get()).await })
            })
            .collect();
        tokio::task::yield_now().await;
        for k in 0..3 {
            q.add_after(k, Duration::from_millis(100));
        }
        let mut got = Vec::new();
        for w in workers {
            got.push(within(w).await.expect("worker ran"));
        }
        got.sort();
        assert_eq!(got, vec![Some(0), Some(1), Some(2)]);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_drops_delayed_keys() {
        let q = DelayingQueue::new();
        q.add_after("x", Duration::from_secs(1));
        q.shutdown();
        q.add_after("y", Duration::from_secs(1));
        assert_eq!(q.waiting(), 0);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(within(q.get()).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn huge_delay_does_not_panic() {
        let q = DelayingQueue::new();
        q.add_after(1u8, Duration::MAX);
        assert_eq!(q.waiting(), 1);
        assert_eq!(q.len(), 0);
    }
}
