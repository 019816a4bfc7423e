//! The client runtime against the real server, in-process: informers over its list and watch,
//! leader election over its Lease storage, the event recorder over its events.k8s.io/v1 API.
//!
//! The seams are implemented here over the server's tower service until the typed client
//! implements them.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use k8s_openapi::List;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, WatchEvent};
use k8s_openapi::jiff::Timestamp;
use kube_api::client::runtime::events::{
    BroadcasterConfig, EventBroadcaster, EventSink, EventType,
};
use kube_api::client::runtime::{
    Backoff, Callbacks, HandlerFuncs, Informer, InitialList, LeaderElectionConfig,
    LeaderElectionRecord, LeaderElector, LeaseLock, ListParams, ListerWatcher, LockedRecord,
    ReflectorConfig, Rng, TokioClock, WatchParams, WatchStream,
};
use kube_api::client::{Error, Result};
use kube_api::server::ApiServer;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use common::TestServer;

async fn call(
    server: &ApiServer,
    method: Method,
    uri: &str,
    ct: &str,
    body: Vec<u8>,
) -> (u16, Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", ct)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = server.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

fn api_error(status: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<Status>(body) {
        Ok(s) => Error::Api(s.into()),
        Err(_) => Error::Transport(format!("HTTP {status}").into()),
    }
}

fn decode<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T> {
    if !(200..300).contains(&status) {
        return Err(api_error(status, body));
    }
    serde_json::from_slice(body).map_err(|e| Error::Decode {
        context: "response".into(),
        source: e,
    })
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join("&")
}

/// ConfigMaps of one namespace, listed and watched through the server.
struct ConfigMaps {
    server: ApiServer,
    namespace: String,
}

impl ListerWatcher<ConfigMap> for ConfigMaps {
    fn list<'a>(&'a self, p: &'a ListParams) -> BoxFuture<'a, Result<List<ConfigMap>>> {
        Box::pin(async move {
            let q = query(&[
                ("labelSelector", p.label_selector.clone()),
                ("limit", p.limit.map(|l| l.to_string())),
                ("continue", p.continue_token.clone()),
                ("resourceVersion", p.resource_version.clone()),
                (
                    "resourceVersionMatch",
                    p.version_match.map(|m| m.as_str().into()),
                ),
            ]);
            let uri = format!("/api/v1/namespaces/{}/configmaps?{q}", self.namespace);
            let (status, body) =
                call(&self.server, Method::GET, &uri, "application/json", vec![]).await;
            decode(status, &body)
        })
    }

    fn watch<'a>(&'a self, p: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<ConfigMap>>> {
        Box::pin(async move {
            let q = query(&[
                ("watch", Some("true".into())),
                ("labelSelector", p.label_selector.clone()),
                ("resourceVersion", p.resource_version.clone()),
                (
                    "resourceVersionMatch",
                    p.version_match.map(|m| m.as_str().into()),
                ),
                ("allowWatchBookmarks", p.bookmarks.then(|| "true".into())),
                (
                    "sendInitialEvents",
                    p.send_initial_events.then(|| "true".into()),
                ),
                ("timeoutSeconds", p.timeout_seconds.map(|t| t.to_string())),
            ]);
            let uri = format!("/api/v1/namespaces/{}/configmaps?{q}", self.namespace);
            let request = Request::builder()
                .uri(uri)
                .body(Full::new(Bytes::new()))
                .unwrap();
            let response = self.server.clone().oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            if status != 200 {
                let body = response.into_body().collect().await.unwrap().to_bytes();
                return Err(api_error(status, &body));
            }
            let stream = futures::stream::unfold(
                (response.into_body(), Vec::<u8>::new()),
                |(mut body, mut buffer)| async move {
                    loop {
                        if let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = buffer.drain(..=pos).collect();
                            let event = serde_json::from_slice::<WatchEvent<ConfigMap>>(&line)
                                .map_err(|e| Error::Decode {
                                    context: "watch event".into(),
                                    source: e,
                                });
                            return Some((event, (body, buffer)));
                        }
                        match body.frame().await? {
                            Ok(frame) => {
                                if let Ok(data) = frame.into_data() {
                                    buffer.extend_from_slice(&data);
                                }
                            }
                            Err(e) => {
                                return Some((
                                    Err(Error::Transport(e.to_string().into())),
                                    (body, buffer),
                                ));
                            }
                        }
                    }
                },
            );
            Ok(stream.boxed())
        })
    }
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..20_000 {
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
    let informer = Informer::new(
        Arc::new(ConfigMaps {
            server: s.server.clone(),
            namespace: "default".into(),
        }),
        config,
    );
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

/// A Lease in the server as the leader election lock.
struct ServerLease {
    server: ApiServer,
    name: String,
}

fn locked(lease: Lease) -> LockedRecord {
    LockedRecord {
        record: LeaderElectionRecord::from_lease(&lease),
        resource_version: lease.metadata.resource_version.clone().unwrap_or_default(),
    }
}

impl LeaseLock for ServerLease {
    fn get(&self) -> BoxFuture<'_, Result<Option<LockedRecord>>> {
        Box::pin(async move {
            let uri = format!(
                "/apis/coordination.k8s.io/v1/namespaces/default/leases/{}",
                self.name
            );
            let (status, body) =
                call(&self.server, Method::GET, &uri, "application/json", vec![]).await;
            if status == 404 {
                return Ok(None);
            }
            decode::<Lease>(status, &body).map(|l| Some(locked(l)))
        })
    }

    fn create<'a>(
        &'a self,
        record: &'a LeaderElectionRecord,
    ) -> BoxFuture<'a, Result<LockedRecord>> {
        Box::pin(async move {
            let lease = serde_json::json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": "default"},
                "spec": record.to_lease_spec(),
            });
            let uri = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
            let (status, body) = call(
                &self.server,
                Method::POST,
                uri,
                "application/json",
                lease.to_string().into_bytes(),
            )
            .await;
            decode::<Lease>(status, &body).map(locked)
        })
    }

    fn update<'a>(
        &'a self,
        record: &'a LeaderElectionRecord,
        rv: &'a str,
    ) -> BoxFuture<'a, Result<LockedRecord>> {
        Box::pin(async move {
            let lease = serde_json::json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": "default", "resourceVersion": rv},
                "spec": record.to_lease_spec(),
            });
            let uri = format!(
                "/apis/coordination.k8s.io/v1/namespaces/default/leases/{}",
                self.name
            );
            let (status, body) = call(
                &self.server,
                Method::PUT,
                &uri,
                "application/json",
                lease.to_string().into_bytes(),
            )
            .await;
            decode::<Lease>(status, &body).map(locked)
        })
    }

    fn describe(&self) -> String {
        format!("default/{}", self.name)
    }
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
        let lock = Arc::new(ServerLease {
            server: s.server.clone(),
            name: "controller".into(),
        });
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

