//! The Controller builder against the real (in-process) server: what triggers a reconcile
//! (create, update, an owned child, a watched object), requeues and error back-off on a paused
//! clock, the concurrency limit and one reconcile per key at a time, graceful shutdown, shared
//! informers, metrics and the finalizer helper.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_api::client::runtime::{Scope, SharedInformerFactory};
use kube_api::client::workqueue::ItemExponentialFailureRateLimiter;
use kube_api::client::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube_api::testing::TestServer;
use kube_control::CancellationToken;
use kube_control::controller::{Action, Controller, ObjectRef, default_error_policy};
use kube_control::finalizer::{self, Event, finalizer};
use kube_control::metrics::render_prometheus;
use kube_control::owner::controller_owner_ref;
use serde_json::json;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failed(String);

/// What the reconciles saw: each call (name and virtual time), and concurrency high-water
/// marks.
#[derive(Default)]
struct Probe {
    calls: Mutex<Vec<(String, Instant)>>,
    running: Mutex<BTreeMap<String, usize>>,
    max_running: Mutex<usize>,
    max_running_one_key: Mutex<usize>,
}

impl Probe {
    fn enter(&self, name: &str) {
        self.calls
            .lock()
            .unwrap()
            .push((name.to_owned(), Instant::now()));
        let mut running = self.running.lock().unwrap();
        let n = running.entry(name.to_owned()).or_default();
        *n += 1;
        let mut one = self.max_running_one_key.lock().unwrap();
        *one = (*one).max(*n);
        let total = running.values().sum::<usize>();
        let mut max = self.max_running.lock().unwrap();
        *max = (*max).max(total);
    }

    fn leave(&self, name: &str) {
        *self.running.lock().unwrap().get_mut(name).unwrap() -= 1;
    }

    fn calls_of(&self, name: &str) -> Vec<Instant> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, at)| *at)
            .collect()
    }

    fn count(&self, name: &str) -> usize {
        self.calls_of(name).len()
    }
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some("default".into()),
        ..ObjectMeta::default()
    }
}

fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: meta(name),
        ..ConfigMap::default()
    }
}

/// Polls `check` on the (paused or real) clock until it holds; fails after a virtual minute.
async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn set_label(api: &Api<ConfigMap>, name: &str, value: &str) {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"step": value}}})),
    )
    .await
    .unwrap();
}

async fn record(cm: Arc<ConfigMap>, probe: Arc<Probe>) -> Result<Action, Failed> {
    let name = cm.metadata.name.clone().unwrap();
    probe.enter(&name);
    probe.leave(&name);
    Ok(Action::await_change())
}

/// Drives a controller's results on a task; returns the task's handle and the result count.
fn drive<S: futures::Stream + Send + 'static>(results: S) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(results.fold(0, |n, _| async move { n + 1 }))
}

#[tokio::test(start_paused = true)]
async fn reconciles_on_create_update_and_owned_child_change() {
    let server = TestServer::start().await;
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    let parent = maps
        .create(&PostParams::default(), &config_map("parent"))
        .await
        .unwrap();
    let probe = Arc::new(Probe::default());
    let token = CancellationToken::new();
    let results = Controller::new(maps.clone(), Scope::all())
        .owns(secrets.clone(), Scope::all())
        .graceful_shutdown(token.clone())
        .run(record, default_error_policy, probe.clone());
    let task = drive(results);

    until("the existing object's reconcile", || {
        probe.count("parent") == 1
    })
    .await;
    set_label(&maps, "parent", "1").await;
    until("the update's reconcile", || probe.count("parent") == 2).await;

    let mut child = Secret {
        metadata: meta("child"),
        ..Secret::default()
    };
    child.metadata.owner_references = Some(vec![controller_owner_ref(&parent).unwrap()]);
    secrets
        .create(&PostParams::default(), &child)
        .await
        .unwrap();
    until("the child's creation to reconcile its owner", || {
        probe.count("parent") == 3
    })
    .await;
    secrets
        .patch(
            "child",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"k": "v"}})),
        )
        .await
        .unwrap();
    until("the child's update to reconcile its owner", || {
        probe.count("parent") == 4
    })
    .await;
    secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: meta("orphan"),
                ..Secret::default()
            },
        )
        .await
        .unwrap();
    secrets
        .delete("child", &DeleteParams::default())
        .await
        .unwrap();
    until("the child's deletion to reconcile its owner", || {
        probe.count("parent") == 5
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        probe.count("parent"),
        5,
        "an unowned secret triggers nothing"
    );
    assert_eq!(probe.count("orphan"), 0);

    token.cancel();
    assert_eq!(task.await.unwrap(), 5, "one result per reconcile");
}

