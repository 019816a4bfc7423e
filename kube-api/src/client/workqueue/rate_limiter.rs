//! Rate limiters: how long a key waits before it is retried (upstream's `default_rate_limiters.go`).
//!
//! [`default_controller_rate_limiter`] is what controllers use: per-key exponential back-off from
//! 5 ms to 1000 s, and an overall token bucket of 10 qps with a burst of 100, taking the larger.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Errors building a rate limiter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bucket's refill rate is not a finite number above zero.
    #[error("rate limiter qps must be finite and above zero, got {0}")]
    InvalidQps(f64),
    /// The bucket holds no token, so it would never let a key through.
    #[error("rate limiter burst must be at least 1")]
    InvalidBurst,
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Decides how long a key waits before it is added back to the queue.
///
/// Implementations are shared by every worker of a queue, so each call takes `&self` and keeps
/// its bookkeeping behind interior mutability.
pub trait RateLimiter<K>: Send + Sync {
    /// Records one more failure of `key` and returns how long it waits before its retry.
    fn when(&self, key: &K) -> Duration;

    /// Stops tracking `key`: its next failure starts from scratch. Called once a key is
    /// processed successfully (or given up on).
    fn forget(&self, key: &K);

    /// How many times `key` has been requeued since it was last forgotten.
    fn num_requeues(&self, key: &K) -> u32;
}

impl<K, R: RateLimiter<K> + ?Sized> RateLimiter<K> for Box<R> {
    fn when(&self, key: &K) -> Duration {
        (**self).when(key)
    }
    fn forget(&self, key: &K) {
        (**self).forget(key)
    }
    fn num_requeues(&self, key: &K) -> u32 {
        (**self).num_requeues(key)
    }
}

impl<K, R: RateLimiter<K> + ?Sized> RateLimiter<K> for Arc<R> {
    fn when(&self, key: &K) -> Duration {
        (**self).when(key)
    }
    fn forget(&self, key: &K) {
        (**self).forget(key)
    }
    fn num_requeues(&self, key: &K) -> u32 {
        (**self).num_requeues(key)
    }
}

/// Locks a limiter's state; a worker that panicked mid-update leaves counters that are still
/// usable, so poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The rate limiter controllers use by default: the larger of a per-key exponential back-off
/// (5 ms doubling up to 1000 s) and an overall token bucket (10 qps, burst 100).
pub fn default_controller_rate_limiter<K>() -> MaxOfRateLimiter<K>
where
    K: Clone + Eq + Hash + Send + 'static,
{
    MaxOfRateLimiter::new(vec![
        Box::new(ItemExponentialFailureRateLimiter::new(
            Duration::from_millis(5),
            Duration::from_secs(1000),
        )),
        Box::new(BucketRateLimiter::default_controller()),
    ])
}

/// A per-key exponential back-off from 1 ms up to 1000 s (upstream's
/// `DefaultItemBasedRateLimiter`).
pub fn default_item_based_rate_limiter<K>() -> ItemExponentialFailureRateLimiter<K>
where
    K: Clone + Eq + Hash + Send,
{
    ItemExponentialFailureRateLimiter::new(Duration::from_millis(1), Duration::from_secs(1000))
}

/// Per-key exponential back-off: the n-th failure of a key (counting from 0) waits
/// `base * 2^n`, capped at `max`.
#[derive(Debug)]
pub struct ItemExponentialFailureRateLimiter<K> {
    failures: Mutex<HashMap<K, u32>>,
    base: Duration,
    max: Duration,
}

impl<K: Clone + Eq + Hash + Send> ItemExponentialFailureRateLimiter<K> {
    /// A back-off starting at `base` and never above `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            failures: Mutex::new(HashMap::new()),
            base,
            max,
        }
    }
}

