//! The work queue (upstream's client-go `util/workqueue`): where controllers put the keys of
//! objects to reconcile.
//!
//! - [`Queue`]: FIFO, deduplicating, and never hands one key to two workers at once;
//! - [`DelayingQueue`]: adds [`add_after`](DelayingQueue::add_after);
//! - [`RateLimitingQueue`]: adds retries with back-off through a [`RateLimiter`]
//!   ([`default_controller_rate_limiter`] unless told otherwise);
//! - [`rate_limiter`]: the limiters, as upstream's;
//! - [`metrics`]: depth, latencies and retries, as a snapshot or Prometheus text.
//!
//! All timing goes through `tokio::time`, so tests can run on a paused clock.

mod delaying;
pub mod metrics;
mod queue;
pub mod rate_limiter;
mod rate_limiting;

#[cfg(test)]
mod tests;

pub use delaying::DelayingQueue;
pub use metrics::{MetricsSnapshot, render_prometheus};
pub use queue::Queue;
pub use rate_limiter::{
    BucketRateLimiter, ItemExponentialFailureRateLimiter, ItemFastSlowRateLimiter,
    MaxOfRateLimiter, RateLimiter, default_controller_rate_limiter,
    default_item_based_rate_limiter,
};
pub use rate_limiting::RateLimitingQueue;
