//! node-lifecycle and taint-eviction against the in-process server on a paused clock (issue 6
//! acceptance 3): a node whose Lease stops is Unknown and tainted unreachable within the grace
//! period; its pods go at once without a toleration, after tolerationSeconds with one, never
//! with an unbounded one; the node recovering loses the taints.

mod common;

use std::time::Duration;

use common::{Kubelets, until_async};
use k8s_openapi::api::core::v1::{Container, Node, Pod, PodSpec, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_api::client::{Api, PostParams};
use kube_api::testing::TestServer;
use kube_control::controllers::{node_lifecycle, taint_eviction};
use kube_control::{CancellationToken, ControllerContext};
use tokio::time::Instant;

const GRACE: Duration = Duration::from_secs(40);

fn pod(name: &str, toleration_seconds: Option<Option<i64>>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some("n1".into()),
            containers: vec![Container {
                name: "app".into(),
                image: Some("nginx".into()),
                ..Container::default()
            }],
            tolerations: toleration_seconds.map(|seconds| {
                vec![Toleration {
                    key: Some(node_lifecycle::TAINT_UNREACHABLE.into()),
                    operator: Some("Exists".into()),
                    effect: Some("NoExecute".into()),
                    toleration_seconds: seconds,
                    ..Toleration::default()
                }]
            }),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

fn taints(node: &Node) -> Vec<String> {
    let mut t: Vec<String> = node
        .spec
        .iter()
        .flat_map(|s| s.taints.iter().flatten())
        .map(|t| format!("{}:{}", t.key, t.effect))
        .collect();
    t.sort();
    t
}

fn ready(node: &Node) -> Option<(String, Option<String>)> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone()))
}

