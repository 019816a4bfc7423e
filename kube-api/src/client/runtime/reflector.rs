//! The reflector (client-go's `cache.Reflector`): lists, then watches, and keeps a sink (a
//! [`Store`] or an informer) equal to the server's state.
//!
//! - The initial state comes from a streaming list (`sendInitialEvents`, ended by the
//!   `k8s.io/initial-events-end` bookmark) when the server supports it, otherwise from a paged
//!   list (`limit`/`continue`; a continue token that expired falls back to one full list).
//! - The watch resumes from the last resourceVersion seen (events and bookmarks advance it).
//!   A watch that ends (the server's `timeoutSeconds`, randomised between 5 and 10 minutes as
//!   client-go does) is reopened without a relist; 410 Gone/Expired, from the call or as an
//!   `ERROR` event, relists.
//! - Errors back off exponentially with jitter ([`Backoff`], 800 ms .. 30 s).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent;

use super::Object;
use super::backoff::{Backoff, Rng};
use super::lister_watcher::{
    INITIAL_EVENTS_END_ANNOTATION, ListParams, ListerWatcher, VersionMatch, WatchParams,
    WatchStream,
};
use super::store::{Store, key_of};
use crate::client::Error as ClientError;

/// Where a reflector puts what it learns, in order.
///
/// Implemented by [`Store`] and by informers (which also notify their handlers).
pub trait ReflectorSink<K>: Send + Sync {
    /// A full list: the sink's content becomes exactly `objects`.
    fn replace(&self, objects: Vec<Arc<K>>);
    /// An object was added or modified.
    fn upsert(&self, object: Arc<K>);
    /// An object was deleted; `object` is its final state.
    fn delete(&self, object: Arc<K>);
}

impl<K: Object> ReflectorSink<K> for Store<K> {
    fn replace(&self, objects: Vec<Arc<K>>) {
        Store::replace(self, objects);
    }
    fn upsert(&self, object: Arc<K>) {
        self.apply_upsert(object);
    }
    fn delete(&self, object: Arc<K>) {
        self.apply_delete(object);
    }
}

/// A function applied to every object before it is cached (client-go's `TransformFunc`), for
/// example [`strip_managed_fields`] to save memory.
pub type Transform<K> = Arc<dyn Fn(K) -> K + Send + Sync>;

/// A transform dropping `metadata.managedFields`, which caches rarely need.
pub fn strip_managed_fields<K: Object>() -> Transform<K> {
    Arc::new(|mut o: K| {
        o.metadata_mut().managed_fields = None;
        o
    })
}

/// How the initial state is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitialList {
    /// A streaming list when the server accepts `sendInitialEvents`, else a paged list.
    #[default]
    StreamingIfSupported,
    /// Always a streaming list.
    Streaming,
    /// Always a (paged) list.
    Paged,
}

/// Reflector settings; the defaults are client-go's.
#[derive(Debug, Clone)]
pub struct ReflectorConfig {
    /// Restricts the objects by label (`labelSelector`).
    pub label_selector: Option<String>,
    /// Restricts the objects by field (`fieldSelector`).
    pub field_selector: Option<String>,
    /// The page size of lists (500); `None` lists everything at once.
    pub page_size: Option<u32>,
    /// How the initial state is read.
    pub initial_list: InitialList,
    /// Watches ask the server to end them after between this and twice this (5 minutes).
    pub min_watch_timeout: Duration,
    /// The back-off between failed attempts.
    pub backoff: Backoff,
}

impl Default for ReflectorConfig {
    fn default() -> Self {
        Self {
            label_selector: None,
            field_selector: None,
            page_size: Some(500),
            initial_list: InitialList::default(),
            min_watch_timeout: Duration::from_secs(300),
            backoff: Backoff::reflector_default(Rng::from_entropy()),
        }
    }
}

/// Why a watch stopped.
enum WatchEnd {
    /// The server ended it: watch again from the last resourceVersion.
    Closed { events: usize },
    /// 410: the resourceVersion is gone; relist.
    Expired,
    /// Anything else: back off, then watch again.
    Failed(ClientError),
}

/// Lists and watches one resource into a [`ReflectorSink`].
pub struct Reflector<K: Object> {
    lw: Arc<dyn ListerWatcher<K>>,
    sink: Arc<dyn ReflectorSink<K>>,
    config: ReflectorConfig,
    transform: Option<Transform<K>>,
    last_sync_resource_version: Option<String>,
    last_sync_unavailable: bool,
    streaming_supported: bool,
}

fn is_gone(e: &ClientError) -> bool {
    matches!(e.code(), Some(410))
}

fn rejects_streaming(e: &ClientError) -> bool {
    matches!(e.code(), Some(400 | 403 | 422 | 501))
}

