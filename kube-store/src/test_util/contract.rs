//! The contract suite: what every [`Store`] implementation must do, one function per case.
//!
//! Run it against a store with [`store_contract_tests!`](crate::store_contract_tests), which
//! generates one test per case. Each case takes a store it may write anything to, using the
//! default [`Limits`]. Cases assume only that revisions strictly increase, never
//! that they are consecutive or that a fresh store is at revision 1, so they also pass on a
//! namespace of a shared etcd. The cases that compact run on the `isolated` store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::Barrier;

use crate::{
    Error, KeyValue, Limits, ListRequest, ListResponse, Revision, Store, Watch, WatchEvent,
    WatchRequest,
};

/// Generates one `#[tokio::test]` per contract case, for a store made by an async factory.
///
/// `fresh` is an `async` block evaluating to `(store, guard)`: a new store for one case, and
/// whatever must live as long as the case (a temporary directory, an etcd process, `()`).
/// `isolated` (default: `fresh`) makes the store for the cases that compact, which must not
/// share history with other tests. The calling crate needs `tokio` with the `macros` and
/// `rt-multi-thread` features.
///
/// In a test file (`tests/contract_memory.rs` does exactly this):
///
/// ```text
/// kube_store::store_contract_tests!(fresh = async { (kube_store::MemoryStore::new(), ()) });
/// ```
#[macro_export]
macro_rules! store_contract_tests {
    (fresh = $fresh:expr $(,)?) => {
        $crate::store_contract_tests!(fresh = $fresh, isolated = $fresh);
    };
    (fresh = $fresh:expr, isolated = $isolated:expr $(,)?) => {
        $crate::store_contract_tests!(@cases $fresh;
            create_then_get,
            create_twice_already_exists,
            update_with_current_revision,
            update_with_stale_revision_conflicts,
            update_or_delete_missing_not_found,
            conditional_delete,
            unconditional_delete_returns_prev,
            revisions_strictly_increase,
            list_by_prefix,
            paged_list_sees_one_snapshot,
            list_at_past_revision,
            list_at_future_revision,
            watch_replays_then_continues_live,
            watch_from_now_sees_only_later_writes,
            watch_sees_only_its_prefix,
            watch_resumes_without_gap_or_duplicate,
            slow_watcher_gets_every_event,
            progress_after_delivery,
            concurrent_updates_one_wins,
            concurrent_creates_all_succeed,
        );
        $crate::store_contract_tests!(@cases $isolated;
            compaction,
            watch_open_across_compaction,
            limits_refuse_writes,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _guard) = $factory.await;
                $crate::test_util::contract::$case(store).await;
            }
        )*
    };
}

/// How long a case waits for one watch item before failing (a bound, not a speed check).
const WAIT: Duration = Duration::from_secs(60);

fn bytes(value: &str) -> Bytes {
    Bytes::copy_from_slice(value.as_bytes())
}

/// The next item of a watch; fails the case if the watch ends or stays silent.
async fn next_item(watch: &mut Watch) -> crate::Result<WatchEvent> {
    match tokio::time::timeout(WAIT, watch.next()).await {
        Ok(Some(item)) => item,
        Ok(None) => panic!("the watch ended"),
        Err(_) => panic!("no watch item within {WAIT:?}"),
    }
}

/// The next change (put or delete) of a watch, skipping progress notices.
async fn next_change(watch: &mut Watch) -> WatchEvent {
    loop {
        match next_item(watch).await {
            Ok(WatchEvent::Progress { .. }) => continue,
            Ok(event) => return event,
            Err(error) => panic!("watch failed: {error}"),
        }
    }
}

/// The next `count` changes of a watch.
async fn changes(watch: &mut Watch, count: usize) -> Vec<WatchEvent> {
    let mut events = Vec::with_capacity(count);
    for _ in 0..count {
        events.push(next_change(watch).await);
    }
    events
}

/// Writes a key under `prefix` and asserts it is the watch's next change: nothing else (no
/// duplicate, no stray event) was pending.
async fn assert_next_is_sentinel<S: Store>(store: &S, watch: &mut Watch, prefix: &str) {
    let key = format!("{prefix}zz-sentinel");
    let revision = store
        .create(&key, bytes("sentinel"))
        .await
        .expect("create sentinel");
    match next_change(watch).await {
        WatchEvent::Put { kv, prev: None } if kv.key == key && kv.mod_revision == revision => {}
        other => panic!("expected the sentinel put at {revision}, got {other:?}"),
    }
}

/// Asserts a watch from `request` fails with `Compacted`, from the call or as its first item.
async fn assert_watch_compacted<S: Store>(store: &S, request: WatchRequest) {
    let requested = request.start_revision;
    match store.watch(request).await {
        Err(Error::Compacted { .. }) => {}
        Err(error) => panic!("watch from {requested:?}: expected Compacted, got {error}"),
        Ok(mut watch) => match next_item(&mut watch).await {
            Err(Error::Compacted { .. }) => {}
            other => panic!("watch from {requested:?}: expected Compacted, got {other:?}"),
        },
    }
}

