use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_core::status::StatusError;

use super::*;
use crate::client::runtime::backoff::{Backoff, Rng};
use crate::client::runtime::reflector::InitialList;
use crate::client::runtime::shared::{Scope, SharedInformerFactory};
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

fn config() -> ReflectorConfig {
    ReflectorConfig {
        initial_list: InitialList::Paged,
        backoff: Backoff::reflector_default(Rng::seeded(3)),
        ..ReflectorConfig::default()
    }
}

fn data(o: &ConfigMap) -> String {
    format!(
        "{}={}",
        o.metadata.name.as_deref().unwrap_or_default(),
        o.data
            .as_ref()
            .and_then(|d| d.get("k"))
            .cloned()
            .unwrap_or_default()
    )
}

/// A handler writing one line per call.
fn recorder() -> (HandlerFuncs<ConfigMap>, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (a, u, d) = (log.clone(), log.clone(), log.clone());
    let h = HandlerFuncs::new()
        .on_add(move |o, initial| a.lock().unwrap().push(format!("add {} {initial}", data(o))))
        .on_update(move |old, new| {
            u.lock()
                .unwrap()
                .push(format!("update {} -> {}", data(old), data(new)))
        })
        .on_delete(move |del| {
            let tomb = if del.is_final_state_unknown() {
                " tombstone"
            } else {
                ""
            };
            d.lock()
                .unwrap()
                .push(format!("delete {}{tomb}", data(del.object())))
        });
    (h, log)
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

fn lines(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn handlers_see_every_change_in_order_with_tombstones() {
    let fake = FakeListerWatcher::new();
    fake.upsert(cm("a", "1"));
    fake.upsert(cm("b", "1"));
    let informer = Informer::new(Arc::new(fake.clone()), config());
    let (h, log) = recorder();
    let mut reg = informer.add_event_handler(h);
    let run = tokio::spawn({
        let i = informer.clone();
        async move { i.run(std::future::pending()).await }
    });
    reg.wait_for_sync().await;
    until("the watch opened", || fake.open_watches() == 1).await;
    fake.upsert(cm("a", "2"));
    fake.delete("ns/a");
    fake.delete_silently("ns/b");
    fake.upsert(cm("c", "1"));
    fake.compact();
    fake.error_watches(StatusError::gone("too old"));
    until("the relist", || lines(&log).len() == 7).await;
    assert_eq!(
        lines(&log),
        [
            "add a=1 true",
            "add b=1 true",
            "update a=1 -> a=2",
            "delete a=2",
            "add c=1 false",
            "update c=1 -> c=1",
            "delete b=1 tombstone",
        ]
    );
    run.abort();
}

#[tokio::test(start_paused = true)]
async fn late_joiners_get_the_cache_then_changes_and_removed_handlers_nothing() {
    let fake = FakeListerWatcher::new();
    fake.upsert(cm("a", "1"));
    let informer = Informer::new(Arc::new(fake.clone()), config());
    let (early, early_log) = recorder();
    let early = informer.add_event_handler(early);
    let run = tokio::spawn({
        let i = informer.clone();
        async move { i.run(std::future::pending()).await }
    });
    informer.wait_for_sync().await;
    until("the watch opened", || fake.open_watches() == 1).await;
    fake.upsert(cm("b", "1"));
    until("b cached", || informer.store().len() == 2).await;
    let (late, late_log) = recorder();
    let mut late = informer.add_event_handler(late);
    late.wait_for_sync().await;
    assert_eq!(lines(&late_log), ["add a=1 true", "add b=1 true"]);
    early.remove();
    fake.upsert(cm("b", "2"));
    until("the late joiner saw b=2", || lines(&late_log).len() == 3).await;
    assert_eq!(lines(&late_log)[2], "update b=1 -> b=2");
    assert_eq!(lines(&early_log), ["add a=1 true", "add b=1 false"]);
    assert_eq!(informer.handler_count(), 1);
    run.abort();
}

#[tokio::test(start_paused = true)]
async fn resync_redelivers_the_cache_per_handler_period() {
    let fake = FakeListerWatcher::new();
    fake.upsert(cm("a", "1"));
    let informer = Informer::new(Arc::new(fake.clone()), config());
    let (every_minute, minute_log) = recorder();
    let (never, never_log) = recorder();
    informer.add_event_handler_with_resync(every_minute, Some(Duration::from_secs(60)));
    informer.add_event_handler(never);
    let run = tokio::spawn({
        let i = informer.clone();
        async move { i.run(std::future::pending()).await }
    });
    informer.wait_for_sync().await;
    tokio::time::sleep(Duration::from_secs(150)).await;
    assert_eq!(
        lines(&minute_log),
        ["add a=1 true", "update a=1 -> a=1", "update a=1 -> a=1"]
    );
    assert_eq!(lines(&never_log), ["add a=1 true"]);
    run.abort();
}

#[tokio::test(start_paused = true)]
async fn the_factory_shares_one_watch_per_type_and_scope() {
    let fake = FakeListerWatcher::new();
    fake.upsert(cm("a", "1"));
    let factory = SharedInformerFactory::with_config(config);
    let mut made = 0;
    let first = factory.informer::<ConfigMap>(Scope::all(), || {
        made += 1;
        Arc::new(fake.clone())
    });
    let second = factory.informer::<ConfigMap>(Scope::all(), || {
        made += 1;
        Arc::new(fake.clone())
    });
    assert_eq!(made, 1, "one informer for one type and scope");
    let (h1, log1) = recorder();
    let (h2, log2) = recorder();
    first.add_event_handler(h1);
    second.add_event_handler(h2);
    factory.start();
    let synced = factory.wait_for_cache_sync().await;
    assert_eq!(synced.values().copied().collect::<Vec<_>>(), [true]);
    until("both handlers synced", || {
        lines(&log1).len() == 1 && lines(&log2).len() == 1
    })
    .await;
    assert_eq!(fake.lists().len(), 1, "one list");
    until("the watch opened", || fake.open_watches() == 1).await;
    // Another scope is another informer, started at once since the factory runs.
    let other_fake = FakeListerWatcher::new();
    other_fake.upsert(cm("z", "1"));
    let labelled = factory.informer::<ConfigMap>(Scope::namespace("ns").labels("app=web"), || {
        Arc::new(other_fake.clone())
    });
    labelled.wait_for_sync().await;
    assert_eq!(
        other_fake.lists()[0].label_selector.as_deref(),
        Some("app=web")
    );
    assert_eq!(factory.synced().len(), 2);
    factory.shutdown().await;
    assert_eq!(fake.open_watches(), 0, "shutdown ends the watches");
}