impl<K: Object> Reflector<K> {
    /// A reflector from `lw` into `sink`.
    pub fn new(
        lw: Arc<dyn ListerWatcher<K>>,
        sink: Arc<dyn ReflectorSink<K>>,
        config: ReflectorConfig,
    ) -> Self {
        Self {
            lw,
            sink,
            config,
            transform: None,
            last_sync_resource_version: None,
            last_sync_unavailable: false,
            streaming_supported: true,
        }
    }

    /// Applies `transform` to every object before it reaches the sink.
    pub fn with_transform(mut self, transform: Transform<K>) -> Self {
        self.transform = Some(transform);
        self
    }

    /// The resourceVersion the sink is current at, once anything was read.
    pub fn last_sync_resource_version(&self) -> Option<&str> {
        self.last_sync_resource_version.as_deref()
    }

    /// Runs until `shutdown` completes.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()>) {
        tokio::select! {
            _ = shutdown => {}
            _ = self.list_and_watch_forever() => {}
        }
    }

    async fn list_and_watch_forever(&mut self) {
        loop {
            match self.sync().await {
                Ok(stream) => {
                    self.watch_until_expired(stream).await;
                    tracing::debug!(kind = K::KIND, "watch expired; relisting");
                }
                Err(e) => {
                    tracing::warn!(kind = K::KIND, error = %e, "listing failed");
                }
            }
            let delay = self.config.backoff.next_delay();
            tokio::time::sleep(delay).await;
        }
    }

    fn object(&self, o: K) -> Arc<K> {
        match &self.transform {
            Some(t) => Arc::new(t(o)),
            None => Arc::new(o),
        }
    }

    /// The initial state: a streaming list (returning its open watch) or a list.
    async fn sync(&mut self) -> Result<Option<WatchStream<K>>, ClientError> {
        let streaming = match self.config.initial_list {
            InitialList::Paged => false,
            InitialList::Streaming => true,
            InitialList::StreamingIfSupported => self.streaming_supported,
        };
        if streaming {
            match self.watch_list().await {
                Ok(stream) => return Ok(Some(stream)),
                Err(e)
                    if rejects_streaming(&e)
                        && self.config.initial_list == InitialList::StreamingIfSupported =>
                {
                    tracing::info!(kind = K::KIND, error = %e, "streaming lists unsupported; listing");
                    self.streaming_supported = false;
                }
                Err(e) => {
                    if is_gone(&e) {
                        self.last_sync_unavailable = true;
                    }
                    return Err(e);
                }
            }
        }
        self.list().await.map(|()| None)
    }

    fn relist_resource_version(&self) -> Option<String> {
        if self.last_sync_unavailable {
            None
        } else {
            Some(
                self.last_sync_resource_version
                    .clone()
                    .unwrap_or_else(|| "0".to_owned()),
            )
        }
    }

    async fn list(&mut self) -> Result<(), ClientError> {
        let resource_version = self.relist_resource_version();
        let first = ListParams {
            label_selector: self.config.label_selector.clone(),
            field_selector: self.config.field_selector.clone(),
            limit: self.config.page_size,
            continue_token: None,
            version_match: resource_version
                .as_deref()
                .filter(|rv| *rv != "0")
                .map(|_| VersionMatch::NotOlderThan),
            resource_version,
            ..ListParams::default()
        };
        let mut params = first.clone();
        let mut items = Vec::new();
        let list_rv = loop {
            match self.lw.list(&params).await {
                Ok(list) => {
                    items.extend(list.items.into_iter().map(|o| self.object(o)));
                    match list.metadata.continue_.filter(|c| !c.is_empty()) {
                        Some(token) => {
                            params = ListParams {
                                label_selector: first.label_selector.clone(),
                                field_selector: first.field_selector.clone(),
                                limit: first.limit,
                                continue_token: Some(token),
                                ..ListParams::default()
                            };
                        }
                        None => break list.metadata.resource_version,
                    }
                }
                Err(e) if is_gone(&e) && params.continue_token.is_some() => {
                    // The continue token expired: one full list at the original version.
                    tracing::debug!(kind = K::KIND, "continue token expired; full list");
                    items.clear();
                    params = ListParams {
                        limit: None,
                        ..first.clone()
                    };
                }
                Err(e) => {
                    if is_gone(&e) {
                        self.last_sync_unavailable = true;
                    }
                    return Err(e);
                }
            }
        };
        self.sink.replace(items);
        self.last_sync_unavailable = false;
        if let Some(rv) = list_rv.filter(|rv| !rv.is_empty()) {
            self.last_sync_resource_version = Some(rv);
        }
        Ok(())
    }

    fn watch_timeout(&mut self) -> u32 {
        let min = self.config.min_watch_timeout.as_secs_f64();
        let secs = min * (1.0 + self.config.backoff.rng().next_f64());
        secs.max(1.0) as u32
    }

    async fn watch_list(&mut self) -> Result<WatchStream<K>, ClientError> {
        let params = WatchParams {
            label_selector: self.config.label_selector.clone(),
            field_selector: self.config.field_selector.clone(),
            resource_version: if self.last_sync_unavailable {
                None
            } else {
                self.last_sync_resource_version.clone()
            },
            version_match: Some(VersionMatch::NotOlderThan),
            bookmarks: true,
            send_initial_events: true,
            timeout_seconds: Some(self.watch_timeout()),
        };
        let mut stream = self.lw.watch(&params).await?;
        let mut initial: BTreeMap<String, Arc<K>> = BTreeMap::new();
        while let Some(event) = stream.next().await {
            match event? {
                WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                    let o = self.object(o);
                    initial.insert(key_of(o.metadata()), o);
                }
                WatchEvent::Deleted(o) => {
                    initial.remove(&key_of(o.metadata()));
                }
                WatchEvent::Bookmark {
                    annotations,
                    resource_version,
                } => {
                    if annotations
                        .get(INITIAL_EVENTS_END_ANNOTATION)
                        .is_some_and(|v| v == "true")
                    {
                        self.sink.replace(initial.into_values().collect());
                        self.last_sync_unavailable = false;
                        self.last_sync_resource_version = Some(resource_version);
                        return Ok(stream);
                    }
                }
                WatchEvent::ErrorStatus(status) => {
                    return Err(ClientError::Api(status.into()));
                }
                WatchEvent::ErrorOther(_) => {
                    return Err(ClientError::InvalidRequest(
                        "the watch sent an error event without a Status".into(),
                    ));
                }
            }
        }
        Err(ClientError::Transport(
            "the streaming list ended before its initial-events-end bookmark".into(),
        ))
    }

    /// Watches (starting with `stream` when a streaming list left one open) until the
    /// resourceVersion expires.
    async fn watch_until_expired(&mut self, mut stream: Option<WatchStream<K>>) {
        loop {
            let started = tokio::time::Instant::now();
            let s = match stream.take() {
                Some(s) => s,
                None => {
                    let params = WatchParams {
                        label_selector: self.config.label_selector.clone(),
                        field_selector: self.config.field_selector.clone(),
                        resource_version: self.last_sync_resource_version.clone(),
                        bookmarks: true,
                        timeout_seconds: Some(self.watch_timeout()),
                        ..WatchParams::default()
                    };
                    match self.lw.watch(&params).await {
                        Ok(s) => s,
                        Err(e) if is_gone(&e) => return,
                        Err(e) => {
                            tracing::warn!(kind = K::KIND, error = %e, "watch failed");
                            let delay = self.config.backoff.next_delay();
                            tokio::time::sleep(delay).await;
                            continue;
                        }
                    }
                }
            };
            match self.consume(s).await {
                WatchEnd::Closed { events } => {
                    // A watch that closes at once and empty is a failing one (client-go's
                    // "very short watch"): back off rather than spin.
                    if events == 0 && started.elapsed() < Duration::from_secs(1) {
                        let delay = self.config.backoff.next_delay();
                        tokio::time::sleep(delay).await;
                    }
                }
                WatchEnd::Expired => return,
                WatchEnd::Failed(e) => {
                    tracing::warn!(kind = K::KIND, error = %e, "watch broke");
                    let delay = self.config.backoff.next_delay();
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    fn advance(&mut self, meta_rv: Option<&String>) {
        if let Some(rv) = meta_rv.filter(|rv| !rv.is_empty()) {
            self.last_sync_resource_version = Some(rv.clone());
        }
    }

    async fn consume(&mut self, mut stream: WatchStream<K>) -> WatchEnd {
        let mut events = 0;
        while let Some(event) = stream.next().await {
            events += 1;
            match event {
                Ok(WatchEvent::Added(o)) | Ok(WatchEvent::Modified(o)) => {
                    let o = self.object(o);
                    let rv = o.metadata().resource_version.clone();
                    self.sink.upsert(o);
                    self.advance(rv.as_ref());
                }
                Ok(WatchEvent::Deleted(o)) => {
                    let o = self.object(o);
                    let rv = o.metadata().resource_version.clone();
                    self.sink.delete(o);
                    self.advance(rv.as_ref());
                }
                Ok(WatchEvent::Bookmark {
                    resource_version, ..
                }) => self.advance(Some(&resource_version)),
                Ok(WatchEvent::ErrorStatus(status)) => {
                    let e = ClientError::Api(status.into());
                    return if is_gone(&e) {
                        WatchEnd::Expired
                    } else {
                        WatchEnd::Failed(e)
                    };
                }
                Ok(WatchEvent::ErrorOther(_)) => {
                    return WatchEnd::Failed(ClientError::InvalidRequest(
                        "the watch sent an error event without a Status".into(),
                    ));
                }
                Err(e) if is_gone(&e) => return WatchEnd::Expired,
                Err(e) => return WatchEnd::Failed(e),
            }
        }
        WatchEnd::Closed { events }
    }
}

#[cfg(test)]
#[path = "reflector_tests.rs"]
mod tests;