#[tokio::test(start_paused = true)]
async fn watches_map_other_objects_to_keys() {
    let server = TestServer::start().await;
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    for name in ["a", "b"] {
        maps.create(&PostParams::default(), &config_map(name))
            .await
            .unwrap();
    }
    let probe = Arc::new(Probe::default());
    let results = Controller::new(maps.clone(), Scope::all())
        .watches(secrets.clone(), Scope::all(), |s: &Secret| {
            s.metadata
                .labels
                .iter()
                .flatten()
                .filter(|(k, _)| *k == "for")
                .map(|(_, v)| ObjectRef::new(v.clone()).within("default"))
                .collect()
        })
        .run(record, default_error_policy, probe.clone());
    let _task = drive(results);
    until("both initial reconciles", || {
        probe.count("a") == 1 && probe.count("b") == 1
    })
    .await;
    let mut secret = Secret {
        metadata: meta("s"),
        ..Secret::default()
    };
    secret.metadata.labels = Some([("for".to_owned(), "b".to_owned())].into());
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    until("the watched secret to reconcile b", || {
        probe.count("b") == 2
    })
    .await;
    // Relabelled: both the old (b) and the new (a) target are reconciled.
    secrets
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"for": "a"}}})),
        )
        .await
        .unwrap();
    until("the relabel to reconcile a and b", || {
        probe.count("a") == 2 && probe.count("b") == 3
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn requeue_after_reconciles_again_and_a_deleted_object_is_not_reconciled() {
    let server = TestServer::start().await;
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    maps.create(&PostParams::default(), &config_map("tick"))
        .await
        .unwrap();
    let probe = Arc::new(Probe::default());
    let results = Controller::new(maps.clone(), Scope::all()).run(
        |cm: Arc<ConfigMap>, probe: Arc<Probe>| async move {
            probe.enter(cm.metadata.name.as_deref().unwrap());
            probe.leave(cm.metadata.name.as_deref().unwrap());
            Ok::<_, Failed>(Action::requeue(Duration::from_secs(10)))
        },
        default_error_policy,
        probe.clone(),
    );
    let _task = drive(results);
    until("three reconciles", || probe.count("tick") == 3).await;
    let calls = probe.calls_of("tick");
    for pair in calls.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_secs(10) && gap < Duration::from_millis(10_100),
            "requeued after {gap:?}"
        );
    }
    maps.delete("tick", &DeleteParams::default()).await.unwrap();
    let before = probe.count("tick");
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert!(
        probe.count("tick") <= before + 1,
        "at most the reconcile racing the delete"
    );
    let after = probe.count("tick");
    tokio::time::sleep(Duration::from_secs(35)).await;
    assert_eq!(
        probe.count("tick"),
        after,
        "a deleted object is not reconciled"
    );
}

