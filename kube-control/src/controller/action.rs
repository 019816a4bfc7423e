//! [`Action`]: what a reconcile asks the controller to do next with its key.

use std::time::Duration;

/// What to do with an object's key after a reconcile (kube-rs's `Action`; controller-runtime's
/// `Result`).
///
/// A successful reconcile resets the key's back-off (the work queue's `forget`) unless it asks
/// for [`requeue_with_backoff`](Self::requeue_with_backoff); a failed one keeps it, so repeated
/// failures back off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    next: Next,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    AwaitChange,
    RequeueAfter(Duration),
    Backoff,
}

impl Action {
    /// Reconcile again after `after`, or sooner if the object (or a child) changes.
    pub fn requeue(after: Duration) -> Self {
        Self {
            next: Next::RequeueAfter(after),
        }
    }

    /// Reconcile again only when the object (or a child) changes.
    pub fn await_change() -> Self {
        Self {
            next: Next::AwaitChange,
        }
    }

    /// Reconcile again after the key's next back-off from the work queue's rate limiter
    /// (upstream's `AddRateLimited`: per-key exponential, 5 ms doubling up to 1000 s, by
    /// default). What [`default_error_policy`] returns.
    pub fn requeue_with_backoff() -> Self {
        Self {
            next: Next::Backoff,
        }
    }

    /// The fixed delay asked for by [`requeue`](Self::requeue), if any.
    pub fn requeue_after(&self) -> Option<Duration> {
        match self.next {
            Next::RequeueAfter(d) => Some(d),
            _ => None,
        }
    }

    /// Whether this is [`requeue_with_backoff`](Self::requeue_with_backoff).
    pub fn is_backoff(&self) -> bool {
        self.next == Next::Backoff
    }

    pub(crate) fn next(&self) -> Next {
        self.next
    }
}

/// The error policy most controllers want: retry the key with the work queue's per-key
/// exponential back-off ([`Action::requeue_with_backoff`]).
pub fn default_error_policy<K, E, C>(
    object: std::sync::Arc<K>,
    error: &E,
    ctx: std::sync::Arc<C>,
) -> Action {
    let _ = (object, error, ctx);
    Action::requeue_with_backoff()
}
