//! kubectl 1.37's `apply --server-side` against the apiserver binary: create, a
//! second field manager's conflict, `--force-conflicts`, and `--show-managed-fields`.

mod common;

use std::path::{Path, PathBuf};

use common::kubectl::Cluster;
use serde_json::Value;

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
    let c = Cluster::start().await;
    let k = c.kubectl.clone();
    let dir = c.dir().to_owned();

    tokio::task::spawn_blocking(move || {
        let first = manifest(&dir, "first.yaml", 2);
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

        let second = manifest(&dir, "second.yaml", 5);
        let (ok, out, err) = k.run(
            &[
                "apply",
                "--server-side",
                "--field-manager=other",
                "-f",
                second.to_str().unwrap(),
            ],
            None,
        );
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
    drop(c);
}
