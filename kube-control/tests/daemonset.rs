//! The daemonset controller against the in-process server: one pod per node, a new node gets
//! one, a node tainted without a matching toleration gets none, and a rolling update replaces
//! every pod.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Kubelets, follow, until_async};
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::{Container, NodeSpec, Pod, PodSpec, PodTemplateSpec, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube_api::client::{Api, PostParams};
use kube_api::testing::TestServer;
use kube_control::controllers::daemonset;
use kube_control::{CancellationToken, ControllerContext};

fn labels() -> BTreeMap<String, String> {
    [("app".to_owned(), "agent".to_owned())].into()
}

fn daemon_set() -> DaemonSet {
    DaemonSet {
        metadata: ObjectMeta {
            name: Some("agent".into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        spec: DaemonSetSpec {
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
                        name: "agent".into(),
                        image: Some("agent:1".into()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DaemonSetSpec::default()
        },
        status: None,
    }
}

/// Node name -> images of the live pods there.
async fn placement(pods: &Api<Pod>) -> BTreeMap<String, Vec<String>> {
    let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in pods.list(&Default::default()).await.unwrap().items {
        if p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let spec = p.spec.unwrap();
        by_node
            .entry(spec.node_name.unwrap_or_default())
            .or_default()
            .push(spec.containers[0].image.clone().unwrap());
    }
    by_node
}

/// Node name -> sorted images of `live` pods.
fn placed(live: &BTreeMap<String, Pod>) -> BTreeMap<String, Vec<String>> {
    let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in live.values() {
        let spec = p.spec.as_ref().unwrap();
        by_node
            .entry(spec.node_name.clone().unwrap_or_default())
            .or_default()
            .push(spec.containers[0].image.clone().unwrap());
    }
    for images in by_node.values_mut() {
        images.sort();
    }
    by_node
}

fn expect(nodes: &[&str], image: &str) -> BTreeMap<String, Vec<String>> {
    nodes
        .iter()
        .map(|n| ((*n).to_owned(), vec![image.to_owned()]))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn one_pod_per_eligible_node() {
    let server = TestServer::start().await;
    let client = server.client();
    let kubelets = Kubelets::start(client.clone());
    kubelets.add_node("n1").await;
    kubelets.add_node("n2").await;
    let token = CancellationToken::new();
    let task = tokio::spawn(daemonset::run(
        ControllerContext::new(client.clone()),
        token.clone(),
    ));
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &daemon_set())
        .await
        .unwrap();
    until_async("a pod on each node", || async {
        placement(&pods).await == expect(&["n1", "n2"], "agent:1")
    })
    .await;

    // The pods carry the node pin, the revision and the automatic tolerations.
    let pod = &pods.list(&Default::default()).await.unwrap().items[0];
    let spec = pod.spec.as_ref().unwrap();
    let term = &spec
        .affinity
        .as_ref()
        .unwrap()
        .node_affinity
        .as_ref()
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap()
        .node_selector_terms[0];
    let field = &term.match_fields.as_ref().unwrap()[0];
    assert_eq!(field.key, "metadata.name");
    assert_eq!(
        field.values.as_ref().unwrap(),
        &vec![spec.node_name.clone().unwrap()]
    );
    assert!(
        spec.tolerations.iter().flatten().any(|t| {
            t.key.as_deref() == Some("node.kubernetes.io/unreachable")
                && t.effect.as_deref() == Some("NoExecute")
                && t.toleration_seconds.is_none()
        }),
        "{:?}",
        spec.tolerations
    );
    assert!(
        pod.metadata
            .labels
            .as_ref()
            .unwrap()
            .contains_key("controller-revision-hash")
    );

    // A new node gets a pod; a tainted one (no toleration) does not.
    kubelets.add_node("n3").await;
    kubelets
        .add_node_with("tainted", |n| {
            n.spec = Some(NodeSpec {
                taints: Some(vec![Taint {
                    key: "dedicated".into(),
                    value: Some("db".into()),
                    effect: "NoSchedule".into(),
                    ..Taint::default()
                }]),
                ..NodeSpec::default()
            });
        })
        .await;
    until_async("a pod on the new node", || async {
        placement(&pods).await == expect(&["n1", "n2", "n3"], "agent:1")
    })
    .await;
    until_async("the status", || async {
        let s = sets.get("agent").await.unwrap().status.unwrap_or_default();
        s.desired_number_scheduled == 3
            && s.current_number_scheduled == 3
            && s.number_ready == 3
            && s.number_available == Some(3)
            && s.updated_number_scheduled == Some(3)
            && s.number_misscheduled == 0
            && s.observed_generation == Some(1)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        placement(&pods).await,
        expect(&["n1", "n2", "n3"], "agent:1")
    );

    // A rolling update (maxUnavailable 1) replaces every pod, never two nodes down at once.
    let mut ds = sets.get("agent").await.unwrap();
    ds.spec.template.spec.as_mut().unwrap().containers[0].image = Some("agent:2".into());
    let start = pods.list(&Default::default()).await.unwrap();
    sets.replace("agent", &PostParams::default(), &ds)
        .await
        .unwrap();
    let mut down_at_once = 0;
    follow(&pods, start, |live, _| {
        let now = &placed(live);
        let missing = ["n1", "n2", "n3"]
            .iter()
            .filter(|n| !now.contains_key(**n))
            .count();
        assert!(
            missing <= 1,
            "more than maxUnavailable nodes without a pod: {now:?}"
        );
        down_at_once = down_at_once.max(missing);
        *now == expect(&["n1", "n2", "n3"], "agent:2")
    })
    .await;
    assert_eq!(down_at_once, 1, "the old pods were never deleted first");
    until_async("the updated status", || async {
        let s = sets.get("agent").await.unwrap().status.unwrap_or_default();
        s.updated_number_scheduled == Some(3)
            && s.number_available == Some(3)
            && s.observed_generation == Some(2)
    })
    .await;
    token.cancel();
    task.await.unwrap();
}

/// With maxSurge 1 and maxUnavailable 0, a new pod starts beside the old one on one node at a
/// time, and every node keeps a pod throughout.
#[tokio::test(start_paused = true)]
async fn a_surging_rolling_update_keeps_every_node_served() {
    let server = TestServer::start().await;
    let client = server.client();
    let kubelets = Kubelets::start(client.clone());
    kubelets.add_node("n1").await;
    kubelets.add_node("n2").await;
    let token = CancellationToken::new();
    let task = tokio::spawn(daemonset::run(
        ControllerContext::new(client.clone()),
        token.clone(),
    ));
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut ds = daemon_set();
    ds.spec.update_strategy = Some(k8s_openapi::api::apps::v1::DaemonSetUpdateStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(k8s_openapi::api::apps::v1::RollingUpdateDaemonSet {
            max_surge: Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1)),
            max_unavailable: Some(
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(0),
            ),
        }),
    });
    sets.create(&PostParams::default(), &ds).await.unwrap();
    until_async("a pod on each node", || async {
        placement(&pods).await == expect(&["n1", "n2"], "agent:1")
    })
    .await;
    until_async("both available", || async {
        let s = sets.get("agent").await.unwrap().status.unwrap_or_default();
        s.number_available == Some(2)
    })
    .await;
    let mut ds = sets.get("agent").await.unwrap();
    ds.spec.template.spec.as_mut().unwrap().containers[0].image = Some("agent:2".into());
    let start = pods.list(&Default::default()).await.unwrap();
    sets.replace("agent", &PostParams::default(), &ds)
        .await
        .unwrap();
    let mut surged = false;
    follow(&pods, start, |live, _| {
        let now = &placed(live);
        assert_eq!(now.len(), 2, "a node without a pod: {now:?}");
        let doubled = now.values().filter(|p| p.len() > 1).count();
        assert!(doubled <= 1, "more than maxSurge nodes surging: {now:?}");
        surged |= doubled == 1;
        *now == expect(&["n1", "n2"], "agent:2")
    })
    .await;
    assert!(surged, "no node ever ran the new pod beside the old one");
    token.cancel();
    task.await.unwrap();
}
