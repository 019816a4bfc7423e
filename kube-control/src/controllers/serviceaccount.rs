//! The serviceaccount controller (upstream's `serviceaccount`): a `default` ServiceAccount in
//! every active namespace, recreated if deleted.
//!
//! Upstream's root-ca-cert-publisher (the `kube-root-ca.crt` ConfigMap in every namespace) is
//! not part of it: the [`ControllerContext`] does not know the cluster's CA.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_api::client::runtime::{Scope, Store};
use kube_api::client::{Api, PostParams};
use tokio_util::sync::CancellationToken;

use super::StockController;
use crate::context::ControllerContext;
use crate::controller::{Action, Controller, ObjectRef, default_error_policy};

/// The name of the account every namespace gets.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

/// Errors of one reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("serviceaccount controller: {0}")]
    Api(#[from] kube_api::client::Error),
}

/// The serviceaccount controller.
pub fn controller() -> StockController {
    StockController {
        name: "serviceaccount",
        enabled_by_default: true,
        run: |ctx, token| Box::pin(run(ctx, token)),
    }
}

/// Runs the controller until `token` is cancelled.
pub async fn run(ctx: ControllerContext, token: CancellationToken) {
    let client = ctx.client().clone();
    let accounts = ctx.informer::<ServiceAccount>(Scope::all()).store().clone();
    let state = Arc::new(State {
        ctx: ctx.clone(),
        accounts,
    });
    Controller::new(Api::<Namespace>::all(client.clone()), Scope::all())
        .named("serviceaccount-controller")
        .watches(
            Api::<ServiceAccount>::all(client),
            Scope::all(),
            |sa: &ServiceAccount| match (&sa.metadata.name, &sa.metadata.namespace) {
                (Some(n), Some(ns)) if n == DEFAULT_SERVICE_ACCOUNT => {
                    vec![ObjectRef::new(ns.clone())]
                }
                _ => vec![],
            },
        )
        .shared(ctx.informers())
        .concurrency(2)
        .graceful_shutdown(token)
        .run(reconcile, default_error_policy, state)
        .for_each(|_| async {})
        .await;
}

struct State {
    ctx: ControllerContext,
    accounts: Store<ServiceAccount>,
}

async fn reconcile(ns: Arc<Namespace>, state: Arc<State>) -> Result<Action, Error> {
    let name = ns.metadata.name.clone().unwrap_or_default();
    let terminating = ns.metadata.deletion_timestamp.is_some()
        || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating");
    if terminating
        || state
            .accounts
            .get_by_name(Some(&name), DEFAULT_SERVICE_ACCOUNT)
            .is_some()
    {
        return Ok(Action::await_change());
    }
    let api: Api<ServiceAccount> = Api::namespaced(state.ctx.client().clone(), &name);
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(DEFAULT_SERVICE_ACCOUNT.into()),
            namespace: Some(name.clone()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    match api.create(&PostParams::default(), &sa).await {
        Ok(_) => Ok(Action::await_change()),
        // Already there (the cache lags), or the namespace is going away.
        Err(e) if matches!(e.code(), Some(409 | 403 | 404)) => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}
