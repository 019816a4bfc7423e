//! Tests of what is particular to the embedded store: its directory, its files, group commit,
//! compaction on disk. The shared behaviour is in the contract suite.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use redb::ReadableTable;

use bytes::Bytes;
use futures::StreamExt;

use super::tables::{DB_FILE, FORMAT_VERSION, LOG, META, META_FORMAT};
use super::writer::{Done, Op, Request, Writer};
use super::{EmbeddedOptions, EmbeddedStore};
use crate::hub::WatchHub;
use crate::{Error, ListRequest, Store, WatchEvent, WatchRequest};

async fn open(dir: &Path) -> crate::Result<EmbeddedStore> {
    EmbeddedStore::open(dir, EmbeddedOptions::default()).await
}

fn value(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

/// Every file under `dir` with its bytes.
fn snapshot_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let bytes = if entry.path().is_dir() {
            b"<directory>".to_vec()
        } else {
            fs::read(entry.path()).unwrap()
        };
        files.insert(entry.file_name().to_string_lossy().into_owned(), bytes);
    }
    files
}

fn assert_unusable(result: crate::Result<EmbeddedStore>, needle: &str) {
    match result {
        Err(Error::Unusable { reason, .. }) => {
            assert!(
                reason.contains(needle),
                "reason {reason:?} lacks {needle:?}"
            )
        }
        other => panic!("expected Unusable, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_directory_is_initialised_and_data_survives_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let store = open(&dir).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), 1);
    let created = store
        .create("/registry/pods/default/a", value("one"))
        .await
        .unwrap();
    let updated = store
        .update("/registry/pods/default/a", value("two"), created)
        .await
        .unwrap();
    drop(store);

    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        1,
        "one database file and nothing else"
    );
    let store = open(&dir).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), updated);
    let kv = store
        .get("/registry/pods/default/a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (kv.value, kv.create_revision, kv.mod_revision),
        (value("two"), created, updated)
    );
}

#[tokio::test]
async fn directory_with_unrelated_files_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("notes.txt"), b"mine").unwrap();
    fs::create_dir(tmp.path().join("photos")).unwrap();
    let before = snapshot_files(tmp.path());
    assert_unusable(open(tmp.path()).await, "\"notes.txt\", \"photos\"");
    assert_eq!(snapshot_files(tmp.path()), before);
}

#[tokio::test]
async fn garbage_database_file_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join(DB_FILE), vec![0x5a; 10_000]).unwrap();
    let before = snapshot_files(tmp.path());
    assert_unusable(open(tmp.path()).await, "not a redb database");
    assert_eq!(snapshot_files(tmp.path()), before);
}

#[tokio::test]
async fn empty_database_file_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join(DB_FILE), b"").unwrap();
    assert_unusable(open(tmp.path()).await, "empty");
    assert_eq!(fs::metadata(tmp.path().join(DB_FILE)).unwrap().len(), 0);
}

#[tokio::test]
async fn truncated_database_file_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await.unwrap();
    for i in 0..200 {
        let key = format!("/registry/configmaps/default/c{i}");
        store
            .create(&key, Bytes::from(vec![b'x'; 2000]))
            .await
            .unwrap();
    }
    drop(store);
    let path = tmp.path().join(DB_FILE);
    let full = fs::read(&path).unwrap();
    for len in [full.len() / 2, 4096, 100] {
        fs::write(&path, &full[..len]).unwrap();
        let before = snapshot_files(tmp.path());
        let result = open(tmp.path()).await;
        assert!(
            matches!(result, Err(Error::Unusable { .. })),
            "truncated to {len} bytes: {result:?}"
        );
        assert_eq!(
            snapshot_files(tmp.path()),
            before,
            "truncated to {len} bytes"
        );
    }
}

#[tokio::test]
async fn foreign_redb_database_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(DB_FILE);
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let table: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("accounts");
            txn.open_table(table).unwrap().insert(1, 100).unwrap();
        }
        txn.commit().unwrap();
    }
    let before = snapshot_files(tmp.path());
    assert_unusable(open(tmp.path()).await, "not the store's");
    assert_eq!(snapshot_files(tmp.path()), before);
}

