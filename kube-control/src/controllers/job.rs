//! The job controller (upstream's `job`): runs a Job's pods to completion.
//!
//! Per Job it keeps `parallelism` pods running until `completions` have succeeded (or, without
//! `completions`, until one has succeeded and the rest have finished), one pod per index for
//! `completionMode: Indexed`. Failed pods are replaced after an exponential back-off (10 s
//! doubling, capped at 6 min) until `status.failed` exceeds `backoffLimit`; `podFailurePolicy`
//! can fail the Job at once (`FailJob`), not count a failure (`Ignore`) or count it (`Count`);
//! `activeDeadlineSeconds` fails a Job that runs too long; `suspend` deletes its active pods.
//! A finishing Job gets `FailureTarget` / `SuccessCriteriaMet` first, then `Failed` /
//! `Complete` once no pod of it is left running.
//!
//! Terminated pods are counted exactly once as upstream does: pods carry the
//! [`JOB_TRACKING_FINALIZER`]; a finished pod's uid goes into
//! `status.uncountedTerminatedPods`, then its finalizer is removed, then it moves into
//! `status.succeeded` / `status.failed`.
//!
//! Where this differs from upstream, on purpose:
//! - orphaned pods matching the selector are not adopted (only pods whose controller reference
//!   is the Job count);
//! - pods the controller deletes itself (excess, suspension, a finished Job) are not counted
//!   as failed;
//! - the back-off of a failed pod starts when the controller sees the failure and lives in
//!   memory: a restarted controller recreates at once;
//! - `FailIndex`, `backoffLimitPerIndex`, `successPolicy` and `podReplacementPolicy` are not
//!   implemented (`FailIndex` counts as `Count`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, PodFailurePolicy};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_api::client::runtime::{Scope, SharedClock, Store, SystemClock};
use kube_api::client::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::StockController;
use super::podutil::{self, has_condition, is_active, is_ready, is_terminal, is_terminating};
use crate::context::ControllerContext;
use crate::controller::{Action, Controller, default_error_policy};
use crate::owner::{self, controller_owner_ref, is_controlled_by};

/// The finalizer that keeps a Job's pod until the controller has counted it.
pub const JOB_TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The label with the uid of the pod's Job.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// The label with the name of the pod's Job.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// The legacy form of [`CONTROLLER_UID_LABEL`], still set as upstream does.
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
/// The legacy form of [`JOB_NAME_LABEL`], still set as upstream does.
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
/// The annotation (and label) with the completion index of a pod of an Indexed Job.
pub const JOB_COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// The environment variable every container of an Indexed Job's pod gets its index in.
pub const JOB_COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// The back-off after the first failure; it doubles with each further one.
const BACKOFF_BASE: Duration = Duration::from_secs(10);
/// The longest back-off.
const BACKOFF_MAX: Duration = Duration::from_secs(360);
/// How long to wait for the cache to show a created or deleted pod before acting anyway
/// (upstream's expectations timeout).
const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);

/// Errors of one reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("job controller: {0}")]
    Api(#[from] kube_api::client::Error),
    /// The Job cannot own pods (it has no uid).
    #[error("job controller: {0}")]
    Owner(#[from] owner::Error),
}

/// The job controller, on the system clock.
pub fn controller() -> StockController {
    StockController {
        name: "job",
        enabled_by_default: true,
        run: |ctx, token| Box::pin(run(ctx, token, Arc::new(SystemClock))),
    }
}

/// Runs the job controller until `token` is cancelled, stamping times from `clock`.
pub async fn run(ctx: ControllerContext, token: CancellationToken, clock: SharedClock) {
    let client = ctx.client().clone();
    let pods = ctx.informer::<Pod>(Scope::all()).store().clone();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        clock,
        pods,
        memory: Mutex::new(BTreeMap::new()),
    });
    Controller::new(Api::<Job>::all(client.clone()), Scope::all())
        .named("job-controller")
        .owns(Api::<Pod>::all(client), Scope::all())
        .shared(ctx.informers())
        .concurrency(5)
        .graceful_shutdown(token)
        .run(reconcile, default_error_policy, state)
        .for_each(|_| async {})
        .await;
}

