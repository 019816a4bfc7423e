//! kubectl 1.37's `apply --server-side` against the server on a loopback port: create, a
//! second field manager's conflict, `--force-conflicts`, and `--show-managed-fields`.

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
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .arg("--request-timeout=20s")
            .args(args)
            .output()
            .expect("running kubectl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }
}

fn manifest(dir: &Path, name: &str, replicas: u32) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(
        &file,
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
"
        ),
    )
    .unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_server_side_apply() {
    let installed = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(installed, "kubectl is not installed: run scripts/setup");
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = ApiServer::new(
        Arc::new(MemoryStore::new()) as Arc<dyn Store>,
        Config::default(),
    );
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

    tokio::task::spawn_blocking(move || {
        let first = manifest(dir.path(), "first.yaml", 2);
        // Client-side apply first: the server-side apply that follows migrates its fields
        // (kubectl rewrites managedFields with a JSON patch).
        let out = k.ok(&["apply", "-f", first.to_str().unwrap()]);
        assert!(out.contains("deployment.apps/web created"), "{out}");
        let out = k.ok(&["apply", "--server-side", "-f", first.to_str().unwrap()]);
        assert!(
            out.contains("deployment.apps/web serverside-applied"),
            "{out}"
        );
        let again = k.ok(&["apply", "--server-side", "-f", first.to_str().unwrap()]);
        assert!(again.contains("serverside-applied"), "{again}");

        let second = manifest(dir.path(), "second.yaml", 5);
        let (ok, out, err) = k.run(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            second.to_str().unwrap(),
        ]);
        assert!(!ok, "a conflicting apply must fail:\n{out}");
        assert!(
            err.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"),
            "{err}"
        );
        assert!(
            err.contains("--force-conflicts"),
            "kubectl explains the conflict: {err}"
        );

        let out = k.ok(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            second.to_str().unwrap(),
        ]);
        assert!(out.contains("serverside-applied"), "{out}");

        let obj: Value = serde_json::from_str(&k.ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "json",
            "--show-managed-fields",
        ]))
        .unwrap();
        assert_eq!(obj["spec"]["replicas"], 5);
        let entries = obj["metadata"]["managedFields"].as_array().unwrap();
        let manager = |name: &str| {
            entries
                .iter()
                .find(|e| e["manager"] == name && e["operation"] == "Apply")
                .unwrap_or_else(|| panic!("no Apply entry of {name}: {entries:?}"))
        };
        assert!(
            manager("kubectl")["fieldsV1"]["f:spec"]
                .get("f:replicas")
                .is_none()
        );
        assert!(
            manager("other")["fieldsV1"]["f:spec"]
                .get("f:replicas")
                .is_some()
        );
        let yaml = k.ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "yaml",
            "--show-managed-fields",
        ]);
        assert!(
            yaml.contains("managedFields:") && yaml.contains("f:replicas: {}"),
            "{yaml}"
        );
        let hidden = k.ok(&["get", "deployment", "web", "-o", "yaml"]);
        assert!(
            !hidden.contains("managedFields:"),
            "kubectl hides them by default"
        );
    })
    .await
    .unwrap();
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