#[tokio::test]
async fn other_format_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    drop(open(tmp.path()).await.unwrap());
    {
        let db = redb::Database::open(tmp.path().join(DB_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(META_FORMAT, FORMAT_VERSION + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    assert_unusable(open(tmp.path()).await, "format version 2");
}

#[tokio::test]
async fn second_open_of_the_same_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let _store = open(tmp.path()).await.unwrap();
    assert_unusable(open(tmp.path()).await, "open in another process");
}

#[tokio::test]
async fn oversized_writes_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        limits: crate::Limits {
            max_key_bytes: 64,
            max_value_bytes: 1024,
        },
        ..EmbeddedOptions::default()
    };
    let store = EmbeddedStore::open(tmp.path(), options).await.unwrap();
    let rev = store.create("/k", value("small")).await.unwrap();
    let long_key = format!("/{}", "k".repeat(64));
    assert!(matches!(
        store.create(&long_key, value("v")).await,
        Err(Error::InvalidKey { .. })
    ));
    let big = Bytes::from(vec![0u8; 1025]);
    assert!(matches!(
        store.create("/big", big.clone()).await,
        Err(Error::ValueTooLarge { size: 1025, .. })
    ));
    assert!(matches!(
        store.update("/k", big, rev).await,
        Err(Error::ValueTooLarge { .. })
    ));
    assert_eq!(store.current_revision().await.unwrap(), rev);
    assert_eq!(
        store.get("/k").await.unwrap().unwrap().value,
        value("small")
    );
    assert!(store.get("/big").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conflicting_writes_resolve_as_if_serial() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(open(tmp.path()).await.unwrap());
    let base = store
        .create("/registry/leases/l", value("v0"))
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let update = store
                .update("/registry/leases/l", value(&format!("v{i}")), base)
                .await;
            let create = store
                .create("/registry/leases/new", value(&format!("c{i}")))
                .await;
            (i, update, create)
        }));
    }
    let mut update_winners = Vec::new();
    let mut create_winners = Vec::new();
    let mut conflicts = Vec::new();
    for task in tasks {
        let (i, update, create) = task.await.unwrap();
        match update {
            Ok(rev) => update_winners.push((i, rev)),
            Err(Error::Conflict { expected, current }) => {
                assert_eq!(expected, base);
                conflicts.push(*current);
            }
            Err(other) => panic!("unexpected update error {other}"),
        }
        match create {
            Ok(rev) => create_winners.push((i, rev)),
            Err(Error::AlreadyExists { .. }) => {}
            Err(other) => panic!("unexpected create error {other}"),
        }
    }
    assert_eq!(update_winners.len(), 1, "exactly one update wins");
    assert_eq!(create_winners.len(), 1, "exactly one create wins");
    let (winner, rev) = update_winners[0];
    for current in conflicts {
        assert_eq!(
            current.mod_revision, rev,
            "each loser sees the winner's write"
        );
        assert_eq!(current.value, value(&format!("v{winner}")));
    }
    let kv = store.get("/registry/leases/l").await.unwrap().unwrap();
    assert_eq!(
        (kv.mod_revision, kv.value),
        (rev, value(&format!("v{winner}")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_get_distinct_revisions() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(open(tmp.path()).await.unwrap());
    let start = store.current_revision().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .create(&format!("/registry/pods/ns/p{i:03}"), value("x"))
                .await
        }));
    }
    let mut revisions = Vec::new();
    for task in tasks {
        revisions.push(task.await.unwrap().unwrap());
    }
    revisions.sort();
    revisions.dedup();
    assert_eq!(revisions.len(), 200);
    assert_eq!(
        store.current_revision().await.unwrap(),
        *revisions.last().unwrap()
    );
    assert!(revisions[0] > start);
    let list = store
        .list(ListRequest::prefix("/registry/pods/ns/"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 200);
}

#[tokio::test]
async fn list_at_a_past_revision_undoes_later_events() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await.unwrap();
    let a1 = store.create("/p/a", value("a1")).await.unwrap();
    let b1 = store.create("/p/b", value("b1")).await.unwrap();
    let _other = store.create("/q/x", value("x")).await.unwrap();
    let snapshot = store.current_revision().await.unwrap();
    let a2 = store.update("/p/a", value("a2"), a1).await.unwrap();
    store.delete("/p/b", Some(b1)).await.unwrap();
    store.create("/p/c", value("c1")).await.unwrap();
    store.update("/p/a", value("a3"), a2).await.unwrap();

    let past = store
        .list(ListRequest::prefix("/p/").at_revision(snapshot))
        .await
        .unwrap();
    let seen: Vec<_> = past
        .items
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.clone(), kv.mod_revision))
        .collect();
    assert_eq!(
        seen,
        vec![("/p/a", value("a1"), a1), ("/p/b", value("b1"), b1)]
    );

    let page = store
        .list(ListRequest::prefix("/p/").at_revision(snapshot).limit(1))
        .await
        .unwrap();
    assert!(page.more);
    assert_eq!(page.items[0].key, "/p/a");
    let rest = store
        .list(
            ListRequest::prefix("/p/")
                .at_revision(snapshot)
                .start_after("/p/a"),
        )
        .await
        .unwrap();
    assert!(!rest.more);
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].key, "/p/b");
}

