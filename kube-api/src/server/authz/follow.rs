//! [`Mirror`]: the objects under one store prefix, parsed and kept current in memory from a
//! watch, so an authorizer decides without reading the store.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use futures::StreamExt;
use kube_store::{ListRequest, Store, WatchEvent, WatchRequest};
use tokio::sync::{Notify, watch};

/// How long a decision waits for the first list, or for the mirror to catch up with a write.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait before listing again after the store failed.
const RETRY: Duration = Duration::from_secs(1);

/// How a stored value becomes an item of the mirror: `None` skips it.
pub type Parse<T> = fn(&[u8]) -> Option<T>;

/// The parsed objects under a store prefix by key, following the store (a reflector over the
/// store itself). Cloning is cheap; the follow task ends when the last clone is dropped.
pub struct Mirror<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Mirror<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> std::fmt::Debug for Mirror<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("prefix", &self.inner.prefix)
            .field("revision", &*self.inner.revision.borrow())
            .finish_non_exhaustive()
    }
}

struct Inner<T> {
    prefix: String,
    store: Arc<dyn Store>,
    items: RwLock<BTreeMap<String, T>>,
    /// The revision the items are current with; 0 until the first list.
    revision: watch::Sender<i64>,
    /// Asks the follow task for a progress notice.
    progress: Arc<Notify>,
    /// Dropped with the mirror: the follow task ends.
    _stop: watch::Sender<()>,
}

impl<T: Send + Sync + 'static> Mirror<T> {
    /// Follows `prefix` of `store`, parsing each value with `parse`. The follow task starts
    /// on the current tokio runtime (none: the mirror stays empty).
    pub fn new(store: &Arc<dyn Store>, prefix: impl Into<String>, parse: Parse<T>) -> Self {
        let (revision, _) = watch::channel(0);
        let (stop, stopped) = watch::channel(());
        let progress = Arc::new(Notify::new());
        let inner = Arc::new(Inner {
            prefix: prefix.into(),
            store: Arc::clone(store),
            items: RwLock::new(BTreeMap::new()),
            revision,
            progress: Arc::clone(&progress),
            _stop: stop,
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(follow(Arc::downgrade(&inner), parse, progress, stopped));
        }
        Self { inner }
    }

    /// Runs `f` over the current items (by store key).
    pub fn read<R>(&self, f: impl FnOnce(&BTreeMap<String, T>) -> R) -> R {
        let items = self
            .inner
            .items
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&items)
    }

    /// The revision the items are current with (0 before the first list).
    pub fn revision(&self) -> i64 {
        *self.inner.revision.borrow()
    }

    /// Waits (at most [`SYNC_TIMEOUT`]) for the first list.
    pub async fn wait_synced(&self) {
        self.wait_for(1).await;
    }

    /// Waits (at most [`SYNC_TIMEOUT`]) until the items are current with the store's current
    /// revision: a read after a write through this server then sees the write.
    pub async fn wait_current(&self) {
        let Ok(target) = self.inner.store.current_revision().await else {
            return;
        };
        if self.revision() >= target {
            return;
        }
        self.inner.progress.notify_one();
        self.wait_for(target.max(1)).await;
    }

    async fn wait_for(&self, target: i64) {
        let mut rx = self.inner.revision.subscribe();
        let reached = tokio::time::timeout(SYNC_TIMEOUT, rx.wait_for(|r| *r >= target)).await;
        if reached.is_err() {
            tracing::warn!(prefix = %self.inner.prefix, target, "authorization index lags the store");
        }
    }
}

/// Lists, then watches, until the mirror is dropped; relists whenever the watch ends.
async fn follow<T: Send + Sync + 'static>(
    inner: Weak<Inner<T>>,
    parse: Parse<T>,
    progress: Arc<Notify>,
    mut stopped: watch::Receiver<()>,
) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let store = Arc::clone(&strong.store);
        let prefix = strong.prefix.clone();
        let listed = match store.list(ListRequest::prefix(prefix.clone())).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(%prefix, error = %e, "listing for the authorization index failed");
                drop(strong);
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let items: BTreeMap<String, T> = listed
            .items
            .iter()
            .filter_map(|kv| parse(&kv.value).map(|t| (kv.key.clone(), t)))
            .collect();
        *strong
            .items
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = items;
        strong.revision.send_replace(listed.revision.max(1));
        let watch = store
            .watch(WatchRequest::prefix(prefix.clone()).from_revision(listed.revision + 1))
            .await;
        let mut watch = match watch {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(%prefix, error = %e, "watching for the authorization index failed");
                drop(strong);
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        drop(strong);
        loop {
            let event = tokio::select! {
                event = watch.next() => event,
                () = progress.notified() => {
                    watch.request_progress();
                    continue;
                }
                _ = stopped.changed() => return,
            };
            let Some(strong) = inner.upgrade() else {
                return;
            };
            match event {
                Some(Ok(event)) => {
                    let revision = event.revision();
                    {
                        let mut items = strong
                            .items
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        match event {
                            WatchEvent::Put { kv, .. } => match parse(&kv.value) {
                                Some(t) => {
                                    items.insert(kv.key, t);
                                }
                                None => {
                                    items.remove(&kv.key);
                                }
                            },
                            WatchEvent::Delete(deleted) => {
                                items.remove(&deleted.prev.key);
                            }
                            WatchEvent::Progress { .. } => {}
                        }
                    }
                    strong.revision.send_if_modified(|r| {
                        let newer = revision > *r;
                        if newer {
                            *r = revision;
                        }
                        newer
                    });
                }
                Some(Err(e)) => {
                    tracing::warn!(%prefix, error = %e, "the authorization index relists");
                    break;
                }
                None => break,
            }
        }
        tokio::select! {
            () = tokio::time::sleep(RETRY) => {}
            _ = stopped.changed() => return,
        }
    }
}
