//! The cache of one resource: its current objects, a window of recent events, the task that
//! feeds them from one store watch, and the tasks that feed each API watcher from the window.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures::StreamExt;
use kube_store::{
    Error, KeyValue, ListRequest, ListResponse, Revision, Store, Watch, WatchEvent, WatchRequest,
    WatchSender,
};
use tokio::sync::{Notify, oneshot, watch};
use tokio::time::{Instant, sleep, timeout};

use super::WatchCacheConfig;

/// The longest delay between attempts to re-watch the store.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The cache of one resource prefix.
pub struct ResourceCache {
    prefix: String,
    config: WatchCacheConfig,
    state: Mutex<State>,
    /// Bumped on every change of `state`; waiters re-check it.
    ticks: watch::Sender<u64>,
    /// Asks the feeding task for a store progress notice.
    progress_wanted: Arc<Notify>,
    store: Arc<dyn Store>,
    /// Dropped with the cache, which stops the feeding task.
    _stop: oneshot::Sender<()>,
}

impl std::fmt::Debug for ResourceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// What the cache knows.
#[derive(Debug, Default)]
struct State {
    /// False until the first list has been read.
    ready: bool,
    /// The current objects by key.
    objects: BTreeMap<String, KeyValue>,
    /// The cache reflects every change up to this revision.
    revision: Revision,
    /// Recent changes in revision order, with when they arrived.
    window: VecDeque<(Instant, WatchEvent)>,
    /// Every change after this revision is in `window` (or still to come).
    window_start: Revision,
    /// True once changes at or before `window_start` were dropped (evicted, or lost to a
    /// relist): watches from there fail with `Compacted`. Until then they go to the store.
    truncated: bool,
    /// Bumped on each relist; watchers of an older generation end.
    generation: u64,
    /// Bumped on each store progress notice.
    progress_seq: u64,
}

impl State {
    /// Drops events past the window's size or age.
    fn evict(&mut self, config: &WatchCacheConfig, now: Instant) {
        while let Some((at, event)) = self.window.front() {
            let too_many = self.window.len() > config.window_events;
            let too_old = now.saturating_duration_since(*at) > config.window_age;
            if !too_many && !too_old {
                break;
            }
            self.window_start = event.revision();
            self.truncated = true;
            self.window.pop_front();
        }
    }
}

