//! The statefulset controller against the in-process server: OrderedReady scale up in order
//! (each pod Running and Ready before the next) and down in reverse, stable names, labels and
//! claims, and a partitioned rolling update that replaces only ordinals at or above the
//! partition.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Change, Kubelets, follow, until_async};
use k8s_openapi::api::apps::v1::{
    ControllerRevision, RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{Container, PersistentVolumeClaim, Pod, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube_api::client::{Api, Patch, PatchParams, PostParams};
use kube_api::testing::TestServer;
use kube_control::controllers::statefulset;
use kube_control::{CancellationToken, ControllerContext};
use serde_json::json;

fn labels() -> BTreeMap<String, String> {
    [("app".to_owned(), "db".to_owned())].into()
}

fn set(replicas: i32) -> StatefulSet {
    StatefulSet {
        metadata: ObjectMeta {
            name: Some("db".into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        spec: StatefulSetSpec {
            replicas: Some(replicas),
            service_name: Some("db".into()),
            selector: LabelSelector {
                match_labels: Some(labels()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "db".into(),
                        image: Some("db:1".into()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some("data".into()),
                    ..ObjectMeta::default()
                },
                spec: Some(k8s_openapi::api::core::v1::PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".into()]),
                    resources: Some(k8s_openapi::api::core::v1::VolumeResourceRequirements {
                        requests: Some(
                            [(
                                "storage".to_owned(),
                                k8s_openapi::apimachinery::pkg::api::resource::Quantity(
                                    "1Gi".into(),
                                ),
                            )]
                            .into(),
                        ),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..PersistentVolumeClaim::default()
            }]),
            ..StatefulSetSpec::default()
        },
        status: None,
    }
}

/// The names of the set's live (not terminating) pods, sorted.
async fn live(pods: &Api<Pod>) -> Vec<String> {
    let mut names: Vec<String> = pods
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    names
}

async fn all(pods: &Api<Pod>) -> Vec<String> {
    let mut names: Vec<String> = pods
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    names
}

fn ordinal(pod: &Pod) -> i32 {
    pod.metadata.labels.as_ref().unwrap()["apps.kubernetes.io/pod-index"]
        .parse()
        .unwrap()
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| (*s).to_owned()).collect()
}

async fn start() -> (
    TestServer,
    Kubelets,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let server = TestServer::start().await;
    let client = server.client();
    let kubelets = Kubelets::start(client.clone());
    kubelets.add_node("n1").await;
    let token = CancellationToken::new();
    let task = tokio::spawn(statefulset::run(
        ControllerContext::new(client),
        token.clone(),
    ));
    (server, kubelets, token, task)
}

#[tokio::test(start_paused = true)]
async fn ordered_ready_scales_up_in_order_and_down_in_reverse() {
    let (server, kubelets, token, task) = start().await;
    let client = server.client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    // Every creation, as the watch shows it, finds the lower ordinals Running and Ready.
    let start = pods.list(&Default::default()).await.unwrap();
    let watcher = {
        let pods = pods.clone();
        tokio::spawn(async move {
            follow(&pods, start, |live, change| {
                if let Change::Added(pod) = change {
                    let ord = ordinal(pod);
                    for lower in 0..ord {
                        let p = live.get(&format!("db-{lower}"));
                        assert!(
                            p.is_some_and(statefulset::running_and_ready),
                            "db-{ord} created before db-{lower} was Running and Ready"
                        );
                    }
                }
                live.len() == 3 && live.values().all(statefulset::running_and_ready)
            })
            .await;
        })
    };
    // db-1 is held not ready: db-2 must wait for it.
    kubelets.hold_ready.lock().unwrap().push("db-1".into());
    sets.create(&PostParams::default(), &set(3)).await.unwrap();
    until_async("db-0 and db-1", || async {
        all(&pods).await == names(&["db-0", "db-1"])
    })
    .await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        all(&pods).await,
        names(&["db-0", "db-1"]),
        "db-2 before db-1 was ready"
    );
    kubelets.hold_ready.lock().unwrap().clear();
    until_async("three pods", || async {
        all(&pods).await == names(&["db-0", "db-1", "db-2"])
    })
    .await;
    until_async("three ready", || async {
        let s = sets.get("db").await.unwrap().status.unwrap_or_default();
        s.ready_replicas == Some(3) && s.replicas == 3
    })
    .await;

    let pod = pods.get("db-2").await.unwrap();
    let l = pod.metadata.labels.clone().unwrap();
    assert_eq!(l["statefulset.kubernetes.io/pod-name"], "db-2");
    assert_eq!(l["apps.kubernetes.io/pod-index"], "2");
    let status = sets.get("db").await.unwrap().status.unwrap();
    assert_eq!(
        Some(&l["controller-revision-hash"]),
        status.update_revision.as_ref()
    );
    assert_eq!(status.current_revision, status.update_revision);
    assert_eq!(pod.spec.as_ref().unwrap().hostname.as_deref(), Some("db-2"));
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    for ord in 0..3 {
        claims.get(&format!("data-db-{ord}")).await.unwrap();
    }
    let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), "default");
    assert_eq!(
        revisions
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    watcher.await.unwrap();

    // Scale down to one: db-2 goes before db-1, never the other way round.
    let start = pods.list(&Default::default()).await.unwrap();
    sets.patch_scale(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    let mut seen: Vec<Vec<String>> = Vec::new();
    follow(&pods, start, |live, change| {
        if let Change::Gone(pod) = change {
            let ord = ordinal(pod);
            assert!(
                live.values().all(|p| ordinal(p) < ord),
                "db-{ord} went before a higher ordinal: {:?}",
                live.keys()
            );
        }
        let now: Vec<String> = live.keys().cloned().collect();
        seen.push(now.clone());
        now == names(&["db-0"])
    })
    .await;
    assert!(seen.contains(&names(&["db-0", "db-1"])), "{seen:?}");
    until_async("status of one", || async {
        sets.get("db")
            .await
            .unwrap()
            .status
            .unwrap_or_default()
            .replicas
            == 1
    })
    .await;
    token.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_partitioned_rolling_update_replaces_only_ordinals_at_or_above_it() {
    let (server, _kubelets, token, task) = start().await;
    let client = server.client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let mut s = set(3);
    s.spec.update_strategy = Some(StatefulSetUpdateStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateStatefulSetStrategy {
            partition: Some(1),
            ..RollingUpdateStatefulSetStrategy::default()
        }),
    });
    sets.create(&PostParams::default(), &s).await.unwrap();
    until_async("three ready", || async {
        sets.get("db")
            .await
            .unwrap()
            .status
            .unwrap_or_default()
            .ready_replicas
            == Some(3)
    })
    .await;
    let first = sets
        .get("db")
        .await
        .unwrap()
        .status
        .unwrap()
        .update_revision
        .unwrap();

    let mut s = sets.get("db").await.unwrap();
    s.spec.template.spec.as_mut().unwrap().containers[0].image = Some("db:2".into());
    sets.replace("db", &PostParams::default(), &s)
        .await
        .unwrap();
    let image = |p: &Pod| {
        p.spec.as_ref().unwrap().containers[0]
            .image
            .clone()
            .unwrap()
    };
    until_async("ordinals 1 and 2 updated", || async {
        let st = sets.get("db").await.unwrap().status.unwrap_or_default();
        st.updated_replicas == Some(2) && st.ready_replicas == Some(3)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let st = sets.get("db").await.unwrap().status.unwrap();
    let second = st.update_revision.clone().unwrap();
    assert_ne!(first, second);
    assert_eq!(st.current_revision.as_deref(), Some(first.as_str()));
    assert_eq!(st.current_replicas, Some(1));
    assert_eq!(st.updated_replicas, Some(2));
    assert_eq!(image(&pods.get("db-0").await.unwrap()), "db:1");
    assert_eq!(image(&pods.get("db-1").await.unwrap()), "db:2");
    assert_eq!(image(&pods.get("db-2").await.unwrap()), "db:2");

    // Partition 0 finishes the rollout; the update revision becomes current.
    sets.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})),
    )
    .await
    .unwrap();
    until_async("the rollout complete", || async {
        let st = sets.get("db").await.unwrap().status.unwrap_or_default();
        st.current_revision.as_deref() == Some(second.as_str())
            && st.updated_replicas == Some(3)
            && st.ready_replicas == Some(3)
    })
    .await;
    assert_eq!(image(&pods.get("db-0").await.unwrap()), "db:2");
    token.cancel();
    task.await.unwrap();
}

/// `kubectl rollout status statefulset` returns once the rollout is done (real time: kubectl
/// is a real process on a loopback port).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_rollout_status_returns_when_done() {
    let (server, _kubelets, token, task) = start().await;
    let dir = std::env::temp_dir().join(format!("kube-control-sts-rollout-{}", std::process::id()));
    let loopback = server.serve_loopback(&dir).await.unwrap();
    let sets: Api<StatefulSet> = Api::namespaced(server.client(), "default");
    sets.create(&PostParams::default(), &set(2)).await.unwrap();
    let kubeconfig = loopback.kubeconfig().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args([
                "rollout",
                "status",
                "statefulset/db",
                "-n",
                "default",
                "--timeout=120s",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("running kubectl (scripts/setup installs it)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("roll out complete"), "{stdout}");
    let st = sets.get("db").await.unwrap().status.unwrap();
    assert_eq!(st.ready_replicas, Some(2));
    loopback.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    token.cancel();
    task.await.unwrap();
}

/// Parallel pod management creates every pod at once, without waiting for readiness, and
/// removes the condemned ones at once.
#[tokio::test(start_paused = true)]
async fn parallel_creates_and_removes_at_once() {
    let (server, kubelets, token, task) = start().await;
    let client = server.client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    // No pod becomes ready: ordered creation would stop at db-0.
    kubelets
        .hold_ready
        .lock()
        .unwrap()
        .extend(["db-0", "db-1", "db-2"].map(String::from));
    let mut s = set(3);
    s.spec.pod_management_policy = Some("Parallel".into());
    sets.create(&PostParams::default(), &s).await.unwrap();
    until_async("three pods", || async {
        all(&pods).await == names(&["db-0", "db-1", "db-2"])
    })
    .await;
    sets.patch_scale(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 0}})),
    )
    .await
    .unwrap();
    until_async("no pods", || async { live(&pods).await.is_empty() }).await;
    token.cancel();
    task.await.unwrap();
}