/// Whether the pod is gone or being deleted.
async fn evicted(pods: &Api<Pod>, name: &str) -> bool {
    match pods.get_opt(name).await.unwrap() {
        None => true,
        Some(p) => p.metadata.deletion_timestamp.is_some(),
    }
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

#[tokio::test(start_paused = true)]
async fn a_silent_node_is_tainted_and_its_pods_evicted_by_their_tolerations() {
    // Without DefaultTolerationSeconds, which would give the intolerant pod upstream's 300 s:
    // the test is about what the controllers do with each pod's own tolerations.
    let mut config = kube_api::server::Config::default();
    config
        .admission
        .mutating
        .retain(|p| p.name() != "DefaultTolerationSeconds");
    let server = TestServer::with_config(config).await.unwrap();
    let client = server.client();
    let kubelets = Kubelets::start(client.clone());
    kubelets.add_node("n1").await;
    let ctx = ControllerContext::new(client.clone());
    let token = CancellationToken::new();
    let config = node_lifecycle::Config {
        node_monitor_grace_period: GRACE,
        ..node_lifecycle::Config::default()
    };
    let lifecycle = tokio::spawn(node_lifecycle::run(ctx.clone(), token.clone(), config));
    let eviction = tokio::spawn(taint_eviction::run(ctx.clone(), token.clone()));

    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, tol) in [
        ("intolerant", None),
        ("for-a-minute", Some(Some(60))),
        ("for-ever", Some(None)),
    ] {
        pods.create(&PostParams::default(), &pod(name, tol))
            .await
            .unwrap();
    }
    until_async("the pods running and ready", || async {
        let list = pods.list(&Default::default()).await.unwrap().items;
        list.len() == 3 && list.iter().all(pod_ready)
    })
    .await;
    // A healthy node stays untainted well past the grace period.
    tokio::time::sleep(GRACE * 2).await;
    assert_eq!(
        taints(&nodes.get("n1").await.unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        ready(&nodes.get("n1").await.unwrap()).map(|r| r.0),
        Some("True".into())
    );

    kubelets.set_alive("n1", false);
    let stopped = Instant::now();
    until_async("the unreachable taints", || async {
        taints(&nodes.get("n1").await.unwrap())
            == [
                "node.kubernetes.io/unreachable:NoExecute",
                "node.kubernetes.io/unreachable:NoSchedule",
            ]
    })
    .await;
    let tainted = Instant::now();
    let after = tainted - stopped;
    assert!(
        after >= GRACE - Duration::from_secs(2) && after <= GRACE + Duration::from_secs(2),
        "tainted {after:?} after the last renewal, grace {GRACE:?}"
    );
    let node = nodes.get("n1").await.unwrap();
    assert_eq!(
        ready(&node),
        Some(("Unknown".into(), Some("NodeStatusUnknown".into())))
    );
    let message = node.status.as_ref().unwrap().conditions.as_ref().unwrap()[0]
        .message
        .clone();
    assert_eq!(
        message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );

    until_async("the intolerant pod evicted", || {
        evicted(&pods, "intolerant")
    })
    .await;
    assert!(Instant::now() - tainted < Duration::from_secs(2));
    // MarkPodsNotReady.
    assert!(!pod_ready(&pods.get("for-ever").await.unwrap()));

    tokio::time::sleep_until(tainted + Duration::from_secs(55)).await;
    assert!(!evicted(&pods, "for-a-minute").await, "evicted before 60 s");
    until_async("the minute-tolerating pod evicted", || {
        evicted(&pods, "for-a-minute")
    })
    .await;
    let gone = Instant::now() - tainted;
    assert!(
        gone >= Duration::from_secs(59) && gone <= Duration::from_secs(62),
        "evicted after {gone:?}"
    );

    tokio::time::sleep(Duration::from_secs(300)).await;
    assert!(!evicted(&pods, "for-ever").await);

    kubelets.set_alive("n1", true);
    until_async("the taints removed", || async {
        taints(&nodes.get("n1").await.unwrap()).is_empty()
    })
    .await;
    assert_eq!(
        ready(&nodes.get("n1").await.unwrap()).map(|r| r.0),
        Some("True".into())
    );
    // Recovered, it stays so.
    tokio::time::sleep(GRACE * 2).await;
    assert!(taints(&nodes.get("n1").await.unwrap()).is_empty());
    assert!(!evicted(&pods, "for-ever").await);

    token.cancel();
    lifecycle.await.unwrap();
    eviction.await.unwrap();
}

/// A taint that goes before a pod's tolerationSeconds run out cancels its eviction; a node
/// that recovers in time keeps its pods.
#[tokio::test(start_paused = true)]
async fn a_node_back_in_time_keeps_its_pods() {
    let server = TestServer::start().await;
    let client = server.client();
    let kubelets = Kubelets::start(client.clone());
    kubelets.add_node("n1").await;
    let ctx = ControllerContext::new(client.clone());
    let token = CancellationToken::new();
    let config = node_lifecycle::Config::default();
    assert_eq!(config.node_monitor_grace_period, GRACE);
    let lifecycle = tokio::spawn(node_lifecycle::run(ctx.clone(), token.clone(), config));
    let eviction = tokio::spawn(taint_eviction::run(ctx.clone(), token.clone()));
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("patient", Some(Some(120))))
        .await
        .unwrap();
    until_async("the pod ready", || async {
        pod_ready(&pods.get("patient").await.unwrap())
    })
    .await;

    kubelets.set_alive("n1", false);
    until_async("the unreachable taints", || async {
        !taints(&nodes.get("n1").await.unwrap()).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    kubelets.set_alive("n1", true);
    until_async("the taints removed", || async {
        taints(&nodes.get("n1").await.unwrap()).is_empty()
    })
    .await;
    // Well past the 120 s the pod tolerated: the cancelled timer did not fire.
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert!(!evicted(&pods, "patient").await);
    assert!(pod_ready(&pods.get("patient").await.unwrap()));

    token.cancel();
    lifecycle.await.unwrap();
    eviction.await.unwrap();
}