impl<K: Clone + Eq + Hash + Send> RateLimiter<K> for ItemExponentialFailureRateLimiter<K> {
    fn when(&self, key: &K) -> Duration {
        let exp = {
            let mut failures = lock(&self.failures);
            let n = failures.entry(key.clone()).or_insert(0);
            let exp = *n;
            *n = n.saturating_add(1);
            exp
        };
        // Floating point as upstream; exact for every value below the 1000 s cap. The exponent
        // is bounded so that a zero base never meets an infinite factor.
        let backoff = self.base.as_nanos() as f64 * 2f64.powi(exp.min(1023) as i32);
        if backoff >= self.max.as_nanos() as f64 || backoff >= u64::MAX as f64 {
            return self.max;
        }
        Duration::from_nanos(backoff as u64).min(self.max)
    }

    fn forget(&self, key: &K) {
        lock(&self.failures).remove(key);
    }

    fn num_requeues(&self, key: &K) -> u32 {
        lock(&self.failures).get(key).copied().unwrap_or(0)
    }
}

/// Per-key two-speed back-off: `fast` for the first `max_fast_attempts` failures, then `slow`.
#[derive(Debug)]
pub struct ItemFastSlowRateLimiter<K> {
    failures: Mutex<HashMap<K, u32>>,
    fast: Duration,
    slow: Duration,
    max_fast_attempts: u32,
}

impl<K: Clone + Eq + Hash + Send> ItemFastSlowRateLimiter<K> {
    /// Waits `fast` for the first `max_fast_attempts` failures of a key, then `slow`.
    pub fn new(fast: Duration, slow: Duration, max_fast_attempts: u32) -> Self {
        Self {
            failures: Mutex::new(HashMap::new()),
            fast,
            slow,
            max_fast_attempts,
        }
    }
}

impl<K: Clone + Eq + Hash + Send> RateLimiter<K> for ItemFastSlowRateLimiter<K> {
    fn when(&self, key: &K) -> Duration {
        let mut failures = lock(&self.failures);
        let n = failures.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        if *n <= self.max_fast_attempts {
            self.fast
        } else {
            self.slow
        }
    }

    fn forget(&self, key: &K) {
        lock(&self.failures).remove(key);
    }

    fn num_requeues(&self, key: &K) -> u32 {
        lock(&self.failures).get(key).copied().unwrap_or(0)
    }
}

/// An overall token bucket shared by all keys: `qps` tokens a second, holding at most `burst`.
///
/// Each call to [`when`](RateLimiter::when) reserves one token; once the bucket is empty the
/// reservation goes into debt and the returned delay is the time until that token exists. The
/// bucket starts full at its first use. It tracks no key, so `forget` does nothing and
/// `num_requeues` is always 0.
#[derive(Debug)]
pub struct BucketRateLimiter {
    /// Time to earn one token.
    interval: Duration,
    /// Time to fill the whole bucket (`burst * interval`).
    capacity: Duration,
    /// When the bucket would be full again if nothing else were taken (a "theoretical arrival
    /// time"); `None` until first use.
    full_at: Mutex<Option<Instant>>,
}

impl BucketRateLimiter {
    /// A bucket refilled at `qps` tokens a second, holding at most `burst` tokens.
    pub fn new(qps: f64, burst: u32) -> Result<Self> {
        if !qps.is_finite() || qps <= 0.0 {
            return Err(Error::InvalidQps(qps));
        }
        if burst == 0 {
            return Err(Error::InvalidBurst);
        }
        let nanos = (1e9 / qps).round();
        let interval = if nanos >= u64::MAX as f64 {
            Duration::MAX
        } else {
            Duration::from_nanos(nanos as u64)
        };
        Ok(Self {
            interval,
            capacity: interval.checked_mul(burst).unwrap_or(Duration::MAX),
            full_at: Mutex::new(None),
        })
    }

    /// The controllers' overall retry limit: 10 qps with a burst of 100.
    pub fn default_controller() -> Self {
        Self {
            interval: Duration::from_millis(100),
            capacity: Duration::from_secs(10),
            full_at: Mutex::new(None),
        }
    }

    /// Takes one token at `now`, returning how long until it is really available.
    fn reserve(&self, now: Instant) -> Duration {
        let mut full_at = lock(&self.full_at);
        let start = full_at.map_or(now, |t| t.max(now));
        let next = start.checked_add(self.interval).unwrap_or(start);
        *full_at = Some(next);
        next.saturating_duration_since(now)
            .saturating_sub(self.capacity)
    }
}

