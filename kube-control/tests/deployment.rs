//! The deployment controller (with the replicaset controller) against the in-process server.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, WatchEvent};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube_api::client::{Api, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube_api::testing::TestServer;

use common::{eventually, play_nodes, start_controller};

const WAIT: Duration = Duration::from_secs(120);

fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    let labels = BTreeMap::from([("app".to_owned(), name.to_owned())]);
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(1)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "app".into(),
                        image: Some(image.into()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        },
        status: None,
    }
}

/// Waits until the rollout is complete as `kubectl rollout status` judges it.
async fn rolled_out(api: &Api<Deployment>, name: &str, replicas: i32) -> Deployment {
    eventually(
        &format!("{name} rolled out to {replicas}"),
        WAIT,
        || async {
            let d = api.get(name).await.unwrap();
            let st = d.status.clone()?;
            let progressing = st
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_.as_deref() == Some("Progressing"))?;
            (st.observed_generation >= d.metadata.generation
                && st.updated_replicas == Some(replicas)
                && st.replicas == Some(replicas)
                && st.available_replicas == Some(replicas)
                && progressing.reason.as_deref() == Some("NewReplicaSetAvailable"))
            .then_some(d)
        },
    )
    .await
}

async fn pods_now(pods: &Api<Pod>) -> usize {
    pods.list(&ListParams::default()).await.unwrap().items.len()
}

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

#[tokio::test(start_paused = true)]
async fn create_scale_roll_and_roll_back() {
    let server = TestServer::start().await;
    let client = server.client();
    let nodes = play_nodes(client.clone(), Duration::from_millis(500));
    let (stop_d, d_task) = start_controller(client.clone(), "deployment");
    let (stop_rs, rs_task) = start_controller(client.clone(), "replicaset");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    deployments
        .create(&PostParams::default(), &deployment("web", 3, "nginx:1"))
        .await
        .unwrap();
    let d = rolled_out(&deployments, "web", 3).await;
    assert_eq!(
        annotation(&d.metadata, "deployment.kubernetes.io/revision"),
        Some("1")
    );
    let available = d
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some("Available"))
        .unwrap()
        .clone();
    assert_eq!(
        (available.status.as_deref(), available.reason.as_deref()),
        (Some("True"), Some("MinimumReplicasAvailable"))
    );
    let list = rss.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(list.len(), 1);
    let first = list[0].clone();
    let hash = first.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(
        first.metadata.name.as_deref(),
        Some(format!("web-{hash}").as_str())
    );
    assert_eq!(
        annotation(&first.metadata, "deployment.kubernetes.io/revision"),
        Some("1")
    );
    assert_eq!(
        annotation(&first.metadata, "deployment.kubernetes.io/desired-replicas"),
        Some("3")
    );
    assert_eq!(
        annotation(&first.metadata, "deployment.kubernetes.io/max-replicas"),
        Some("4")
    );
    let all = pods.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(all.len(), 3);
    assert!(
        all.iter()
            .all(|p| p.metadata.labels.as_ref().unwrap()["pod-template-hash"] == hash)
    );

    // Scale to 5 and back.
    for n in [5, 3] {
        deployments
            .patch_scale(
                "web",
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"replicas": n}})),
            )
            .await
            .unwrap();
        rolled_out(&deployments, "web", n).await;
        eventually("pods settle", WAIT, || async {
            (pods_now(&pods).await == n as usize).then_some(())
        })
        .await;
    }

    // A new image rolls within maxSurge 1 and maxUnavailable 1: observed by a watch, never
    // more than 4 pods nor fewer than 2 ready ones.
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut watch = pods.watch(&WatchParams::default()).await.unwrap();
    let v = violations.clone();
    let (seen_tx, mut seen_rx) = tokio::sync::watch::channel(0usize);
    let watcher = tokio::spawn(async move {
        let mut state: BTreeMap<String, bool> = BTreeMap::new();
        let mut events = 0;
        while let Some(Ok(ev)) = watch.next().await {
            match ev {
                WatchEvent::Added(p) | WatchEvent::Modified(p) => {
                    let ready = p
                        .status
                        .iter()
                        .flat_map(|s| s.conditions.iter().flatten())
                        .any(|c| c.type_ == "Ready" && c.status == "True");
                    state.insert(p.metadata.name.unwrap_or_default(), ready);
                }
                WatchEvent::Deleted(p) => {
                    state.remove(&p.metadata.name.unwrap_or_default());
                }
                _ => continue,
            }
            events += 1;
            let ready = state.values().filter(|r| **r).count();
            if events > 3 && (state.len() > 4 || ready < 2) {
                v.lock()
                    .unwrap()
                    .push(format!("{} pods, {ready} ready", state.len()));
            }
            seen_tx.send_replace(events);
        }
    });
    // The watch starts with the 3 current pods.
    seen_rx.wait_for(|n| *n >= 3).await.unwrap();
    let mut d = deployments.get("web").await.unwrap();
    let old_template = d.spec.template.clone();
    d.spec.template.spec.as_mut().unwrap().containers[0].image = Some("nginx:2".into());
    deployments
        .replace("web", &PostParams::default(), &d)
        .await
        .unwrap();
    let d = rolled_out(&deployments, "web", 3).await;
    eventually("old pods gone", WAIT, || async {
        (pods_now(&pods).await == 3).then_some(())
    })
    .await;
    assert_eq!(
        annotation(&d.metadata, "deployment.kubernetes.io/revision"),
        Some("2")
    );
    assert!(
        violations.lock().unwrap().is_empty(),
        "{:?}",
        violations.lock().unwrap()
    );
    assert!(*seen_rx.borrow() > 6, "the watch saw the rollout");
    let list = rss.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(list.len(), 2);
    let old = list
        .iter()
        .find(|r| r.metadata.name == first.metadata.name)
        .unwrap();
    assert_eq!(old.spec.replicas, Some(0));

    // Rolling back is setting the old template again: the first ReplicaSet comes back with
    // the next revision.
    let mut d = deployments.get("web").await.unwrap();
    d.spec.template = old_template;
    deployments
        .replace("web", &PostParams::default(), &d)
        .await
        .unwrap();
    let d = rolled_out(&deployments, "web", 3).await;
    assert_eq!(
        annotation(&d.metadata, "deployment.kubernetes.io/revision"),
        Some("3")
    );
    let list = rss.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(list.len(), 2, "no third ReplicaSet");
    let back = list
        .iter()
        .find(|r| r.metadata.name == first.metadata.name)
        .unwrap();
    assert_eq!(back.metadata.uid, first.metadata.uid);
    assert_eq!(back.spec.replicas, Some(3));
    assert_eq!(
        annotation(&back.metadata, "deployment.kubernetes.io/revision"),
        Some("3")
    );
    assert!(
        violations.lock().unwrap().is_empty(),
        "{:?}",
        violations.lock().unwrap()
    );

    watcher.abort();
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