#[tokio::test(start_paused = true)]
async fn errors_back_off_per_key_and_success_resets() {
    let server = TestServer::start().await;
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    maps.create(&PostParams::default(), &config_map("flaky"))
        .await
        .unwrap();
    let probe = Arc::new(Probe::default());
    let controller = Controller::new(maps.clone(), Scope::all()).rate_limiter(
        ItemExponentialFailureRateLimiter::new(Duration::from_secs(1), Duration::from_secs(60)),
    );
    let metrics = controller.metrics();
    let results = controller.run(
        |cm: Arc<ConfigMap>, probe: Arc<Probe>| async move {
            let name = cm.metadata.name.clone().unwrap();
            probe.enter(&name);
            probe.leave(&name);
            // Fails three times, then succeeds; fails again on the next change.
            match probe.count(&name) {
                1..=3 | 5 => Err(Failed(format!("attempt {}", probe.count(&name)))),
                _ => Ok(Action::await_change()),
            }
        },
        default_error_policy,
        probe.clone(),
    );
    let collected = Arc::new(Mutex::new(Vec::new()));
    let sink = collected.clone();
    tokio::spawn(results.for_each(move |r| {
        sink.lock()
            .unwrap()
            .push(r.map(|(k, _)| k.name).map_err(|e| e.to_string()));
        async {}
    }));
    until("the success after three failures", || {
        probe.count("flaky") == 4
    })
    .await;
    let calls = probe.calls_of("flaky");
    let gaps: Vec<Duration> = calls.windows(2).map(|p| p[1] - p[0]).collect();
    for (gap, want) in gaps.iter().zip([1, 2, 4]) {
        let want = Duration::from_secs(want);
        assert!(
            *gap >= want && *gap < want + Duration::from_millis(100),
            "back-off {gap:?}, want {want:?}"
        );
    }
    // The success forgot the back-off: the next failure waits the base delay again.
    set_label(&maps, "flaky", "1").await;
    until("the failure after the change", || probe.count("flaky") == 5).await;
    until("its retry", || probe.count("flaky") == 6).await;
    let calls = probe.calls_of("flaky");
    let gap = calls[5] - calls[4];
    assert!(
        gap >= Duration::from_secs(1) && gap < Duration::from_millis(1100),
        "back-off after a success {gap:?}"
    );
    until("the results", || collected.lock().unwrap().len() == 6).await;
    let results = collected.lock().unwrap().clone();
    assert_eq!(
        results[0],
        Err("reconciling default/flaky failed: attempt 1".to_owned())
    );
    assert_eq!(results[3], Ok("flaky".to_owned()));
    let snapshot = metrics.snapshot();
    assert_eq!((snapshot.errors, snapshot.success), (4, 2));
    assert_eq!(snapshot.queue.as_ref().unwrap().retries, 4);
    let text = render_prometheus(&[metrics]);
    for line in [
        "controller_runtime_reconcile_total{controller=\"configmap\",result=\"error\"} 4",
        "controller_runtime_reconcile_total{controller=\"configmap\",result=\"success\"} 2",
        "controller_runtime_reconcile_errors_total{controller=\"configmap\"} 4",
        "controller_runtime_reconcile_time_seconds_count{controller=\"configmap\"} 6",
        "workqueue_retries_total{name=\"configmap\"} 4",
        "workqueue_depth{name=\"configmap\"} 0",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}

/// Reconciles that take a virtual second each.
async fn slow(cm: Arc<ConfigMap>, probe: Arc<Probe>) -> Result<Action, Failed> {
    let name = cm.metadata.name.clone().unwrap();
    probe.enter(&name);
    tokio::time::sleep(Duration::from_secs(1)).await;
    probe.leave(&name);
    Ok(Action::await_change())
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_limited_and_one_key_is_never_reconciled_twice_at_once() {
    let server = TestServer::start().await;
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let names: Vec<String> = (0..6).map(|i| format!("cm-{i}")).collect();
    for name in &names {
        maps.create(&PostParams::default(), &config_map(name))
            .await
            .unwrap();
    }
    let probe = Arc::new(Probe::default());
    let results = Controller::new(maps.clone(), Scope::all())
        .concurrency(2)
        .run(slow, default_error_policy, probe.clone());
    let _task = drive(results);
    until("every object reconciled", || {
        names.iter().all(|n| probe.count(n) == 1)
    })
    .await;
    assert_eq!(*probe.max_running.lock().unwrap(), 2);
    let calls = probe.calls.lock().unwrap().clone();
    let span = calls.last().unwrap().1 - calls[0].1;
    assert!(
        span >= Duration::from_secs(2) && span < Duration::from_secs(3),
        "six one-second reconciles, two at a time, start over {span:?}"
    );
    drop(calls);

    // Changes while cm-0 is being reconciled: it is reconciled again after, never alongside.
    set_label(&maps, "cm-0", "a").await;
    until("cm-0 in flight", || probe.count("cm-0") == 2).await;
    for step in ["b", "c", "d"] {
        set_label(&maps, "cm-0", step).await;
        tokio::task::yield_now().await;
    }
    until("the reconcile of the later changes", || {
        probe.count("cm-0") == 3
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        probe.count("cm-0"),
        3,
        "changes during a reconcile coalesce"
    );
    assert_eq!(*probe.max_running_one_key.lock().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn graceful_shutdown_finishes_reconciles_in_flight_and_takes_no_new_key() {
    let server = TestServer::start().await;
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    maps.create(&PostParams::default(), &config_map("busy"))
        .await
        .unwrap();
    let probe = Arc::new(Probe::default());
    let token = CancellationToken::new();
    let mut results = Controller::new(maps.clone(), Scope::all())
        .concurrency(2)
        .graceful_shutdown(token.clone())
        .run(
            |cm: Arc<ConfigMap>, probe: Arc<Probe>| async move {
                let name = cm.metadata.name.clone().unwrap();
                probe.enter(&name);
                tokio::time::sleep(Duration::from_secs(30)).await;
                probe.leave(&name);
                Ok::<_, Failed>(Action::await_change())
            },
            default_error_policy,
            probe.clone(),
        );
    tokio::select! {
        r = results.next() => panic!("no result before the reconcile ends: {r:?}"),
        _ = until("the reconcile to start", || probe.count("busy") == 1) => {}
    }
    let first = probe.calls_of("busy")[0];
    token.cancel();
    maps.create(&PostParams::default(), &config_map("late"))
        .await
        .unwrap();
    let (key, _) = results
        .next()
        .await
        .expect("the reconcile in flight")
        .unwrap();
    assert_eq!(key.name, "busy");
    assert!(
        Instant::now() - first >= Duration::from_secs(30),
        "it ran to its end"
    );
    assert_eq!(*probe.running.lock().unwrap().get("busy").unwrap(), 0);
    assert!(
        results.next().await.is_none(),
        "the stream ends after shutdown"
    );
    assert_eq!(probe.count("late"), 0, "no key taken after shutdown");
}

#[tokio::test(start_paused = true)]
async fn controllers_on_one_factory_share_informers() {
    let server = TestServer::start().await;
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    maps.create(&PostParams::default(), &config_map("shared"))
        .await
        .unwrap();
    let factory = SharedInformerFactory::new();
    let (one, two) = (Arc::new(Probe::default()), Arc::new(Probe::default()));
    let _a = drive(
        Controller::with_factory(maps.clone(), Scope::all(), &factory)
            .owns(secrets.clone(), Scope::all())
            .named("one")
            .run(record, default_error_policy, one.clone()),
    );
    let _b = drive(
        Controller::new(maps.clone(), Scope::all())
            .shared(&factory)
            .owns(secrets.clone(), Scope::all())
            .named("two")
            .run(record, default_error_policy, two.clone()),
    );
    until("both controllers reconcile", || {
        one.count("shared") == 1 && two.count("shared") == 1
    })
    .await;
    let informers = factory.synced();
    assert_eq!(
        informers.len(),
        2,
        "one ConfigMap and one Secret informer: {informers:?}"
    );
    assert!(informers.values().all(|synced| *synced));
}

const FINALIZER: &str = "example.com/cleanup";

/// The finalizer test's context: the API, and the events the reconcile saw.
type FinalizerCtx = (Api<ConfigMap>, Arc<Mutex<Vec<String>>>);

#[tokio::test(start_paused = true)]
async fn the_finalizer_is_added_then_cleanup_runs_then_it_is_removed() {
    let server = TestServer::start().await;
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    maps.create(&PostParams::default(), &config_map("guarded"))
        .await
        .unwrap();
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let ctx = Arc::new((Api::<ConfigMap>::all(server.client()), events.clone()));
    let results = Controller::new(maps.clone(), Scope::all()).run(
        |cm: Arc<ConfigMap>, ctx: Arc<FinalizerCtx>| async move {
            let (api, events) = &*ctx;
            finalizer(api, FINALIZER, cm, |event| async move {
                let seen = match event {
                    Event::Apply(cm) => format!("apply {}", cm.metadata.name.as_deref().unwrap()),
                    Event::Cleanup(cm) => {
                        format!("cleanup {}", cm.metadata.name.as_deref().unwrap())
                    }
                };
                let mut events = events.lock().unwrap();
                events.push(seen);
                // The first cleanup fails: the finalizer stays and cleanup is retried.
                if events.iter().filter(|e| e.starts_with("cleanup")).count() == 1
                    && events.last().unwrap().starts_with("cleanup")
                {
                    return Err(Failed("the outside world is unreachable".into()));
                }
                Ok::<_, Failed>(Action::await_change())
            })
            .await
        },
        |_, _: &finalizer::Error<Failed>, _| Action::requeue(Duration::from_secs(1)),
        ctx,
    );
    let _task = drive(results);
    until("the apply after the finalizer is added", || {
        events.lock().unwrap().first().map(String::as_str) == Some("apply guarded")
    })
    .await;
    let cm = maps.get("guarded").await.unwrap();
    assert_eq!(cm.metadata.finalizers, Some(vec![FINALIZER.to_owned()]));

    let deleting = maps
        .delete("guarded", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        deleting.object().is_some(),
        "the finalizer holds the object back"
    );
    until("the first cleanup", || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e == "cleanup guarded")
    })
    .await;
    let held = maps.get_opt("guarded").await.unwrap();
    let retried = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.starts_with("cleanup"))
        .count()
        > 1;
    assert!(
        retried || held.is_some_and(|cm| cm.metadata.finalizers.is_some()),
        "a failed cleanup keeps the finalizer"
    );
    until("the retried cleanup", || {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.starts_with("cleanup"))
            .count()
            == 2
    })
    .await;
    let mut gone = false;
    for _ in 0..100 {
        if maps.get_opt("guarded").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "the object is deleted once its finalizer is removed");
    let events = events.lock().unwrap().clone();
    assert_eq!(
        events,
        ["apply guarded", "cleanup guarded", "cleanup guarded"],
        "one apply, a failed cleanup and its retry"
    );
}

#[tokio::test]
async fn the_finalizer_helper_refuses_bad_names_and_keeps_other_finalizers() {
    let server = TestServer::start().await;
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let mut cm = config_map("others");
    cm.metadata.finalizers = Some(vec!["example.com/other".into()]);
    let cm = Arc::new(maps.create(&PostParams::default(), &cm).await.unwrap());
    let err = finalizer(&maps, "unqualified", cm.clone(), |_| async {
        Ok::<_, Failed>(Action::await_change())
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, finalizer::Error::InvalidFinalizerName(_)),
        "{err}"
    );
    let action = finalizer(&maps, FINALIZER, cm.clone(), |_| async {
        Ok::<_, Failed>(Action::await_change())
    })
    .await
    .unwrap();
    assert_eq!(action, Action::await_change());
    let now = maps.get("others").await.unwrap();
    assert_eq!(
        now.metadata.finalizers,
        Some(vec!["example.com/other".into(), FINALIZER.into()])
    );
    // The stale copy's resourceVersion no longer matches: the guarded patch is refused.
    let mut stale = (*cm).clone();
    stale.metadata.finalizers = None;
    let err = finalizer(&maps, "example.com/third", Arc::new(stale), |_| async {
        Ok::<_, Failed>(Action::await_change())
    })
    .await
    .unwrap_err();
    assert!(matches!(err, finalizer::Error::AddFinalizer(_)), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_controller_leaves_the_shared_informers_of_its_context() {
    let server = TestServer::start().await;
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    maps.create(&PostParams::default(), &config_map("ctx"))
        .await
        .unwrap();
    let ctx = kube_control::ControllerContext::new(server.client());
    let probe = Arc::new(Probe::default());
    let results = Controller::new(maps.clone(), Scope::all())
        .shared(ctx.informers())
        .run(record, default_error_policy, probe.clone());
    let task = drive(results);
    until("the reconcile", || probe.count("ctx") == 1).await;
    // The context hands out the very informer the controller watches with.
    let informer = ctx.informer::<ConfigMap>(Scope::namespace("default"));
    assert_eq!(informer.handler_count(), 1);
    task.abort();
    until("the handler to be removed", || {
        informer.handler_count() == 0
    })
    .await;
    set_label(&maps, "ctx", "after").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        probe.count("ctx"),
        1,
        "a stopped controller reconciles nothing"
    );
    ctx.informers().shutdown().await;
}