async fn list<S: Store>(store: &S, request: ListRequest) -> ListResponse {
    let what = format!("{request:?}");
    store
        .list(request)
        .await
        .unwrap_or_else(|error| panic!("list {what}: {error}"))
}

async fn get<S: Store>(store: &S, key: &str) -> Option<KeyValue> {
    store
        .get(key)
        .await
        .unwrap_or_else(|error| panic!("get {key}: {error}"))
}

async fn current<S: Store>(store: &S) -> Revision {
    store.current_revision().await.expect("current revision")
}

/// Writes through a store and records the state and the watch events the writes must produce.
#[derive(Debug, Default)]
struct Recorder {
    kvs: BTreeMap<String, KeyValue>,
    events: Vec<WatchEvent>,
}

impl Recorder {
    async fn create<S: Store>(&mut self, store: &S, key: &str, value: &str) -> Revision {
        let revision = store
            .create(key, bytes(value))
            .await
            .unwrap_or_else(|error| panic!("create {key}: {error}"));
        let kv = KeyValue {
            key: key.to_string(),
            value: bytes(value),
            create_revision: revision,
            mod_revision: revision,
        };
        self.kvs.insert(key.to_string(), kv.clone());
        self.events.push(WatchEvent::Put { kv, prev: None });
        revision
    }

    async fn update<S: Store>(&mut self, store: &S, key: &str, value: &str) -> Revision {
        let prev = self
            .kvs
            .get(key)
            .cloned()
            .expect("the recorder knows the key");
        let revision = store
            .update(key, bytes(value), prev.mod_revision)
            .await
            .unwrap_or_else(|error| panic!("update {key}: {error}"));
        let kv = KeyValue {
            key: key.to_string(),
            value: bytes(value),
            create_revision: prev.create_revision,
            mod_revision: revision,
        };
        self.kvs.insert(key.to_string(), kv.clone());
        self.events.push(WatchEvent::Put {
            kv,
            prev: Some(prev),
        });
        revision
    }

    async fn delete<S: Store>(&mut self, store: &S, key: &str) -> Revision {
        let prev = self.kvs.remove(key).expect("the recorder knows the key");
        let deleted = store
            .delete(key, Some(prev.mod_revision))
            .await
            .unwrap_or_else(|error| panic!("delete {key}: {error}"));
        assert_eq!(deleted.prev, prev, "delete of {key} returned another prev");
        let revision = deleted.revision;
        self.events.push(WatchEvent::Delete(deleted));
        revision
    }

    /// Exactly `count` writes under `prefix`: creates, updates of earlier keys, deletes.
    async fn mixed<S: Store>(&mut self, store: &S, prefix: &str, count: usize) {
        let mut written = 0;
        let mut round = self.events.len();
        while written < count {
            self.create(store, &format!("{prefix}k{round:05}"), &format!("v{round}"))
                .await;
            written += 1;
            if round >= 1 && written < count {
                let key = format!("{prefix}k{:05}", round - 1);
                if self.kvs.contains_key(&key) {
                    self.update(store, &key, &format!("u{round}")).await;
                    written += 1;
                }
            }
            if round >= 2 && round.is_multiple_of(3) && written < count {
                let key = format!("{prefix}k{:05}", round - 2);
                if self.kvs.contains_key(&key) {
                    self.delete(store, &key).await;
                    written += 1;
                }
            }
            round += 1;
        }
    }

    /// The first revision recorded.
    fn first_revision(&self) -> Revision {
        self.events
            .first()
            .map(WatchEvent::revision)
            .expect("writes were recorded")
    }

    /// The last revision recorded.
    fn last_revision(&self) -> Revision {
        self.events
            .last()
            .map(WatchEvent::revision)
            .expect("writes were recorded")
    }
}

/// A create makes the key readable with its value and the create's revision.
pub async fn create_then_get<S: Store>(store: S) {
    let before = current(&store).await;
    let key = "/registry/pods/default/a";
    let revision = store.create(key, bytes("one")).await.expect("create");
    assert!(revision > before, "create revision {revision} <= {before}");
    let kv = get(&store, key).await.expect("the key exists");
    assert_eq!(
        kv,
        KeyValue {
            key: key.to_string(),
            value: bytes("one"),
            create_revision: revision,
            mod_revision: revision,
        }
    );
    assert_eq!(get(&store, "/registry/pods/default/b").await, None);
    assert!(current(&store).await >= revision);
}