/// OnDelete: a template change replaces no pod; a deleted pod comes back at the update
/// revision.
#[tokio::test(start_paused = true)]
async fn on_delete_updates_only_deleted_pods() {
    let (server, _kubelets, token, task) = start().await;
    let client = server.client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let mut s = set(2);
    s.spec.update_strategy = Some(StatefulSetUpdateStrategy {
        type_: Some("OnDelete".into()),
        rolling_update: None,
    });
    sets.create(&PostParams::default(), &s).await.unwrap();
    until_async("two ready", || async {
        sets.get("db")
            .await
            .unwrap()
            .status
            .unwrap_or_default()
            .ready_replicas
            == Some(2)
    })
    .await;
    let mut s = sets.get("db").await.unwrap();
    s.spec.template.spec.as_mut().unwrap().containers[0].image = Some("db:2".into());
    sets.replace("db", &PostParams::default(), &s)
        .await
        .unwrap();
    until_async("the new update revision", || async {
        let st = sets.get("db").await.unwrap().status.unwrap_or_default();
        st.update_revision != st.current_revision && st.observed_generation == Some(2)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let image = |p: &Pod| {
        p.spec.as_ref().unwrap().containers[0]
            .image
            .clone()
            .unwrap()
    };
    for name in ["db-0", "db-1"] {
        assert_eq!(image(&pods.get(name).await.unwrap()), "db:1");
    }
    pods.delete("db-1", &Default::default()).await.unwrap();
    until_async("db-1 back at db:2", || async {
        pods.get_opt("db-1").await.unwrap().is_some_and(|p| {
            p.metadata.deletion_timestamp.is_none()
                && image(&p) == "db:2"
                && statefulset::running_and_ready(&p)
        })
    })
    .await;
    assert_eq!(image(&pods.get("db-0").await.unwrap()), "db:1");
    until_async("one current, one updated", || async {
        let st = sets.get("db").await.unwrap().status.unwrap_or_default();
        (st.current_replicas, st.updated_replicas, st.ready_replicas) == (Some(1), Some(1), Some(2))
    })
    .await;
    token.cancel();
    task.await.unwrap();
}
