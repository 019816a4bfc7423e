//! The kube-rs client and runtime against the server on a loopback port, over TLS with the
//! admin kubeconfig: typed CRUD and the
//! three patch types, then kube's `watcher` and `reflector` across server-side watch timeouts,
//! bookmarks and a compaction of the store, over seeded rounds of random changes; our own
//! reflector (kube-api's informer over its HTTPS client) runs beside them through the same
//! rounds, with paged and streaming initial lists.
//!
//! Server-side apply with `Patch::Apply`: create, conflict, force.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::https::HttpsServer;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::client::{Body, ClientBuilder};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store as Reader};
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use kube_api::client::runtime as ours;
use kube_api::server::Config;
use kube_store::{MemoryStore, Store};
use serde_json::json;
use tokio::task::JoinHandle;

/// Bounds every wait for the client side to catch up (a bound, not a speed check).
const WAIT: Duration = Duration::from_secs(30);

/// How often a bounded wait looks again.
const POLL: Duration = Duration::from_millis(25);

/// The server on 127.0.0.1 over TLS, its store, and the kube-rs settings from the admin
/// kubeconfig it wrote (CA verified, admin client certificate).
struct Served {
    store: MemoryStore,
    https: HttpsServer,
    config: kube::Config,
}

impl Served {
    async fn start(config: Config) -> Self {
        let store = MemoryStore::new();
        let https = HttpsServer::start(Arc::new(store.clone()) as Arc<dyn Store>, config).await;
        let kubeconfig = kube::config::Kubeconfig::read_from(&https.kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        assert!(!config.accept_invalid_certs);
        Self {
            store,
            https,
            config,
        }
    }

    fn kube_config(&self) -> kube::Config {
        self.config.clone()
    }

    fn client(&self) -> Client {
        Client::try_from(self.kube_config()).unwrap()
    }

    /// A client that records the path and query of every request it sends.
    fn recording_client(&self, log: Arc<Mutex<Vec<String>>>) -> Client {
        let layer = tower::util::MapRequestLayer::new(move |request: http::Request<Body>| {
            let uri = request
                .uri()
                .path_and_query()
                .map(|pq| pq.to_string())
                .unwrap_or_default();
            log.lock().unwrap().push(uri);
            request
        });
        ClientBuilder::try_from(self.kube_config())
            .unwrap()
            .with_layer(&layer)
            .build()
    }

    async fn stop(self) {
        self.https.stop().await;
    }
}

/// Polls `check` until it holds, failing after [`WAIT`].
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [
            {"name": "app", "image": "busybox"},
            {"name": "sidecar", "image": "envoy"}
        ]}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply() {
    let served = Served::start(Config::default()).await;
    let cms: Api<ConfigMap> = Api::namespaced(served.client(), "default");
    let config = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "applied"},
        "data": {"a": "1", "b": "2"}
    });
    let created = cms
        .patch(
            "applied",
            &PatchParams::apply("mgr"),
            &Patch::Apply(&config),
        )
        .await
        .unwrap();
    assert_eq!(created.data.as_ref().unwrap()["a"], "1");
    let managed = created.metadata.managed_fields.unwrap();
    assert_eq!(managed[0].manager.as_deref(), Some("mgr"));
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));

    let other = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "applied"}, "data": {"a": "changed"}});
    let err = cms
        .patch(
            "applied",
            &PatchParams::apply("other"),
            &Patch::Apply(&other),
        )
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409);
            assert_eq!(
                status.message,
                "Apply failed with 1 conflict: conflict with \"mgr\": .data.a"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let forced = cms
        .patch(
            "applied",
            &PatchParams::apply("other").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["a"], "changed");
    assert_eq!(forced.data.as_ref().unwrap()["b"], "2");
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_crud_and_patches() {
    let served = Served::start(Config::default()).await;
    let client = served.client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let created = pods
        .create(&PostParams::default(), &pod("web"))
        .await
        .unwrap();
    assert_eq!(created.namespace().as_deref(), Some("default"));
    assert!(created.uid().is_some());
    let rv = created.resource_version().unwrap();
    assert!(rv.parse::<i64>().unwrap() > 0);
    let conflict = pods.create(&PostParams::default(), &pod("web")).await;
    match conflict {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 409);
            assert_eq!(status.reason, "AlreadyExists");
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }

    let got = pods.get("web").await.unwrap();
    assert_eq!(got.resource_version(), created.resource_version());
    assert_eq!(got.spec, created.spec);
    match pods.get("missing").await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 404),
        other => panic!("expected NotFound, got {other:?}"),
    }

    pods.create(&PostParams::default(), &pod("other"))
        .await
        .unwrap();
    let listed = pods.list(&ListParams::default()).await.unwrap();
    let names: Vec<String> = listed.items.iter().map(|p| p.name_any()).collect();
    assert_eq!(names, ["other", "web"]);
    assert!(listed.metadata.resource_version.is_some());
    let selected = pods
        .list(
            &ListParams::default()
                .labels("app=web")
                .fields("metadata.name=web"),
        )
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 1);

    // JSON merge patch: labels merge.
    let merged = pods
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.labels().get("app").map(String::as_str), Some("web"));
    assert_eq!(
        merged.labels().get("tier").map(String::as_str),
        Some("front")
    );
    assert_ne!(merged.resource_version(), created.resource_version());

    // Strategic merge patch: containers merge by name, so the sidecar stays.
    let strategic = pods
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"containers": [{"name": "app", "image": "nginx"}]}})),
        )
        .await
        .unwrap();
    let containers = &strategic.spec.as_ref().unwrap().containers;
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[0].image.as_deref(), Some("nginx"));
    assert_eq!(containers[1].name, "sidecar");

    // JSON patch, with a test that fails: 422 and nothing changes.
    let json_patch = serde_json::from_value(json!([
        {"op": "add", "path": "/metadata/annotations", "value": {"note": "x"}},
        {"op": "remove", "path": "/metadata/labels/tier"}
    ]))
    .unwrap();
    let patched = pods
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Json::<()>(json_patch),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.annotations().get("note").map(String::as_str),
        Some("x")
    );
    assert!(!patched.labels().contains_key("tier"));
    let failing = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/name", "value": "other"}
    ]))
    .unwrap();
    assert!(matches!(
        pods.patch("web", &PatchParams::default(), &Patch::Json::<()>(failing))
            .await,
        Err(kube::Error::Api(_))
    ));
    assert_eq!(
        pods.get("web").await.unwrap().resource_version(),
        patched.resource_version()
    );

    // Delete: a pod without a node goes at once.
    let deleted = pods.delete("web", &DeleteParams::default()).await.unwrap();
    assert!(deleted.is_left(), "the deleted pod is returned");
    assert!(pods.get_opt("web").await.unwrap().is_none());

    // ConfigMaps, the same way.
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "settings"}, "data": {"a": "1"}
    }))
    .unwrap();
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let patched = configmaps
        .patch(
            "settings",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"b": "2"}})),
        )
        .await
        .unwrap();
    let data = patched.data.unwrap();
    assert_eq!(
        data,
        BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned())
        ])
    );
    configmaps
        .delete("settings", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        configmaps
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    served.stop().await;
}

