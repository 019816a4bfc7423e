//! The controller manager (upstream's `kube-controller-manager`): picks stock controllers by
//! `--controllers`, and runs them, optionally only while holding the leader Lease.

use std::sync::Arc;

use kube_api::client::Client;
use kube_api::client::runtime::{
    ApiLeaseLock, Callbacks, LeaderElectionConfig, LeaderElector, SharedInformerFactory,
};
use tokio_util::sync::CancellationToken;

use crate::context::ControllerContext;
use crate::controllers::{StockController, stock};

/// The Lease the controller managers of a cluster compete for (namespace, name).
pub const LEADER_LEASE: (&str, &str) = ("kube-system", "kube-controller-manager");

/// Errors of the controller manager.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--controllers` named a controller that does not exist.
    #[error("unknown controller {0:?} in --controllers (known: {1})")]
    UnknownController(String, String),
    /// The leader election settings are unusable.
    #[error(transparent)]
    LeaderElection(#[from] kube_api::client::runtime::leader_election::Error),
    /// This manager led, then lost the lease; upstream exits then, so that a restart starts
    /// from clean caches.
    #[error("leader election lost")]
    LeadershipLost,
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The controllers `--controllers` selects (upstream's syntax): a comma-separated list where
/// `*` is every controller enabled by default, `name` enables one and `-name` disables one;
/// a name given both ways is disabled.
pub fn select(spec: &str) -> Result<Vec<StockController>> {
    let all = stock();
    let known = || all.iter().map(|c| c.name).collect::<Vec<_>>().join(", ");
    let items: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    for item in &items {
        let name = item.trim_start_matches('-');
        if name != "*" && !all.iter().any(|c| c.name == name) {
            return Err(Error::UnknownController(name.to_owned(), known()));
        }
    }
    let star = items.contains(&"*");
    Ok(all
        .iter()
        .filter(|c| {
            let disabled = items.iter().any(|i| i.strip_prefix('-') == Some(c.name));
            let enabled = items.contains(&c.name) || (star && c.enabled_by_default);
            enabled && !disabled
        })
        .copied()
        .collect())
}

/// Runs `controllers` on one shared context until `shutdown`, with the context's event
/// broadcaster, then waits for each to finish its in-flight work and stops the informers.
///
/// # Panics
/// If the context's event broadcaster already runs (one call per context).
pub async fn run_controllers(
    ctx: ControllerContext,
    controllers: &[StockController],
    shutdown: CancellationToken,
) {
    let events = {
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        tokio::spawn(async move { ctx.events().run(shutdown.cancelled()).await })
    };
    let tasks: Vec<_> = controllers
        .iter()
        .map(|c| {
            tracing::info!(controller = c.name, "starting controller");
            tokio::spawn((c.run)(ctx.clone(), shutdown.clone()))
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let _ = events.await;
    ctx.informers().shutdown().await;
}

/// Runs `controllers` only while this candidate (`identity`) holds the [`LEADER_LEASE`]
/// (upstream's 15 s lease, 10 s renew deadline, 2 s retry). Returns when `shutdown` completes,
/// or with [`Error::LeadershipLost`] once the lease is lost (the controllers stopped).
pub async fn run_leader_elected(
    client: Client,
    identity: String,
    controllers: &[StockController],
    shutdown: CancellationToken,
) -> Result<()> {
    let lock = Arc::new(ApiLeaseLock::new(
        client.clone(),
        LEADER_LEASE.0,
        LEADER_LEASE.1,
    ));
    let elector = Arc::new(LeaderElector::new(
        lock,
        LeaderElectionConfig::new(identity.clone()),
        Callbacks::new().on_new_leader(|leader| tracing::info!(%leader, "new leader elected")),
    )?);
    let mut leading = elector.leading();
    let election = {
        let (elector, shutdown) = (elector.clone(), shutdown.clone());
        tokio::spawn(async move { elector.run(shutdown.cancelled_owned()).await })
    };
    tokio::select! {
        _ = shutdown.cancelled() => {
            let _ = election.await;
            return Ok(());
        }
        r = leading.wait_for(|l| *l) => {
            if r.is_err() {
                return Ok(());
            }
        }
    }
    let stop = shutdown.child_token();
    let watch_stop = stop.clone();
    let lost = tokio::spawn(async move {
        let lost = leading.wait_for(|l| !*l).await.is_ok();
        watch_stop.cancel();
        lost
    });
    let ctx = ControllerContext::with_factory(client, SharedInformerFactory::new(), identity);
    run_controllers(ctx, controllers, stop).await;
    let _ = election.await;
    let lost = lost.await.unwrap_or(false);
    if lost && !shutdown.is_cancelled() {
        return Err(Error::LeadershipLost);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(spec: &str) -> Vec<&'static str> {
        select(spec).unwrap().iter().map(|c| c.name).collect()
    }

    #[test]
    fn controllers_flag_as_upstream() {
        let defaults: Vec<&str> = crate::stock()
            .iter()
            .filter(|c| c.enabled_by_default)
            .map(|c| c.name)
            .collect();
        for name in ["deployment", "garbage-collector", "namespace", "replicaset"] {
            assert!(defaults.contains(&name), "{name} runs by default");
        }
        assert_eq!(names("*"), defaults);
        let without: Vec<&str> = defaults
            .iter()
            .copied()
            .filter(|n| *n != "namespace")
            .collect();
        assert_eq!(names("*,-namespace"), without);
        assert_eq!(names("replicaset"), ["replicaset"]);
        assert_eq!(names("replicaset,-replicaset"), Vec::<&str>::new());
        let err = select("*,-nope").unwrap_err();
        assert!(err.to_string().contains("\"nope\""), "{err}");
    }
}
