//! The replicaset controller against the in-process API server.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube_api::client::{Api, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube_api::testing::TestServer;

use common::{eventually, play_nodes, start_controller};

const WAIT: Duration = Duration::from_secs(60);

fn app_labels(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_owned(), app.to_owned())])
}

fn replica_set(name: &str, replicas: i32) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(app_labels(name)),
                ..LabelSelector::default()
            },
            template: Some(PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(app_labels(name)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "app".into(),
                        image: Some("busybox".into()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            }),
            ..ReplicaSetSpec::default()
        },
        status: None,
    }
}

async fn owned_pods(pods: &Api<Pod>, rs: &ReplicaSet) -> Vec<Pod> {
    let uid = rs.metadata.uid.clone();
    pods.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|r| Some(&r.uid) == uid.as_ref() && r.controller == Some(true))
        })
        .collect()
}

async fn wait_ready(rss: &Api<ReplicaSet>, name: &str, replicas: i32) -> ReplicaSet {
    eventually(&format!("{name} ready with {replicas}"), WAIT, || async {
        let rs = rss.get(name).await.unwrap();
        let st = rs.status.clone()?;
        (st.replicas == replicas
            && st.ready_replicas == Some(replicas)
            && st.available_replicas == Some(replicas)
            && st.fully_labeled_replicas == Some(replicas)
            && st.observed_generation == rs.metadata.generation)
            .then_some(rs)
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn keeps_replicas_pods_scales_adopts_and_releases() {
    let server = TestServer::start().await;
    let client = server.client();
    let nodes = play_nodes(client.clone(), Duration::ZERO);
    let (stop, handle) = start_controller(client.clone(), "replicaset");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    // An orphan that matches, there before the ReplicaSet: adopted, so only two are created.
    let orphan = Pod {
        metadata: ObjectMeta {
            name: Some("orphan".into()),
            labels: Some(app_labels("web")),
            ..ObjectMeta::default()
        },
        spec: replica_set("web", 1).spec.template.unwrap().spec,
        status: None,
    };
    pods.create(&PostParams::default(), &orphan).await.unwrap();
    let created = rss
        .create(&PostParams::default(), &replica_set("web", 3))
        .await
        .unwrap();
    let rs = wait_ready(&rss, "web", 3).await;
    let owned = owned_pods(&pods, &rs).await;
    assert_eq!(owned.len(), 3);
    assert!(
        owned
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some("orphan"))
    );
    for p in &owned {
        let r = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (r.kind.as_str(), r.name.as_str(), r.block_owner_deletion),
            ("ReplicaSet", "web", Some(true))
        );
        if p.metadata.name.as_deref() != Some("orphan") {
            assert!(p.metadata.name.as_deref().unwrap().starts_with("web-"));
            assert_eq!(p.metadata.generate_name.as_deref(), Some("web-"));
        }
    }
    assert_eq!(rs.metadata.uid, created.metadata.uid);

    // Scale up, then down.
    rss.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    let rs = wait_ready(&rss, "web", 5).await;
    assert_eq!(owned_pods(&pods, &rs).await.len(), 5);
    rss.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": 2}})),
    )
    .await
    .unwrap();
    let rs = wait_ready(&rss, "web", 2).await;
    eventually("surplus pods gone", WAIT, || async {
        (pods.list(&ListParams::default()).await.unwrap().items.len() == 2).then_some(())
    })
    .await;

    // A pod whose labels stop matching is released and replaced.
    let victim = owned_pods(&pods, &rs).await[0]
        .metadata
        .name
        .clone()
        .unwrap();
    pods.patch(
        &victim,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"labels": {"app": "other"}}})),
    )
    .await
    .unwrap();
    eventually("released pod", WAIT, || async {
        let p = pods.get(&victim).await.unwrap();
        p.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
            .then_some(())
    })
    .await;
    let rs = wait_ready(&rss, "web", 2).await;
    let owned = owned_pods(&pods, &rs).await;
    assert_eq!(owned.len(), 2);
    assert!(
        owned
            .iter()
            .all(|p| p.metadata.name.as_deref() != Some(&victim))
    );

    stop.cancel();
    handle.await.unwrap();
    nodes.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_restart_in_the_middle_of_a_scale_up_creates_no_extra_pod() {
    let server = TestServer::start().await;
    let client = server.client();
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // Every pod name ever created, from a watch.
    let mut watch = pods.watch(&WatchParams::default()).await.unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let s = seen.clone();
    let watcher = tokio::spawn(async move {
        while let Some(Ok(ev)) = watch.next().await {
            if let k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent::Added(p) = ev {
                s.lock()
                    .unwrap()
                    .insert(p.metadata.name.unwrap_or_default());
            }
        }
    });
    let nodes = play_nodes(client.clone(), Duration::ZERO);
    let (stop, handle) = start_controller(client.clone(), "replicaset");
    rss.create(&PostParams::default(), &replica_set("api", 1))
        .await
        .unwrap();
    wait_ready(&rss, "api", 1).await;
    rss.patch_scale(
        "api",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": 40}})),
    )
    .await
    .unwrap();
    // Stop the controller once the scale-up is under way.
    eventually("scale-up under way", WAIT, || async {
        (pods.list(&ListParams::default()).await.unwrap().items.len() > 3).then_some(())
    })
    .await;
    stop.cancel();
    handle.await.unwrap();
    let (stop, handle) = start_controller(client.clone(), "replicaset");
    wait_ready(&rss, "api", 40).await;
    // Let any stray creation land before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        pods.list(&ListParams::default()).await.unwrap().items.len(),
        40
    );
    assert_eq!(seen.lock().unwrap().len(), 40, "no pod was created twice");
    stop.cancel();
    handle.await.unwrap();
    nodes.cancel();
    watcher.abort();
}

#[tokio::test(start_paused = true)]
async fn pods_count_as_available_after_min_ready_seconds() {
    let server = TestServer::start().await;
    let client = server.client();
    let nodes = play_nodes(client.clone(), Duration::ZERO);
    let (stop, handle) = start_controller(client.clone(), "replicaset");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let mut rs = replica_set("slow", 2);
    rs.spec.min_ready_seconds = Some(30);
    rss.create(&PostParams::default(), &rs).await.unwrap();
    let ready_at = eventually("2 ready", WAIT, || async {
        let st = rss.get("slow").await.unwrap().status?;
        (st.ready_replicas == Some(2)).then_some(st)
    })
    .await;
    assert_eq!(ready_at.available_replicas, Some(0), "not yet available");
    let start = tokio::time::Instant::now();
    eventually("2 available", Duration::from_secs(120), || async {
        let st = rss.get("slow").await.unwrap().status?;
        (st.available_replicas == Some(2)).then_some(())
    })
    .await;
    // Condition times are stored to the second.
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(28) && waited <= Duration::from_secs(33),
        "available after {waited:?}"
    );
    stop.cancel();
    handle.await.unwrap();
    nodes.cancel();
}