/// A small seeded generator (xorshift), so every run makes the same changes.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A reflector over ConfigMaps in `default`: its store, how many initial lists it has begun,
/// and the requests its client sent.
struct Reflected {
    reader: Reader<ConfigMap>,
    inits: Arc<Mutex<usize>>,
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Reflected {
    fn start(served: &Served, config: watcher::Config) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let client = served.recording_client(Arc::clone(&requests));
        let api: Api<ConfigMap> = Api::namespaced(client, "default");
        let (reader, writer) = reflector::store();
        let inits = Arc::new(Mutex::new(0));
        let counted = Arc::clone(&inits);
        let stream = reflector::reflector(writer, watcher::watcher(api, config).default_backoff());
        let task = tokio::spawn(async move {
            stream
                .for_each(|event| {
                    if let Ok(Event::Init) = event {
                        *counted.lock().unwrap() += 1;
                    }
                    async {}
                })
                .await;
        });
        Self {
            reader,
            inits,
            requests,
            task,
        }
    }

    fn inits(&self) -> usize {
        *self.inits.lock().unwrap()
    }

    /// The requests sent so far that match `pred`.
    fn requests(&self, pred: impl Fn(&str) -> bool) -> Vec<String> {
        let log = self.requests.lock().unwrap();
        log.iter().filter(|uri| pred(uri)).cloned().collect()
    }