#[tokio::test]
async fn compaction_deletes_old_log_entries_and_survives_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await.unwrap();
    let mut rev = store.create("/k", value("0")).await.unwrap();
    // Several purge chunks.
    for i in 1..100 {
        rev = store
            .update("/k", value(&i.to_string()), rev)
            .await
            .unwrap();
    }
    let compact_at = rev - 10;
    store.compact(compact_at).await.unwrap();
    assert!(matches!(
        store.list(ListRequest::prefix("/").at_revision(compact_at - 1)).await,
        Err(Error::Compacted { compacted, .. }) if compacted == compact_at
    ));
    let at = store
        .list(ListRequest::prefix("/").at_revision(compact_at))
        .await
        .unwrap();
    assert_eq!(at.items[0].mod_revision, compact_at);
    // Each batch deletes a chunk, if the idle writer has not done it already.
    for i in 0..(100 / super::writer::PURGE_CHUNK + 1) {
        store
            .create(&format!("/other/{i}"), value("x"))
            .await
            .unwrap();
    }
    let first_logged = || {
        let txn = redb::ReadableDatabase::begin_read(&*store.db).unwrap();
        let log = txn.open_table(LOG).unwrap();
        log.first().unwrap().map(|(r, _)| r.value())
    };
    assert_eq!(
        first_logged(),
        Some(compact_at),
        "the log starts at the compaction"
    );
    drop(store);

    let store = open(tmp.path()).await.unwrap();
    let mut watch = store
        .watch(WatchRequest::prefix("/").from_revision(1))
        .await
        .unwrap();
    assert!(matches!(
        watch.next().await,
        Some(Err(Error::Compacted { compacted, .. })) if compacted == compact_at
    ));
    let mut watch = store
        .watch(WatchRequest::prefix("/k").from_revision(compact_at))
        .await
        .unwrap();
    match watch.next().await {
        Some(Ok(WatchEvent::Put {
            kv,
            prev: Some(prev),
        })) => {
            assert_eq!(kv.mod_revision, compact_at);
            assert_eq!(prev.mod_revision, compact_at - 1);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_closes_the_file_and_ends_watches() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path()).await.unwrap();
    let mut watch = store.watch(WatchRequest::prefix("/")).await.unwrap();
    let rev = store.create("/a", value("1")).await.unwrap();
    match watch.next().await {
        Some(Ok(WatchEvent::Put { kv, prev: None })) => assert_eq!(kv.mod_revision, rev),
        other => panic!("unexpected {other:?}"),
    }
    drop(store);
    // The writer thread is joined and the file closed: it opens again at once.
    let store = open(tmp.path()).await.unwrap();
    assert_eq!(store.current_revision().await.unwrap(), rev);
    assert!(
        !matches!(watch.next().await, Some(Ok(_))),
        "the old watch ends"
    );
}

