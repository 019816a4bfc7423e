//! The cronjob and ttl-after-finished controllers against the in-process server, on a paused
//! clock: a CronJob fires at its scheduled minute, Forbid skips while a Job runs, history
//! limits prune; a finished Job goes after its TTL.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::wait_for;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube_api::client::runtime::{Clock, SharedClock, SystemClock, TokioClock};
use kube_api::client::{Api, ListParams, PostParams};
use kube_api::testing::TestServer;
use kube_control::controllers::{cronjob, ttl_after_finished};
use kube_control::{CancellationToken, ControllerContext};
use serde_json::json;
use tokio::time::Instant;

const MINUTE: Duration = Duration::from_secs(60);

fn clock() -> SharedClock {
    Arc::new(TokioClock::new(SystemClock.now()))
}

fn cronjob_of(name: &str, extra: serde_json::Value) -> CronJob {
    let mut spec = json!({
        "schedule": "* * * * *",
        "jobTemplate": {"metadata": {"labels": {"made-by": name}}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]
        }}}},
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }))
    .unwrap()
}

async fn jobs_of(jobs: &Api<Job>, cronjob: &str) -> Vec<Job> {
    jobs.list(&ListParams::default().labels(&format!("made-by={cronjob}")))
        .await
        .unwrap()
        .items
}

/// Marks the Job finished as the job controller would, at `clock`'s time.
async fn finish(jobs: &Api<Job>, mut job: Job, clock: &dyn Clock, type_: &str) {
    let now = clock.now().to_string();
    job.status = Some(
        serde_json::from_value(json!({
            "startTime": now, "completionTime": if type_ == "Complete" { json!(now) } else { json!(null) },
            "conditions": [{"type": type_, "status": "True", "lastTransitionTime": now}],
        }))
        .unwrap(),
    );
    let name = job.metadata.name.clone().unwrap();
    jobs.replace_status(&name, &PostParams::default(), &job)
        .await
        .unwrap();
}

fn start(server: &TestServer, clock: SharedClock) -> tokio_util::sync::DropGuard {
    let token = CancellationToken::new();
    let ctx = ControllerContext::new(server.client());
    tokio::spawn(cronjob::run(ctx, token.clone(), clock));
    token.drop_guard()
}

#[tokio::test(start_paused = true)]
async fn a_cronjob_fires_at_its_scheduled_minute() {
    let server = TestServer::start().await;
    let client = server.client();
    let clock = clock();
    let _stop = start(&server, clock.clone());
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    cronjobs
        .create(&PostParams::default(), &cronjob_of("tick", json!({})))
        .await
        .unwrap();
    let began = Instant::now();
    let job = wait_for("the first Job", 2 * MINUTE, || async {
        jobs_of(&jobs, "tick").await.into_iter().next()
    })
    .await;
    assert!(
        began.elapsed() <= MINUTE + Duration::from_secs(1),
        "{:?}",
        began.elapsed()
    );
    let scheduled = clock.now().as_second() / 60 * 60;
    let name = job.metadata.name.clone().unwrap();
    assert_eq!(name, format!("tick-{}", scheduled / 60));
    let stamp =
        &job.metadata.annotations.as_ref().unwrap()[cronjob::SCHEDULED_TIMESTAMP_ANNOTATION];
    assert_eq!(
        stamp
            .parse::<k8s_openapi::jiff::Timestamp>()
            .unwrap()
            .as_second(),
        scheduled
    );
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("CronJob", Some(true))
    );
    let cj = wait_for("the CronJob's status", MINUTE, || async {
        let cj = cronjobs.get("tick").await.ok()?;
        cj.status.as_ref()?.active.as_ref()?;
        Some(cj)
    })
    .await;
    let status = cj.status.unwrap();
    assert_eq!(
        status.active.unwrap()[0].name.as_deref(),
        Some(name.as_str())
    );
    assert_eq!(status.last_schedule_time.unwrap().0.as_second(), scheduled);
    // Allow (the default) runs the next one beside the first.
    tokio::time::sleep(MINUTE).await;
    wait_for("a second Job", MINUTE, || async {
        (jobs_of(&jobs, "tick").await.len() == 2).then_some(())
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn forbid_skips_while_a_job_runs() {
    let server = TestServer::start().await;
    let client = server.client();
    let clock = clock();
    let _stop = start(&server, clock.clone());
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    cronjobs
        .create(
            &PostParams::default(),
            &cronjob_of("single", json!({"concurrencyPolicy": "Forbid"})),
        )
        .await
        .unwrap();
    let first = wait_for("the first Job", 2 * MINUTE, || async {
        jobs_of(&jobs, "single").await.into_iter().next()
    })
    .await;
    tokio::time::sleep(3 * MINUTE).await;
    assert_eq!(
        jobs_of(&jobs, "single").await.len(),
        1,
        "Forbid started another"
    );
    finish(&jobs, first, clock.as_ref(), "Complete").await;
    wait_for(
        "the next Job once the first finished",
        2 * MINUTE,
        || async { (jobs_of(&jobs, "single").await.len() == 2).then_some(()) },
    )
    .await;
    let cj = cronjobs.get("single").await.unwrap();
    assert!(cj.status.unwrap().last_successful_time.is_some());
}

#[tokio::test(start_paused = true)]
async fn replace_deletes_the_running_job_first() {
    let server = TestServer::start().await;
    let client = server.client();
    let clock = clock();
    let _stop = start(&server, clock.clone());
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    cronjobs
        .create(
            &PostParams::default(),
            &cronjob_of("fresh", json!({"concurrencyPolicy": "Replace"})),
        )
        .await
        .unwrap();
    let first = wait_for("the first Job", 2 * MINUTE, || async {
        jobs_of(&jobs, "fresh").await.into_iter().next()
    })
    .await;
    let first_name = first.metadata.name.clone().unwrap();
    let second = wait_for("a second Job in place of the first", 2 * MINUTE, || async {
        let all = jobs_of(&jobs, "fresh").await;
        let others: Vec<Job> = all
            .iter()
            .filter(|j| j.metadata.name.as_deref() != Some(first_name.as_str()))
            .cloned()
            .collect();
        let first_gone = all.iter().all(|j| {
            j.metadata.name.as_deref() != Some(first_name.as_str())
                || j.metadata.deletion_timestamp.is_some()
        });
        (others.len() == 1 && first_gone).then(|| others[0].clone())
    })
    .await;
    let cj = cronjobs.get("fresh").await.unwrap();
    let active = cj.status.unwrap().active.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].name, second.metadata.name);
}