    /// The store, as (name, resourceVersion) pairs in name order.
    fn state(&self) -> Vec<(String, String)> {
        let mut state: Vec<(String, String)> = self
            .reader
            .state()
            .iter()
            .map(|cm| (cm.name_any(), cm.resource_version().unwrap_or_default()))
            .collect();
        state.sort();
        state
    }
}

/// What our reflector asked of the server.
#[derive(Debug, Clone)]
enum Call {
    /// A list; `first_page` unless it carried a continue token.
    List { first_page: bool },
    /// A watch; `initial_events` for a streaming list.
    Watch {
        initial_events: bool,
        resource_version: Option<i64>,
        timeout_seconds: Option<u32>,
    },
}

/// The typed API as our reflector's ListerWatcher, recording each call; `bookmarks: false`
/// plays a client that never asks for bookmarks (so its resourceVersion can fall behind a
/// compaction).
struct Recorded {
    api: kube_api::client::Api<ConfigMap>,
    bookmarks: bool,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl ours::ListerWatcher<ConfigMap> for Recorded {
    fn list<'a>(
        &'a self,
        params: &'a ours::ListParams,
    ) -> futures::future::BoxFuture<'a, kube_api::client::Result<k8s_openapi::List<ConfigMap>>>
    {
        self.calls.lock().unwrap().push(Call::List {
            first_page: params.continue_token.is_none(),
        });
        ours::ListerWatcher::list(&self.api, params)
    }

    fn watch<'a>(
        &'a self,
        params: &'a ours::WatchParams,
    ) -> futures::future::BoxFuture<'a, kube_api::client::Result<ours::WatchStream<ConfigMap>>>
    {
        Box::pin(async move {
            let mut params = params.clone();
            params.bookmarks &= self.bookmarks;
            self.calls.lock().unwrap().push(Call::Watch {
                initial_events: params.send_initial_events,
                resource_version: params
                    .resource_version
                    .as_deref()
                    .and_then(|rv| rv.parse().ok()),
                timeout_seconds: params.timeout_seconds,
            });
            ours::ListerWatcher::watch(&self.api, &params).await
        })
    }
}

/// Our reflector (an informer) over ConfigMaps in `default`, through kube-api's HTTPS client
/// configured from the same kubeconfig.
struct Ours {
    informer: ours::Informer<ConfigMap>,
    calls: Arc<Mutex<Vec<Call>>>,
    task: JoinHandle<()>,
}

impl Ours {
    fn start(served: &Served, config: ours::ReflectorConfig, bookmarks: bool) -> Self {
        let kc = kube_api::client::Kubeconfig::read(&served.https.kubeconfig).unwrap();
        let client = kube_api::client::Client::try_from(
            kube_api::client::Config::from_kubeconfig(&kc, &Default::default()).unwrap(),
        )
        .unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorded = Recorded {
            api: kube_api::client::Api::namespaced(client, "default"),
            bookmarks,
            calls: Arc::clone(&calls),
        };
        let informer = ours::Informer::new(Arc::new(recorded), config);
        let running = informer.clone();
        let task = tokio::spawn(async move {
            let _ = running.run(std::future::pending()).await;
        });
        Self {
            informer,
            calls,
            task,
        }
    }

    /// How many initial lists (paged or streaming) it has begun.
    fn inits(&self) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| {
                matches!(
                    c,
                    Call::List { first_page: true }
                        | Call::Watch {
                            initial_events: true,
                            ..
                        }
                )
            })
            .count()
    }

    /// The resourceVersions its watches (not streaming lists) resumed from.
    fn resumed_from(&self) -> Vec<i64> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter_map(|c| match c {
                Call::Watch {
                    initial_events: false,
                    resource_version,
                    timeout_seconds,
                } => {
                    assert!(
                        timeout_seconds.is_some_and(|t| (1..=2).contains(&t)),
                        "{c:?}"
                    );
                    Some(resource_version.expect("a watch resumes from a resourceVersion"))
                }
                _ => None,
            })
            .collect()
    }

    /// The cache, as (name, resourceVersion) pairs in name order.
    fn state(&self) -> Vec<(String, String)> {
        let mut state: Vec<(String, String)> = self
            .informer
            .store()
            .list()
            .iter()
            .map(|cm| (cm.name_any(), cm.resource_version().unwrap_or_default()))
            .collect();
        state.sort();
        state
    }
}