/// A second create of a key fails with `AlreadyExists` and keeps the first value.
pub async fn create_twice_already_exists<S: Store>(store: S) {
    let key = "/registry/pods/default/a";
    let revision = store.create(key, bytes("first")).await.expect("create");
    match store.create(key, bytes("second")).await {
        Err(Error::AlreadyExists { key: found }) => assert_eq!(found, key),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    let kv = get(&store, key).await.expect("the key exists");
    assert_eq!(kv.value, bytes("first"));
    assert_eq!(kv.mod_revision, revision);
}

/// An update at the key's revision replaces the value, keeps `create_revision`.
pub async fn update_with_current_revision<S: Store>(store: S) {
    let key = "/registry/pods/default/a";
    let created = store.create(key, bytes("one")).await.expect("create");
    let updated = store
        .update(key, bytes("two"), created)
        .await
        .expect("update");
    assert!(updated > created, "update revision {updated} <= {created}");
    let kv = get(&store, key).await.expect("the key exists");
    assert_eq!(kv.value, bytes("two"));
    assert_eq!(kv.create_revision, created);
    assert_eq!(kv.mod_revision, updated);
    let again = store
        .update(key, bytes("three"), updated)
        .await
        .expect("second update");
    assert!(again > updated);
    assert_eq!(
        get(&store, key).await.expect("exists").value,
        bytes("three")
    );
}

/// An update at a stale revision fails with `Conflict` carrying the current value.
pub async fn update_with_stale_revision_conflicts<S: Store>(store: S) {
    let key = "/registry/pods/default/a";
    let created = store.create(key, bytes("one")).await.expect("create");
    let updated = store
        .update(key, bytes("two"), created)
        .await
        .expect("update");
    match store.update(key, bytes("three"), created).await {
        Err(Error::Conflict { expected, current }) => {
            assert_eq!(expected, created);
            assert_eq!(
                *current,
                KeyValue {
                    key: key.to_string(),
                    value: bytes("two"),
                    create_revision: created,
                    mod_revision: updated,
                }
            );
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    let kv = get(&store, key).await.expect("exists");
    assert_eq!((kv.value, kv.mod_revision), (bytes("two"), updated));
}

/// Updates and deletes of a missing key fail with `NotFound`, and create nothing.
pub async fn update_or_delete_missing_not_found<S: Store>(store: S) {
    let key = "/registry/pods/default/missing";
    let revision = current(&store).await;
    match store.update(key, bytes("x"), revision).await {
        Err(Error::NotFound { key: found }) => assert_eq!(found, key),
        other => panic!("update: expected NotFound, got {other:?}"),
    }
    match store.delete(key, None).await {
        Err(Error::NotFound { key: found }) => assert_eq!(found, key),
        other => panic!("delete: expected NotFound, got {other:?}"),
    }
    match store.delete(key, Some(revision)).await {
        Err(Error::NotFound { .. }) => {}
        other => panic!("conditional delete: expected NotFound, got {other:?}"),
    }
    assert_eq!(get(&store, key).await, None);
    // A key that existed once is missing again after its delete.
    let created = store.create(key, bytes("x")).await.expect("create");
    store.delete(key, Some(created)).await.expect("delete");
    match store.update(key, bytes("y"), created).await {
        Err(Error::NotFound { .. }) => {}
        other => panic!("update after delete: expected NotFound, got {other:?}"),
    }
    assert_eq!(get(&store, key).await, None);
}

/// A delete at a wrong revision conflicts and keeps the key; at the right one it removes it.
pub async fn conditional_delete<S: Store>(store: S) {
    let key = "/registry/pods/default/a";
    let created = store.create(key, bytes("one")).await.expect("create");
    let updated = store
        .update(key, bytes("two"), created)
        .await
        .expect("update");
    match store.delete(key, Some(created)).await {
        Err(Error::Conflict { expected, current }) => {
            assert_eq!(expected, created);
            assert_eq!(current.mod_revision, updated);
            assert_eq!(current.value, bytes("two"));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        get(&store, key).await.map(|kv| kv.mod_revision),
        Some(updated)
    );
    let deleted = store.delete(key, Some(updated)).await.expect("delete");
    assert!(deleted.revision > updated);
    assert_eq!(
        deleted.prev,
        KeyValue {
            key: key.to_string(),
            value: bytes("two"),
            create_revision: created,
            mod_revision: updated,
        }
    );
    assert_eq!(get(&store, key).await, None);
}

/// An unconditional delete returns the value it removed.
pub async fn unconditional_delete_returns_prev<S: Store>(store: S) {
    let key = "/registry/pods/default/a";
    store.create(key, bytes("one")).await.expect("create");
    let before = get(&store, key).await.expect("exists");
    let deleted = store.delete(key, None).await.expect("delete");
    assert!(deleted.revision > before.mod_revision);
    assert_eq!(deleted.prev, before);
    assert_eq!(get(&store, key).await, None);
    assert!(
        list(&store, ListRequest::prefix("/registry/pods/"))
            .await
            .items
            .is_empty()
    );
}

/// Every kind of write takes a revision greater than every earlier one.
pub async fn revisions_strictly_increase<S: Store>(store: S) {
    let key = "/registry/pods/default/a";
    let other = "/registry/pods/default/b";
    let mut last = current(&store).await;
    let mut check = |revision: Revision, what: &str| {
        assert!(
            revision > last,
            "{what} took revision {revision} after {last}"
        );
        last = revision;
    };
    let created = store.create(key, bytes("1")).await.expect("create");
    check(created, "create");
    let updated = store
        .update(key, bytes("2"), created)
        .await
        .expect("update");
    check(updated, "update");
    let other_created = store.create(other, bytes("1")).await.expect("create other");
    check(other_created, "create of another key");
    let deleted = store.delete(key, Some(updated)).await.expect("delete");
    check(deleted.revision, "conditional delete");
    let recreated = store.create(key, bytes("3")).await.expect("recreate");
    check(recreated, "create after delete");
    let kv = get(&store, key).await.expect("exists");
    assert_eq!(
        (kv.create_revision, kv.mod_revision),
        (recreated, recreated),
        "a recreated key starts a new life"
    );
    let removed = store.delete(other, None).await.expect("delete other");
    check(removed.revision, "unconditional delete");
    assert!(current(&store).await >= removed.revision);
}

/// A list by prefix returns exactly the keys under it, sorted, with their values.
pub async fn list_by_prefix<S: Store>(store: S) {
    for key in [
        "/registry/a/2",
        "/registry/ab/1",
        "/registry/a/1",
        "/registry/b/1",
        "/registry/a",
        "/registry/a/10",
    ] {
        store.create(key, bytes(key)).await.expect("create");
    }
    let listed = list(&store, ListRequest::prefix("/registry/a/")).await;
    let keys: Vec<&str> = listed.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/registry/a/1", "/registry/a/10", "/registry/a/2"]);
    assert!(listed.items.iter().all(|kv| kv.value == bytes(&kv.key)));
    assert!(!listed.more);
    assert!(
        listed.revision
            >= listed
                .items
                .iter()
                .map(|kv| kv.mod_revision)
                .max()
                .unwrap_or(0)
    );

    let keys_of = |response: ListResponse| -> Vec<String> {
        response.items.into_iter().map(|kv| kv.key).collect()
    };
    assert_eq!(
        keys_of(list(&store, ListRequest::prefix("/registry/ab/")).await),
        ["/registry/ab/1"]
    );
    assert_eq!(
        keys_of(list(&store, ListRequest::prefix("/registry/a")).await),
        [
            "/registry/a",
            "/registry/a/1",
            "/registry/a/10",
            "/registry/a/2",
            "/registry/ab/1"
        ]
    );
    assert!(
        list(&store, ListRequest::prefix("/registry/c/"))
            .await
            .items
            .is_empty()
    );
}

/// Pages read at the first page's revision see one snapshot while writes go on between them.
pub async fn paged_list_sees_one_snapshot<S: Store>(store: S) {
    let prefix = "/registry/pods/p/";
    for i in 0..10 {
        store
            .create(&format!("{prefix}k{i:02}"), bytes(&format!("v{i}")))
            .await
            .expect("create");
    }
    let snapshot = list(&store, ListRequest::prefix(prefix)).await;
    assert_eq!(snapshot.items.len(), 10);

    let first = list(&store, ListRequest::prefix(prefix).limit(3)).await;
    assert!(first.more);
    assert!(first.revision >= snapshot.revision);
    let mut paged = first.items.clone();
    let mut last_key = paged.last().map(|kv| kv.key.clone()).expect("a first page");

    // Writes of every kind between pages, before and after the cursor.
    let k05 = get(&store, &format!("{prefix}k05")).await.expect("exists");
    store
        .update(&k05.key, bytes("changed"), k05.mod_revision)
        .await
        .expect("update");
    store
        .delete(&format!("{prefix}k03"), None)
        .await
        .expect("delete");
    store
        .delete(&format!("{prefix}k00"), None)
        .await
        .expect("delete");
    for key in ["k025", "k10", "k06a"] {
        store
            .create(&format!("{prefix}{key}"), bytes("new"))
            .await
            .expect("create");
    }

    let mut pages = 1;
    loop {
        let page = list(
            &store,
            ListRequest::prefix(prefix)
                .at_revision(first.revision)
                .start_after(last_key.clone())
                .limit(3),
        )
        .await;
        pages += 1;
        assert_eq!(page.revision, first.revision);
        assert!(page.items.len() <= 3);
        paged.extend(page.items.iter().cloned());
        match page.items.last() {
            Some(kv) if page.more => last_key = kv.key.clone(),
            _ => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(paged, snapshot.items, "the pages differ from the snapshot");
    assert_eq!(pages, 4);
}

/// A list at a past revision sees the values of then: old values, keys deleted since, and
/// not the keys created since.
pub async fn list_at_past_revision<S: Store>(store: S) {
    let prefix = "/registry/pods/default/";
    let mut recorder = Recorder::default();
    for key in ["a", "b", "d"] {
        recorder
            .create(&store, &format!("{prefix}{key}"), key)
            .await;
    }
    let then = list(&store, ListRequest::prefix(prefix)).await;
    assert_eq!(then.items.len(), 3);
    let at = then.revision;

    recorder.update(&store, &format!("{prefix}a"), "a2").await;
    recorder.delete(&store, &format!("{prefix}b")).await;
    recorder.create(&store, &format!("{prefix}c"), "c").await;
    recorder.delete(&store, &format!("{prefix}d")).await;
    recorder.create(&store, &format!("{prefix}d"), "d2").await;
    recorder.update(&store, &format!("{prefix}a"), "a3").await;

    let past = list(&store, ListRequest::prefix(prefix).at_revision(at)).await;
    assert_eq!(past.revision, at);
    assert_eq!(past.items, then.items);
    assert!(!past.more);

    // Paged one key at a time at the same revision.
    let mut paged = Vec::new();
    let mut request = ListRequest::prefix(prefix).at_revision(at).limit(1);
    loop {
        let page = list(&store, request.clone()).await;
        paged.extend(page.items.iter().cloned());
        match page.items.last() {
            Some(kv) if page.more => request = request.start_after(kv.key.clone()),
            _ => break,
        }
    }
    assert_eq!(paged, then.items);

    // At the revision of the first delete: b is gone, c not yet there, a already updated.
    let delete_b = recorder.events[4].revision();
    let middle = list(&store, ListRequest::prefix(prefix).at_revision(delete_b)).await;
    let values: Vec<(&str, &[u8])> = middle
        .items
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_ref()))
        .collect();
    assert_eq!(
        values,
        [
            ("/registry/pods/default/a", b"a2".as_slice()),
            ("/registry/pods/default/d", b"d".as_slice()),
        ]
    );

    let now: Vec<KeyValue> = recorder.kvs.values().cloned().collect();
    assert_eq!(list(&store, ListRequest::prefix(prefix)).await.items, now);
}

/// A list at a revision the store has not reached fails with `FutureRevision`.
pub async fn list_at_future_revision<S: Store>(store: S) {
    let revision = store
        .create("/registry/pods/default/a", bytes("one"))
        .await
        .expect("create");
    let future = revision + 1_000_000;
    match store
        .list(ListRequest::prefix("/registry/").at_revision(future))
        .await
    {
        Err(Error::FutureRevision { requested, current }) => {
            assert_eq!(requested, future);
            assert!(current >= revision && current < future);
        }
        other => panic!("expected FutureRevision, got {other:?}"),
    }
}

/// A watch from a past revision replays history, then continues live, exactly.
pub async fn watch_replays_then_continues_live<S: Store>(store: S) {
    let prefix = "/registry/pods/";
    let mut recorder = Recorder::default();
    recorder.mixed(&store, prefix, 40).await;
    let start = recorder.events[5].revision();
    let mut watch = store
        .watch(WatchRequest::prefix(prefix).from_revision(start))
        .await
        .expect("watch");
    recorder.mixed(&store, prefix, 40).await;
    let got = changes(&mut watch, 75).await;
    assert_eq!(got, recorder.events[5..]);
    assert_next_is_sentinel(&store, &mut watch, prefix).await;
}

/// A watch without a start revision sees only writes made after it started.
pub async fn watch_from_now_sees_only_later_writes<S: Store>(store: S) {
    let prefix = "/registry/pods/";
    let mut recorder = Recorder::default();
    recorder.mixed(&store, prefix, 10).await;
    let mut watch = store
        .watch(WatchRequest::prefix(prefix))
        .await
        .expect("watch");
    let mut later = Recorder {
        kvs: recorder.kvs.clone(),
        events: Vec::new(),
    };
    let existing = recorder.kvs.keys().next_back().cloned().expect("keys");
    later.update(&store, &existing, "later").await;
    later.create(&store, &format!("{prefix}later"), "x").await;
    assert_eq!(changes(&mut watch, 2).await, later.events);
    assert_next_is_sentinel(&store, &mut watch, prefix).await;
}

/// A watch of a prefix sees nothing of other keys, however close their names.
pub async fn watch_sees_only_its_prefix<S: Store>(store: S) {
    let prefix = "/registry/a/";
    let start = current(&store).await + 1;
    let mut live = store
        .watch(WatchRequest::prefix(prefix))
        .await
        .expect("watch");
    for key in [
        "/registry/ab/x",
        "/registry/b/y",
        "/registry/a",
        "/registry/",
    ] {
        store.create(key, bytes("other")).await.expect("create");
    }
    let mine = store
        .create("/registry/a/z", bytes("mine"))
        .await
        .expect("create");
    let mut replayed = store
        .watch(WatchRequest::prefix(prefix).from_revision(start))
        .await
        .expect("watch from history");
    let sentinel = "/registry/a/zz-sentinel";
    let mut sentinel_revision = None;
    for watch in [&mut live, &mut replayed] {
        match next_change(watch).await {
            WatchEvent::Put { kv, prev: None } => {
                assert_eq!((kv.key.as_str(), kv.mod_revision), ("/registry/a/z", mine));
            }
            other => panic!("expected the put of /registry/a/z, got {other:?}"),
        }
        // Nothing else is pending: the next change is a write made now.
        if sentinel_revision.is_none() {
            let revision = store.create(sentinel, bytes("s")).await.expect("create");
            sentinel_revision = Some(revision);
        }
        match next_change(watch).await {
            WatchEvent::Put { kv, .. } => {
                assert_eq!(
                    (kv.key.as_str(), Some(kv.mod_revision)),
                    (sentinel, sentinel_revision)
                );
            }
            other => panic!("expected the sentinel put, got {other:?}"),
        }
    }
}

/// A watch dropped part way and resumed from the last revision + 1 misses nothing and
/// repeats nothing.
pub async fn watch_resumes_without_gap_or_duplicate<S: Store>(store: S) {
    let prefix = "/registry/pods/";
    let mut recorder = Recorder::default();
    recorder.mixed(&store, prefix, 30).await;
    let mut watch = store
        .watch(WatchRequest::prefix(prefix).from_revision(recorder.first_revision()))
        .await
        .expect("watch");
    let mut got = changes(&mut watch, 12).await;
    drop(watch);
    recorder.mixed(&store, prefix, 10).await;
    let resume = got.last().map(WatchEvent::revision).expect("events") + 1;
    let mut watch = store
        .watch(WatchRequest::prefix(prefix).from_revision(resume))
        .await
        .expect("watch again");
    recorder.mixed(&store, prefix, 10).await;
    got.extend(changes(&mut watch, 38).await);
    assert_eq!(got, recorder.events);
    assert_next_is_sentinel(&store, &mut watch, prefix).await;
}

/// A watcher that reads nothing while 5,000 writes happen still gets every one, in order.
pub async fn slow_watcher_gets_every_event<S: Store>(store: S) {
    const WRITERS: usize = 8;
    const WRITES: usize = 5_000;
    let store = Arc::new(store);
    let prefix = "/registry/slow/";
    let mut watch = store
        .watch(WatchRequest::prefix(prefix))
        .await
        .expect("watch");
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let mut recorder = Recorder::default();
            let prefix = format!("{prefix}w{writer}/");
            recorder.mixed(&store, &prefix, WRITES / WRITERS).await;
            recorder.events
        }));
    }
    let mut expected = Vec::with_capacity(WRITES);
    for writer in writers {
        expected.extend(writer.await.expect("writer task"));
    }
    expected.sort_by_key(WatchEvent::revision);
    let revisions: BTreeSet<Revision> = expected.iter().map(WatchEvent::revision).collect();
    assert_eq!(revisions.len(), WRITES, "two writes shared a revision");

    let got = changes(&mut watch, WRITES).await;
    if let Some(at) = got
        .iter()
        .zip(&expected)
        .position(|(got, want)| got != want)
    {
        panic!(
            "event {at} differs: got {:?}, expected {:?}",
            got[at], expected[at]
        );
    }
    assert_next_is_sentinel(&*store, &mut watch, prefix).await;
}

