//! The controller-manager binary end to end against the test server on loopback: two managers
//! with leader election, only the leader runs controllers, a ReplicaSet gets its pods, and the
//! other takes over when the leader is stopped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use kube_api::client::{Api, ListParams, Patch, PatchParams, PostParams};
use kube_api::testing::TestServer;

/// Builds the example once per test run (see tests/apiserver.rs for why the environment is
/// cleaned) and returns its path.
fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = Command::new(cargo);
        build
            .args(["build", "-p", "examples", "--example", "controller-manager"])
            .args(["--features", "kube-api/test-util"]);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            let set_for_tests = [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
            ]
            .iter()
            .any(|p| name.starts_with(p))
                || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"]
                    .contains(&name.as_str());
            if set_for_tests {
                build.env_remove(&name);
            }
        }
        assert!(build.status().expect("running cargo build").success());
        let deps = std::env::current_exe().unwrap();
        let profile = deps.parent().unwrap().parent().unwrap();
        profile.join("examples").join("controller-manager")
    })
}

/// A running manager, stopped with SIGTERM (by its pid) when dropped.
struct Manager(Child);

impl Manager {
    fn start(kubeconfig: &Path, identity: &str) -> Self {
        let child = Command::new(binary())
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--controllers=*,-namespace", "--leader-elect"])
            .env("HOSTNAME", identity)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting controller-manager");
        Self(child)
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        self.0.wait().unwrap()
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

async fn eventually<T, Fut: std::future::Future<Output = Option<T>>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> Fut,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt("kube-controller-manager")
        .await
        .unwrap()?
        .spec?
        .holder_identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_one_leader_and_a_takeover() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let loopback = server.serve_loopback(dir.path()).await.unwrap();
    let client = server.client();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let mut a = Manager::start(loopback.kubeconfig(), "a");
    let first = eventually("a leader", Duration::from_secs(60), || async {
        holder(&leases).await
    })
    .await;
    assert!(first.starts_with("a_"), "{first}");
    let mut b = Manager::start(loopback.kubeconfig(), "b");

    let rs: ReplicaSet = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .unwrap();
    rss.create(&PostParams::default(), &rs).await.unwrap();
    let count = || async { pods.list(&ListParams::default()).await.unwrap().items.len() };
    eventually("2 pods", Duration::from_secs(60), || async {
        (count().await == 2).then_some(())
    })
    .await;
    assert!(holder(&leases).await.unwrap().starts_with("a_"));
    // The leader's events are written.
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    eventually(
        "a SuccessfulCreate event",
        Duration::from_secs(30),
        || async {
            let list = events.list(&ListParams::default()).await.unwrap().items;
            list.iter()
                .any(|e| {
                    e.reason.as_deref() == Some("SuccessfulCreate")
                        && e.reporting_controller.as_deref() == Some("replicaset-controller")
                })
                .then_some(())
        },
    )
    .await;

    // The leader stops; the other takes over within the lease duration and scales.
    assert!(a.terminate().success(), "a SIGTERM is a clean exit");
    rss.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
    )
    .await
    .unwrap();
    let next = eventually("b leader", Duration::from_secs(30), || async {
        holder(&leases).await.filter(|h| h.starts_with("b_"))
    })
    .await;
    assert!(next.starts_with("b_"));
    eventually("3 pods", Duration::from_secs(60), || async {
        (count().await == 3).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count().await, 3, "no pod created twice");
    assert!(b.terminate().success());
}
