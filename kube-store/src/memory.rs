//! The in-memory store.

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;

use crate::hub::{History, HistoryPage, WatchHub};
use crate::{
    Deleted, Error, KeyValue, Limits, ListRequest, ListResponse, Result, Revision, Store, Watch,
    WatchEvent, WatchRequest,
};

/// An in-memory [`Store`]: MVCC over an ordered map, for tests and the in-process test server.
///
/// It keeps the current value of every key and a log of every change since the last
/// [`compact`](Store::compact), which serves lists at past revisions and watches from past
/// revisions. Nothing survives the process, and the log grows until compacted (the API server
/// compacts periodically, as with etcd). Clones share one store; watches end when the last clone
/// is dropped.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    state: Arc<Shared>,
    hub: WatchHub,
    limits: Limits,
}

/// The state behind one lock, held briefly and never across an await.
struct Shared(Mutex<State>);

struct State {
    /// The current value of every key.
    kvs: BTreeMap<String, KeyValue>,
    /// Every change with revision >= `compacted`, in revision order.
    log: VecDeque<WatchEvent>,
    /// The revision of the latest write.
    revision: Revision,
    /// The revision of the last compaction: the oldest still readable.
    compacted: Revision,
}

/// A store with no writes is at revision 1, as in etcd.
const INITIAL_REVISION: Revision = 1;

impl MemoryStore {
    /// An empty store with the default [`Limits`].
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// An empty store that enforces `limits`.
    pub fn with_limits(limits: Limits) -> Self {
        let state = State {
            kvs: BTreeMap::new(),
            log: VecDeque::new(),
            revision: INITIAL_REVISION,
            compacted: INITIAL_REVISION,
        };
        Self {
            inner: Arc::new(Inner {
                state: Arc::new(Shared(Mutex::new(state))),
                hub: WatchHub::new(INITIAL_REVISION),
                limits,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock()
    }

    /// Appends a change to the log and publishes it, under the lock so revision order holds.
    fn commit(&self, state: &mut State, event: WatchEvent) {
        state.revision = event.revision();
        state.log.push_back(event.clone());
        self.inner.hub.publish(vec![event]);
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStore")
            .field("keys", &state.kvs.len())
            .field("revision", &state.revision)
            .field("compacted", &state.compacted)
            .field("limits", &self.inner.limits)
            .finish()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the state half-written: every write is a few
        // infallible steps, so the data behind a poisoned lock is still sound.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Fails unless `revision` is within the readable history.
    fn check_readable(&self, revision: Revision) -> Result<()> {
        if revision > self.revision {
            return Err(Error::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        if revision < self.compacted {
            return Err(Error::Compacted {
                requested: revision,
                compacted: self.compacted,
            });
        }
        Ok(())
    }

    /// The position in the log of the first change with revision >= `revision`.
    fn log_position(&self, revision: Revision) -> usize {
        self.log
            .partition_point(|event| event.revision() < revision)
    }

    fn list(&self, request: &ListRequest) -> Result<ListResponse> {
        let at = request.revision.unwrap_or(self.revision);
        self.check_readable(at)?;
        let prefix = request.prefix.as_str();
        let after = request.start_after.as_deref().filter(|key| *key >= prefix);
        let in_range = |key: &str| key.starts_with(prefix) && after.is_none_or(|after| key > after);

        // The state at `at` of every key changed since: the previous value of its first change.
        let mut past: BTreeMap<&str, Option<&KeyValue>> = BTreeMap::new();
        for event in self.log.range(self.log_position(at + 1)..) {
            let (key, prev) = match event {
                WatchEvent::Put { kv, prev } => (kv.key.as_str(), prev.as_ref()),
                WatchEvent::Delete(deleted) => (deleted.prev.key.as_str(), Some(&deleted.prev)),
                WatchEvent::Progress { .. } => continue,
            };
            if in_range(key) {
                past.entry(key).or_insert(prev);
            }
        }

        let start = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Included(prefix),
        };
        let current = self
            .kvs
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, kv)| (key.as_str(), kv));
        let limit = request.limit.filter(|limit| *limit > 0);
        let mut items = Vec::new();
        let mut more = false;
        for kv in merge(current, past) {
            if limit.is_some_and(|limit| items.len() >= limit) {
                more = true;
                break;
            }
            items.push(kv.clone());
        }
        Ok(ListResponse {
            items,
            revision: at,
            more,
        })
    }
}

/// Merges the current keys with the past state of changed keys (which wins), in key order,
/// leaving out keys that did not exist in the past.
fn merge<'a>(
    current: impl Iterator<Item = (&'a str, &'a KeyValue)>,
    past: BTreeMap<&'a str, Option<&'a KeyValue>>,
) -> impl Iterator<Item = &'a KeyValue> {
    let mut current = current.peekable();
    let mut past = past.into_iter().peekable();
    std::iter::from_fn(move || {
        loop {
            let order = match (current.peek(), past.peek()) {
                (None, None) => return None,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((now, _)), Some((then, _))) => now.cmp(then),
            };
            match order {
                Ordering::Less => return current.next().map(|(_, kv)| kv),
                // The key changed since: its past state replaces the current one.
                Ordering::Equal => {
                    current.next();
                }
                Ordering::Greater => {}
            }
            if let Some((_, Some(kv))) = past.next() {
                return Some(kv);
            }
        }
    })
}