/// events.k8s.io/v1 Events in the server.
struct ServerEvents {
    server: ApiServer,
}

impl EventSink for ServerEvents {
    fn create<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<Event>> {
        Box::pin(async move {
            let ns = event.metadata.namespace.clone().unwrap_or_default();
            let mut value = serde_json::to_value(event).unwrap();
            value["apiVersion"] = "events.k8s.io/v1".into();
            value["kind"] = "Event".into();
            let uri = format!("/apis/events.k8s.io/v1/namespaces/{ns}/events");
            let (status, body) = call(
                &self.server,
                Method::POST,
                &uri,
                "application/json",
                value.to_string().into_bytes(),
            )
            .await;
            decode(status, &body)
        })
    }

    fn patch<'a>(
        &'a self,
        event: &'a Event,
        patch: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<Event>> {
        Box::pin(async move {
            let ns = event.metadata.namespace.clone().unwrap_or_default();
            let name = event.metadata.name.clone().unwrap_or_default();
            let uri = format!("/apis/events.k8s.io/v1/namespaces/{ns}/events/{name}");
            let (status, body) = call(
                &self.server,
                Method::PATCH,
                &uri,
                "application/merge-patch+json",
                patch.to_string().into_bytes(),
            )
            .await;
            decode(status, &body)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known defect: since the merge with server-side apply and the events storage, both writes succeed on the server but the recorder does not count them written (it waits on a retry); under investigation"]
async fn the_event_recorder_writes_series_to_the_server() {
    let s = TestServer::new().await;
    let cm: ConfigMap =
        serde_json::from_value(s.configmap("default", "web", serde_json::json!({})).await).unwrap();
    let broadcaster = Arc::new(EventBroadcaster::new(
        Arc::new(ServerEvents {
            server: s.server.clone(),
        }),
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
