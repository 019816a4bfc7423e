//! The rate limiting queue (upstream's `workqueue/rate_limiting_queue.go`): a [`DelayingQueue`]
//! that retries keys after the delay its [`RateLimiter`] picks.
//!
//! The controller loop: `get` a key, reconcile it, then on success [`forget`](RateLimitingQueue::forget)
//! it (resetting its back-off) or on failure [`add_rate_limited`](RateLimitingQueue::add_rate_limited);
//! either way call `done`.

use std::hash::Hash;
use std::ops::Deref;
use std::sync::Arc;

use super::delaying::DelayingQueue;
use super::rate_limiter::{RateLimiter, default_controller_rate_limiter};

/// A [`DelayingQueue`] with a [`RateLimiter`] for retries.
///
/// Dereferences to the [`DelayingQueue`] (and through it to the
/// [`Queue`](super::Queue)). Cheap to clone: clones share the queue and the limiter.
///
/// ```
/// # use kube_api::client::workqueue::RateLimitingQueue;
/// # async fn reconcile(_: &str) -> Result<(), ()> { Ok(()) }
/// # async fn worker(queue: RateLimitingQueue<String>) {
/// while let Some(key) = queue.get().await {
///     match reconcile(&key).await {
///         Ok(()) => queue.forget(&key),
///         Err(()) => queue.add_rate_limited(key.clone()),
///     }
///     queue.done(&key);
/// }
/// # }
/// ```
pub struct RateLimitingQueue<K> {
    queue: DelayingQueue<K>,
    limiter: Arc<dyn RateLimiter<K>>,
}

impl<K> Clone for RateLimitingQueue<K> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            limiter: Arc::clone(&self.limiter),
        }
    }
}

impl<K> std::fmt::Debug for RateLimitingQueue<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitingQueue")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl<K> Deref for RateLimitingQueue<K> {
    type Target = DelayingQueue<K>;

    fn deref(&self) -> &DelayingQueue<K> {
        &self.queue
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Default for RateLimitingQueue<K> {
    /// An unnamed queue with [`default_controller_rate_limiter`].
    fn default() -> Self {
        Self::new(default_controller_rate_limiter())
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> RateLimitingQueue<K> {
    /// An unnamed queue retrying keys as `limiter` says.
    pub fn new(limiter: impl RateLimiter<K> + 'static) -> Self {
        Self::named("", limiter)
    }

    /// A queue whose metrics carry `name`, retrying keys as `limiter` says.
    pub fn named(name: impl Into<String>, limiter: impl RateLimiter<K> + 'static) -> Self {
        Self {
            queue: DelayingQueue::named(name),
            limiter: Arc::new(limiter),
        }
    }

    /// Adds `key` after the delay the rate limiter picks for it (which counts one more requeue).
    pub fn add_rate_limited(&self, key: K) {
        let delay = self.limiter.when(&key);
        self.queue.add_after(key, delay);
    }

    /// Resets the rate limiter's record of `key` (call it once the key is processed
    /// successfully). The key stays in the queue if it is there.
    pub fn forget(&self, key: &K) {
        self.limiter.forget(key);
    }

    /// How many times `key` was requeued since it was last forgotten.
    pub fn num_requeues(&self, key: &K) -> u32 {
        self.limiter.num_requeues(key)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;
    use crate::client::workqueue::ItemExponentialFailureRateLimiter;
    use crate::client::workqueue::tests::within;

    #[tokio::test(start_paused = true)]
    async fn retries_back_off_and_forget_resets() {
        let q = RateLimitingQueue::named(
            "retries",
            ItemExponentialFailureRateLimiter::new(
                Duration::from_millis(5),
                Duration::from_secs(1000),
            ),
        );
        q.add("k");
        let mut waits = Vec::new();
        for _ in 0..4 {
            let start = Instant::now();
            let k = within(q.get()).await;
            assert_eq!(k, Some("k"));
            waits.push(Instant::now() - start);
            q.add_rate_limited("k");
            q.done(&"k");
        }
        assert_eq!(
            waits,
            [0, 5, 10, 20].map(Duration::from_millis).to_vec(),
            "first get is immediate, then 5ms * 2^n"
        );
        assert_eq!(q.num_requeues(&"k"), 4);
        q.forget(&"k");
        assert_eq!(q.num_requeues(&"k"), 0);
        let start = Instant::now();
        assert_eq!(
            within(q.get()).await,
            Some("k"),
            "forget leaves the queued retry"
        );
        assert_eq!(Instant::now() - start, Duration::from_millis(40));
        q.add_rate_limited("k");
        q.done(&"k");
        let start = Instant::now();
        assert_eq!(within(q.get()).await, Some("k"));
        assert_eq!(Instant::now() - start, Duration::from_millis(5));
        assert_eq!(q.metrics().retries, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn default_queue_uses_the_controller_limiter() {
        let q: RateLimitingQueue<u32> = RateLimitingQueue::default();
        q.add_rate_limited(1);
        q.add_rate_limited(1);
        assert_eq!(q.num_requeues(&1), 2);
        assert_eq!(q.waiting(), 1);
    }
}