#[tokio::test(start_paused = true)]
async fn history_limits_prune_finished_jobs() {
    let server = TestServer::start().await;
    let client = server.client();
    let clock = clock();
    let _stop = start(&server, clock.clone());
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), "default");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let limits = json!({"successfulJobsHistoryLimit": 2, "failedJobsHistoryLimit": 1});
    cronjobs
        .create(&PostParams::default(), &cronjob_of("pruned", limits))
        .await
        .unwrap();
    // Six runs: odd ones succeed, even ones fail.
    let mut finished = 0;
    let mut max_seen = 0;
    let deadline = Instant::now() + 10 * MINUTE;
    while finished < 6 {
        assert!(Instant::now() < deadline, "only {finished} runs");
        let all = jobs_of(&jobs, "pruned").await;
        max_seen = max_seen.max(all.len());
        for job in all {
            if job
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_none()
            {
                let type_ = if finished % 2 == 0 {
                    "Complete"
                } else {
                    "Failed"
                };
                finish(&jobs, job, clock.as_ref(), type_).await;
                finished += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    wait_for("pruning to the limits", MINUTE, || async {
        let all = jobs_of(&jobs, "pruned").await;
        let count = |t: &str| {
            all.iter()
                .filter(|j| {
                    j.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == t))
                })
                .count()
        };
        (count("Complete") == 2 && count("Failed") == 1).then_some(())
    })
    .await;
    assert!(max_seen <= 4, "history grew to {max_seen}");
}

#[tokio::test(start_paused = true)]
async fn ttl_after_finished_deletes_a_finished_job() {
    let server = TestServer::start().await;
    let client = server.client();
    let clock = clock();
    let token = CancellationToken::new();
    let ctx = ControllerContext::new(client.clone());
    tokio::spawn(ttl_after_finished::run(ctx, token.clone(), clock.clone()));
    let _stop = token.drop_guard();
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let job: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "short-lived", "namespace": "default", "labels": {"made-by": "test"}},
        "spec": {"ttlSecondsAfterFinished": 30, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}},
    }))
    .unwrap();
    let job = jobs.create(&PostParams::default(), &job).await.unwrap();
    let keep: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "no-ttl", "namespace": "default"},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}},
    }))
    .unwrap();
    let keep = jobs.create(&PostParams::default(), &keep).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    finish(&jobs, job, clock.as_ref(), "Complete").await;
    finish(&jobs, keep, clock.as_ref(), "Complete").await;
    let finished = Instant::now();
    wait_for("the Job to be deleted", 2 * MINUTE, || async {
        jobs.get_opt("short-lived")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        finished.elapsed() >= Duration::from_secs(29),
        "{:?}",
        finished.elapsed()
    );
    assert!(
        finished.elapsed() < Duration::from_secs(35),
        "{:?}",
        finished.elapsed()
    );
    tokio::time::sleep(2 * MINUTE).await;
    assert!(jobs.get_opt("no-ttl").await.unwrap().is_some());
}
