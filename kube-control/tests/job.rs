//! The job controller against the in-process server, with a stand-in kubelet, on a paused
//! clock: completions with parallelism, the back-off limit (and the back-off between
//! recreations), Indexed jobs, activeDeadlineSeconds and the pod failure policy.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Kubelet, Outcome, wait_for};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube_api::client::runtime::{Clock, SystemClock, TokioClock};
use kube_api::client::{Api, ListParams, PostParams};
use kube_api::testing::TestServer;
use kube_control::controllers::job;
use kube_control::{CancellationToken, ControllerContext};
use serde_json::json;
use tokio::time::Instant;

const MINUTE: Duration = Duration::from_secs(60);

/// Starts the job controller on a clock that moves with (paused) tokio time.
fn start_controller(server: &TestServer) -> CancellationToken {
    let token = CancellationToken::new();
    let ctx = ControllerContext::new(server.client());
    let clock = Arc::new(TokioClock::new(SystemClock.now()));
    tokio::spawn(job::run(ctx, token.clone(), clock));
    token
}

fn job_of(name: &str, spec: serde_json::Value) -> Job {
    let mut spec = spec;
    spec["template"] = json!({
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}
    });
    serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }))
    .unwrap()
}

/// Waits for the Job's condition `type_` to be true; returns the Job.
async fn wait_condition(jobs: &Api<Job>, name: &str, type_: &str, timeout: Duration) -> Job {
    wait_for(&format!("{name} to be {type_}"), timeout, || async {
        let job = jobs.get(name).await.ok()?;
        let has = job
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .any(|c| c.type_ == type_ && c.status == "True");
        has.then_some(job)
    })
    .await
}

fn condition<'a>(job: &'a Job, type_: &str) -> &'a k8s_openapi::api::batch::v1::JobCondition {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == type_))
        .unwrap_or_else(|| panic!("no {type_} condition"))
}

async fn pods_of(pods: &Api<Pod>, job: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(&format!("{}={job}", job::JOB_NAME_LABEL)))
        .await
        .unwrap()
        .items
}

#[tokio::test(start_paused = true)]
async fn five_completions_two_at_a_time() {
    let server = TestServer::start().await;
    let client = server.client();
    let kubelet = Kubelet::start(client.clone(), "default", |_| {
        Outcome::Succeed(Duration::from_secs(2))
    });
    let _stop = start_controller(&server).drop_guard();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(
        &PostParams::default(),
        &job_of("five", json!({"completions": 5, "parallelism": 2})),
    )
    .await
    .unwrap();
    let done = wait_condition(&jobs, "five", "Complete", 2 * MINUTE).await;
    let status = done.status.clone().unwrap();
    assert_eq!(status.succeeded, Some(5));
    assert_eq!(status.failed, Some(0));
    assert_eq!(status.active, Some(0));
    assert!(status.start_time.is_some() && status.completion_time.is_some());
    assert_eq!(
        condition(&done, "Complete").reason.as_deref(),
        Some("CompletionsReached")
    );
    assert_eq!(condition(&done, "SuccessCriteriaMet").status, "True");
    assert!(
        kubelet.seen().max_running <= 2,
        "ran {}",
        kubelet.seen().max_running
    );
    assert_eq!(kubelet.seen().max_running, 2);

    let pods = pods_of(&Api::namespaced(client, "default"), "five").await;
    assert_eq!(pods.len(), 5);
    let uid = done.metadata.uid.clone().unwrap();
    for p in &pods {
        let labels = p.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[job::CONTROLLER_UID_LABEL], uid);
        assert_eq!(labels[job::LEGACY_CONTROLLER_UID_LABEL], uid);
        assert_eq!(labels[job::LEGACY_JOB_NAME_LABEL], "five");
        assert!(
            p.metadata
                .finalizers
                .as_deref()
                .unwrap_or_default()
                .is_empty(),
            "a counted pod keeps no tracking finalizer"
        );
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.controller), ("Job", Some(true)));
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_job_stops_at_the_backoff_limit_backing_off_between_pods() {
    let server = TestServer::start().await;
    let client = server.client();
    let kubelet = Kubelet::start(client.clone(), "default", |_| {
        Outcome::Fail(Duration::from_secs(1), 1)
    });
    let _stop = start_controller(&server).drop_guard();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(
        &PostParams::default(),
        &job_of("fails", json!({"backoffLimit": 2})),
    )
    .await
    .unwrap();
    let failed = wait_condition(&jobs, "fails", "Failed", 5 * MINUTE).await;
    let c = condition(&failed, "Failed");
    assert_eq!(c.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(
        c.message.as_deref(),
        Some("Job has reached the specified backoff limit")
    );
    assert_eq!(condition(&failed, "FailureTarget").status, "True");
    assert_eq!(failed.status.as_ref().unwrap().failed, Some(3));
    assert!(failed.status.as_ref().unwrap().completion_time.is_none());
    // Let a few more minutes pass: no further pod.
    tokio::time::sleep(5 * MINUTE).await;
    let pods = pods_of(&Api::namespaced(client, "default"), "fails").await;
    assert_eq!(pods.len(), 3, "backoffLimit 2 allows three pods");
    let mut starts: Vec<Instant> = kubelet.seen().started.values().copied().collect();
    starts.sort();
    // Each ran 1 s, then the back-off: 10 s, then 20 s.
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] >= Duration::from_secs(11), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_secs(21), "{gaps:?}");
    assert!(gaps[1] < Duration::from_secs(30), "{gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn an_indexed_job_runs_one_pod_per_index() {
    let server = TestServer::start().await;
    let client = server.client();
    let _kubelet = Kubelet::start(client.clone(), "default", |_| {
        Outcome::Succeed(Duration::from_secs(1))
    });
    let _stop = start_controller(&server).drop_guard();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let spec = json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed"});
    jobs.create(&PostParams::default(), &job_of("idx", spec))
        .await
        .unwrap();
    let done = wait_condition(&jobs, "idx", "Complete", 2 * MINUTE).await;
    assert_eq!(
        done.status.as_ref().unwrap().completed_indexes.as_deref(),
        Some("0-2")
    );
    let pods = pods_of(&Api::namespaced(client, "default"), "idx").await;
    let mut indexes: Vec<String> = pods
        .iter()
        .map(|p| p.metadata.annotations.as_ref().unwrap()[job::JOB_COMPLETION_INDEX].clone())
        .collect();
    indexes.sort();
    assert_eq!(indexes, ["0", "1", "2"]);
    for p in &pods {
        let i = &p.metadata.labels.as_ref().unwrap()[job::JOB_COMPLETION_INDEX];
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some(format!("idx-{i}").as_str()));
        assert!(
            p.metadata
                .name
                .as_ref()
                .unwrap()
                .starts_with(&format!("idx-{i}-"))
        );
        let env = spec.containers[0].env.as_ref().unwrap();
        assert!(env.iter().any(|e| e.name == job::JOB_COMPLETION_INDEX_ENV));
    }
}

