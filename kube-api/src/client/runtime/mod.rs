//! The informer machinery and its companions (client-go's `tools/cache`,
//! `tools/leaderelection` and `tools/events`).
//!
//! ```text
//! ListerWatcher -> Reflector -> Store (indexer) -> handlers -> work queue -> controller
//! ```
//!
//! - [`Reflector`] lists and watches through a [`ListerWatcher`] into a [`ReflectorSink`];
//! - [`Store`]: the cache with indexes;
//! - [`Informer`]: a reflector, a store and event handlers; [`SharedInformerFactory`] shares one
//!   per resource and scope among every consumer of a process;
//! - [`LeaderElector`] elects one leader over a [`LeaseLock`];
//! - [`EventRecorder`] records events.k8s.io/v1 Events through an [`EventSink`].
//!
//! Each seam (`ListerWatcher`, `LeaseLock`, `EventSink`) has a fake in `test_util` (feature
//! `test-util`). Timers use `tokio::time`; wall-clock stamps go through a [`Clock`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub mod backoff;
pub mod clock;
pub mod delta;
pub mod events;
pub mod informer;
pub mod leader_election;
pub mod lease_lock;
pub mod lister_watcher;
pub mod reflector;
pub mod shared;
pub mod store;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;

pub use backoff::{Backoff, Rng};
pub use clock::{Clock, SharedClock, SystemClock, TokioClock};
pub use delta::{Deleted, Delta};
pub use events::{
    ApiEventSink, BroadcasterConfig, EventBroadcaster, EventRecorder, EventSink, EventType,
};
pub use informer::{EventHandler, HandlerFuncs, HandlerRegistration, Informer};
pub use leader_election::{Callbacks, LeaderElectionConfig, LeaderElector};
pub use lease_lock::{ApiLeaseLock, LeaderElectionRecord, LeaseLock, LockedRecord};
pub use lister_watcher::{ListParams, ListerWatcher, VersionMatch, WatchParams, WatchStream};
pub use reflector::{InitialList, Reflector, ReflectorConfig, ReflectorSink, Transform};
pub use shared::{InformerKey, Scope, SharedInformerFactory};
pub use store::Store;

/// What the runtime caches: a typed Kubernetes object with ObjectMeta.
pub trait Object:
    k8s_openapi::Metadata<Ty = ObjectMeta>
    + k8s_openapi::ListableResource
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> Object for T where
    T: k8s_openapi::Metadata<Ty = ObjectMeta>
        + k8s_openapi::ListableResource
        + Clone
        + Send
        + Sync
        + 'static
{
}
