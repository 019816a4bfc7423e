//! The watch cache: fan-out from one store watch, windows, lists, and recovery.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use kube_api::server::storage::{ListWatchSource, WatchCache, WatchCacheConfig};
use kube_store::{
    Deleted, Error, KeyValue, ListRequest, ListResponse, MemoryStore, Revision, Store, Watch,
    WatchEvent, WatchRequest,
};
use tokio::task::AbortHandle;

const PODS: &str = "/registry/core/pods/";

/// A MemoryStore that counts its watches, can cut them, and can refuse new ones.
#[derive(Default)]
struct CountingStore {
    inner: MemoryStore,
    watches: AtomicUsize,
    refuse: AtomicBool,
    forwarders: Mutex<Vec<AbortHandle>>,
}

impl CountingStore {
    fn watches(&self) -> usize {
        self.watches.load(Ordering::SeqCst)
    }

    /// Ends every open store watch, as a dropped connection would.
    fn cut_watches(&self) {
        for handle in self.forwarders.lock().unwrap().drain(..) {
            handle.abort();
        }
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn get(&self, key: &str) -> kube_store::Result<Option<KeyValue>> {
        self.inner.get(key).await
    }
    async fn list(&self, request: ListRequest) -> kube_store::Result<ListResponse> {
        self.inner.list(request).await
    }
    async fn create(&self, key: &str, value: Bytes) -> kube_store::Result<Revision> {
        self.inner.create(key, value).await
    }
    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected: Revision,
    ) -> kube_store::Result<Revision> {
        self.inner.update(key, value, expected).await
    }
    async fn delete(&self, key: &str, expected: Option<Revision>) -> kube_store::Result<Deleted> {
        self.inner.delete(key, expected).await
    }
    async fn watch(&self, request: WatchRequest) -> kube_store::Result<Watch> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(Error::backend("watch", "refused by the test"));
        }
        self.watches.fetch_add(1, Ordering::SeqCst);
        let mut inner = self.inner.watch(request).await?;
        let (watch, mut sender) = Watch::channel(64);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    item = inner.next() => {
                        let Some(item) = item else { return };
                        if sender.send(item).await.is_err() {
                            return;
                        }
                    }
                    asked = sender.progress_or_closed() => {
                        if !asked {
                            return;
                        }
                        inner.request_progress();
                    }
                }
            }
        });
        self.forwarders.lock().unwrap().push(task.abort_handle());
        Ok(watch)
    }
    async fn current_revision(&self) -> kube_store::Result<Revision> {
        self.inner.current_revision().await
    }
    async fn compact(&self, revision: Revision) -> kube_store::Result<()> {
        self.inner.compact(revision).await
    }
}

fn setup(config: WatchCacheConfig) -> (Arc<CountingStore>, WatchCache) {
    let store = Arc::new(CountingStore::default());
    let cache = WatchCache::new(store.clone(), config);
    (store, cache)
}

fn pod_key(ns: &str, name: &str) -> String {
    format!("{PODS}{ns}/{name}")
}

/// The revision of the cache's current state, read through a list.
async fn cache_revision(cache: &WatchCache) -> Revision {
    cache
        .list(ListRequest::prefix(PODS))
        .await
        .unwrap()
        .revision
}

/// The next `n` change events of `watch` (progress notices skipped).
async fn changes(watch: &mut Watch, n: usize) -> Vec<WatchEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        match watch.next().await {
            Some(Ok(WatchEvent::Progress { .. })) => {}
            Some(Ok(event)) => out.push(event),
            other => panic!("watch ended early: {other:?}"),
        }
    }
    out
}

