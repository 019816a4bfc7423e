//! The watch hub: watch semantics shared by the memory and embedded stores.
//!
//! A store appends each committed change to its history and then [`WatchHub::publish`]es it, in
//! revision order, from one writer, before the write returns to its caller. Each
//! [`WatchHub::watch`] spawns a task that subscribes to the live events first, replays the
//! history from the requested revision, then delivers live events it has not replayed. A watch
//! whose live channel overflows (a slow watcher) reads the history again from where it was;
//! one that needs history the store compacted ends with `Err(Compacted)`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use crate::{Error, Result, Revision, Watch, WatchEvent, WatchRequest, WatchSender};

/// Batches of live events kept for slow watch tasks before they must read history instead.
const LIVE_CAPACITY: usize = 1024;
/// Events a watcher may leave unread before its task waits.
const WATCH_BUFFER: usize = 256;
/// Events read from history per call.
const HISTORY_BATCH: usize = 256;

/// One read of a store's history (see [`History::read_history`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HistoryPage {
    /// Events under the prefix with revision >= `from`, in revision order, at most `limit`.
    pub(crate) events: Vec<WatchEvent>,
    /// The store's revision when the read was made: with fewer than `limit` events, every
    /// change up to it has been returned.
    pub(crate) revision: Revision,
}

/// The store's record of past changes, read by watch tasks.
///
/// The implementation must not own the [`WatchHub`]: watches end when the hub is dropped with
/// the store, which cannot happen while a watch task keeps the hub alive.
#[async_trait]
pub(crate) trait History: Send + Sync + 'static {
    /// Up to `limit` (at least 1) events under `prefix` with revision >= `from`, in revision
    /// order, each with its previous value. Fails with [`Error::Compacted`] when `from` is below
    /// the last compaction.
    async fn read_history(&self, prefix: &str, from: Revision, limit: usize)
    -> Result<HistoryPage>;
}

/// Fans committed changes out to watch tasks.
#[derive(Debug)]
pub(crate) struct WatchHub {
    live: broadcast::Sender<Arc<[WatchEvent]>>,
    /// The revision of the last published change (or the store's revision at start).
    latest: AtomicI64,
    watch_buffer: usize,
    history_batch: usize,
}

impl WatchHub {
    /// A hub for a store now at `current`.
    pub(crate) fn new(current: Revision) -> Self {
        Self::with_sizes(current, LIVE_CAPACITY, WATCH_BUFFER, HISTORY_BATCH)
    }

    /// A hub with explicit sizes: live batches kept, per-watch buffer, history read batch.
    pub(crate) fn with_sizes(
        current: Revision,
        live_capacity: usize,
        watch_buffer: usize,
        history_batch: usize,
    ) -> Self {
        let (live, _) = broadcast::channel(live_capacity.max(1));
        Self {
            live,
            latest: AtomicI64::new(current),
            watch_buffer: watch_buffer.max(1),
            history_batch: history_batch.max(1),
        }
    }

    /// Publishes committed changes, in revision order. Call after they are in the history and
    /// before the write returns to its caller, from one writer at a time.
    pub(crate) fn publish(&self, events: Vec<WatchEvent>) {
        let Some(last) = events.last() else {
            return;
        };
        // Before sending: a watch that subscribes after this sees the revision and skips it.
        self.latest.fetch_max(last.revision(), Ordering::SeqCst);
        // No receivers is not an error: nobody is watching.
        let _ = self.live.send(events.into());
    }

    /// Starts a watch served from `history` and the live events.
    ///
    /// Fails with [`Error::Closed`] outside a Tokio runtime. A start revision below the last
    /// compaction yields `Err(Compacted)` as the stream's first item.
    pub(crate) fn watch(&self, history: Arc<dyn History>, request: WatchRequest) -> Result<Watch> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::Closed)?;
        // Subscribe before reading `latest` or the history, so no change falls in between.
        let live = self.live.subscribe();
        let latest = self.latest.load(Ordering::SeqCst);
        let (watch, tx) = Watch::channel(self.watch_buffer);
        let (next, current, replay) = match request.start_revision {
            Some(from) => (from, 0, true),
            None => (latest + 1, latest, false),
        };
        let task = WatchTask {
            history,
            live,
            tx,
            prefix: request.prefix,
            next,
            current,
            history_batch: self.history_batch,
        };
        runtime.spawn(task.run(replay));
        Ok(watch)
    }
}