/// What the controller shares between reconciles.
struct State {
    ctx: ControllerContext,
    clock: SharedClock,
    pods: Store<Pod>,
    memory: Mutex<BTreeMap<String, Memory>>,
}

/// What the controller remembers of one Job (by uid) between reconciles.
#[derive(Default)]
struct Memory {
    /// Pods created, by name, that the cache does not show yet.
    created: BTreeSet<String>,
    /// Pods deleted, by name, that the cache still shows as not terminating.
    deleted: BTreeSet<String>,
    /// When `created` / `deleted` last grew.
    since: Option<Instant>,
    /// Pods (uids) whose finalizer was removed; the cache may still show it.
    finalized: BTreeSet<String>,
    /// Pods (uids) the controller deleted itself: not counted as failed.
    deleted_by_us: BTreeSet<String>,
    /// When the last counted failure was seen.
    last_failure: Option<Instant>,
}

fn condition_true(status: &JobStatus, type_: &str) -> Option<JobCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
        .cloned()
}

/// Whether the Job has finished: a `Complete` or `Failed` condition is true.
pub fn is_finished(job: &Job) -> bool {
    job.status.as_ref().is_some_and(|s| {
        condition_true(s, "Complete").is_some() || condition_true(s, "Failed").is_some()
    })
}

/// Sets condition `type_` to `status`; the transition time changes only if the status does.
fn set_condition(
    s: &mut JobStatus,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &Time,
) {
    let conditions = s.conditions.get_or_insert_with(Vec::new);
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.status == status {
            return;
        }
        *c = JobCondition::default();
        c.type_ = type_.to_owned();
    } else {
        conditions.push(JobCondition {
            type_: type_.to_owned(),
            ..JobCondition::default()
        });
    }
    let c = conditions
        .iter_mut()
        .find(|c| c.type_ == type_)
        .expect("just set");
    c.status = status.to_owned();
    c.reason = Some(reason.to_owned());
    c.message = Some(message.to_owned());
    c.last_probe_time = Some(now.clone());
    c.last_transition_time = Some(now.clone());
}

/// The back-off before replacing a pod after `failures` counted failures.
fn backoff(failures: i32) -> Duration {
    let doublings = u32::try_from(failures.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    BACKOFF_BASE.saturating_mul(1 << doublings).min(BACKOFF_MAX)
}

/// The completion index of a pod, from its annotation.
fn index_of(pod: &Pod) -> Option<i32> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(JOB_COMPLETION_INDEX)?
        .parse()
        .ok()
}

/// Parses `status.completedIndexes` (`"1,3-5,7"`).
pub fn parse_indexes(s: &str) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<i32>(), b.parse::<i32>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<i32>().ok()),
        }
    }
    out
}

/// Formats indexes as `status.completedIndexes` does: sorted, runs of two or more as ranges.
pub fn format_indexes(indexes: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if end > start {
            format!("{start}-{end}")
        } else {
            start.to_string()
        });
    }
    parts.join(",")
}

/// What `podFailurePolicy` says of a failed pod: the action of the first matching rule.
pub fn failure_policy_action<'a>(policy: &'a PodFailurePolicy, pod: &Pod) -> Option<&'a str> {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    policy.rules.iter().find_map(|rule| {
        let by_exit_code = rule.on_exit_codes.as_ref().is_some_and(|req| {
            statuses.iter().any(|cs| {
                if req.container_name.as_ref().is_some_and(|n| *n != cs.name) {
                    return false;
                }
                let Some(code) = cs
                    .state
                    .as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .map(|t| t.exit_code)
                else {
                    return false;
                };
                // Exit code 0 never matches, as upstream.
                code != 0
                    && match req.operator.as_str() {
                        "In" => req.values.contains(&code),
                        "NotIn" => !req.values.contains(&code),
                        _ => false,
                    }
            })
        });
        let by_condition = rule.on_pod_conditions.as_ref().is_some_and(|patterns| {
            patterns
                .iter()
                .any(|p| has_condition(pod, &p.type_, p.status.as_deref().unwrap_or("True")))
        });
        (by_exit_code || by_condition).then_some(rule.action.as_str())
    })
}

