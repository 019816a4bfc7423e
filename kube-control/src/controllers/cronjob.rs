//! The cronjob controller (upstream's `cronjob`, the v2 controller): creates a Job from a
//! CronJob's `jobTemplate` at each scheduled time.
//!
//! - Job names are `<cronjob>-<scheduled time in minutes since the epoch>`, so one scheduled
//!   time gives at most one Job however often the controller restarts; the Job carries the
//!   [`SCHEDULED_TIMESTAMP_ANNOTATION`] (RFC 3339, in the schedule's time zone).
//! - Only the most recent missed time runs; with `startingDeadlineSeconds` a time older than
//!   the deadline is skipped.
//! - `concurrencyPolicy`: `Allow` runs Jobs side by side, `Forbid` skips a time while a Job
//!   runs (it starts late if the deadline allows), `Replace` deletes the running Jobs first.
//! - `suspend` stops new Jobs; `successfulJobsHistoryLimit` (3) and `failedJobsHistoryLimit`
//!   (1) prune finished Jobs, oldest first.
//! - `status.active`, `lastScheduleTime` and `lastSuccessfulTime` are kept current.
//!
//! Time comes from a [`Clock`](kube_api::client::runtime::Clock), so a paused test clock drives it. Unlike upstream, it records
//! no Events and writes an unparseable schedule only to the log.

pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube_api::client::runtime::{Scope, SharedClock, Store, SystemClock};
use kube_api::client::{Api, DeleteParams, PostParams};
use tokio_util::sync::CancellationToken;

use super::StockController;
use super::job::is_finished;
use crate::context::ControllerContext;
use crate::controller::{Action, Controller, default_error_policy};
use crate::owner::{self, controller_owner_ref, is_controlled_by};
use schedule::Schedule;

/// The annotation with the time a Job was scheduled for.
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// How far past the next scheduled time to wake, so the clock has surely passed it.
const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);

/// Errors of one reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("cronjob controller: {0}")]
    Api(#[from] kube_api::client::Error),
    /// The CronJob cannot own Jobs (it has no uid).
    #[error("cronjob controller: {0}")]
    Owner(#[from] owner::Error),
}

/// The cronjob controller, on the system clock.
pub fn controller() -> StockController {
    StockController {
        name: "cronjob",
        enabled_by_default: true,
        run: |ctx, token| Box::pin(run(ctx, token, Arc::new(SystemClock))),
    }
}

/// Runs the cronjob controller until `token` is cancelled, reading the time from `clock`.
pub async fn run(ctx: ControllerContext, token: CancellationToken, clock: SharedClock) {
    let client = ctx.client().clone();
    let jobs = ctx.informer::<Job>(Scope::all()).store().clone();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        clock,
        jobs,
    });
    Controller::new(Api::<CronJob>::all(client.clone()), Scope::all())
        .named("cronjob-controller")
        .owns(Api::<Job>::all(client), Scope::all())
        .shared(ctx.informers())
        .concurrency(5)
        .graceful_shutdown(token)
        .run(reconcile, default_error_policy, state)
        .for_each(|_| async {})
        .await;
}

struct State {
    ctx: ControllerContext,
    clock: SharedClock,
    jobs: Store<Job>,
}

fn condition_is(job: &Job, type_: &str) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..ObjectReference::default()
    }
}

/// When a Job started, for history order: its start time, else its creation.
fn started(job: &Job) -> Option<Timestamp> {
    job.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .or(job.metadata.creation_timestamp.as_ref())
        .map(|t| t.0)
}

/// The scheduled time as upstream writes it: RFC 3339 in the schedule's time zone.
fn format_scheduled(t: Timestamp, schedule: &Schedule) -> String {
    let zoned = t.to_zoned(schedule.time_zone().clone());
    if zoned.offset().seconds() == 0 {
        t.to_string()
    } else {
        zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// The Job for the time `at`.
fn job_for(cj: &CronJob, at: Timestamp, schedule: &Schedule) -> Result<Job, Error> {
    let template = cj.spec.job_template.clone();
    let tmeta = template.metadata.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP_ANNOTATION.to_owned(),
        format_scheduled(at, schedule),
    );
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(job_name(cj, at)),
            namespace: cj.metadata.namespace.clone(),
            labels: tmeta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_owner_ref(cj)?]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    })
}

/// `<cronjob>-<minutes since the epoch>`.
pub fn job_name(cj: &CronJob, at: Timestamp) -> String {
    format!(
        "{}-{}",
        cj.metadata.name.as_deref().unwrap_or_default(),
        at.as_second().div_euclid(60)
    )
}

fn not_found(e: &kube_api::client::Error) -> bool {
    e.code() == Some(404)
}