/// A progress request is answered, after every pending change, with a revision at least that
/// of the last write.
pub async fn progress_after_delivery<S: Store>(store: S) {
    let prefix = "/registry/pods/";
    let mut recorder = Recorder::default();
    recorder.mixed(&store, prefix, 20).await;
    let mut watch = store
        .watch(WatchRequest::prefix(prefix).from_revision(recorder.first_revision()))
        .await
        .expect("watch");
    assert_eq!(changes(&mut watch, 20).await, recorder.events);
    watch.request_progress();
    match next_item(&mut watch).await {
        Ok(WatchEvent::Progress { revision }) => assert!(
            revision >= recorder.last_revision(),
            "progress at {revision} before the last write {}",
            recorder.last_revision()
        ),
        other => panic!("expected Progress, got {other:?}"),
    }

    // Asked before reading: every change comes first, then a progress that covers them all.
    let before = recorder.events.len();
    recorder.mixed(&store, prefix, 10).await;
    let last = recorder.last_revision();
    let mut pending = recorder.events[before..].iter();
    let mut asked = 0;
    loop {
        watch.request_progress();
        asked += 1;
        let revision = loop {
            match next_item(&mut watch).await {
                Ok(WatchEvent::Progress { revision }) => break revision,
                Ok(event) => assert_eq!(Some(&event), pending.next()),
                Err(error) => panic!("watch failed: {error}"),
            }
        };
        // A progress vouches only for what was delivered before it.
        if let Some(next) = pending.clone().next() {
            assert!(
                revision < next.revision(),
                "progress at {revision} before the change at {}",
                next.revision()
            );
        }
        if revision >= last {
            assert!(pending.next().is_none());
            break;
        }
        assert!(asked < 100, "no progress reached revision {last}");
    }
    assert_next_is_sentinel(&store, &mut watch, prefix).await;
}