fn not_found(e: &kube_api::client::Error) -> bool {
    e.code() == Some(404)
}

fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == JOB_TRACKING_FINALIZER))
}

/// Removes the tracking finalizer from `pod`.
async fn remove_finalizer(api: &Api<Pod>, pod: &Pod) -> Result<(), Error> {
    let rest: Vec<&String> = pod
        .metadata
        .finalizers
        .iter()
        .flatten()
        .filter(|f| *f != JOB_TRACKING_FINALIZER)
        .collect();
    let patch = json!({"metadata": {"finalizers": rest}});
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The pod the Job creates (for `index`, when Indexed).
fn new_pod(job: &Job, index: Option<i32>) -> Result<Pod, Error> {
    let name = job.metadata.name.clone().unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let mut meta = template.metadata.unwrap_or_default();
    meta.name = None;
    meta.namespace = job.metadata.namespace.clone();
    meta.generate_name = Some(match index {
        Some(i) => format!("{name}-{i}-"),
        None => format!("{name}-"),
    });
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    for (k, v) in [
        (CONTROLLER_UID_LABEL, &uid),
        (LEGACY_CONTROLLER_UID_LABEL, &uid),
        (JOB_NAME_LABEL, &name),
        (LEGACY_JOB_NAME_LABEL, &name),
    ] {
        labels.insert(k.to_owned(), v.clone());
    }
    meta.finalizers
        .get_or_insert_with(Vec::new)
        .push(JOB_TRACKING_FINALIZER.to_owned());
    meta.owner_references = Some(vec![controller_owner_ref(job)?]);
    let mut spec = template.spec.unwrap_or_default();
    if let Some(i) = index {
        meta.labels
            .get_or_insert_with(BTreeMap::new)
            .insert(JOB_COMPLETION_INDEX.to_owned(), i.to_string());
        meta.annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(JOB_COMPLETION_INDEX.to_owned(), i.to_string());
        if spec.hostname.is_none() {
            spec.hostname = Some(format!("{name}-{i}"));
        }
        let env = EnvVar {
            name: JOB_COMPLETION_INDEX_ENV.to_owned(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: format!("metadata.annotations['{JOB_COMPLETION_INDEX}']"),
                    ..ObjectFieldSelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        };
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            let vars = c.env.get_or_insert_with(Vec::new);
            if !vars.iter().any(|v| v.name == JOB_COMPLETION_INDEX_ENV) {
                vars.push(env.clone());
            }
        }
    }
    Ok(Pod {
        metadata: meta,
        spec: Some(spec),
        status: None,
    })
}

/// How the Job ends, once it does.
struct Finish {
    failed: bool,
    reason: &'static str,
    message: &'static str,
}

async fn reconcile(cached: Arc<Job>, state: Arc<State>) -> Result<Action, Error> {
    let ns = cached.metadata.namespace.clone().unwrap_or_default();
    let name = cached.metadata.name.clone().unwrap_or_default();
    let client = state.ctx.client().clone();
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let pod_api: Api<Pod> = Api::namespaced(client, &ns);
    // The cache may lag behind our own status writes; counting needs the latest.
    let Some(mut job) = jobs.get_opt(&name).await? else {
        return Ok(Action::await_change());
    };
    let uid = job.metadata.uid.clone().unwrap_or_default();
    if job.metadata.uid != cached.metadata.uid {
        return Ok(Action::await_change());
    }
    let pods: Vec<Arc<Pod>> = state
        .pods
        .list_namespace(&ns)
        .into_iter()
        .filter(|p| is_controlled_by(&p.metadata, &job.metadata))
        .collect();
    let uid_of = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
    let name_of = |p: &Pod| p.metadata.name.clone().unwrap_or_default();

    // Expectations: what the cache does not show yet.
    let (satisfied, finalized, deleted_by_us, last_failure) = {
        let mut memory = state.memory.lock().expect("job memory");
        let m = memory.entry(uid.clone()).or_default();
        m.created.retain(|n| !pods.iter().any(|p| name_of(p) == *n));
        m.deleted
            .retain(|n| pods.iter().any(|p| name_of(p) == *n && !is_terminating(p)));
        m.finalized.retain(|u| {
            pods.iter()
                .any(|p| uid_of(p) == *u && has_tracking_finalizer(p))
        });
        let waiting = !m.created.is_empty() || !m.deleted.is_empty();
        let timed_out = m.since.is_some_and(|s| s.elapsed() > EXPECTATIONS_TIMEOUT);
        (
            !waiting || timed_out,
            m.finalized.clone(),
            m.deleted_by_us.clone(),
            m.last_failure,
        )
    };

    if is_finished(&job) {
        for p in pods.iter().filter(|p| has_tracking_finalizer(p)) {
            remove_finalizer(&pod_api, p).await?;
        }
        state.memory.lock().expect("job memory").remove(&uid);
        return Ok(Action::await_change());
    }

    let spec = job.spec.clone().unwrap_or_default();
    let now = podutil::now(state.clock.as_ref());
    let original = job.status.clone().unwrap_or_default();
    let mut status = original.clone();

    // 1. Count finished pods exactly once.
    let mut uncounted = status.uncounted_terminated_pods.take().unwrap_or_default();
    let mut listed: BTreeSet<String> = uncounted
        .succeeded
        .iter()
        .chain(uncounted.failed.iter())
        .flatten()
        .cloned()
        .collect();
    let mut to_finalize: Vec<Arc<Pod>> = Vec::new();
    let mut new_failures = 0;
    let mut policy_failed = false;
    for p in &pods {
        let pod_uid = uid_of(p);
        if !has_tracking_finalizer(p) || finalized.contains(&pod_uid) {
            continue;
        }
        if listed.contains(&pod_uid) {
            to_finalize.push(Arc::clone(p));
            continue;
        }
        if !is_terminal(p) && !is_terminating(p) {
            continue;
        }
        to_finalize.push(Arc::clone(p));
        if podutil::phase(p) == "Succeeded" {
            uncounted
                .succeeded
                .get_or_insert_with(Vec::new)
                .push(pod_uid.clone());
            listed.insert(pod_uid);
            continue;
        }
        if deleted_by_us.contains(&pod_uid) && podutil::phase(p) != "Failed" {
            continue;
        }
        let action = spec
            .pod_failure_policy
            .as_ref()
            .and_then(|policy| failure_policy_action(policy, p));
        match action {
            Some("Ignore") => continue,
            Some("FailJob") => policy_failed = true,
            _ => new_failures += 1,
        }
        uncounted
            .failed
            .get_or_insert_with(Vec::new)
            .push(pod_uid.clone());
        listed.insert(pod_uid);
    }
    if uncounted
        != original
            .uncounted_terminated_pods
            .clone()
            .unwrap_or_default()
    {
        let mut write = job.clone();
        let mut s = original.clone();
        s.uncounted_terminated_pods = Some(uncounted.clone());
        write.status = Some(s);
        job = jobs
            .replace_status(&name, &PostParams::default(), &write)
            .await?;
    }
    let mut newly_finalized = Vec::new();
    for p in &to_finalize {
        remove_finalizer(&pod_api, p).await?;
        newly_finalized.push(uid_of(p));
    }
    let mut completed = parse_indexes(status.completed_indexes.as_deref().unwrap_or_default());
    for u in uncounted.succeeded.iter().flatten() {
        status.succeeded = Some(status.succeeded.unwrap_or(0) + 1);
        if let Some(i) = pods
            .iter()
            .find(|p| uid_of(p) == *u)
            .and_then(|p| index_of(p))
        {
            completed.insert(i);
        }
    }
    let failed_now = uncounted.failed.as_ref().map_or(0, Vec::len);
    status.failed =
        Some(status.failed.unwrap_or(0) + i32::try_from(failed_now).unwrap_or(i32::MAX));
    status.uncounted_terminated_pods = Some(Default::default());
    {
        let mut memory = state.memory.lock().expect("job memory");
        let m = memory.entry(uid.clone()).or_default();
        m.finalized.extend(newly_finalized);
        if new_failures > 0 {
            m.last_failure = Some(Instant::now());
        }
    }
    let last_failure = if new_failures > 0 {
        Some(Instant::now())
    } else {
        last_failure
    };

    // 2. Decide whether the Job ends.
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let completions = spec.completions.or(if spec.parallelism.is_none() {
        Some(1)
    } else {
        None
    });
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let succeeded = status.succeeded.unwrap_or(0);
    let failed = status.failed.unwrap_or(0);
    if indexed {
        completed.retain(|i| completions.is_some_and(|c| *i < c));
        status.completed_indexes = Some(format_indexes(&completed));
    }
    let active: Vec<&Arc<Pod>> = pods.iter().filter(|p| is_active(p)).collect();
    let suspended = spec.suspend == Some(true);
    let mut requeue: Option<Duration> = None;

    let finish = if let Some(c) = condition_true(&status, "FailureTarget") {
        Some(Finish {
            failed: true,
            reason: match c.reason.as_deref() {
                Some("BackoffLimitExceeded") => "BackoffLimitExceeded",
                Some("DeadlineExceeded") => "DeadlineExceeded",
                _ => "PodFailurePolicy",
            },
            message: "",
        })
    } else if condition_true(&status, "SuccessCriteriaMet").is_some() {
        Some(Finish {
            failed: false,
            reason: "CompletionsReached",
            message: "",
        })
    } else if policy_failed {
        Some(Finish {
            failed: true,
            reason: "PodFailurePolicy",
            message: "Container of a pod failed with a condition or exit code that the pod failure policy says fails the Job",
        })
    } else if failed > backoff_limit {
        Some(Finish {
            failed: true,
            reason: "BackoffLimitExceeded",
            message: "Job has reached the specified backoff limit",
        })
    } else if let (Some(deadline), Some(start), false) = (
        spec.active_deadline_seconds,
        status.start_time.as_ref(),
        suspended,
    ) {
        let elapsed = now.0.as_second() - start.0.as_second();
        if elapsed >= deadline {
            Some(Finish {
                failed: true,
                reason: "DeadlineExceeded",
                message: "Job was active longer than specified deadline",
            })
        } else {
            requeue = Some(Duration::from_secs(
                u64::try_from(deadline - elapsed).unwrap_or(1),
            ));
            None
        }
    } else {
        None
    };
    let finish = finish.or_else(|| {
        let done = if indexed {
            completions.is_some_and(|c| i32::try_from(completed.len()).unwrap_or(i32::MAX) >= c)
        } else {
            match completions {
                Some(c) => succeeded >= c,
                None => succeeded > 0 && active.is_empty(),
            }
        };
        done.then_some(Finish {
            failed: false,
            reason: "CompletionsReached",
            message: "Reached expected number of succeeded pods",
        })
    });

    // 3. Manage pods.
    let mut delete: Vec<&Arc<Pod>> = Vec::new();
    let mut create: Vec<Option<i32>> = Vec::new();
    if let Some(f) = &finish {
        let target = if f.failed {
            "FailureTarget"
        } else {
            "SuccessCriteriaMet"
        };
        if condition_true(&status, target).is_none() {
            set_condition(&mut status, target, "True", f.reason, f.message, &now);
        }
        delete.extend(active.iter().copied());
        let running = pods.iter().any(|p| !is_terminal(p));
        if !running {
            let (type_, message) = if f.failed {
                ("Failed", f.message)
            } else {
                ("Complete", f.message)
            };
            let message = condition_true(&status, target)
                .and_then(|c| c.message)
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| message.to_owned());
            set_condition(&mut status, type_, "True", f.reason, &message, &now);
            if !f.failed {
                status.completion_time = Some(now.clone());
            }
        }
    } else if suspended {
        delete.extend(active.iter().copied());
        set_condition(
            &mut status,
            "Suspended",
            "True",
            "JobSuspended",
            "Job suspended",
            &now,
        );
        status.start_time = None;
    } else {
        if condition_true(&status, "Suspended").is_some() {
            set_condition(
                &mut status,
                "Suspended",
                "False",
                "JobResumed",
                "Job resumed",
                &now,
            );
        }
        if status.start_time.is_none() {
            status.start_time = Some(now.clone());
            if let Some(deadline) = spec.active_deadline_seconds {
                requeue = Some(Duration::from_secs(u64::try_from(deadline).unwrap_or(0)));
            }
        }
        let wait = match (failed, last_failure) {
            (f, Some(at)) if f > 0 => (at + backoff(f))
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero()),
            _ => None,
        };
        let active_n = i32::try_from(active.len()).unwrap_or(i32::MAX);
        if satisfied {
            if indexed {
                let c = completions.unwrap_or(0);
                let mut seen = BTreeSet::new();
                let mut running_indexes = Vec::new();
                for p in &active {
                    match index_of(p) {
                        Some(i) if i < c && !completed.contains(&i) && seen.insert(i) => {
                            running_indexes.push(*p);
                        }
                        _ => delete.push(p),
                    }
                }
                let keep = usize::try_from(parallelism).unwrap_or(0);
                if running_indexes.len() > keep {
                    running_indexes.sort_by_key(|p| std::cmp::Reverse(index_of(p)));
                    delete.extend(running_indexes.drain(..running_indexes.len() - keep));
                }
                let room = keep.saturating_sub(running_indexes.len());
                if wait.is_none() {
                    create.extend(
                        (0..c)
                            .filter(|i| !completed.contains(i) && !seen.contains(i))
                            .take(room)
                            .map(Some),
                    );
                }
            } else {
                let want = match completions {
                    Some(c) => parallelism.min((c - succeeded).max(0)),
                    None if succeeded > 0 => 0,
                    None => parallelism,
                };
                if active_n > want {
                    let mut newest: Vec<&Arc<Pod>> = active.clone();
                    newest.sort_by_key(|p| {
                        std::cmp::Reverse(p.metadata.creation_timestamp.as_ref().map(|t| t.0))
                    });
                    delete.extend(
                        newest
                            .into_iter()
                            .take(usize::try_from(active_n - want).unwrap_or(0)),
                    );
                } else if wait.is_none() {
                    create.extend((active_n..want).map(|_| None));
                }
            }
        }
        if let Some(w) = wait {
            requeue = Some(requeue.map_or(w, |r| r.min(w)));
        }
    }

    let mut created = Vec::new();
    for index in create {
        let pod = new_pod(&job, index)?;
        let made = pod_api.create(&PostParams::default(), &pod).await?;
        created.push(made.metadata.name.unwrap_or_default());
    }
    let mut deleted = Vec::new();
    for p in &delete {
        match pod_api.delete(&name_of(p), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
        deleted.push((name_of(p), uid_of(p)));
    }
    if !created.is_empty() || !deleted.is_empty() {
        let mut memory = state.memory.lock().expect("job memory");
        let m = memory.entry(uid.clone()).or_default();
        m.created.extend(created.iter().cloned());
        for (n, u) in &deleted {
            m.deleted.insert(n.clone());
            m.deleted_by_us.insert(u.clone());
        }
        m.since = Some(Instant::now());
    }

    let active_n = active.len() - deleted.len().min(active.len()) + created.len();
    status.active = Some(i32::try_from(active_n).unwrap_or(i32::MAX));
    status.ready = Some(
        i32::try_from(
            active
                .iter()
                .filter(|p| is_ready(p) && !deleted.iter().any(|(n, _)| *n == name_of(p)))
                .count(),
        )
        .unwrap_or(i32::MAX),
    );
    let current = job.status.clone().unwrap_or_default();
    if status != current {
        let mut write = job.clone();
        write.status = Some(status);
        jobs.replace_status(&name, &PostParams::default(), &write)
            .await?;
    }
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_indexes_round_trip_as_ranges() {
        let set = parse_indexes("0-2,4,6-7");
        assert_eq!(set.iter().copied().collect::<Vec<_>>(), [0, 1, 2, 4, 6, 7]);
        assert_eq!(format_indexes(&set), "0-2,4,6-7");
        assert_eq!(format_indexes(&BTreeSet::new()), "");
    }

    #[test]
    fn backoff_doubles_from_ten_seconds_up_to_six_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(20));
        assert_eq!(backoff(3), Duration::from_secs(40));
        assert_eq!(backoff(10), BACKOFF_MAX);
    }
}