#[tokio::test]
async fn many_watchers_see_every_change_in_order() {
    let (store, cache) = setup(WatchCacheConfig::default());
    let start = cache_revision(&cache).await + 1;
    let mut watchers = Vec::new();
    for i in 0..16 {
        // Half watch everything, half one namespace.
        let prefix = if i % 2 == 0 {
            PODS.to_owned()
        } else {
            format!("{PODS}a/")
        };
        watchers.push((
            i % 2 == 0,
            cache
                .watch(WatchRequest::prefix(prefix).from_revision(start))
                .await
                .unwrap(),
        ));
    }
    let mut all = Vec::new();
    let mut in_a = Vec::new();
    for i in 0..100 {
        let ns = if i % 3 == 0 { "a" } else { "b" };
        let rev = store
            .create(&pod_key(ns, &format!("p{i}")), Bytes::from("{}"))
            .await
            .unwrap();
        all.push(rev);
        if ns == "a" {
            in_a.push(rev);
        }
    }
    for (everything, mut watch) in watchers {
        let want = if everything { &all } else { &in_a };
        let got: Vec<Revision> = changes(&mut watch, want.len())
            .await
            .iter()
            .map(WatchEvent::revision)
            .collect();
        assert_eq!(&got, want);
    }
    assert_eq!(store.watches(), 1, "one store watch feeds every watcher");
}

#[tokio::test]
async fn one_store_watch_for_many_api_watchers() {
    let (store, cache) = setup(WatchCacheConfig::default());
    let mut watches = Vec::new();
    for _ in 0..50 {
        watches.push(cache.watch(WatchRequest::prefix(PODS)).await.unwrap());
    }
    let rev = store
        .create(&pod_key("a", "x"), Bytes::from("{}"))
        .await
        .unwrap();
    for watch in &mut watches {
        assert_eq!(changes(watch, 1).await[0].revision(), rev);
    }
    assert_eq!(store.watches(), 1);
    // Another resource gets its own cache, and its own store watch.
    let _nodes = cache
        .watch(WatchRequest::prefix("/registry/core/nodes/"))
        .await
        .unwrap();
    assert_eq!(store.watches(), 2);
}

#[tokio::test]
async fn watch_before_the_window_is_too_old() {
    let config = WatchCacheConfig {
        window_events: 5,
        ..WatchCacheConfig::default()
    };
    let (store, cache) = setup(config);
    let start = cache_revision(&cache).await + 1;
    let mut revs = Vec::new();
    for i in 0..10 {
        revs.push(
            store
                .create(&pod_key("a", &format!("p{i}")), Bytes::from("{}"))
                .await
                .unwrap(),
        );
    }
    // Wait until the cache has seen every write.
    let last = *revs.last().unwrap();
    assert!(cache_revision(&cache).await >= last);
    let err = cache
        .watch(WatchRequest::prefix(PODS).from_revision(start))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Compacted { .. }), "{err:?}");
    // The last five are still in the window.
    let mut watch = cache
        .watch(WatchRequest::prefix(PODS).from_revision(revs[5]))
        .await
        .unwrap();
    let got: Vec<Revision> = changes(&mut watch, 5)
        .await
        .iter()
        .map(WatchEvent::revision)
        .collect();
    assert_eq!(got, revs[5..]);
}

#[tokio::test]
async fn slow_watcher_overrun_by_the_window_ends_with_compacted() {
    let config = WatchCacheConfig {
        window_events: 4,
        watcher_buffer: 1,
        ..WatchCacheConfig::default()
    };
    let (store, cache) = setup(config);
    let mut watch = cache.watch(WatchRequest::prefix(PODS)).await.unwrap();
    for i in 0..40 {
        store
            .create(&pod_key("a", &format!("p{i}")), Bytes::from("{}"))
            .await
            .unwrap();
    }
    let mut last = 0;
    loop {
        match watch.next().await {
            Some(Ok(event)) => {
                assert!(event.revision() > last, "in order");
                last = event.revision();
            }
            Some(Err(Error::Compacted { .. })) => break,
            other => panic!("expected Compacted, got {other:?}"),
        }
    }
    assert!(
        watch.next().await.is_none(),
        "the watch ends after the error"
    );
}