/// Compaction: below it lists and watches fail with `Compacted`, at and above it they work;
/// compacting lower again is a no-op, and compacting the future fails.
pub async fn compaction<S: Store>(store: S) {
    let prefix = "/registry/pods/";
    let a = format!("{prefix}a");
    let b = format!("{prefix}b");
    let mut recorder = Recorder::default();
    recorder.create(&store, &a, "a1").await;
    let r2 = recorder.update(&store, &a, "a2").await;
    let r3 = recorder.create(&store, &b, "b1").await;
    recorder.update(&store, &b, "b2").await;
    let expected_at_r3: Vec<KeyValue> = {
        let response = list(&store, ListRequest::prefix(prefix).at_revision(r3)).await;
        assert_eq!(response.items.len(), 2);
        response.items
    };

    store.compact(r3).await.expect("compact");
    let below = store
        .list(ListRequest::prefix(prefix).at_revision(r2))
        .await;
    match below {
        Err(Error::Compacted { requested, .. }) => assert_eq!(requested, r2),
        other => panic!("list below the compaction: expected Compacted, got {other:?}"),
    }
    assert_watch_compacted(&store, WatchRequest::prefix(prefix).from_revision(r2)).await;

    let at = list(&store, ListRequest::prefix(prefix).at_revision(r3)).await;
    assert_eq!(at.items, expected_at_r3);
    let mut watch = store
        .watch(WatchRequest::prefix(prefix).from_revision(r3))
        .await
        .expect("watch at the compacted revision");
    assert_eq!(changes(&mut watch, 2).await, recorder.events[2..]);
    assert_next_is_sentinel(&store, &mut watch, prefix).await;
    let now: Vec<KeyValue> = list(&store, ListRequest::prefix(prefix)).await.items;
    assert_eq!(now.len(), 3);

    // Compacting at or below the last compaction changes nothing.
    store.compact(r2).await.expect("compact lower is a no-op");
    store.compact(r3).await.expect("compact again is a no-op");
    assert_eq!(
        list(&store, ListRequest::prefix(prefix).at_revision(r3))
            .await
            .items,
        expected_at_r3
    );
    assert!(matches!(
        store
            .list(ListRequest::prefix(prefix).at_revision(r2))
            .await,
        Err(Error::Compacted { .. })
    ));

    let latest = current(&store).await;
    let future = latest + 1_000_000;
    match store.compact(future).await {
        Err(Error::FutureRevision { requested, .. }) => assert_eq!(requested, future),
        other => panic!("compact in the future: expected FutureRevision, got {other:?}"),
    }
    store
        .compact(latest)
        .await
        .expect("compact at the current revision");
    assert_eq!(list(&store, ListRequest::prefix(prefix)).await.items, now);
}

