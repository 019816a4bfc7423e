//! kubectl end to end: the server on a loopback port, kubectl driving it through a kubeconfig
//! written in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use kube_api::server::{ApiServer, Config, kubeconfig};
use kube_store::{MemoryStore, Store};
use serde_json::Value;

struct Kubectl {
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    /// Runs kubectl with `args` (and stdin, if given); returns (success, stdout, stderr).
    fn run(&self, args: &[&str], stdin: Option<&Path>) -> (bool, String, String) {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .arg("--request-timeout=20s")
            .args(args);
        if let Some(file) = stdin {
            cmd.stdin(std::fs::File::open(file).unwrap());
        }
        let out = cmd.output().expect("running kubectl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args, None);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
}

fn kubectl_installed() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drives_the_server() {
    // Never skipped: a missing kubectl fails the test.
    assert!(
        kubectl_installed(),
        "kubectl is not installed: run scripts/setup"
    );
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let store = MemoryStore::new();
    let server = ApiServer::new(Arc::new(store) as Arc<dyn Store>, Config::default());
    server.ensure_system_namespaces().await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));

    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        kubeconfig::plain_http(&format!("http://{address}")),
    )
    .unwrap();
    let k = Kubectl {
        kubeconfig,
        cache: dir.path().join("cache"),
    };
    let manifest = dir.path().join("deploy.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
",
    )
    .unwrap();

    let ns_file = dir.path().join("ns.yaml");
    std::fs::write(
        &ns_file,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n",
    )
    .unwrap();
    let cm_file = dir.path().join("cm.yaml");
    std::fs::write(
        &cm_file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: team\ndata:\n  mode: fast\n",
    )
    .unwrap();

    let outcome = tokio::task::spawn_blocking(move || {
        let raw: Value = serde_json::from_str(&k.ok(&["get", "--raw", "/api/v1"])).unwrap();
        assert_eq!(raw["kind"], "APIResourceList");

        // `kubectl create namespace` sends a protobuf body (kubectl_protobuf.rs covers it);
        // `create -f` sends JSON.
        let created = k.ok(&["create", "namespace", "typed"]);
        assert!(created.contains("namespace/typed created"), "{created}");
        let created = k.ok(&["create", "-f", ns_file.to_str().unwrap()]);
        assert!(created.contains("namespace/team created"), "{created}");
        let created = k.ok(&["create", "-f", cm_file.to_str().unwrap()]);
        assert!(created.contains("configmap/settings created"), "{created}");
        let cm = k.json(&["get", "configmap", "settings", "-n", "team", "-o", "json"]);
        assert_eq!(cm["data"]["mode"], "fast");

        let pods = k.json(&["get", "pods", "-n", "team", "-o", "json"]);
        assert_eq!(pods["kind"], "List");
        assert_eq!(pods["items"].as_array().unwrap().len(), 0);

        let applied = k.ok(&["apply", "-f", manifest.to_str().unwrap()]);
        assert!(applied.contains("deployment.apps/web created"), "{applied}");
        // A second apply with a change patches it.
        let changed = std::fs::read_to_string(&manifest)
            .unwrap()
            .replace("replicas: 2", "replicas: 3");
        std::fs::write(&manifest, changed).unwrap();
        let applied = k.ok(&["apply", "-f", manifest.to_str().unwrap()]);
        assert!(
            applied.contains("deployment.apps/web configured"),
            "{applied}"
        );
        let deploy = k.json(&["get", "deployment", "web", "-n", "team", "-o", "json"]);
        assert_eq!(deploy["spec"]["replicas"], 3);
        assert_eq!(deploy["metadata"]["generation"], 2);

        let names = k.ok(&["get", "deployments,configmaps", "-n", "team", "-o", "name"]);
        assert!(
            names.contains("deployment.apps/web") && names.contains("configmap/settings"),
            "{names}"
        );

        assert!(
            k.ok(&["delete", "configmap", "settings", "-n", "team"])
                .contains("deleted")
        );
        let (ok, _, err) = k.run(
            &["get", "configmap", "settings", "-n", "team", "-o", "json"],
            None,
        );
        assert!(!ok && err.contains("NotFound"), "{err}");
        assert!(
            k.ok(&["delete", "-f", manifest.to_str().unwrap()])
                .contains("deleted")
        );
    })
    .await;
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