#[tokio::test]
async fn cache_list_equals_store_list() {
    let (store, cache) = setup(WatchCacheConfig::default());
    for i in 0..30 {
        let ns = if i % 2 == 0 { "a" } else { "b" };
        store
            .create(
                &pod_key(ns, &format!("p{i:02}")),
                Bytes::from(format!("{i}")),
            )
            .await
            .unwrap();
    }
    let victim = pod_key("a", "p04");
    store.delete(&victim, None).await.unwrap();
    let kv = store.get(&pod_key("b", "p05")).await.unwrap().unwrap();
    store
        .update(&kv.key, Bytes::from("new"), kv.mod_revision)
        .await
        .unwrap();
    for prefix in [PODS.to_owned(), format!("{PODS}a/"), format!("{PODS}b/")] {
        let cached = cache.list(ListRequest::prefix(&prefix)).await.unwrap();
        let stored = store.list(ListRequest::prefix(&prefix)).await.unwrap();
        assert_eq!(cached, stored);
        // Paged, at the first page's revision.
        let mut pages = Vec::new();
        let mut request = ListRequest::prefix(&prefix).limit(4);
        loop {
            let page = cache.list(request.clone()).await.unwrap();
            assert_eq!(page.revision, cached.revision);
            pages.extend(page.items.iter().cloned());
            match (page.more, page.items.last()) {
                (true, Some(last)) => {
                    request = ListRequest::prefix(&prefix)
                        .limit(4)
                        .at_revision(page.revision)
                        .start_after(&last.key);
                }
                _ => break,
            }
        }
        assert_eq!(pages, stored.items);
    }
    // An exact older revision is read from the store.
    let old = cache
        .list(ListRequest::prefix(PODS).at_revision(5))
        .await
        .unwrap();
    assert_eq!(
        old,
        store
            .list(ListRequest::prefix(PODS).at_revision(5))
            .await
            .unwrap()
    );
}

#[tokio::test(start_paused = true)]
async fn rewatches_without_a_gap_after_the_store_watch_ends() {
    let (store, cache) = setup(WatchCacheConfig::default());
    let start = cache_revision(&cache).await + 1;
    let mut watch = cache
        .watch(WatchRequest::prefix(PODS).from_revision(start))
        .await
        .unwrap();
    let mut revs = Vec::new();
    for i in 0..5 {
        revs.push(
            store
                .create(&pod_key("a", &format!("p{i}")), Bytes::from("{}"))
                .await
                .unwrap(),
        );
    }
    let first: Vec<Revision> = changes(&mut watch, 5)
        .await
        .iter()
        .map(WatchEvent::revision)
        .collect();
    store.cut_watches();
    for i in 5..10 {
        revs.push(
            store
                .create(&pod_key("a", &format!("p{i}")), Bytes::from("{}"))
                .await
                .unwrap(),
        );
    }
    let second: Vec<Revision> = changes(&mut watch, 5)
        .await
        .iter()
        .map(WatchEvent::revision)
        .collect();
    assert_eq!([first, second].concat(), revs);
    assert_eq!(store.watches(), 2, "the cache watched the store again");
}

#[tokio::test(start_paused = true)]
async fn relists_after_compaction_and_ends_old_watchers() {
    let (store, cache) = setup(WatchCacheConfig::default());
    let mut watch = cache.watch(WatchRequest::prefix(PODS)).await.unwrap();
    store.refuse.store(true, Ordering::SeqCst);
    store.cut_watches();
    for i in 0..5 {
        store
            .create(&pod_key("a", &format!("p{i}")), Bytes::from("{}"))
            .await
            .unwrap();
    }
    let current = store.current_revision().await.unwrap();
    store.compact(current).await.unwrap();
    // Let the cache fail a few re-watches while the store refuses.
    tokio::time::sleep(Duration::from_secs(2)).await;
    store.refuse.store(false, Ordering::SeqCst);
    match watch.next().await {
        Some(Err(Error::Compacted { .. })) => {}
        other => panic!("expected Compacted, got {other:?}"),
    }
    // After the relist the cache serves the store's state again.
    let cached = cache.list(ListRequest::prefix(PODS)).await.unwrap();
    let stored = store.list(ListRequest::prefix(PODS)).await.unwrap();
    assert_eq!(cached.items, stored.items);
    assert_eq!(cached.items.len(), 5);
    let mut fresh = cache
        .watch(WatchRequest::prefix(PODS).from_revision(cached.revision + 1))
        .await
        .unwrap();
    let rev = store
        .create(&pod_key("a", "late"), Bytes::from("{}"))
        .await
        .unwrap();
    assert_eq!(changes(&mut fresh, 1).await[0].revision(), rev);
}