/// Why a watch task ends: the watcher left, the store closed, or an error was sent.
struct Stop;

/// The task behind one watch.
struct WatchTask {
    history: Arc<dyn History>,
    live: broadcast::Receiver<Arc<[WatchEvent]>>,
    tx: WatchSender,
    prefix: String,
    /// The lowest revision still to deliver.
    next: Revision,
    /// Every change up to this revision has been delivered or skipped (not under the prefix).
    current: Revision,
    history_batch: usize,
}

impl WatchTask {
    async fn run(mut self, replay: bool) {
        if replay && self.replay().await.is_err() {
            return;
        }
        while self.step().await.is_ok() {}
    }

    /// Waits for live events or a progress request and handles it.
    async fn step(&mut self) -> Result<(), Stop> {
        tokio::select! {
            received = self.live.recv() => match received {
                Ok(batch) => self.deliver(&batch).await,
                Err(RecvError::Lagged(_)) => self.replay().await,
                Err(RecvError::Closed) => Err(Stop),
            },
            requested = self.tx.progress_or_closed() => {
                if !requested {
                    return Err(Stop);
                }
                self.drain().await?;
                let revision = self.current;
                self.send(Ok(WatchEvent::Progress { revision })).await
            }
        }
    }

    /// Delivers the live batches published before now, so a progress notice covers them (and
    /// no more, so a steady stream of writes cannot hold the notice back).
    async fn drain(&mut self) -> Result<(), Stop> {
        for _ in 0..self.live.len() {
            match self.live.try_recv() {
                Ok(batch) => self.deliver(&batch).await?,
                Err(TryRecvError::Empty) => return Ok(()),
                // The history is read up to the store's current revision: caught up.
                Err(TryRecvError::Lagged(_)) => return self.replay().await,
                Err(TryRecvError::Closed) => return Err(Stop),
            }
        }
        Ok(())
    }