/// A watch already past a compaction keeps delivering across it.
pub async fn watch_open_across_compaction<S: Store>(store: S) {
    let prefix = "/registry/pods/";
    let mut recorder = Recorder::default();
    recorder.mixed(&store, prefix, 5).await;
    let first = recorder.first_revision();
    let mut watch = store
        .watch(WatchRequest::prefix(prefix).from_revision(first))
        .await
        .expect("watch");
    assert_eq!(changes(&mut watch, 5).await, recorder.events);
    let before = recorder.events.len();
    recorder.mixed(&store, prefix, 5).await;
    store.compact(current(&store).await).await.expect("compact");
    recorder.mixed(&store, prefix, 5).await;
    assert_eq!(changes(&mut watch, 10).await, recorder.events[before..]);
    assert_next_is_sentinel(&store, &mut watch, prefix).await;
    assert_watch_compacted(&store, WatchRequest::prefix(prefix).from_revision(first)).await;
}

/// Of 50 concurrent updates at one revision exactly one wins; the others conflict.
pub async fn concurrent_updates_one_wins<S: Store>(store: S) {
    const WRITERS: usize = 50;
    let store = Arc::new(store);
    let key = "/registry/pods/default/contended";
    let created = store.create(key, bytes("start")).await.expect("create");
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let value = format!("writer {writer}");
            barrier.wait().await;
            (
                value.clone(),
                store.update(key, bytes(&value), created).await,
            )
        }));
    }
    let mut winners = Vec::new();
    let mut conflicts = Vec::new();
    for task in tasks {
        match task.await.expect("writer task") {
            (value, Ok(revision)) => winners.push((value, revision)),
            (_, Err(Error::Conflict { expected, current })) => {
                assert_eq!(expected, created);
                conflicts.push(current);
            }
            (_, Err(error)) => panic!("expected Ok or Conflict, got {error}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(conflicts.len(), WRITERS - 1);
    let (value, revision) = winners.remove(0);
    assert!(revision > created);
    let kv = get(&*store, key).await.expect("exists");
    assert_eq!(
        kv,
        KeyValue {
            key: key.to_string(),
            value: bytes(&value),
            create_revision: created,
            mod_revision: revision,
        }
    );
    // A conflict reports the value at the time, which is the start value or the winner's.
    for current in conflicts {
        assert!(
            current.mod_revision == created || *current == kv,
            "conflict carried {current:?}"
        );
    }
}

/// 100 concurrent creates of distinct keys all succeed, each with its own revision.
pub async fn concurrent_creates_all_succeed<S: Store>(store: S) {
    const WRITERS: usize = 100;
    let store = Arc::new(store);
    let prefix = "/registry/pods/many/";
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("{prefix}{writer:03}");
            barrier.wait().await;
            let revision = store.create(&key, bytes(&key)).await;
            (key, revision)
        }));
    }
    let mut created = BTreeMap::new();
    for task in tasks {
        let (key, revision) = task.await.expect("writer task");
        let revision = revision.unwrap_or_else(|error| panic!("create {key}: {error}"));
        created.insert(key, revision);
    }
    let distinct: BTreeSet<Revision> = created.values().copied().collect();
    assert_eq!(distinct.len(), WRITERS, "two creates shared a revision");
    let listed = list(&*store, ListRequest::prefix(prefix)).await;
    let found: BTreeMap<String, Revision> = listed
        .items
        .into_iter()
        .map(|kv| (kv.key, kv.mod_revision))
        .collect();
    assert_eq!(found, created);
}