/// A writer thread whose queue already holds `ops` when it starts, so they form batches of
/// `max_batch` deterministically. Returns the outcomes and the number of commits.
async fn run_queued(
    dir: &Path,
    max_batch: usize,
    ops: Vec<Op>,
) -> (Vec<crate::Result<Done>>, u64, Vec<WatchEvent>) {
    let config = super::open::OpenConfig {
        cache_bytes: 1 << 20,
        verify_on_open: false,
    };
    let (db, meta) = super::open::open_dir(dir, &config).unwrap();
    let hub = Arc::new(WatchHub::new(meta.revision));
    let db = Arc::new(db);
    let mut watch = hub
        .watch(
            Arc::new(super::read::LogHistory {
                db: Arc::downgrade(&db),
            }),
            WatchRequest::prefix("/"),
        )
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(ops.len());
    let mut replies = Vec::new();
    for op in ops {
        let (reply, done) = tokio::sync::oneshot::channel();
        tx.send(Request { op, reply }).await.unwrap();
        replies.push(done);
    }
    drop(tx);
    let batches = Arc::new(AtomicU64::new(0));
    let writer = Writer {
        db,
        requests: rx,
        max_batch,
        revision: Arc::new(AtomicI64::new(meta.revision)),
        compacted: meta.compacted,
        hub: Arc::clone(&hub),
        batches: Arc::clone(&batches),
    }
    .spawn()
    .unwrap();
    let mut outcomes = Vec::new();
    for done in replies {
        outcomes.push(done.await.unwrap_or(Err(Error::Closed)));
    }
    writer.join().unwrap();
    drop(hub);
    let mut events = Vec::new();
    while let Some(Ok(event)) = watch.next().await {
        events.push(event);
    }
    (outcomes, batches.load(Ordering::Relaxed), events)
}

fn create(key: &str, v: &str) -> Op {
    Op::Create {
        key: key.to_string(),
        value: value(v),
    }
}

#[tokio::test]
async fn one_batch_resolves_its_writes_in_order_with_one_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let ops = vec![
        create("/a", "a1"),
        create("/a", "again"),
        Op::Update {
            key: "/a".to_string(),
            value: value("a2"),
            expected: 2,
        },
        Op::Update {
            key: "/a".to_string(),
            value: value("stale"),
            expected: 2,
        },
        Op::Update {
            key: "/missing".to_string(),
            value: value("x"),
            expected: 2,
        },
        Op::Delete {
            key: "/a".to_string(),
            expected: Some(3),
        },
        create("/a", "a3"),
        Op::Compact { revision: 99 },
        Op::Compact { revision: 3 },
    ];
    let (outcomes, commits, events) = run_queued(tmp.path(), 64, ops).await;
    assert_eq!(commits, 1, "the queued writes share one commit");
    let summary: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            Ok(Done::Written(r)) => format!("written {r}"),
            Ok(Done::Deleted(d)) => format!("deleted {} prev {}", d.revision, d.prev.mod_revision),
            Ok(Done::Compacted) => "compacted".to_string(),
            Err(Error::AlreadyExists { .. }) => "exists".to_string(),
            Err(Error::Conflict { current, .. }) => format!("conflict at {}", current.mod_revision),
            Err(Error::NotFound { .. }) => "not found".to_string(),
            Err(Error::FutureRevision { current, .. }) => format!("future, current {current}"),
            Err(other) => format!("{other}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "written 2",
            "exists",
            "written 3",
            "conflict at 3",
            "not found",
            "deleted 4 prev 3",
            "written 5",
            "future, current 5",
            "compacted",
        ]
    );
    let revisions: Vec<_> = events.iter().map(WatchEvent::revision).collect();
    assert_eq!(
        revisions,
        [2, 3, 4, 5],
        "only the accepted writes are published"
    );

    // The committed state is the serial one, and the compaction is on disk.
    let store = open(tmp.path()).await.unwrap();
    let a = store.get("/a").await.unwrap().unwrap();
    assert_eq!(
        (a.value, a.create_revision, a.mod_revision),
        (value("a3"), 5, 5)
    );
    assert!(matches!(
        store.list(ListRequest::prefix("/").at_revision(2)).await,
        Err(Error::Compacted { compacted: 3, .. })
    ));
}

#[tokio::test]
async fn batches_are_cut_at_max_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let ops = (0..10).map(|i| create(&format!("/k{i}"), "v")).collect();
    let (outcomes, commits, events) = run_queued(tmp.path(), 4, ops).await;
    assert_eq!(commits, 3, "10 writes in batches of at most 4");
    assert!(outcomes.iter().all(|o| matches!(o, Ok(Done::Written(_)))));
    assert_eq!(events.len(), 10);
}

#[tokio::test]
async fn a_batch_of_refused_writes_commits_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let ops = vec![
        Op::Update {
            key: "/missing".to_string(),
            value: value("x"),
            expected: 1,
        },
        Op::Delete {
            key: "/missing".to_string(),
            expected: None,
        },
    ];
    let (outcomes, commits, events) = run_queued(tmp.path(), 64, ops).await;
    assert_eq!(commits, 0);
    assert!(events.is_empty());
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Err(Error::NotFound { .. })))
    );
}
