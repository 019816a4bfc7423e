//! The deployment controller (with the replicaset controller) against the in-process server.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStrategy, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent;
use kube_api::client::{Api, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube_api::testing::TestServer;

use common::workloads::{Bounds, WAIT, annotation, deployment, pods_now, rolled_out};
use common::{eventually, play_nodes, start_controller};

#[tokio::test(start_paused = true)]
async fn create_scale_roll_and_roll_back() {
    let server = TestServer::start().await;
    let client = server.client();
    let nodes = play_nodes(client.clone(), Duration::from_millis(500));
    let (stop_d, d_task) = start_controller(client.clone(), "deployment");
    let (stop_rs, rs_task) = start_controller(client.clone(), "replicaset");
    common::workloads::create_scale_roll_and_roll_back(client.clone()).await;
    stop_d.cancel();
    stop_rs.cancel();
    d_task.await.unwrap();
    rs_task.await.unwrap();
    nodes.cancel();
}

#[tokio::test(start_paused = true)]
async fn recreate_pause_and_history_limit() {
    let server = TestServer::start().await;
    let client = server.client();
    let nodes = play_nodes(client.clone(), Duration::from_millis(200));
    let (stop_d, d_task) = start_controller(client.clone(), "deployment");
    let (stop_rs, rs_task) = start_controller(client.clone(), "replicaset");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let mut d = deployment("db", 2, "pg:1");
    d.spec.strategy = Some(DeploymentStrategy {
        type_: Some("Recreate".into()),
        rolling_update: None,
    });
    d.spec.revision_history_limit = Some(1);
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    rolled_out(&deployments, "db", 2).await;

    // Recreate: no new pod exists while an old one does.
    let mixed = Arc::new(Mutex::new(false));
    let mut watch = pods.watch(&WatchParams::default()).await.unwrap();
    let m = mixed.clone();
    let watcher = tokio::spawn(async move {
        let mut images: BTreeMap<String, String> = BTreeMap::new();
        while let Some(Ok(ev)) = watch.next().await {
            match ev {
                WatchEvent::Added(p) | WatchEvent::Modified(p) => {
                    let image = p.spec.unwrap().containers[0].image.clone().unwrap();
                    images.insert(p.metadata.name.unwrap_or_default(), image);
                }
                WatchEvent::Deleted(p) => {
                    images.remove(&p.metadata.name.unwrap_or_default());
                }
                _ => {}
            }
            let distinct: std::collections::BTreeSet<&String> = images.values().collect();
            if distinct.len() > 1 {
                *m.lock().unwrap() = true;
            }
        }
    });
    for image in ["pg:2", "pg:3"] {
        let mut d = deployments.get("db").await.unwrap();
        d.spec.template.spec.as_mut().unwrap().containers[0].image = Some(image.into());
        deployments
            .replace("db", &PostParams::default(), &d)
            .await
            .unwrap();
        rolled_out(&deployments, "db", 2).await;
    }
    assert!(!*mixed.lock().unwrap(), "old and new pods ran together");
    // revisionHistoryLimit 1: the new ReplicaSet and one old one.
    eventually("history cleaned", WAIT, || async {
        (rss.list(&ListParams::default()).await.unwrap().items.len() == 2).then_some(())
    })
    .await;

    // Paused: a template change rolls nothing, the condition says so; resumed, it rolls.
    deployments
        .patch(
            "db",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"paused": true}})),
        )
        .await
        .unwrap();
    eventually("paused condition", WAIT, || async {
        let d = deployments.get("db").await.unwrap();
        d.status?
            .conditions?
            .into_iter()
            .find(|c| {
                c.type_.as_deref() == Some("Progressing")
                    && c.reason.as_deref() == Some("DeploymentPaused")
            })
            .map(|_| ())
    })
    .await;
    let mut d = deployments.get("db").await.unwrap();
    d.spec.template.spec.as_mut().unwrap().containers[0].image = Some("pg:4".into());
    deployments
        .replace("db", &PostParams::default(), &d)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let images: Vec<String> = rss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| {
            r.spec.template.unwrap().spec.unwrap().containers[0]
                .image
                .clone()
                .unwrap()
        })
        .collect();
    assert!(
        !images.contains(&"pg:4".to_owned()),
        "paused yet rolled: {images:?}"
    );
    deployments
        .patch(
            "db",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"paused": false}})),
        )
        .await
        .unwrap();
    let d = rolled_out(&deployments, "db", 2).await;
    let images: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.spec.unwrap().containers[0].image.clone().unwrap())
        .collect();
    assert_eq!(images, ["pg:4", "pg:4"]);
    assert_eq!(
        annotation(&d.metadata, "deployment.kubernetes.io/revision"),
        Some("4")
    );

    watcher.abort();
    stop_d.cancel();
    stop_rs.cancel();
    d_task.await.unwrap();
    rs_task.await.unwrap();
    nodes.cancel();
}

