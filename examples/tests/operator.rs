//! The WebApp operator against the in-process test server: it installs its CRD, creates the
//! Deployment and Service of a WebApp with controller owner references, follows spec changes,
//! and reports the Deployment's availability (set by hand here: no deployment controller runs)
//! in the WebApp's status.

use std::time::Duration;

use examples::operator::{self, WebApp};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube_api::client::{
    Api, Client, Config, Kubeconfig, KubeconfigOptions, ListParams, Patch, PatchParams, PostParams,
};
use kube_api::testing::TestServer;
use kube_control::CancellationToken;
use kube_control::owner::is_controlled_by;
use serde_json::json;

/// Polls `check` until it returns something; fails the test after ten seconds.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let polled = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(v) = check().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    polled.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn available(app: &WebApp) -> Option<(i32, String, String)> {
    let status = app.status.as_ref()?;
    let c = status.conditions.iter().find(|c| c.type_ == "Available")?;
    Some((
        status.available_replicas,
        c.status.clone(),
        c.reason.clone(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_creates_owned_children_and_reports_availability() {
    let server = TestServer::start().await;
    let client = server.client();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(operator::run(client.clone(), shutdown.clone()));

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    eventually("the CRD to be installed", || async {
        crds.get_opt(operator::CRD_NAME).await.unwrap()
    })
    .await;
    let apps: Api<WebApp> = Api::namespaced(client.clone(), "default");
    let created = eventually("WebApps to be served", || async {
        apps.create(
            &PostParams::default(),
            &WebApp::new("default", "shop", "nginx:1.27", 2),
        )
        .await
        .ok()
    })
    .await;
    assert_eq!(created.spec.port, 80, "the CRD schema defaults the port");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let deployment = eventually("the Deployment", || async {
        deployments.get_opt("shop").await.unwrap()
    })
    .await;
    let service = eventually("the Service", || async {
        services.get_opt("shop").await.unwrap()
    })
    .await;
    for (kind, meta) in [
        ("Deployment", &deployment.metadata),
        ("Service", &service.metadata),
    ] {
        assert!(is_controlled_by(meta, &created.metadata), "{kind} {meta:?}");
        let owner = &meta.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (
                owner.api_version.as_str(),
                owner.kind.as_str(),
                owner.name.as_str()
            ),
            ("apps.example.com/v1", "WebApp", "shop")
        );
        assert_eq!(owner.block_owner_deletion, Some(true), "{kind}");
    }
    assert_eq!(deployment.spec.replicas, Some(2));
    let container = &deployment.spec.template.spec.as_ref().unwrap().containers[0];
    assert_eq!(container.image.as_deref(), Some("nginx:1.27"));
    let port = &service.spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
    assert_eq!(port.port, 80);

    let status = eventually("an Unavailable status", || async {
        available(&apps.get("shop").await.unwrap())
    })
    .await;
    assert_eq!(
        status,
        (0, "False".into(), "MinimumReplicasUnavailable".into())
    );

    // No deployment controller runs here: play its part.
    deployments
        .patch_status(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2}}),
            ),
        )
        .await
        .unwrap();
    let status = eventually("an Available status", || async {
        let app = apps.get("shop").await.unwrap();
        available(&app).filter(|(n, _, _)| *n == 2)
    })
    .await;
    assert_eq!(
        status,
        (2, "True".into(), "MinimumReplicasAvailable".into())
    );
    let app = apps.get("shop").await.unwrap();
    assert_eq!(
        app.status.as_ref().unwrap().observed_generation,
        app.metadata.generation
    );

    // A spec change reaches the Deployment; availability drops below the new count.
    apps.patch(
        "shop",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 3, "image": "nginx:1.28"}})),
    )
    .await
    .unwrap();
    let deployment = eventually("the scaled Deployment", || async {
        let d = deployments.get("shop").await.unwrap();
        (d.spec.replicas == Some(3)).then_some(d)
    })
    .await;
    let container = &deployment.spec.template.spec.as_ref().unwrap().containers[0];
    assert_eq!(container.image.as_deref(), Some("nginx:1.28"));
    eventually("Unavailable again", || async {
        let app = apps.get("shop").await.unwrap();
        available(&app).filter(|(_, s, _)| s == "False")
    })
    .await;

    // Settled: nothing keeps rewriting the children or the status.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = (
        deployments
            .get("shop")
            .await
            .unwrap()
            .metadata
            .resource_version,
        apps.get("shop").await.unwrap().metadata.resource_version,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = (
        deployments
            .get("shop")
            .await
            .unwrap()
            .metadata
            .resource_version,
        apps.get("shop").await.unwrap().metadata.resource_version,
    );
    assert_eq!(before, after, "a settled WebApp causes no writes");

    // Availability transitions are recorded as events; the second Unavailable joins the
    // first one's series.
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let recorded = eventually("the transition events", || async {
        let list = events.list(&ListParams::default()).await.unwrap();
        let mut recorded: Vec<(String, i32)> = list
            .items
            .iter()
            .filter(|e| e.reporting_controller.as_deref() == Some(operator::MANAGER))
            .map(|e| {
                let count = e.series.as_ref().map_or(1, |s| s.count);
                (e.reason.clone().unwrap_or_default(), count)
            })
            .collect();
        recorded.sort();
        (recorded.iter().map(|(_, n)| n).sum::<i32>() >= 3).then_some(recorded)
    })
    .await;
    assert_eq!(
        recorded,
        [("Available".to_owned(), 1), ("Unavailable".to_owned(), 2)]
    );

    shutdown.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn installing_the_crd_twice_is_harmless() {
    let server = TestServer::start().await;
    operator::install_crd(&server.client()).await.unwrap();
    operator::install_crd(&server.client()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_runs_over_http_from_a_kubeconfig() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let served = server.serve_loopback(dir.path()).await.unwrap();
    let kubeconfig = Kubeconfig::read(served.kubeconfig()).unwrap();
    let config = Config::from_kubeconfig(&kubeconfig, &KubeconfigOptions::default()).unwrap();
    let over_http = Client::try_from(config).unwrap();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(operator::run(over_http, shutdown.clone()));

    let apps: Api<WebApp> = Api::namespaced(server.client(), "default");
    eventually("WebApps to be served", || async {
        apps.create(
            &PostParams::default(),
            &WebApp::new("default", "remote", "busybox:1.36", 1),
        )
        .await
        .ok()
    })
    .await;
    let services: Api<Service> = Api::namespaced(server.client(), "default");
    eventually("the Service", || async {
        services.get_opt("remote").await.unwrap()
    })
    .await;
    let status = eventually("a status", || async {
        available(&apps.get("remote").await.unwrap())
    })
    .await;
    assert_eq!(status.1, "False");
    shutdown.cancel();
    running.await.unwrap().unwrap();
    served.stop().await;
}
