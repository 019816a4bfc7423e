//! The ttl-after-finished controller (upstream's `ttl-after-finished`): deletes a finished Job
//! (`Complete` or `Failed`) `ttlSecondsAfterFinished` after it finished, with background
//! propagation so its pods go too.
//!
//! The finish time is the `lastTransitionTime` of the finishing condition, as upstream; time
//! comes from a [`Clock`](kube_api::client::runtime::Clock).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Preconditions;
use kube_api::client::runtime::{Scope, SharedClock, SystemClock};
use kube_api::client::{Api, DeleteParams};
use tokio_util::sync::CancellationToken;

use super::StockController;
use crate::context::ControllerContext;
use crate::controller::{Action, Controller, default_error_policy};

/// Errors of one reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("ttl-after-finished controller: {0}")]
    Api(#[from] kube_api::client::Error),
}

/// The ttl-after-finished controller, on the system clock.
pub fn controller() -> StockController {
    StockController {
        name: "ttl-after-finished",
        enabled_by_default: true,
        run: |ctx, token| Box::pin(run(ctx, token, Arc::new(SystemClock))),
    }
}

/// Runs the controller until `token` is cancelled, reading the time from `clock`.
pub async fn run(ctx: ControllerContext, token: CancellationToken, clock: SharedClock) {
    let client = ctx.client().clone();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        clock,
    });
    Controller::new(Api::<Job>::all(client), Scope::all())
        .named("ttl-after-finished-controller")
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
}

/// When the Job finished: the transition time of its true `Complete` or `Failed` condition.
fn finished_at(job: &Job) -> Option<k8s_openapi::jiff::Timestamp> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

/// How long until the Job expires (zero: now); `None` when it never does.
fn time_left(job: &Job, now: k8s_openapi::jiff::Timestamp) -> Option<Duration> {
    if job.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    let finished = finished_at(job)?;
    let expires = finished.as_second().saturating_add(i64::from(ttl));
    Some(Duration::from_secs(
        u64::try_from(expires - now.as_second()).unwrap_or(0),
    ))
}

async fn reconcile(cached: Arc<Job>, state: Arc<State>) -> Result<Action, Error> {
    match time_left(&cached, state.clock.now()) {
        None => return Ok(Action::await_change()),
        Some(left) if !left.is_zero() => return Ok(Action::requeue(left)),
        Some(_) => {}
    }
    // Check the latest copy before deleting: the TTL may have changed.
    let ns = cached.metadata.namespace.clone().unwrap_or_default();
    let name = cached.metadata.name.clone().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(state.ctx.client().clone(), &ns);
    let Some(job) = jobs.get_opt(&name).await? else {
        return Ok(Action::await_change());
    };
    match time_left(&job, state.clock.now()) {
        None => return Ok(Action::await_change()),
        Some(left) if !left.is_zero() => return Ok(Action::requeue(left)),
        Some(_) => {}
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: job.metadata.uid.clone(),
            resource_version: job.metadata.resource_version.clone(),
        }),
        ..DeleteParams::background()
    };
    tracing::info!(job = %format!("{ns}/{name}"), "deleting a finished Job past its TTL");
    match jobs.delete(&name, &params).await {
        Ok(_) => Ok(Action::await_change()),
        Err(e) if matches!(e.code(), Some(404 | 409)) => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}