#[tokio::test(start_paused = true)]
async fn progress_reaches_the_stores_revision() {
    let (store, cache) = setup(WatchCacheConfig::default());
    let watch = cache.watch(WatchRequest::prefix(PODS)).await.unwrap();
    // A write to another resource moves the store's revision, not the pods'.
    let other = store
        .create("/registry/core/nodes/n1", Bytes::from("{}"))
        .await
        .unwrap();
    let mut watch = watch;
    watch.request_progress();
    match watch.next().await {
        Some(Ok(WatchEvent::Progress { revision })) => assert!(revision >= other),
        other => panic!("expected progress, got {other:?}"),
    }
}

#[tokio::test]
async fn watch_from_a_revision_the_store_compacted_is_too_old() {
    let (store, cache) = setup(WatchCacheConfig::default());
    let start = cache_revision(&cache).await + 1;
    for i in 0..3 {
        store
            .create(&pod_key("a", &format!("p{i}")), Bytes::from("{}"))
            .await
            .unwrap();
    }
    let current = store.current_revision().await.unwrap();
    assert!(cache_revision(&cache).await >= current);
    // Still in the window, and still in the store's history: served.
    assert!(
        cache
            .watch(WatchRequest::prefix(PODS).from_revision(start))
            .await
            .is_ok()
    );
    store.compact(current).await.unwrap();
    let err = cache
        .watch(WatchRequest::prefix(PODS).from_revision(start))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Compacted { .. }), "{err:?}");
    // From the compaction on is still served.
    assert!(
        cache
            .watch(WatchRequest::prefix(PODS).from_revision(current))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_watchers_share_one_store_watch() {
    use http_body_util::{BodyExt, Full};
    use kube_api::server::{ApiServer, Config};
    use tower::ServiceExt;

    let store = Arc::new(CountingStore::default());
    let server = ApiServer::new(store.clone(), Config::default());
    server.ensure_system_namespaces().await.unwrap();
    let request = |method: http::Method, uri: &str, body: &str| {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap()
    };
    let mut bodies = Vec::new();
    for _ in 0..20 {
        let response = server
            .clone()
            .oneshot(request(
                http::Method::GET,
                "/api/v1/namespaces/default/pods?watch=true",
                "",
            ))
            .await
            .unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        bodies.push(response.into_body());
    }
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},
        "spec":{"containers":[{"name":"app","image":"busybox"}]}}"#;
    let created = server
        .clone()
        .oneshot(request(
            http::Method::POST,
            "/api/v1/namespaces/default/pods",
            pod,
        ))
        .await
        .unwrap();
    assert_eq!(created.status(), http::StatusCode::CREATED);
    for body in &mut bodies {
        let mut line = Vec::new();
        while !line.ends_with(b"\n") {
            let frame = body.frame().await.unwrap().unwrap();
            if let Ok(data) = frame.into_data() {
                line.extend_from_slice(&data);
            }
        }
        let event: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(event["type"], "ADDED");
        assert_eq!(event["object"]["metadata"]["name"], "web");
    }
    // The namespaces' and the pods' caches: one store watch each, for 20 API watchers.
    let pods_and_namespaces = store.watches();
    assert!(
        pods_and_namespaces <= 2,
        "{pods_and_namespaces} store watches"
    );
}
