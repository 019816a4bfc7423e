//! The client runtime against the real server, in-process: informers over the typed API's
//! list and watch, leader election over its Leases, the event recorder over its
//! events.k8s.io/v1 API. Every seam is the library's own implementation over a [`Client`].

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::jiff::Timestamp;
use kube_api::client::runtime::events::{BroadcasterConfig, EventBroadcaster, EventType};
use kube_api::client::runtime::{
    ApiEventSink, ApiLeaseLock, Backoff, Callbacks, HandlerFuncs, Informer, InitialList,
    LeaderElectionConfig, LeaderElector, ReflectorConfig, Rng, Scope, SharedInformerFactory,
    TokioClock,
};
use kube_api::client::{Api, Client, PostParams};

use common::TestServer;

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..600 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

fn recording() -> (HandlerFuncs<ConfigMap>, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (a, u, d) = (log.clone(), log.clone(), log.clone());
    let name = |o: &ConfigMap| o.metadata.name.clone().unwrap_or_default();
    let h = HandlerFuncs::new()
        .on_add(move |o, _| a.lock().unwrap().push(format!("add {}", name(o))))
        .on_update(move |_, n| u.lock().unwrap().push(format!("update {}", name(n))))
        .on_delete(move |o| {
            d.lock()
                .unwrap()
                .push(format!("delete {}", name(o.object())))
        });
    (h, log)
}

async fn informer_follows_the_server(initial_list: InitialList) {
    let s = TestServer::new().await;
    for i in 0..5 {
        s.configmap(
            "default",
            &format!("cm-{i}"),
            serde_json::json!({"app": "web"}),
        )
        .await;
    }
    let config = ReflectorConfig {
        page_size: Some(2),
        initial_list,
        backoff: Backoff::reflector_default(Rng::seeded(1)),
        ..ReflectorConfig::default()
    };
    let maps: Api<ConfigMap> = Api::namespaced(Client::new(s.server.clone()), "default");
    let informer = Informer::new(Arc::new(maps), config);
    let (h, log) = recording();
    informer.add_event_handler(h);
    let i = informer.clone();
    let task = tokio::spawn(async move { i.run(std::future::pending()).await });
    informer.wait_for_sync().await;
    assert_eq!(informer.store().len(), 5);
    s.configmap("default", "late", serde_json::json!({})).await;
    let (code, _) = s.delete("/api/v1/namespaces/default/configmaps/cm-0").await;
    assert_eq!(code, 200);
    until("the watch delivered", || {
        informer.store().len() == 5 && informer.store().contains("default/late")
    })
    .await;
    until("handlers", || log.lock().unwrap().len() == 7).await;
    let log = log.lock().unwrap().clone();
    assert_eq!(&log[5..], ["add late", "delete cm-0"]);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn informer_syncs_by_streaming_list_and_follows_the_watch() {
    informer_follows_the_server(InitialList::Streaming).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn informer_syncs_by_paged_list_and_follows_the_watch() {
    informer_follows_the_server(InitialList::Paged).await;
}

#[tokio::test(start_paused = true)]
async fn leader_election_over_the_servers_leases() {
    let s = TestServer::new().await;
    let leader: Arc<Mutex<Option<String>>> = Arc::default();
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
        let mut config = LeaderElectionConfig::new(id);
        config.clock = Arc::new(TokioClock::new(
            Timestamp::from_second(1_800_000_000).unwrap(),
        ));
        config.rng = Rng::seeded(i as u64);
        let (l1, l2, v) = (leader.clone(), leader.clone(), violations.clone());
        let callbacks = Callbacks::new()
            .on_started_leading(move || {
                let mut l = l1.lock().unwrap();
                if let Some(other) = &*l {
                    v.lock().unwrap().push(format!("{id} while {other}"));
                }
                *l = Some(id.to_owned());
            })
            .on_stopped_leading(move || {
                let mut l = l2.lock().unwrap();
                if l.as_deref() == Some(id) {
                    *l = None;
                }
            });
        let lock = Arc::new(ApiLeaseLock::new(
            Client::new(s.server.clone()),
            "default",
            "controller",
        ));
        let elector = Arc::new(LeaderElector::new(lock, config, callbacks).unwrap());
        tasks.push((
            id,
            tokio::spawn(async move { elector.run(std::future::pending()).await }),
        ));
    }
    until("a leader", || leader.lock().unwrap().is_some()).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let first = leader.lock().unwrap().clone().unwrap();
    let (_, task) = tasks.iter().find(|(id, _)| *id == first).unwrap();
    task.abort();
    let killed_at = tokio::time::Instant::now();
    *leader.lock().unwrap() = None;
    until("a new leader", || leader.lock().unwrap().is_some()).await;
    assert!(killed_at.elapsed() <= Duration::from_secs(15) + Duration::from_millis(8800));
    let second = leader.lock().unwrap().clone().unwrap();
    assert_ne!(first, second);
    assert_eq!(*violations.lock().unwrap(), Vec::<String>::new());
    let (code, lease) = s
        .get("/apis/coordination.k8s.io/v1/namespaces/default/leases/controller")
        .await;
    assert_eq!(code, 200);
    assert_eq!(lease["spec"]["holderIdentity"], second.as_str());
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_recorder_writes_series_to_the_server() {
    let s = TestServer::new().await;
    let cm: ConfigMap =
        serde_json::from_value(s.configmap("default", "web", serde_json::json!({})).await).unwrap();
    let broadcaster = Arc::new(EventBroadcaster::new(
        Arc::new(ApiEventSink::new(Client::new(s.server.clone()))),
        BroadcasterConfig {
            rng: Rng::seeded(2),
            ..BroadcasterConfig::default()
        },
    ));
    let recorder = broadcaster.new_recorder("example.io/controller", "replica-1");
    let b = broadcaster.clone();
    let task = tokio::spawn(async move { b.run(std::future::pending()).await });
    recorder.event_for(&cm, EventType::Warning, "Failed", "Sync", "could not sync");
    recorder.event_for(&cm, EventType::Warning, "Failed", "Sync", "could not sync");
    until("both writes", || {
        broadcaster
            .stats()
            .written
            .load(std::sync::atomic::Ordering::Relaxed)
            == 2
    })
    .await;
    let (code, list) = s
        .get("/apis/events.k8s.io/v1/namespaces/default/events")
        .await;
    assert_eq!(code, 200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let e = &items[0];
    assert_eq!(e["series"]["count"], 2);
    assert_eq!(e["regarding"]["name"], "web");
    assert_eq!(e["regarding"]["kind"], "ConfigMap");
    assert_eq!(e["reportingController"], "example.io/controller");
    assert_eq!(e["type"], "Warning");
    assert_eq!(
        broadcaster
            .stats()
            .failed
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    task.abort();
}

/// The sum of the `/metrics` samples of `metric` whose labels include every one of `labels`.
async fn metric(client: &Client, metric: &str, labels: &[&str]) -> i64 {
    let request = http::Request::get("/metrics")
        .body(kube_api::client::Body::new(bytes::Bytes::new()))
        .unwrap();
    let text = String::from_utf8(client.request_bytes(request).await.unwrap().to_vec()).unwrap();
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<i64>().unwrap())
        .sum()
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }))
    .unwrap()
}