/// Watches pods from now on; records every moment with more than `max_pods` pods or fewer
/// than `min_ready` ready ones (after the first `initial` events, the pods already there).
#[tokio::test(start_paused = true)]
async fn a_restart_in_the_middle_of_a_rollout_keeps_the_bounds() {
    let server = TestServer::start().await;
    let client = server.client();
    let nodes = play_nodes(client.clone(), Duration::from_secs(1));
    let start = || {
        (
            start_controller(client.clone(), "deployment"),
            start_controller(client.clone(), "replicaset"),
        )
    };
    let (d_ctl, rs_ctl) = start();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("api", 6, "app:1"))
        .await
        .unwrap();
    rolled_out(&deployments, "api", 6).await;
    let bounds = Bounds::start(&pods, 6, 7, 5).await;
    let mut d = deployments.get("api").await.unwrap();
    d.spec.template.spec.as_mut().unwrap().containers[0].image = Some("app:2".into());
    deployments
        .replace("api", &PostParams::default(), &d)
        .await
        .unwrap();
    // Stop both controllers once the rollout is under way, then start new ones.
    eventually("rollout under way", WAIT, || async {
        let list = rss.list(&ListParams::default()).await.unwrap().items;
        list.iter()
            .any(|r| {
                r.spec
                    .template
                    .as_ref()
                    .unwrap()
                    .spec
                    .as_ref()
                    .unwrap()
                    .containers[0]
                    .image
                    .as_deref()
                    == Some("app:2")
                    && r.status.as_ref().and_then(|s| s.available_replicas) >= Some(1)
            })
            .then_some(())
    })
    .await;
    for (stop, task) in [d_ctl, rs_ctl] {
        stop.cancel();
        task.await.unwrap();
    }
    let (d_ctl, rs_ctl) = start();
    rolled_out(&deployments, "api", 6).await;
    eventually("old pods gone", WAIT, || async {
        (pods_now(&pods).await == 6).then_some(())
    })
    .await;
    bounds.check();
    assert!(*bounds.events.borrow() > 12, "the watch saw the rollout");
    assert_eq!(
        rss.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );
    bounds.task.abort();
    for (stop, task) in [d_ctl, rs_ctl] {
        stop.cancel();
        task.await.unwrap();
    }
    nodes.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_stuck_rollout_exceeds_its_progress_deadline() {
    let server = TestServer::start().await;
    let client = server.client();
    let nodes = play_nodes(client.clone(), Duration::ZERO);
    let (stop_d, d_task) = start_controller(client.clone(), "deployment");
    let (stop_rs, rs_task) = start_controller(client.clone(), "replicaset");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut d = deployment("stuck", 3, "app:1");
    d.spec.progress_deadline_seconds = Some(60);
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    rolled_out(&deployments, "stuck", 3).await;
    let bounds = Bounds::start(&pods, 3, 4, 2).await;
    let mut d = deployments.get("stuck").await.unwrap();
    d.spec.template.spec.as_mut().unwrap().containers[0].image =
        Some(format!("{}:1", common::UNPULLABLE));
    let started = tokio::time::Instant::now();
    deployments
        .replace("stuck", &PostParams::default(), &d)
        .await
        .unwrap();
    let cond = |d: &Deployment, type_: &str| {
        d.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_.as_deref() == Some(type_))
            .cloned()
    };
    let timed_out = eventually(
        "ProgressDeadlineExceeded",
        Duration::from_secs(300),
        || async {
            let d = deployments.get("stuck").await.unwrap();
            let c = cond(&d, "Progressing")?;
            (c.reason.as_deref() == Some("ProgressDeadlineExceeded")).then_some(d)
        },
    )
    .await;
    // Condition times are stored to the second, so the deadline may pass up to 1 s early.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(59) && waited < Duration::from_secs(75),
        "timed out after {waited:?}"
    );
    let progressing = cond(&timed_out, "Progressing").unwrap();
    assert_eq!(progressing.status.as_deref(), Some("False"));
    assert!(
        progressing
            .message
            .as_deref()
            .unwrap()
            .ends_with("has timed out progressing."),
        "{progressing:?}"
    );
    // Within maxUnavailable 1 the Deployment stays available.
    let available = cond(&timed_out, "Available").unwrap();
    assert_eq!(available.status.as_deref(), Some("True"));
    bounds.check();
    bounds.task.abort();
    stop_d.cancel();
    stop_rs.cancel();
    d_task.await.unwrap();
    rs_task.await.unwrap();
    nodes.cancel();
}
