//! Where lists and watches read from: the store itself today, a per-resource watch cache
//! later, behind one trait.

use std::sync::Arc;

use async_trait::async_trait;
use kube_store::{ListRequest, ListResponse, Store, Watch, WatchRequest};

/// A source of consistent lists and of change streams: the seam between the storage and
/// what serves its reads.
///
/// The contract is the store's: [`list`](Self::list) reads every key under a prefix at a
/// revision (the current one when none is asked), paged; [`watch`](Self::watch) streams every
/// change from a revision on, with no gaps and no duplicates, and fails with `Compacted` when
/// that history is gone. A watch cache implements it from memory; [`StoreSource`] passes it
/// through to the store.
#[async_trait]
pub trait ListWatchSource: Send + Sync + 'static {
    /// Keys under a prefix at a revision, as [`Store::list`].
    async fn list(&self, request: ListRequest) -> kube_store::Result<ListResponse>;

    /// Changes under a prefix from a revision on, as [`Store::watch`].
    async fn watch(&self, request: WatchRequest) -> kube_store::Result<Watch>;
}

/// Lists and watches straight from the store.
#[derive(Clone)]
pub struct StoreSource(pub Arc<dyn Store>);

impl std::fmt::Debug for StoreSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreSource")
    }
}

#[async_trait]
impl ListWatchSource for StoreSource {
    async fn list(&self, request: ListRequest) -> kube_store::Result<ListResponse> {
        self.0.list(request).await
    }

    async fn watch(&self, request: WatchRequest) -> kube_store::Result<Watch> {
        self.0.watch(request).await
    }
}