/// The server's ConfigMaps in `default` matching `labels`, as (name, resourceVersion) pairs.
async fn server_state(api: &Api<ConfigMap>, labels: &str) -> Vec<(String, String)> {
    let listed = api
        .list(&ListParams::default().labels(labels))
        .await
        .unwrap();
    let mut state: Vec<(String, String)> = listed
        .items
        .iter()
        .map(|cm| (cm.name_any(), cm.resource_version().unwrap_or_default()))
        .collect();
    state.sort();
    state
}

fn is_watch(uri: &str) -> bool {
    uri.contains("watch=true")
}

/// The resourceVersion a request asked for, if any.
fn resource_version_of(uri: &str) -> Option<i64> {
    uri.split(['?', '&'])
        .find_map(|part| part.strip_prefix("resourceVersion="))
        .and_then(|rv| rv.parse().ok())
}

/// Makes `count` random changes to ConfigMaps `cm-0`..`cm-7` in `default`: creates, updates
/// (sometimes flipping the `watched` label) and deletes.
async fn random_changes(api: &Api<ConfigMap>, rng: &mut Rng, count: usize) {
    for _ in 0..count {
        let name = format!("cm-{}", rng.below(8));
        let watched = if rng.below(2) == 0 { "true" } else { "false" };
        let value = rng.below(1000).to_string();
        match api.get_opt(&name).await.unwrap() {
            None => {
                let cm: ConfigMap = serde_json::from_value(json!({
                    "metadata": {"name": name, "labels": {"watched": watched}},
                    "data": {"v": value}
                }))
                .unwrap();
                api.create(&PostParams::default(), &cm).await.unwrap();
            }
            Some(_) if rng.below(4) == 0 => {
                api.delete(&name, &DeleteParams::default()).await.unwrap();
            }
            Some(_) => {
                api.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({
                        "metadata": {"labels": {"watched": watched}},
                        "data": {"v": value}
                    })),
                )
                .await
                .unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflectors_follow_timeouts_bookmarks_and_compaction_from_the_store() {
    reflectors_follow_timeouts_bookmarks_and_compaction(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflectors_follow_timeouts_bookmarks_and_compaction_from_the_watch_cache() {
    reflectors_follow_timeouts_bookmarks_and_compaction(true).await;
}

/// Watches are served from the store, or from the watch cache. Like upstream's, the watch
/// cache keeps its own window of events, so a compaction of the store below it does not
/// expire a watcher's resourceVersion: the 410 and relist are required only from the store.
async fn reflectors_follow_timeouts_bookmarks_and_compaction(watch_cache: bool) {
    let defaults = Config::default();
    let config = Config {
        bookmark_interval: Duration::from_millis(100),
        watch_cache: if watch_cache {
            defaults.watch_cache.clone()
        } else {
            None
        },
        ..defaults
    };
    let served = Served::start(config).await;
    let client = served.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let elsewhere: Api<ConfigMap> = Api::namespaced(client, "kube-public");

    // Every watch is ended by the server after one second. `all` asks for bookmarks;
    // `watched` sees only labelled ConfigMaps and takes no bookmarks, so its resourceVersion
    // stands still while other keys change.
    let all = Reflected::start(&served, watcher::Config::default().timeout(1));
    let watched = Reflected::start(
        &served,
        watcher::Config::default()
            .timeout(1)
            .labels("watched=true")
            .disable_bookmarks(),
    );
    // Ours: the same two, `ours_all` with a streaming initial list, `ours_watched` with lists
    // of two items a page.
    let short_watches =
        |initial_list, page_size, label_selector: Option<&str>| ours::ReflectorConfig {
            label_selector: label_selector.map(str::to_owned),
            page_size,
            initial_list,
            min_watch_timeout: Duration::from_secs(1),
            backoff: ours::Backoff::reflector_default(ours::Rng::seeded(7)),
            ..ours::ReflectorConfig::default()
        };
    let ours_all = Ours::start(
        &served,
        short_watches(ours::InitialList::Streaming, None, None),
        true,
    );
    let ours_watched = Ours::start(
        &served,
        short_watches(ours::InitialList::Paged, Some(2), Some("watched=true")),
        false,
    );

    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    for round in 0..8 {
        random_changes(&api, &mut rng, 12).await;
        let expected_all = server_state(&api, "").await;
        let expected_watched = server_state(&api, "watched=true").await;
        eventually(
            &format!("round {round}: the reflectors catch up"),
            async || {
                all.state() == expected_all
                    && watched.state() == expected_watched
                    && ours_all.state() == expected_all
                    && ours_watched.state() == expected_watched
            },
        )
        .await;

        if round == 2 {
            // (a) The server timed the watches out, and the watchers resumed them without
            // listing again.
            eventually(
                "watches to be resumed after the server's timeout",
                async || all.requests(is_watch).len() >= 2 && watched.requests(is_watch).len() >= 2,
            )
            .await;
            assert_eq!((all.inits(), watched.inits()), (1, 1));
            eventually("our watches to be resumed", async || {
                ours_all.resumed_from().len() >= 2 && ours_watched.resumed_from().len() >= 2
            })
            .await;
            assert_eq!((ours_all.inits(), ours_watched.inits()), (1, 1));
            for request in all.requests(is_watch) {
                assert!(request.contains("allowWatchBookmarks=true"), "{request}");
                assert!(request.contains("timeoutSeconds=1"), "{request}");
            }
        }

        if round == 5 {
            // Writes neither reflector sees, then a compaction up to them.
            let cm: ConfigMap =
                serde_json::from_value(json!({"metadata": {"name": "unseen"}})).unwrap();
            let unseen = elsewhere.create(&PostParams::default(), &cm).await.unwrap();
            let unseen_rv: i64 = unseen.resource_version().unwrap().parse().unwrap();
            // A second write, so that the compaction removes the revision right after the
            // last one `watched` saw (a watch from revision N starts at N + 1).
            elsewhere
                .patch(
                    "unseen",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"again": "yes"}})),
                )
                .await
                .unwrap();

            // (b) Bookmarks carry `all` past the write it never saw: its next watch resumes
            // at or after that write.
            eventually("a watch resumed from a bookmark", async || {
                all.requests(is_watch)
                    .iter()
                    .any(|uri| resource_version_of(uri).is_some_and(|rv| rv >= unseen_rv))
            })
            .await;
            assert!(
                watched
                    .requests(is_watch)
                    .iter()
                    .all(|uri| resource_version_of(uri).is_some_and(|rv| rv < unseen_rv)),
                "the watcher without bookmarks never moved past its own events"
            );
            eventually("our watch resumed from a bookmark", async || {
                ours_all.resumed_from().iter().any(|rv| *rv >= unseen_rv)
            })
            .await;
            assert!(
                ours_watched.resumed_from().iter().all(|rv| *rv < unseen_rv),
                "our reflector without bookmarks never moved past its own events"
            );

            // (c) Compacting past `watched`'s resourceVersion: its next watch gets 410 Gone,
            // and it lists again.
            let current = served.store.current_revision().await.unwrap();
            served.store.compact(current).await.unwrap();
            if !watch_cache {
                eventually("a relist after the compaction", async || {
                    watched.inits() >= 2
                })
                .await;
                let lists: Vec<String> = watched.requests(|uri| !is_watch(uri));
                assert!(lists.len() >= 2, "{lists:?}");
                eventually("our relist after the compaction", async || {
                    ours_watched.inits() >= 2
                })
                .await;
            }
        }
    }

    // The end: both caches equal the server's state.
    let expected_all = server_state(&api, "").await;
    let expected_watched = server_state(&api, "watched=true").await;
    assert!(!expected_all.is_empty());
    eventually("the final state", async || {
        all.state() == expected_all
            && watched.state() == expected_watched
            && ours_all.state() == expected_all
            && ours_watched.state() == expected_watched
    })
    .await;

    all.task.abort();
    watched.task.abort();
    ours_all.task.abort();
    ours_watched.task.abort();
    served.stop().await;
}