impl<K> RateLimiter<K> for BucketRateLimiter {
    fn when(&self, _key: &K) -> Duration {
        self.reserve(Instant::now())
    }

    fn forget(&self, _key: &K) {}

    fn num_requeues(&self, _key: &K) -> u32 {
        0
    }
}

/// Combines limiters: a key waits as long as the strictest of them says, and its requeue count
/// is the largest any of them has.
pub struct MaxOfRateLimiter<K> {
    limiters: Vec<Box<dyn RateLimiter<K>>>,
}

impl<K> MaxOfRateLimiter<K> {
    /// Combines `limiters`; every one is asked on each call (so each records the failure).
    pub fn new(limiters: Vec<Box<dyn RateLimiter<K>>>) -> Self {
        Self { limiters }
    }
}

impl<K> std::fmt::Debug for MaxOfRateLimiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaxOfRateLimiter")
            .field("limiters", &self.limiters.len())
            .finish()
    }
}

impl<K> RateLimiter<K> for MaxOfRateLimiter<K> {
    fn when(&self, key: &K) -> Duration {
        self.limiters
            .iter()
            .map(|l| l.when(key))
            .max()
            .unwrap_or(Duration::ZERO)
    }

    fn forget(&self, key: &K) {
        for l in &self.limiters {
            l.forget(key);
        }
    }

    fn num_requeues(&self, key: &K) -> u32 {
        self.limiters
            .iter()
            .map(|l| l.num_requeues(key))
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_rejects_bad_parameters() {
        assert!(matches!(
            BucketRateLimiter::new(0.0, 1),
            Err(Error::InvalidQps(_))
        ));
        assert!(matches!(
            BucketRateLimiter::new(f64::NAN, 1),
            Err(Error::InvalidQps(_))
        ));
        assert!(matches!(
            BucketRateLimiter::new(f64::INFINITY, 1),
            Err(Error::InvalidQps(_))
        ));
        assert!(matches!(
            BucketRateLimiter::new(10.0, 0),
            Err(Error::InvalidBurst)
        ));
        let b = BucketRateLimiter::new(10.0, 100).expect("valid parameters");
        assert_eq!(b.interval, Duration::from_millis(100));
        assert_eq!(b.capacity, Duration::from_secs(10));
    }

    #[test]
    fn exponential_with_zero_base_and_huge_counts_stays_zero() {
        let r = ItemExponentialFailureRateLimiter::new(Duration::ZERO, Duration::from_secs(1));
        for _ in 0..2000 {
            assert_eq!(r.when(&"k"), Duration::ZERO);
        }
        assert_eq!(r.num_requeues(&"k"), 2000);
    }

    #[test]
    fn exponential_with_max_duration_cap_saturates() {
        let r = ItemExponentialFailureRateLimiter::new(Duration::from_secs(1), Duration::MAX);
        let mut last = Duration::ZERO;
        for _ in 0..100 {
            let d = r.when(&1u8);
            assert!(d >= last);
            last = d;
        }
        assert_eq!(last, Duration::MAX);
    }

    #[test]
    fn fast_slow_switches_after_the_fast_attempts() {
        let r = ItemFastSlowRateLimiter::new(Duration::from_millis(5), Duration::from_secs(10), 3);
        let got: Vec<Duration> = (0..5).map(|_| r.when(&"a")).collect();
        assert_eq!(
            got,
            vec![
                Duration::from_millis(5),
                Duration::from_millis(5),
                Duration::from_millis(5),
                Duration::from_secs(10),
                Duration::from_secs(10),
            ]
        );
        assert_eq!(r.num_requeues(&"a"), 5);
        assert_eq!(r.when(&"b"), Duration::from_millis(5));
        r.forget(&"a");
        assert_eq!(r.num_requeues(&"a"), 0);
        assert_eq!(r.when(&"a"), Duration::from_millis(5));
    }
}