#[tokio::test(start_paused = true)]
async fn active_deadline_fails_a_job_that_runs_too_long() {
    let server = TestServer::start().await;
    let client = server.client();
    let _kubelet = Kubelet::start(client.clone(), "default", |_| Outcome::RunForever);
    let _stop = start_controller(&server).drop_guard();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let started = Instant::now();
    jobs.create(
        &PostParams::default(),
        &job_of(
            "slow",
            json!({"activeDeadlineSeconds": 30, "parallelism": 2, "completions": 2}),
        ),
    )
    .await
    .unwrap();
    let failed = wait_condition(&jobs, "slow", "Failed", 2 * MINUTE).await;
    assert!(started.elapsed() >= Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        condition(&failed, "Failed").reason.as_deref(),
        Some("DeadlineExceeded")
    );
    let pods = Api::<Pod>::namespaced(client, "default");
    wait_for("the job's pods to go", MINUTE, || async {
        pods_of(&pods, "slow").await.is_empty().then_some(())
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn the_pod_failure_policy_fails_the_job_on_an_exit_code() {
    let server = TestServer::start().await;
    let client = server.client();
    let _kubelet = Kubelet::start(client.clone(), "default", |_| {
        Outcome::Fail(Duration::from_secs(1), 42)
    });
    let _stop = start_controller(&server).drop_guard();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let spec = json!({"backoffLimit": 6, "podFailurePolicy": {"rules": [
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}
    ]}});
    jobs.create(&PostParams::default(), &job_of("policy", spec))
        .await
        .unwrap();
    let failed = wait_condition(&jobs, "policy", "Failed", 2 * MINUTE).await;
    assert_eq!(
        condition(&failed, "Failed").reason.as_deref(),
        Some("PodFailurePolicy")
    );
    assert_eq!(failed.status.as_ref().unwrap().failed, Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_suspended_job_runs_no_pods_until_resumed() {
    let server = TestServer::start().await;
    let client = server.client();
    let _kubelet = Kubelet::start(client.clone(), "default", |_| {
        Outcome::Succeed(Duration::from_secs(1))
    });
    let _stop = start_controller(&server).drop_guard();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(
        &PostParams::default(),
        &job_of("later", json!({"suspend": true})),
    )
    .await
    .unwrap();
    let suspended = wait_condition(&jobs, "later", "Suspended", MINUTE).await;
    assert_eq!(
        condition(&suspended, "Suspended").reason.as_deref(),
        Some("JobSuspended")
    );
    tokio::time::sleep(MINUTE).await;
    let pods = Api::<Pod>::namespaced(client, "default");
    assert!(pods_of(&pods, "later").await.is_empty());
    let patch = json!({"spec": {"suspend": false}});
    jobs.patch(
        "later",
        &kube_api::client::PatchParams::default(),
        &kube_api::client::Patch::Merge(&patch),
    )
    .await
    .unwrap();
    let done = wait_condition(&jobs, "later", "Complete", MINUTE).await;
    assert_eq!(condition(&done, "Suspended").status, "False");
    assert_eq!(
        condition(&done, "Suspended").reason.as_deref(),
        Some("JobResumed")
    );
    assert_eq!(pods_of(&pods, "later").await.len(), 1);
}