/// Shared informers: 20 consumers of pods in one process share one informer and one watch
/// (the server's `apiserver_longrunning_requests` says so); consumers added and removed at run
/// time see exactly the events of the time they were registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_consumers_of_pods_open_one_watch() {
    let s = TestServer::new().await;
    let client = Client::new(s.server.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("before"))
        .await
        .unwrap();
    let factory = SharedInformerFactory::new();
    let informer_for = |factory: &SharedInformerFactory| {
        let client = client.clone();
        factory.informer::<Pod>(Scope::all(), move || Arc::new(Api::<Pod>::all(client)))
    };
    let seen: Vec<Arc<Mutex<Vec<String>>>> = (0..30).map(|_| Arc::default()).collect();
    let register = |informer: &Informer<Pod>, log: &Arc<Mutex<Vec<String>>>| {
        let log = log.clone();
        informer.add_event_handler(HandlerFuncs::new().on_add(move |o: &Arc<Pod>, _| {
            log.lock()
                .unwrap()
                .push(o.metadata.name.clone().unwrap_or_default())
        }))
    };
    let mut registrations = Vec::new();
    for log in &seen[..20] {
        registrations.push(register(&informer_for(&factory), log));
    }
    factory.start();
    factory.wait_for_cache_sync().await;
    assert_eq!(factory.synced().len(), 1, "one informer for 20 consumers");
    let watches = ["verb=\"WATCH\"", "resource=\"pods\""];
    assert_eq!(
        metric(&client, "apiserver_longrunning_requests", &watches).await,
        1
    );

    // Ten more consumers join a running informer; five of the first leave.
    for log in &seen[20..] {
        registrations.push(register(&informer_for(&factory), log));
    }
    for registration in registrations.drain(..5) {
        registration.remove();
    }
    pods.create(&PostParams::default(), &pod("after"))
        .await
        .unwrap();
    until("every remaining consumer saw the new pod", || {
        seen[5..]
            .iter()
            .all(|log| log.lock().unwrap().contains(&"after".to_owned()))
    })
    .await;
    for (i, log) in seen.iter().enumerate() {
        let log = log.lock().unwrap().clone();
        // Late joiners are told of the pods already cached, as upstream's informers do.
        let expected = if i < 5 {
            vec!["before"]
        } else {
            vec!["before", "after"]
        };
        assert_eq!(log, expected, "consumer {i}");
    }
    assert_eq!(
        metric(&client, "apiserver_longrunning_requests", &watches).await,
        1
    );
    assert_eq!(factory.synced().len(), 1);
    factory.shutdown().await;
}
