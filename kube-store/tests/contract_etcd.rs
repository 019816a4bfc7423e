//! The etcd store: the shared contract suite, and focused tests of the etcd mapping.
//!
//! Stores share one etcd (`KUBE_TEST_ETCD_ENDPOINTS`, or one private etcd per test process),
//! each under its own key prefix; cases that compact get a private etcd.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use kube_store::test_util::etcd::{EtcdServer, shared_store};
use kube_store::{
    Error, EtcdOptions, EtcdStore, ListRequest, Store, Watch, WatchEvent, WatchRequest,
};

kube_store::store_contract_tests!(
    fresh = async { (fresh().await, ()) },
    isolated = async {
        let server = EtcdServer::start().await.expect("private etcd");
        let store = server.store().await.expect("store on the private etcd");
        (store, server)
    },
);

/// Bounds every wait on a watch, so a broken watch fails the test instead of hanging it.
const WAIT: Duration = Duration::from_secs(20);

async fn fresh() -> EtcdStore {
    shared_store().await.expect("shared test etcd")
}

async fn next(watch: &mut Watch) -> kube_store::Result<WatchEvent> {
    tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("a watch event in time")
        .expect("the watch ended")
}

fn value(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_map_to_etcd_transactions() {
    let store = fresh().await;
    let key = "/registry/pods/default/a";

    let created = store.create(key, value("v1")).await.unwrap();
    assert!(matches!(
        store.create(key, value("again")).await,
        Err(Error::AlreadyExists { key: k }) if k == key
    ));
    let kv = store.get(key).await.unwrap().expect("created key");
    assert_eq!(
        (kv.value.as_ref(), kv.create_revision, kv.mod_revision),
        (&b"v1"[..], created, created)
    );

    let updated = store.update(key, value("v2"), created).await.unwrap();
    assert!(updated > created);
    match store.update(key, value("v3"), created).await {
        Err(Error::Conflict { expected, current }) => {
            assert_eq!(expected, created);
            assert_eq!(current.mod_revision, updated);
            assert_eq!(current.value, value("v2"));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(
        store
            .update("/registry/pods/default/missing", value("x"), 0)
            .await,
        Err(Error::NotFound { .. })
    ));
    // A missing key must not match an expected revision of 0 (etcd reads its mod_revision as 0).
    assert!(
        store
            .get("/registry/pods/default/missing")
            .await
            .unwrap()
            .is_none()
    );

    assert!(matches!(
        store.delete(key, Some(created)).await,
        Err(Error::Conflict { expected, .. }) if expected == created
    ));
    let deleted = store.delete(key, Some(updated)).await.unwrap();
    assert!(deleted.revision > updated);
    assert_eq!(deleted.prev.value, value("v2"));
    assert_eq!(deleted.prev.mod_revision, updated);
    assert!(matches!(
        store.delete(key, None).await,
        Err(Error::NotFound { .. })
    ));
    assert!(store.get(key).await.unwrap().is_none());

    // Recreating starts a new life: a new create_revision.
    let again = store.create(key, value("v4")).await.unwrap();
    assert!(again > deleted.revision);
    assert_eq!(
        store.get(key).await.unwrap().unwrap().create_revision,
        again
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_checked_before_sending() {
    let store = fresh().await;
    assert!(matches!(
        store.create("", value("x")).await,
        Err(Error::InvalidKey { .. })
    ));
    let big = Bytes::from(vec![0u8; 1536 * 1024 + 1]);
    assert!(matches!(
        store.create("/big", big).await,
        Err(Error::ValueTooLarge { .. })
    ));
    assert!(store.get("/big").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_with_start_after_at_one_revision() {
    let store = fresh().await;
    for name in ["a", "b", "c", "d", "e"] {
        store
            .create(&format!("/registry/pods/ns/{name}"), value(name))
            .await
            .unwrap();
    }
    store
        .create("/registry/pods/other", value("x"))
        .await
        .unwrap();
    store.create("/registry/podsx", value("x")).await.unwrap();

    let first = store
        .list(ListRequest::prefix("/registry/pods/ns/").limit(2))
        .await
        .unwrap();
    let keys = |items: &[kube_store::KeyValue]| -> Vec<String> {
        items.iter().map(|kv| kv.key.clone()).collect()
    };
    assert_eq!(
        keys(&first.items),
        ["/registry/pods/ns/a", "/registry/pods/ns/b"]
    );
    assert!(first.more);

    // A write between pages is not seen when paging at the first page's revision.
    store
        .create("/registry/pods/ns/bb", value("late"))
        .await
        .unwrap();
    let second = store
        .list(
            ListRequest::prefix("/registry/pods/ns/")
                .start_after("/registry/pods/ns/b")
                .at_revision(first.revision)
                .limit(10),
        )
        .await
        .unwrap();
    assert_eq!(
        keys(&second.items),
        [
            "/registry/pods/ns/c",
            "/registry/pods/ns/d",
            "/registry/pods/ns/e"
        ]
    );
    assert!(!second.more);
    assert_eq!(second.revision, first.revision);

    let now = store
        .list(ListRequest::prefix("/registry/pods/"))
        .await
        .unwrap();
    assert_eq!(now.items.len(), 7);
    assert!(now.revision > first.revision);
    let everything = store.list(ListRequest::prefix("")).await.unwrap();
    assert_eq!(everything.items.len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_prefixes_keep_stores_apart() {
    let one = fresh().await;
    let two = fresh().await;
    one.create("/registry/a", value("one")).await.unwrap();
    assert!(two.get("/registry/a").await.unwrap().is_none());
    two.create("/registry/a", value("two")).await.unwrap();
    assert_eq!(
        one.get("/registry/a").await.unwrap().unwrap().value,
        value("one")
    );
    let listed = two.list(ListRequest::prefix("")).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].key, "/registry/a");
    assert_eq!(listed.items[0].value, value("two"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn future_revisions_are_refused() {
    let store = fresh().await;
    store.create("/a", value("a")).await.unwrap();
    let current = store.current_revision().await.unwrap();
    match store
        .list(ListRequest::prefix("/").at_revision(current + 1000))
        .await
    {
        Err(Error::FutureRevision {
            requested,
            current: reported,
        }) => {
            assert_eq!(requested, current + 1000);
            assert!(reported >= current);
        }
        other => panic!("expected FutureRevision, got {other:?}"),
    }
    assert!(matches!(
        store.compact(current + 1000).await,
        Err(Error::FutureRevision { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_maps_to_compacted_with_the_compaction_revision() {
    let server = EtcdServer::start().await.expect("private etcd");
    let store = server.store().await.unwrap();
    let first = store.create("/a", value("1")).await.unwrap();
    let second = store.update("/a", value("2"), first).await.unwrap();
    store.update("/a", value("3"), second).await.unwrap();

    store.compact(second).await.unwrap();
    // Compacting again, or below, is a no-op.
    store.compact(second).await.unwrap();
    store.compact(first).await.unwrap();

    match store
        .list(ListRequest::prefix("/").at_revision(first))
        .await
    {
        Err(Error::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!((requested, compacted), (first, second));
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
    let at = store
        .list(ListRequest::prefix("/").at_revision(second))
        .await
        .unwrap();
    assert_eq!(at.items[0].value, value("2"));

    // A watch from before the compaction yields Compacted and ends.
    let mut watch = store
        .watch(WatchRequest::prefix("/").from_revision(first))
        .await
        .unwrap();
    match next(&mut watch).await {
        Err(Error::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!((requested, compacted), (first, second));
        }
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(WAIT, watch.next())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_carries_previous_values_and_replays_history() {
    let store = fresh().await;
    let start = store.current_revision().await.unwrap() + 1;
    let created = store.create("/w/a", value("1")).await.unwrap();
    let updated = store.update("/w/a", value("2"), created).await.unwrap();
    store.create("/other/a", value("x")).await.unwrap();
    let deleted = store.delete("/w/a", None).await.unwrap();

    for mut watch in [
        // From history, then...
        store
            .watch(WatchRequest::prefix("/w/").from_revision(start))
            .await
            .unwrap(),
    ] {
        match next(&mut watch).await.unwrap() {
            WatchEvent::Put { kv, prev: None } => {
                assert_eq!((kv.key.as_str(), kv.mod_revision), ("/w/a", created));
            }
            other => panic!("expected a create, got {other:?}"),
        }
        match next(&mut watch).await.unwrap() {
            WatchEvent::Put {
                kv,
                prev: Some(prev),
            } => {
                assert_eq!(kv.mod_revision, updated);
                assert_eq!(prev.value, value("1"));
                assert_eq!(prev.mod_revision, created);
            }
            other => panic!("expected an update, got {other:?}"),
        }
        assert_eq!(
            next(&mut watch).await.unwrap(),
            WatchEvent::Delete(deleted.clone())
        );

        // ...live.
        let live = store.create("/w/b", value("3")).await.unwrap();
        let event = next(&mut watch).await.unwrap();
        assert_eq!((event.key(), event.revision()), (Some("/w/b"), live));
    }
}

/// Asks for progress until it reaches `last`, checking that no progress overtakes an event;
/// returns the revisions of the events seen on the way.
async fn progress_until(watch: &mut Watch, last: i64) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut vouched = 0;
    for _ in 0..1000 {
        watch.request_progress();
        let revision = loop {
            match next(watch).await.unwrap() {
                WatchEvent::Progress { revision } => break revision,
                event => {
                    assert!(
                        event.revision() > vouched,
                        "event at {} after progress at {vouched}",
                        event.revision()
                    );
                    seen.push(event.revision());
                }
            }
        };
        assert!(
            revision >= vouched,
            "progress went back from {vouched} to {revision}"
        );
        assert!(revision >= seen.last().copied().unwrap_or(0));
        vouched = revision;
        if revision >= last {
            return seen;
        }
    }
    panic!("no progress reached revision {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_never_overtakes_events() {
    let store = fresh().await;
    let start = store.current_revision().await.unwrap() + 1;
    let mut expected = Vec::new();
    for i in 0..20 {
        expected.push(
            store
                .create(&format!("/p/{i:02}"), value("x"))
                .await
                .unwrap(),
        );
    }
    // Asked while the history is being replayed.
    let mut watch = store
        .watch(WatchRequest::prefix("/p/").from_revision(start))
        .await
        .unwrap();
    let last = *expected.last().unwrap();
    assert_eq!(progress_until(&mut watch, last).await, expected);

    // Asked while live events are queued.
    expected.clear();
    for i in 0..10 {
        expected.push(
            store
                .create(&format!("/p/live-{i}"), value("x"))
                .await
                .unwrap(),
        );
    }
    let last = *expected.last().unwrap();
    assert_eq!(progress_until(&mut watch, last).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_ends_with_an_error_when_etcd_goes_away() {
    let server = EtcdServer::start().await.expect("private etcd");
    let store = server.store().await.unwrap();
    let mut watch = store.watch(WatchRequest::prefix("/")).await.unwrap();
    let revision = store.create("/a", value("1")).await.unwrap();
    assert_eq!(next(&mut watch).await.unwrap().revision(), revision);

    drop(server);
    assert!(matches!(next(&mut watch).await, Err(Error::Backend { .. })));
    assert!(
        tokio::time::timeout(WAIT, watch.next())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_fails_clearly_without_etcd() {
    // A port nothing listens on (taken, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = EtcdOptions::new([format!("http://127.0.0.1:{port}")])
        .request_timeout(Duration::from_secs(2));
    assert!(matches!(
        EtcdStore::connect(options).await,
        Err(Error::Backend { .. })
    ));
}