impl ResourceCache {
    /// A cache of `prefix`, and its feeding task.
    pub(super) fn start(
        store: Arc<dyn Store>,
        prefix: String,
        config: WatchCacheConfig,
    ) -> Arc<Self> {
        let (stop, stopped) = oneshot::channel();
        let cache = Arc::new(Self {
            prefix,
            config,
            state: Mutex::new(State::default()),
            ticks: watch::channel(0).0,
            progress_wanted: Arc::new(Notify::new()),
            store,
            _stop: stop,
        });
        tokio::spawn(feed(
            Arc::downgrade(&cache),
            Arc::clone(&cache.store),
            cache.prefix.clone(),
            cache.config.retry_backoff,
            Arc::clone(&cache.progress_wanted),
            stopped,
        ));
        cache
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tick(&self) {
        self.ticks.send_modify(|t| *t = t.wrapping_add(1));
    }

    /// Waits (bounded) until `ready` holds of the state; false on timeout.
    async fn wait_until(&self, ready: impl Fn(&State) -> bool) -> bool {
        let mut ticks = self.ticks.subscribe();
        let wait = async {
            loop {
                if ready(&self.lock()) {
                    return;
                }
                if ticks.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        timeout(self.config.catch_up_wait, wait).await.is_ok()
    }

    /// Answers a list from memory, or `None` to fall through to the store: a read at the
    /// latest revision once the cache has caught up with the store's current revision
    /// (waiting a bounded time, with a progress request), or a read at exactly the cache's
    /// revision (a continuation of a page served here).
    pub(super) async fn list(
        &self,
        request: &ListRequest,
    ) -> kube_store::Result<Option<ListResponse>> {
        let wanted = match request.revision {
            Some(revision) => revision,
            None => self.store.current_revision().await?,
        };
        let exact = request.revision.is_some();
        let caught_up =
            move |s: &State| s.ready && (s.revision == wanted || (!exact && s.revision > wanted));
        if !caught_up(&self.lock()) {
            // An exact read at another revision than the cache's is the store's.
            // So is a read at the latest revision when the store's progress answers cannot
            // tell the cache it is current (old etcd): waiting would only time out.
            if exact || !self.store.progress_reaches_current() {
                return Ok(None);
            }
            self.progress_wanted.notify_one();
            if !self.wait_until(caught_up).await {
                return Ok(None);
            }
        }
        let state = self.lock();
        if !caught_up(&state) {
            return Ok(None);
        }
        let limit = request.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let from = match &request.start_after {
            Some(after) if after.as_str() >= request.prefix.as_str() => {
                std::ops::Bound::Excluded(after.clone())
            }
            _ => std::ops::Bound::Included(request.prefix.clone()),
        };
        let mut matching = state
            .objects
            .range((from, std::ops::Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(&request.prefix))
            .map(|(_, kv)| kv);
        let items: Vec<KeyValue> = matching.by_ref().take(limit).cloned().collect();
        let more = matching.next().is_some();
        Ok(Some(ListResponse {
            items,
            revision: state.revision,
            more,
        }))
    }

    /// Opens a watch served from the window, or `None` to fall through to the store (the
    /// cache is not ready, or the start is before the cache began and nothing was dropped).
    /// Fails with `Compacted` when the start is before the window, or when the store has
    /// compacted it (one one-key read), so clients see the same history with or without
    /// the cache.
    pub(super) async fn watch(
        self: &Arc<Self>,
        request: &WatchRequest,
    ) -> kube_store::Result<Option<Watch>> {
        if !self.lock().ready && !self.wait_until(|s| s.ready).await {
            return Ok(None);
        }
        let (cursor, generation, current) = {
            let mut state = self.lock();
            state.evict(&self.config, Instant::now());
            let cursor = request.start_revision.unwrap_or(state.revision + 1);
            if cursor <= state.window_start {
                if !state.truncated {
                    return Ok(None);
                }
                return Err(Error::Compacted {
                    requested: cursor,
                    compacted: state.window_start + 1,
                });
            }
            (cursor, state.generation, state.revision)
        };
        if cursor > 1 && cursor <= current {
            let probe = ListRequest {
                prefix: request.prefix.clone(),
                revision: Some(cursor),
                limit: Some(1),
                start_after: None,
            };
            if let Err(e @ Error::Compacted { .. }) = self.store.list(probe).await {
                return Err(e);
            }
        }
        let (watch, sender) = Watch::channel(self.config.watcher_buffer);
        tokio::spawn(serve_watcher(
            Arc::clone(self),
            request.prefix.clone(),
            cursor,
            generation,
            sender,
        ));
        Ok(Some(watch))
    }

    /// Replaces the state with a fresh list; watchers of the old state end.
    fn reset(&self, list: ListResponse) {
        let mut state = self.lock();
        if state.ready {
            state.generation += 1;
            state.truncated = true;
        }
        state.objects = list
            .items
            .into_iter()
            .map(|kv| (kv.key.clone(), kv))
            .collect();
        state.revision = list.revision;
        state.window.clear();
        state.window_start = list.revision;
        state.ready = true;
        drop(state);
        self.tick();
    }

    /// Applies one store event.
    fn apply(&self, event: WatchEvent) {
        let mut state = self.lock();
        let now = Instant::now();
        match &event {
            WatchEvent::Progress { revision } => {
                state.revision = state.revision.max(*revision);
                state.progress_seq += 1;
            }
            WatchEvent::Put { kv, .. } => {
                state.objects.insert(kv.key.clone(), kv.clone());
                state.revision = kv.mod_revision;
            }
            WatchEvent::Delete(deleted) => {
                state.objects.remove(&deleted.prev.key);
                state.revision = deleted.revision;
            }
        }
        if !matches!(event, WatchEvent::Progress { .. }) {
            state.window.push_back((now, event));
            state.evict(&self.config, now);
        }
        drop(state);
        self.tick();
    }
}

/// Feeds the cache from the store: list, then watch; on a break, re-watch from where the
/// cache is, or relist when that history is gone. Ends when the cache is dropped.
async fn feed(
    cache: Weak<ResourceCache>,
    store: Arc<dyn Store>,
    prefix: String,
    first_backoff: Duration,
    progress_wanted: Arc<Notify>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut resume: Option<Revision> = None;
    let mut backoff: Option<Duration> = None;
    loop {
        if let Some(delay) = backoff {
            tokio::select! {
                () = sleep(delay) => {}
                _ = &mut stopped => return,
            }
        }
        let next_backoff = Some(backoff.map_or(first_backoff, |d| (d * 2).min(MAX_BACKOFF)));
        let from = match resume {
            Some(revision) => revision,
            None => match store.list(ListRequest::prefix(prefix.clone())).await {
                Ok(list) => {
                    let Some(strong) = cache.upgrade() else {
                        return;
                    };
                    let revision = list.revision;
                    strong.reset(list);
                    revision
                }
                Err(_) => {
                    backoff = next_backoff;
                    continue;
                }
            },
        };
        let request = WatchRequest::prefix(prefix.clone()).from_revision(from + 1);
        let mut watch = match store.watch(request).await {
            Ok(watch) => watch,
            Err(e) => {
                if matches!(e, Error::Compacted { .. }) {
                    resume = None;
                }
                backoff = next_backoff;
                continue;
            }
        };
        resume = Some(from);
        loop {
            let item = tokio::select! {
                item = watch.next() => item,
                () = progress_wanted.notified() => {
                    watch.request_progress();
                    continue;
                }
                _ = &mut stopped => return,
            };
            let Some(strong) = cache.upgrade() else {
                return;
            };
            match item {
                Some(Ok(event)) => {
                    if !matches!(event, WatchEvent::Progress { .. }) {
                        resume = Some(event.revision());
                    }
                    strong.apply(event);
                }
                Some(Err(Error::Compacted { .. })) => {
                    resume = None;
                    break;
                }
                Some(Err(_)) | None => break,
            }
        }
        // The watch ran: start the backoff over.
        backoff = Some(first_backoff);
    }
}

/// Feeds one API watcher from the window, from revision `cursor` on, keys under `prefix`.
async fn serve_watcher(
    cache: Arc<ResourceCache>,
    prefix: String,
    mut cursor: Revision,
    generation: u64,
    mut sender: WatchSender,
) {
    let mut ticks = cache.ticks.subscribe();
    let mut progress_asked: Option<u64> = None;
    loop {
        let pass = {
            let mut state = cache.lock();
            if state.generation != generation || cursor <= state.window_start {
                Err(Error::Compacted {
                    requested: cursor,
                    compacted: state.window_start + 1,
                })
            } else {
                let first = state.window.partition_point(|(_, e)| e.revision() < cursor);
                let batch: Vec<WatchEvent> = state
                    .window
                    .range(first..)
                    .filter(|(_, e)| e.key().is_some_and(|k| k.starts_with(&prefix)))
                    .map(|(_, e)| e.clone())
                    .collect();
                cursor = cursor.max(state.revision + 1);
                let progress = match progress_asked {
                    Some(asked) if state.progress_seq > asked => {
                        progress_asked = None;
                        Some(state.revision)
                    }
                    _ => None,
                };
                // Mark what this pass saw, so a change during the sends wakes us again.
                ticks.borrow_and_update();
                state.evict(&cache.config, Instant::now());
                Ok((batch, progress))
            }
        };
        let (batch, progress) = match pass {
            Ok(pass) => pass,
            Err(e) => {
                let _ = sender.send(Err(e)).await;
                return;
            }
        };
        for event in batch {
            if sender.send(Ok(event)).await.is_err() {
                return;
            }
        }
        if let Some(revision) = progress
            && sender
                .send(Ok(WatchEvent::Progress { revision }))
                .await
                .is_err()
        {
            return;
        }
        tokio::select! {
            changed = ticks.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            asked = sender.progress_or_closed() => {
                if !asked {
                    return;
                }
                if progress_asked.is_none() {
                    progress_asked = Some(cache.lock().progress_seq);
                }
                cache.progress_wanted.notify_one();
            }
        }
    }
}
