//! The real kubectl against the in-process server on loopback, with the stock controllers
//! and the node player: create, scale, set image, rollout status / history / undo / pause /
//! resume, delete with --cascade.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube_api::client::{Api, ListParams};
use kube_api::testing::TestServer;

use common::{eventually, play_nodes, start_controller};

struct Kubectl {
    kubeconfig: PathBuf,
}

impl Kubectl {
    /// Runs kubectl off the runtime's threads; fails the test unless it succeeds.
    async fn ok(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.kubeconfig.with_extension("cache"))
            .arg("--request-timeout=30s")
            .args(args)
            .stdin(Stdio::null());
        let shown = format!("{args:?}");
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("running kubectl"))
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kubectl {shown} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

fn kubectl_installed() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

async fn image(api: &Api<Deployment>) -> String {
    let d = api.get("web").await.unwrap();
    d.spec.template.spec.unwrap().containers[0]
        .image
        .clone()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_rollouts_and_cascading_deletes() {
    assert!(
        kubectl_installed(),
        "kubectl is not installed: run scripts/setup"
    );
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let loopback = server.serve_loopback(dir.path()).await.unwrap();
    let client = server.client();
    let nodes = play_nodes(client.clone(), Duration::from_millis(100));
    let controllers: Vec<_> = ["deployment", "replicaset", "garbage-collector"]
        .into_iter()
        .map(|c| start_controller(client.clone(), c))
        .collect();
    let k = Kubectl {
        kubeconfig: loopback.kubeconfig().to_owned(),
    };
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod_count = || async { pods.list(&ListParams::default()).await.unwrap().items.len() };

    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1",
        "--replicas=3",
    ])
    .await;
    let out = k
        .ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    assert_eq!(pod_count().await, 3);
    assert_eq!(
        rss.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );

    k.ok(&["scale", "deployment/web", "--replicas=5"]).await;
    k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    eventually("5 pods", Duration::from_secs(60), || async {
        (pod_count().await == 5).then_some(())
    })
    .await;

    k.ok(&["set", "image", "deployment/web", "nginx=nginx:2"])
        .await;
    let out = k
        .ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    assert_eq!(image(&deployments).await, "nginx:2");
    let history = k.ok(&["rollout", "history", "deployment/web"]).await;
    assert!(history.contains('1') && history.contains('2'), "{history}");

    k.ok(&["rollout", "undo", "deployment/web"]).await;
    k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    assert_eq!(image(&deployments).await, "nginx:1");
    assert_eq!(
        rss.list(&ListParams::default()).await.unwrap().items.len(),
        2,
        "the undo re-used the first ReplicaSet"
    );

    k.ok(&["rollout", "pause", "deployment/web"]).await;
    k.ok(&["set", "image", "deployment/web", "nginx=nginx:3"])
        .await;
    k.ok(&["rollout", "resume", "deployment/web"]).await;
    k.ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
        .await;
    eventually("5 pods of nginx:3", Duration::from_secs(60), || async {
        let items = pods.list(&ListParams::default()).await.unwrap().items;
        (items.len() == 5
            && items.iter().all(|p| {
                p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("nginx:3")
            }))
        .then_some(())
    })
    .await;

    k.ok(&["delete", "deployment", "web", "--cascade=foreground"])
        .await;
    eventually("everything gone", Duration::from_secs(60), || async {
        let left = pod_count().await
            + rss.list(&ListParams::default()).await.unwrap().items.len()
            + deployments
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len();
        (left == 0).then_some(())
    })
    .await;

    for (stop, task) in controllers {
        stop.cancel();
        task.await.unwrap();
    }
    nodes.cancel();
}
