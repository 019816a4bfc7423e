//! The watch cache (upstream's cacher): one cache per resource, fed by one store watch,
//! serving lists and watches from memory.
//!
//! [`WatchCache`] is a [`ListWatchSource`]. For each resource prefix
//! (`/registry/{group}/{resource}/`) it starts, on first use, a [`resource::ResourceCache`]
//! that lists the resource once, then follows one store watch: it holds the current objects
//! and a bounded window of recent events. Every API watcher of the resource reads the window
//! (fan-out in memory); a watch from before the window fails with `Compacted` (410, "too old
//! resource version"), and clients relist. Requests the cache cannot answer exactly fall
//! through to the store.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kube_store::{ListRequest, ListResponse, Store, Watch, WatchRequest};

use super::ListWatchSource;

pub mod resource;

use resource::ResourceCache;

/// The watch cache's settings.
#[derive(Debug, Clone)]
pub struct WatchCacheConfig {
    /// At most this many recent events are kept per resource.
    pub window_events: usize,
    /// Events older than this are dropped from the window.
    pub window_age: Duration,
    /// How long a request waits for the cache to catch up with the store before it falls
    /// through to the store.
    pub catch_up_wait: Duration,
    /// How many events may wait unread per API watcher before its feeding pauses.
    pub watcher_buffer: usize,
    /// The first delay before re-watching after the store watch ends (doubling to 5 s).
    pub retry_backoff: Duration,
}

impl Default for WatchCacheConfig {
    fn default() -> Self {
        Self {
            window_events: 10_000,
            window_age: Duration::from_secs(5 * 60),
            catch_up_wait: Duration::from_secs(3),
            watcher_buffer: 256,
            retry_backoff: Duration::from_millis(100),
        }
    }
}

/// Lists and watches served from per-resource caches over a store.
pub struct WatchCache {
    store: Arc<dyn Store>,
    config: WatchCacheConfig,
    caches: Mutex<BTreeMap<String, Arc<ResourceCache>>>,
}

impl std::fmt::Debug for WatchCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchCache")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WatchCache {
    /// A watch cache over `store`. Caches start on first use, from inside a tokio runtime.
    pub fn new(store: Arc<dyn Store>, config: WatchCacheConfig) -> Self {
        Self {
            store,
            config,
            caches: Mutex::new(BTreeMap::new()),
        }
    }

    /// The cache of the resource `prefix` belongs to, started if needed; `None` when the
    /// prefix names no single resource.
    fn cache_for(&self, prefix: &str) -> Option<Arc<ResourceCache>> {
        let resource = resource_prefix(prefix)?;
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        let cache = caches.entry(resource.to_owned()).or_insert_with(|| {
            ResourceCache::start(
                Arc::clone(&self.store),
                resource.to_owned(),
                self.config.clone(),
            )
        });
        Some(Arc::clone(cache))
    }
}

/// The resource part of a key prefix: `/registry/{group}/{resource}/`.
fn resource_prefix(prefix: &str) -> Option<&str> {
    let rest = prefix.strip_prefix("/registry/")?;
    let group_end = rest.find('/')?;
    let resource_end = rest[group_end + 1..].find('/')?;
    if group_end == 0 || resource_end == 0 {
        return None;
    }
    Some(&prefix[..("/registry/".len() + group_end + 1 + resource_end + 1)])
}

#[async_trait]
impl ListWatchSource for WatchCache {
    async fn list(&self, request: ListRequest) -> kube_store::Result<ListResponse> {
        let Some(cache) = self.cache_for(&request.prefix) else {
            return self.store.list(request).await;
        };
        match cache.list(&request).await? {
            Some(response) => Ok(response),
            None => self.store.list(request).await,
        }
    }

    async fn watch(&self, request: WatchRequest) -> kube_store::Result<Watch> {
        let Some(cache) = self.cache_for(&request.prefix) else {
            return self.store.watch(request).await;
        };
        match cache.watch(&request).await? {
            Some(watch) => Ok(watch),
            None => self.store.watch(request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_prefixes() {
        assert_eq!(
            resource_prefix("/registry/core/pods/"),
            Some("/registry/core/pods/")
        );
        assert_eq!(
            resource_prefix("/registry/core/pods/ns/"),
            Some("/registry/core/pods/")
        );
        assert_eq!(
            resource_prefix("/registry/apps/deployments/a/b"),
            Some("/registry/apps/deployments/")
        );
        assert_eq!(resource_prefix("/registry/core/pods"), None);
        assert_eq!(resource_prefix("/registry/"), None);
        assert_eq!(resource_prefix("/other/core/pods/"), None);
        assert_eq!(resource_prefix(""), None);
    }
}