async fn delete_job(api: &Api<Job>, name: &str) -> Result<(), Error> {
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(e) if not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn reconcile(cached: Arc<CronJob>, state: Arc<State>) -> Result<Action, Error> {
    let ns = cached.metadata.namespace.clone().unwrap_or_default();
    let name = cached.metadata.name.clone().unwrap_or_default();
    let client = state.ctx.client().clone();
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), &ns);
    let job_api: Api<Job> = Api::namespaced(client, &ns);
    let Some(cj) = cronjobs.get_opt(&name).await? else {
        return Ok(Action::await_change());
    };
    let spec = cj.spec.clone();
    let now = state.clock.now();
    let original = cj.status.clone().unwrap_or_default();
    let mut status = original.clone();
    let owned: Vec<Arc<Job>> = state
        .jobs
        .list_namespace(&ns)
        .into_iter()
        .filter(|j| is_controlled_by(&j.metadata, &cj.metadata))
        .collect();

    // Active Jobs: keep those still running (asking the server about those the cache does
    // not show yet), add running Jobs the status missed.
    let mut active = Vec::new();
    for r in status.active.take().unwrap_or_default() {
        let in_cache = owned.iter().find(|j| j.metadata.uid == r.uid);
        let running = match in_cache {
            Some(j) => !is_finished(j),
            None => match job_api
                .get_opt(r.name.as_deref().unwrap_or_default())
                .await?
            {
                Some(j) => j.metadata.uid == r.uid && !is_finished(&j),
                None => false,
            },
        };
        if running {
            active.push(r);
        }
    }
    for j in owned.iter().filter(|j| !is_finished(j)) {
        if !active.iter().any(|r| r.uid == j.metadata.uid) {
            active.push(reference(j));
        }
    }

    // Finished Jobs: the last success, and the history limits.
    let mut succeeded: Vec<&Arc<Job>> = owned
        .iter()
        .filter(|j| condition_is(j, "Complete"))
        .collect();
    let mut failed: Vec<&Arc<Job>> = owned.iter().filter(|j| condition_is(j, "Failed")).collect();
    for j in &succeeded {
        let done = j.status.as_ref().and_then(|s| s.completion_time.clone());
        if let Some(done) = done
            && status
                .last_successful_time
                .as_ref()
                .is_none_or(|t| t.0 < done.0)
        {
            status.last_successful_time = Some(done);
        }
    }
    for (jobs, limit) in [
        (
            &mut succeeded,
            spec.successful_jobs_history_limit.unwrap_or(3),
        ),
        (&mut failed, spec.failed_jobs_history_limit.unwrap_or(1)),
    ] {
        jobs.sort_by_key(|j| (started(j), j.metadata.name.clone()));
        let excess = jobs
            .len()
            .saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
        for j in jobs.iter().take(excess) {
            delete_job(&job_api, j.metadata.name.as_deref().unwrap_or_default()).await?;
        }
    }

    let mut requeue = None;
    if cj.metadata.deletion_timestamp.is_none() && spec.suspend != Some(true) {
        match Schedule::parse(&spec.schedule, spec.time_zone.as_deref()) {
            Err(e) => {
                tracing::warn!(cronjob = %format!("{ns}/{name}"), error = %e, "unparseable schedule");
            }
            Ok(schedule) => {
                let created = cj.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
                let mut earliest = status.last_schedule_time.as_ref().map_or(created, |t| t.0);
                if let Some(deadline) = spec.starting_deadline_seconds {
                    let floor = now
                        .checked_sub(SignedDuration::from_secs(deadline))
                        .unwrap_or(now);
                    earliest = earliest.max(floor);
                }
                let mut most_recent = None;
                let mut cursor = earliest;
                while let Some(t) = schedule.next_after(cursor).filter(|t| *t <= now) {
                    most_recent = Some(t);
                    cursor = t;
                }
                if let Some(at) = most_recent {
                    let job_name = job_name(&cj, at);
                    let exists = owned
                        .iter()
                        .any(|j| j.metadata.name.as_deref() == Some(job_name.as_str()));
                    let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
                    if exists {
                        // Already ran (the status write may have been lost).
                    } else if policy == "Forbid" && !active.is_empty() {
                        tracing::debug!(cronjob = %format!("{ns}/{name}"), "a Job is still running and concurrencyPolicy is Forbid: not starting");
                    } else {
                        if policy == "Replace" {
                            for r in active.drain(..) {
                                delete_job(&job_api, r.name.as_deref().unwrap_or_default()).await?;
                            }
                        }
                        let job = job_for(&cj, at, &schedule)?;
                        match job_api.create(&PostParams::default(), &job).await {
                            Ok(made) => active.push(reference(&made)),
                            Err(e) if e.code() == Some(409) => {}
                            Err(e) => return Err(e.into()),
                        }
                        status.last_schedule_time = Some(Time(at));
                    }
                }
                if let Some(next) = schedule.next_after(now) {
                    let wait = next.duration_since(now).unsigned_abs();
                    requeue = Some(wait + NEXT_SCHEDULE_DELTA);
                }
            }
        }
    }

    active.sort_by(|a, b| a.name.cmp(&b.name));
    status.active = (!active.is_empty()).then_some(active);
    if status != original {
        let mut write = cj.clone();
        write.status = Some(status);
        cronjobs
            .replace_status(&name, &PostParams::default(), &write)
            .await?;
    }
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}
