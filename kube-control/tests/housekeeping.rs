//! The serviceaccount controller and the pod garbage collector against the in-process
//! server (one test binary for both, to keep the build small).

mod common;

use std::time::Duration;

use common::wait_for;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ServiceAccount};
use kube_api::client::{Api, DeleteParams, PostParams};
use kube_api::testing::TestServer;
use kube_control::controllers::podgc::{self, PodGcConfig};
use kube_control::controllers::serviceaccount;
use kube_control::{CancellationToken, ControllerContext};
use serde_json::json;
use tokio::time::Instant;

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn every_namespace_gets_a_default_service_account() {
    let server = TestServer::start().await;
    let client = server.client();
    let token = CancellationToken::new();
    tokio::spawn(serviceaccount::run(
        ControllerContext::new(client.clone()),
        token.clone(),
    ));
    let _stop = token.drop_guard();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}),
    )
    .unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "team-a");
    wait_for("default in team-a", MINUTE, || async {
        accounts.get_opt("default").await.unwrap()
    })
    .await;
    // Existing namespaces get one too.
    let in_default: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    wait_for("default in default", MINUTE, || async {
        in_default.get_opt("default").await.unwrap()
    })
    .await;
    // Deleted, it comes back.
    accounts
        .delete("default", &DeleteParams::default())
        .await
        .unwrap();
    let old_uid = wait_for("default recreated", MINUTE, || async {
        accounts.get_opt("default").await.unwrap()
    })
    .await
    .metadata
    .uid;
    assert!(old_uid.is_some());
}

fn pod_on(name: &str, node: Option<&str>) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
    }))
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn pod_gc_deletes_pods_of_a_missing_node_and_terminated_pods_beyond_the_threshold() {
    let server = TestServer::start().await;
    let client = server.client();
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "here"}}),
    )
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod_on("orphan", Some("gone")))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod_on("kept", Some("here")))
        .await
        .unwrap();
    for i in 0..3 {
        let p = pods
            .create(
                &PostParams::default(),
                &pod_on(&format!("done-{i}"), Some("here")),
            )
            .await
            .unwrap();
        assert!(common::set_status(&pods, p, "Succeeded", None, Some(0)).await);
    }

    let token = CancellationToken::new();
    let config = PodGcConfig {
        terminated_pod_gc_threshold: 1,
        ..PodGcConfig::default()
    };
    let began = Instant::now();
    tokio::spawn(podgc::run(
        ControllerContext::new(client.clone()),
        token.clone(),
        config,
    ));
    let _stop = token.drop_guard();
    // The oldest go first (same second here: by name), so done-2 stays.
    wait_for("terminated pods down to the threshold", MINUTE, || async {
        let names: Vec<String> = pods
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .filter(|n| n.starts_with("done-"))
            .collect();
        (names == ["done-2"]).then_some(())
    })
    .await;
    wait_for("the orphan to go", 3 * MINUTE, || async {
        pods.get_opt("orphan")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        began.elapsed() >= Duration::from_secs(40),
        "deleted before the quarantine"
    );
    assert!(pods.get_opt("kept").await.unwrap().is_some());
}
