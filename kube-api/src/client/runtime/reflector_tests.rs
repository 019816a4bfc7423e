use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_core::status::StatusError;

use super::*;
use crate::client::runtime::test_util::FakeListerWatcher;

fn cm(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            namespace: Some("ns".into()),
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some([("k".to_owned(), value.to_owned())].into_iter().collect()),
        ..Default::default()
    }
}

fn config(initial_list: InitialList, page_size: Option<u32>) -> ReflectorConfig {
    ReflectorConfig {
        page_size,
        initial_list,
        backoff: Backoff::reflector_default(Rng::seeded(1)),
        ..ReflectorConfig::default()
    }
}

/// Starts a reflector from `fake` into a new store.
fn start(
    fake: &FakeListerWatcher<ConfigMap>,
    config: ReflectorConfig,
) -> (Store<ConfigMap>, tokio::task::JoinHandle<()>) {
    let store = Store::new();
    let mut reflector = Reflector::new(
        Arc::new(fake.clone()),
        Arc::new(store.clone()) as Arc<dyn ReflectorSink<ConfigMap>>,
        config,
    );
    let task = tokio::spawn(async move { reflector.run(std::future::pending()).await });
    (store, task)
}

/// Lets the reflector run until `cond` holds (under the paused clock, idle time auto-advances).
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

fn value(store: &Store<ConfigMap>, key: &str) -> Option<String> {
    store
        .get(key)
        .and_then(|o| o.data.as_ref()?.get("k").cloned())
}

