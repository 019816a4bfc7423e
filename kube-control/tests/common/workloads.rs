//! Deployment scenarios and helpers shared by the deployment tests and the etcd run.

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
use kube_api::client::{Api, Client, ListParams, Patch, PatchParams, PostParams, WatchParams};

use super::eventually;

/// How long a rollout may take.
pub const WAIT: Duration = Duration::from_secs(120);

/// A Deployment of `replicas` pods of `image`, rolling with maxSurge 1 and maxUnavailable 1.
pub fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
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
pub async fn rolled_out(api: &Api<Deployment>, name: &str, replicas: i32) -> Deployment {
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

/// How many pods exist.
pub async fn pods_now(pods: &Api<Pod>) -> usize {
    pods.list(&ListParams::default()).await.unwrap().items.len()
}

/// An annotation of `meta`.
pub fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

pub struct Bounds {
    violations: Arc<Mutex<Vec<String>>>,
    /// How many pod events the watch has seen.
    pub events: tokio::sync::watch::Receiver<usize>,
    /// The watch task (abort it at the end).
    pub task: tokio::task::JoinHandle<()>,
}

impl Bounds {
    /// Starts watching; returns once the `initial` pods are seen.
    pub async fn start(pods: &Api<Pod>, initial: usize, max_pods: usize, min_ready: usize) -> Self {
        let violations = Arc::new(Mutex::new(Vec::<String>::new()));
        let mut watch = pods.watch(&WatchParams::default()).await.unwrap();
        let v = violations.clone();
        let (tx, mut events) = tokio::sync::watch::channel(0usize);
        let task = tokio::spawn(async move {
            let mut state: BTreeMap<String, bool> = BTreeMap::new();
            let mut n = 0;
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
                n += 1;
                let ready = state.values().filter(|r| **r).count();
                if n > initial && (state.len() > max_pods || ready < min_ready) {
                    v.lock()
                        .unwrap()
                        .push(format!("{} pods, {ready} ready", state.len()));
                }
                tx.send_replace(n);
            }
        });
        events.wait_for(|n| *n >= initial).await.unwrap();
        Self {
            violations,
            events,
            task,
        }
    }

    /// Fails the test if a bound was broken.
    pub fn check(&self) {
        let v = self.violations.lock().unwrap();
        assert!(v.is_empty(), "bounds broken: {v:?}");
    }
}

/// Creates a Deployment of 3, scales it to 5 and back, rolls a new image within the bounds
/// (never more than 4 pods nor fewer than 2 ready), then rolls back by restoring the old
/// template and checks the first ReplicaSet is re-used. The deployment and replicaset
/// controllers and a node player must run.
pub async fn create_scale_roll_and_roll_back(client: Client) {
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
    let bounds = Bounds::start(&pods, 3, 4, 2).await;
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
    bounds.check();
    assert!(*bounds.events.borrow() > 6, "the watch saw the rollout");
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
    assert_eq!(
        annotation(&back.metadata, "deployment.kubernetes.io/revision-history"),
        Some("1")
    );
    bounds.check();

    bounds.task.abort();
}