    /// Reads the history from the first undelivered revision up to the store's current one.
    async fn replay(&mut self) -> Result<(), Stop> {
        loop {
            let from = self.next.max(self.current + 1);
            let page = match self
                .history
                .read_history(&self.prefix, from, self.history_batch)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    let _ = self.tx.send(Err(error)).await;
                    return Err(Stop);
                }
            };
            let complete = page.events.len() < self.history_batch;
            for event in page.events {
                let revision = event.revision();
                if revision < from {
                    continue;
                }
                self.current = self.current.max(revision);
                if !self.under_prefix(&event) {
                    continue;
                }
                self.next = revision + 1;
                self.send(Ok(event)).await?;
            }
            if complete {
                self.current = self.current.max(page.revision);
                return Ok(());
            }
        }
    }

    /// Delivers the events of a live batch not yet delivered, under the prefix.
    async fn deliver(&mut self, batch: &[WatchEvent]) -> Result<(), Stop> {
        for event in batch {
            let revision = event.revision();
            if revision <= self.current {
                continue;
            }
            self.current = revision;
            if revision >= self.next && self.under_prefix(event) {
                self.next = revision + 1;
                self.send(Ok(event.clone())).await?;
            }
        }
        Ok(())
    }

    fn under_prefix(&self, event: &WatchEvent) -> bool {
        event.key().is_some_and(|key| key.starts_with(&self.prefix))
    }

    async fn send(&self, item: Result<WatchEvent>) -> Result<(), Stop> {
        self.tx.send(item).await.map_err(|_| Stop)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures::StreamExt;

    use super::*;
    use crate::{Deleted, KeyValue};

    /// A history kept in a vector, with a compaction point.
    #[derive(Default)]
    struct FakeHistory {
        state: Mutex<(Vec<WatchEvent>, Revision)>,
    }

    #[async_trait]
    impl History for FakeHistory {
        async fn read_history(
            &self,
            prefix: &str,
            from: Revision,
            limit: usize,
        ) -> Result<HistoryPage> {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let (log, compacted) = &*state;
            if from < *compacted {
                return Err(Error::Compacted {
                    requested: from,
                    compacted: *compacted,
                });
            }
            Ok(HistoryPage {
                events: log
                    .iter()
                    .filter(|e| e.revision() >= from)
                    .filter(|e| e.key().is_some_and(|k| k.starts_with(prefix)))
                    .take(limit)
                    .cloned()
                    .collect(),
                revision: log.last().map_or(1, WatchEvent::revision),
            })
        }
    }

    impl FakeHistory {
        fn compact(&self, revision: Revision) {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.0.retain(|e| e.revision() >= revision);
            state.1 = revision;
        }
    }

    fn put(revision: Revision, key: &str) -> WatchEvent {
        let kv = KeyValue {
            key: key.to_string(),
            value: bytes::Bytes::from(format!("v{revision}")),
            create_revision: revision,
            mod_revision: revision,
        };
        WatchEvent::Put { kv, prev: None }
    }

    /// A store's write: into the history, then published.
    fn commit(hub: &WatchHub, history: &FakeHistory, events: Vec<WatchEvent>) {
        let mut state = history.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0.extend(events.iter().cloned());
        hub.publish(events);
    }

    /// A hub whose live channel keeps two batches and whose watches buffer one event.
    fn tiny_hub() -> WatchHub {
        WatchHub::with_sizes(1, 2, 1, 3)
    }

    /// The next item; a bound (not a speed check) so a broken hub fails instead of hanging.
    async fn next(watch: &mut Watch) -> Result<WatchEvent> {
        tokio::time::timeout(std::time::Duration::from_secs(30), watch.next())
            .await
            .expect("no watch item in time")
            .expect("the watch ended")
    }

    async fn revisions(watch: &mut Watch, count: usize) -> Vec<Revision> {
        let mut revisions = Vec::new();
        for _ in 0..count {
            revisions.push(next(watch).await.expect("an event").revision());
        }
        revisions
    }

    #[tokio::test]
    async fn lagging_watch_recovers_from_history_without_gap_or_duplicate() {
        let hub = tiny_hub();
        let history = Arc::new(FakeHistory::default());
        let mut watch = hub
            .watch(history.clone(), WatchRequest::prefix("/a/"))
            .expect("watch");
        // 100 writes, some in batches, while the watcher reads nothing: the live channel
        // (two batches) overflows many times over.
        let mut revision = 1;
        let mut expected = Vec::new();
        for round in 0..40 {
            let mut batch = Vec::new();
            for _ in 0..(round % 3 + 1) {
                revision += 1;
                let key = if revision % 4 == 0 { "/b/x" } else { "/a/x" };
                if key == "/a/x" {
                    expected.push(revision);
                }
                batch.push(put(revision, key));
            }
            commit(&hub, &history, batch);
        }
        assert_eq!(revisions(&mut watch, expected.len()).await, expected);
        watch.request_progress();
        assert_eq!(
            next(&mut watch).await.expect("progress"),
            WatchEvent::Progress { revision }
        );
        // Live again after recovery.
        commit(&hub, &history, vec![put(revision + 1, "/a/y")]);
        assert_eq!(revisions(&mut watch, 1).await, [revision + 1]);
    }

    #[tokio::test]
    async fn replay_overlapping_live_events_delivers_each_once() {
        let hub = tiny_hub();
        let history = Arc::new(FakeHistory::default());
        for revision in 2..=10 {
            commit(&hub, &history, vec![put(revision, "/a/x")]);
        }
        let mut watch = hub
            .watch(
                history.clone(),
                WatchRequest::prefix("/a/").from_revision(4),
            )
            .expect("watch");
        // Published after subscribing, so both in the history and on the live channel.
        commit(&hub, &history, vec![put(11, "/a/x")]);
        let expected: Vec<Revision> = (4..=11).collect();
        assert_eq!(revisions(&mut watch, expected.len()).await, expected);
        commit(&hub, &history, vec![put(12, "/a/x")]);
        assert_eq!(revisions(&mut watch, 1).await, [12]);
    }

    #[tokio::test]
    async fn watch_from_the_future_waits_for_its_revision() {
        let hub = WatchHub::new(1);
        let history = Arc::new(FakeHistory::default());
        let mut watch = hub
            .watch(history.clone(), WatchRequest::prefix("").from_revision(5))
            .expect("watch");
        for revision in 2..=6 {
            commit(&hub, &history, vec![put(revision, "/a/x")]);
        }
        assert_eq!(revisions(&mut watch, 2).await, [5, 6]);
    }

    #[tokio::test]
    async fn lagging_past_a_compaction_ends_with_compacted() {
        let hub = tiny_hub();
        let history = Arc::new(FakeHistory::default());
        commit(&hub, &history, vec![put(2, "/a/x")]);
        let mut watch = hub
            .watch(
                history.clone(),
                WatchRequest::prefix("/a/").from_revision(2),
            )
            .expect("watch");
        assert_eq!(revisions(&mut watch, 1).await, [2]);
        for revision in 3..=20 {
            commit(&hub, &history, vec![put(revision, "/a/x")]);
        }
        history.compact(15);
        // Up to the buffered events, then the lag sends it to the compacted history.
        let mut last = 2;
        loop {
            match next(&mut watch).await {
                Ok(event) => {
                    assert_eq!(event.revision(), last + 1);
                    last += 1;
                }
                Err(Error::Compacted {
                    requested,
                    compacted,
                }) => {
                    assert_eq!((requested, compacted), (last + 1, 15));
                    break;
                }
                Err(error) => panic!("unexpected error {error}"),
            }
        }
        assert!(last < 15);
        assert!(
            watch.next().await.is_none(),
            "the watch ends after the error"
        );
    }

    #[tokio::test]
    async fn watch_from_below_the_compaction_fails_first() {
        let hub = WatchHub::new(1);
        let history = Arc::new(FakeHistory::default());
        for revision in 2..=5 {
            commit(&hub, &history, vec![put(revision, "/a/x")]);
        }
        history.compact(4);
        let mut watch = hub
            .watch(history.clone(), WatchRequest::prefix("").from_revision(3))
            .expect("watch");
        assert!(matches!(
            next(&mut watch).await,
            Err(Error::Compacted {
                requested: 3,
                compacted: 4
            })
        ));
        assert!(watch.next().await.is_none());
    }

    #[tokio::test]
    async fn progress_covers_every_published_change() {
        let hub = WatchHub::new(1);
        let history = Arc::new(FakeHistory::default());
        let mut watch = hub
            .watch(history.clone(), WatchRequest::prefix("/a/"))
            .expect("watch");
        watch.request_progress();
        assert_eq!(
            next(&mut watch).await.expect("progress"),
            WatchEvent::Progress { revision: 1 }
        );
        let deleted = Deleted {
            revision: 3,
            prev: KeyValue {
                key: "/a/x".to_string(),
                value: bytes::Bytes::new(),
                create_revision: 2,
                mod_revision: 2,
            },
        };
        commit(
            &hub,
            &history,
            vec![put(2, "/a/x"), WatchEvent::Delete(deleted), put(4, "/b/x")],
        );
        watch.request_progress();
        assert_eq!(revisions(&mut watch, 2).await, [2, 3]);
        // Covers the change of another prefix too: it was seen and skipped.
        assert_eq!(
            next(&mut watch).await.expect("progress"),
            WatchEvent::Progress { revision: 4 }
        );
    }

    #[tokio::test]
    async fn watch_ends_when_the_hub_is_dropped() {
        let hub = WatchHub::new(1);
        let history = Arc::new(FakeHistory::default());
        let mut watch = hub
            .watch(history.clone(), WatchRequest::prefix(""))
            .expect("watch");
        commit(&hub, &history, vec![put(2, "/a/x")]);
        drop(hub);
        assert_eq!(revisions(&mut watch, 1).await, [2]);
        assert!(watch.next().await.is_none());
    }

    #[tokio::test]
    async fn dropping_the_watch_ends_its_task() {
        let hub = WatchHub::new(1);
        let history = Arc::new(FakeHistory::default());
        let watch = hub
            .watch(history.clone(), WatchRequest::prefix(""))
            .expect("watch");
        assert_eq!(Arc::strong_count(&history), 2);
        drop(watch);
        for _ in 0..100 {
            if Arc::strong_count(&history) == 1 {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the watch task still holds the history");
    }
}