#[tokio::test(start_paused = true)]
async fn streaming_list_then_watch() {
    let fake = FakeListerWatcher::new();
    fake.upsert(cm("a", "1"));
    fake.upsert(cm("b", "1"));
    let (store, task) = start(&fake, config(InitialList::StreamingIfSupported, Some(500)));
    store.wait_for_sync().await;
    assert_eq!(store.list_keys(), ["ns/a", "ns/b"]);
    assert!(
        fake.lists().is_empty(),
        "a streaming list needs no list call"
    );
    let first = &fake.watches()[0];
    assert!(first.send_initial_events && first.bookmarks);
    assert_eq!(first.version_match, Some(VersionMatch::NotOlderThan));
    fake.upsert(cm("a", "2"));
    fake.delete("ns/b");
    until("the watch applied", || {
        value(&store, "ns/a").as_deref() == Some("2") && store.len() == 1
    })
    .await;
    assert_eq!(
        fake.watches().len(),
        1,
        "the streaming list's watch stays open"
    );
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn falls_back_to_paged_list_when_streaming_is_rejected() {
    let fake = FakeListerWatcher::new();
    fake.set_streaming(false);
    for i in 0..5 {
        fake.upsert(cm(&format!("o{i}"), "1"));
    }
    let (store, task) = start(&fake, config(InitialList::StreamingIfSupported, Some(2)));
    store.wait_for_sync().await;
    assert_eq!(store.len(), 5);
    let lists = fake.lists();
    assert_eq!(lists.len(), 3, "5 objects in pages of 2: {lists:?}");
    assert_eq!(lists[0].resource_version.as_deref(), Some("0"));
    assert!(lists[1].continue_token.is_some() && lists[1].resource_version.is_none());
    until("the watch opened", || fake.open_watches() == 1).await;
    let watches = fake.watches();
    assert!(watches[0].send_initial_events, "first tried streaming");
    assert!(!watches[1].send_initial_events);
    assert_eq!(watches[1].resource_version.as_deref(), Some("6"));
    let timeout = watches[1].timeout_seconds.unwrap();
    assert!((300..=600).contains(&timeout), "{timeout}");
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn expired_continue_token_falls_back_to_a_full_list() {
    let fake = FakeListerWatcher::new();
    for i in 0..5 {
        fake.upsert(cm(&format!("o{i}"), "1"));
    }
    fake.expire_next_continue();
    let (store, task) = start(&fake, config(InitialList::Paged, Some(2)));
    store.wait_for_sync().await;
    assert_eq!(store.len(), 5);
    let lists = fake.lists();
    assert_eq!(lists.len(), 3, "{lists:?}");
    assert_eq!(lists[2].limit, None, "the full list has no limit");
    assert_eq!(lists[2].resource_version.as_deref(), Some("0"));
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn closed_watch_resumes_from_the_last_version_without_relisting() {
    let fake = FakeListerWatcher::new();
    fake.upsert(cm("a", "1"));
    let (store, task) = start(&fake, config(InitialList::Paged, Some(500)));
    store.wait_for_sync().await;
    until("the watch opened", || fake.open_watches() == 1).await;
    fake.upsert(cm("a", "2"));
    until("the update arrived", || {
        value(&store, "ns/a").as_deref() == Some("2")
    })
    .await;
    // A bookmark moves the version past the last event.
    fake.upsert(cm("other", "x"));
    fake.bookmark();
    until("the add arrived", || store.len() == 2).await;
    tokio::task::yield_now().await;
    let rv = fake.resource_version().to_string();
    fake.close_watches();
    fake.upsert(cm("a", "3"));
    until("the rewatch caught up", || {
        value(&store, "ns/a").as_deref() == Some("3")
    })
    .await;
    assert_eq!(fake.lists().len(), 1, "no relist");
    let watches = fake.watches();
    assert_eq!(
        watches.last().unwrap().resource_version.as_deref(),
        Some(rv.as_str())
    );
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn gone_error_event_relists_and_tombstones_missed_deletes() {
    let fake = FakeListerWatcher::new();
    fake.upsert(cm("a", "1"));
    fake.upsert(cm("b", "1"));
    let (store, task) = start(&fake, config(InitialList::Paged, Some(500)));
    store.wait_for_sync().await;
    until("the watch opened", || fake.open_watches() == 1).await;
    fake.delete_silently("ns/b");
    fake.compact();
    fake.error_watches(StatusError::gone("too old resource version"));
    until("the relist dropped b", || store.len() == 1).await;
    // The relist at the last version (3) is gone too (compacted at 4): then a consistent list.
    let lists = fake.lists();
    assert_eq!(lists.len(), 3, "{lists:?}");
    assert_eq!(lists[1].resource_version.as_deref(), Some("3"));
    assert_eq!(lists[2].resource_version, None);
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn gone_from_the_watch_call_relists_at_the_last_version() {
    let fake = FakeListerWatcher::new();
    fake.upsert(cm("a", "1"));
    fake.fail_next_watch(crate::client::Error::Api(StatusError::gone("gone")));
    // History before rv 2 is gone; the list at "0" (any version) still works.
    fake.compact();
    fake.upsert(cm("b", "1"));
    let (store, task) = start(&fake, config(InitialList::Paged, Some(500)));
    store.wait_for_sync().await;
    until("relisted", || {
        fake.lists().len() >= 2 && fake.open_watches() == 1
    })
    .await;
    let lists = fake.lists();
    assert_eq!(lists[1].resource_version.as_deref(), Some("3"));
    assert_eq!(store.len(), 2);
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn list_failures_back_off_exponentially() {
    let fake = FakeListerWatcher::new();
    fake.upsert(cm("a", "1"));
    for _ in 0..4 {
        fake.fail_next_list(crate::client::Error::Transport("connection refused".into()));
    }
    let started = tokio::time::Instant::now();
    let (store, task) = start(&fake, config(InitialList::Paged, Some(500)));
    store.wait_for_sync().await;
    let waited = started.elapsed();
    // 0.8 + 1.6 + 3.2 + 6.4 s at least, twice that at most (jitter 1.0).
    assert!(waited >= Duration::from_millis(12_000), "{waited:?}");
    assert!(waited <= Duration::from_millis(24_100), "{waited:?}");
    assert_eq!(fake.lists().len(), 5);
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn relist_after_expiry_uses_the_last_version() {
    let fake = FakeListerWatcher::new();
    fake.upsert(cm("a", "1"));
    let (store, task) = start(&fake, config(InitialList::Paged, None));
    store.wait_for_sync().await;
    until("the watch opened", || fake.open_watches() == 1).await;
    fake.upsert(cm("a", "2"));
    until("update", || value(&store, "ns/a").as_deref() == Some("2")).await;
    fake.error_watches(StatusError::resource_expired("expired"));
    until("relisted", || fake.lists().len() == 2).await;
    let lists = fake.lists();
    assert_eq!(lists[1].resource_version.as_deref(), Some("3"));
    assert_eq!(lists[1].version_match, Some(VersionMatch::NotOlderThan));
    task.abort();
}