#[async_trait]
impl History for Shared {
    async fn read_history(
        &self,
        prefix: &str,
        from: Revision,
        limit: usize,
    ) -> Result<HistoryPage> {
        let state = self.lock();
        if from < state.compacted {
            return Err(Error::Compacted {
                requested: from,
                compacted: state.compacted,
            });
        }
        let events = state
            .log
            .range(state.log_position(from)..)
            .filter(|event| event.key().is_some_and(|key| key.starts_with(prefix)))
            .take(limit.max(1))
            .cloned()
            .collect();
        Ok(HistoryPage {
            events,
            revision: state.revision,
        })
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        Ok(self.lock().kvs.get(key).cloned())
    }

    async fn list(&self, request: ListRequest) -> Result<ListResponse> {
        self.lock().list(&request)
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<Revision> {
        self.inner.limits.check_write(key, &value)?;
        let mut state = self.lock();
        if state.kvs.contains_key(key) {
            return Err(Error::AlreadyExists {
                key: key.to_string(),
            });
        }
        let revision = state.revision + 1;
        let kv = KeyValue {
            key: key.to_string(),
            value,
            create_revision: revision,
            mod_revision: revision,
        };
        state.kvs.insert(kv.key.clone(), kv.clone());
        self.commit(&mut state, WatchEvent::Put { kv, prev: None });
        Ok(revision)
    }

    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Revision> {
        self.inner.limits.check_write(key, &value)?;
        let mut state = self.lock();
        let revision = state.revision + 1;
        let Some(slot) = state.kvs.get_mut(key) else {
            return Err(Error::NotFound {
                key: key.to_string(),
            });
        };
        if slot.mod_revision != expected {
            return Err(Error::Conflict {
                expected,
                current: Box::new(slot.clone()),
            });
        }
        let kv = KeyValue {
            key: key.to_string(),
            value,
            create_revision: slot.create_revision,
            mod_revision: revision,
        };
        let prev = std::mem::replace(slot, kv.clone());
        self.commit(
            &mut state,
            WatchEvent::Put {
                kv,
                prev: Some(prev),
            },
        );
        Ok(revision)
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<Deleted> {
        self.inner.limits.check_key(key)?;
        let mut state = self.lock();
        let Some(current) = state.kvs.get(key) else {
            return Err(Error::NotFound {
                key: key.to_string(),
            });
        };
        if let Some(expected) = expected
            && current.mod_revision != expected
        {
            return Err(Error::Conflict {
                expected,
                current: Box::new(current.clone()),
            });
        }
        let Some(prev) = state.kvs.remove(key) else {
            return Err(Error::NotFound {
                key: key.to_string(),
            });
        };
        let deleted = Deleted {
            revision: state.revision + 1,
            prev,
        };
        self.commit(&mut state, WatchEvent::Delete(deleted.clone()));
        Ok(deleted)
    }

    async fn watch(&self, request: WatchRequest) -> Result<Watch> {
        let history: Arc<dyn History> = self.inner.state.clone();
        self.inner.hub.watch(history, request)
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.lock().revision)
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let mut state = self.lock();
        if revision > state.revision {
            return Err(Error::FutureRevision {
                requested: revision,
                current: state.revision,
            });
        }
        if revision <= state.compacted {
            return Ok(());
        }
        state.compacted = revision;
        let keep_from = state.log_position(revision);
        state.log.drain(..keep_from);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (no dependency needed for a seeded sequence).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    async fn snapshot(store: &MemoryStore, prefix: &str) -> Vec<KeyValue> {
        store
            .list(ListRequest::prefix(prefix))
            .await
            .expect("list")
            .items
    }

    /// Pages through `prefix` at `revision`, `limit` keys at a time.
    async fn paged(
        store: &MemoryStore,
        prefix: &str,
        revision: Revision,
        limit: usize,
    ) -> Vec<KeyValue> {
        let mut items = Vec::new();
        let mut request = ListRequest::prefix(prefix)
            .at_revision(revision)
            .limit(limit);
        loop {
            let page = store.list(request.clone()).await.expect("list");
            assert_eq!(page.revision, revision);
            items.extend(page.items.iter().cloned());
            match page.items.last() {
                Some(kv) if page.more => request = request.start_after(kv.key.clone()),
                _ => return items,
            }
        }
    }

    #[tokio::test]
    async fn lists_at_every_past_revision_match_the_state_of_then() {
        let store = MemoryStore::new();
        let mut rng = Lcg(7);
        let mut snapshots = BTreeMap::new();
        snapshots.insert(
            store.current_revision().await.expect("revision"),
            Vec::new(),
        );
        for _ in 0..300 {
            let key = format!("/r/{}/k{}", rng.below(2), rng.below(12));
            let result = match (store.get(&key).await.expect("get"), rng.below(3)) {
                (None, _) => store.create(&key, Bytes::from("c")).await,
                (Some(_), 0) => store.delete(&key, None).await.map(|d| d.revision),
                (Some(kv), _) => {
                    let value = Bytes::from(format!("u{}", kv.mod_revision));
                    store.update(&key, value, kv.mod_revision).await
                }
            };
            let revision = result.expect("write");
            snapshots.insert(revision, snapshot(&store, "/r/").await);
        }
        for (revision, expected) in &snapshots {
            assert_eq!(&paged(&store, "/r/", *revision, 0).await, expected);
            assert_eq!(&paged(&store, "/r/", *revision, 3).await, expected);
            let under: Vec<KeyValue> = expected
                .iter()
                .filter(|kv| kv.key.starts_with("/r/1/"))
                .cloned()
                .collect();
            assert_eq!(paged(&store, "/r/1/", *revision, 2).await, under);
        }
    }

    #[tokio::test]
    async fn start_after_below_the_prefix_starts_at_the_prefix() {
        let store = MemoryStore::new();
        for key in ["/a/1", "/b/1", "/b/2", "/c/1"] {
            store.create(key, Bytes::from("v")).await.expect("create");
        }
        let listed = store
            .list(ListRequest::prefix("/b/").start_after("/a/9"))
            .await
            .expect("list");
        let keys: Vec<&str> = listed.items.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["/b/1", "/b/2"]);
        let listed = store
            .list(ListRequest::prefix("/b/").start_after("/b/2"))
            .await
            .expect("list");
        assert!(listed.items.is_empty() && !listed.more);
    }

    #[tokio::test]
    async fn compaction_trims_the_log() {
        let store = MemoryStore::new();
        let mut last = 0;
        for i in 0..10 {
            last = store
                .create(&format!("/k{i}"), Bytes::from("v"))
                .await
                .expect("create");
        }
        store.compact(last - 2).await.expect("compact");
        let state = store.lock();
        assert_eq!(state.log.len(), 3);
        assert_eq!(state.compacted, last - 2);
    }
}
