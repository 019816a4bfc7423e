//! The `ListerWatcher` seam (client-go's `cache.ListerWatcher`): how a reflector lists and
//! watches one resource.

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent;
use k8s_openapi::{List, ListableResource};

use crate::client::Result;
use crate::client::api::{Api, ApiObject};

pub use crate::client::params::{ListParams, VersionMatch, WatchParams};

/// The annotation on the bookmark that ends the initial events of a streaming list.
pub const INITIAL_EVENTS_END_ANNOTATION: &str = "k8s.io/initial-events-end";

/// An open watch: events in the server's order, ending when the server ends the watch.
pub type WatchStream<K> = BoxStream<'static, Result<WatchEvent<K>>>;

/// Lists and watches one resource (in one namespace or all) for a reflector.
///
/// # Contract
/// - [`list`](Self::list) returns the objects matching `params` and, in
///   `metadata.resourceVersion`, the version the list was read at; with `limit` it returns at
///   most that many items and a `metadata.continue` token when more remain. A continue token or
///   a `resourceVersion` the server no longer has fails with [`Error::Api`] code 410
///   (Expired/Gone).
/// - [`watch`](Self::watch) returns every change after `resource_version`, in order, with no gap.
///   A version too old to watch from fails with code 410, either from the call or as an
///   `ERROR` event in the stream. Bookmarks (when allowed) carry a resourceVersion and no
///   object. With `send_initial_events`, the stream first adds every current object, then sends
///   a bookmark annotated [`INITIAL_EVENTS_END_ANNOTATION`]. The stream ends (`None`) when the
///   server closes the watch, for example at `timeout_seconds`; that is not an error.
/// - A server that does not support `send_initial_events` rejects the call (400, 403, 422 or
///   501), and the reflector falls back to list + watch.
/// - Both calls are cancel-safe: dropping the future or stream abandons the request.
///
/// [`Error::Api`]: crate::client::Error::Api
pub trait ListerWatcher<K: ListableResource>: Send + Sync {
    /// Lists objects.
    fn list<'a>(&'a self, params: &'a ListParams) -> BoxFuture<'a, Result<List<K>>>;

    /// Opens a watch.
    fn watch<'a>(&'a self, params: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<K>>>;
}

impl<K: ListableResource, L: ListerWatcher<K> + ?Sized> ListerWatcher<K> for std::sync::Arc<L> {
    fn list<'a>(&'a self, params: &'a ListParams) -> BoxFuture<'a, Result<List<K>>> {
        (**self).list(params)
    }

    fn watch<'a>(&'a self, params: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<K>>> {
        (**self).watch(params)
    }
}

/// The typed API lists and watches its own collection: `Arc::new(api)` feeds a reflector.
impl<K: ApiObject + ListableResource> ListerWatcher<K> for Api<K> {
    fn list<'a>(&'a self, params: &'a ListParams) -> BoxFuture<'a, Result<List<K>>> {
        Box::pin(Api::list(self, params))
    }

    fn watch<'a>(&'a self, params: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<K>>> {
        Box::pin(async move { Ok(Box::pin(Api::watch(self, params).await?) as WatchStream<K>) })
    }
}