/// Invalid keys and oversized keys or values are refused and write nothing.
pub async fn limits_refuse_writes<S: Store>(store: S) {
    let limits = Limits::default();
    let prefix = "/registry/pods/";
    let ok = format!("{prefix}ok");
    let created = store.create(&ok, bytes("ok")).await.expect("create");
    let before = list(&store, ListRequest::prefix("")).await;
    let revision = current(&store).await;
    let mut watch = store.watch(WatchRequest::prefix("")).await.expect("watch");

    let long_key = format!("/{}", "k".repeat(limits.max_key_bytes));
    let big = Bytes::from(vec![b'x'; limits.max_value_bytes + 1]);
    for key in ["", "/registry/pods/a\0b", long_key.as_str()] {
        let invalid = |result: crate::Result<()>, what: &str| match result {
            Err(Error::InvalidKey { .. }) => {}
            other => panic!("{what} of {key:?}: expected InvalidKey, got {other:?}"),
        };
        invalid(store.create(key, bytes("v")).await.map(drop), "create");
        invalid(
            store.update(key, bytes("v"), created).await.map(drop),
            "update",
        );
        invalid(store.delete(key, None).await.map(drop), "delete");
    }
    let too_large = |result: crate::Result<Revision>, what: &str| match result {
        Err(Error::ValueTooLarge { size, limit, .. }) => {
            assert_eq!((size, limit), (big.len(), limits.max_value_bytes));
        }
        other => panic!("{what}: expected ValueTooLarge, got {other:?}"),
    };
    too_large(
        store.create(&format!("{prefix}big"), big.clone()).await,
        "create",
    );
    too_large(store.update(&ok, big.clone(), created).await, "update");

    assert_eq!(
        current(&store).await,
        revision,
        "a refused write moved the revision"
    );
    let after = list(&store, ListRequest::prefix("")).await;
    assert_eq!(after.items, before.items);
    assert_eq!(
        get(&store, &ok).await.map(|kv| kv.mod_revision),
        Some(created)
    );
    assert_next_is_sentinel(&store, &mut watch, prefix).await;

    // The largest key and value the limits allow are accepted.
    let max_key = format!("/{}", "k".repeat(limits.max_key_bytes - 1));
    let max_value = Bytes::from(vec![b'x'; limits.max_value_bytes]);
    let revision = store
        .create(&max_key, max_value.clone())
        .await
        .expect("create at the limits");
    assert_eq!(
        get(&store, &max_key)
            .await
            .map(|kv| (kv.value, kv.mod_revision)),
        Some((max_value, revision))
    );
}
