//! kubectl end to end: the apiserver binary (and, for tokens, the server in-process over TLS),
//! kubectl driving it through the
//! admin kubeconfig (certificate verification on), and `kubectl auth whoami` for client
//! certificates and tokens.

mod common;

use std::sync::Arc;

use common::https::HttpsServer;
use common::kubectl::{Cluster, Kubectl};
use kube_api::server::{Config, kubeconfig};
use kube_store::MemoryStore;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drives_the_server() {
    // The apiserver binary, as a user runs it. Never skipped: a missing kubectl fails the test.
    let c = Cluster::start().await;
    let k = c.kubectl.clone();
    let dir = tempfile::tempdir().unwrap();
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
        // Discovery as kubectl reads it from the binary (aggregated), without warnings.
        let resources = k.ok(&["api-resources"]);
        let row = |name: &str| -> Vec<String> {
            resources
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("{name} in api-resources:\n{resources}"))
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            row("deployments"),
            ["deployments", "deploy", "apps/v1", "true", "Deployment"]
        );
        assert_eq!(
            row("namespaces"),
            ["namespaces", "ns", "v1", "false", "Namespace"]
        );
        assert_eq!(
            row("tokenreviews"),
            [
                "tokenreviews",
                "authentication.k8s.io/v1",
                "false",
                "TokenReview"
            ]
        );

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
    drop(c);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_authenticates_with_certificates_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "t0ken-jane,jane,uid-1,\"dev,ops\"\n").unwrap();
    let served = HttpsServer::start_with(Arc::new(MemoryStore::new()), Config::default(), |s| {
        s.token_auth_file = Some(tokens);
    })
    .await;
    let admin = Kubectl::new(&served.kubeconfig);
    let with_token = |name: &str, token: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            kubeconfig::with_token(&served.url, Some(served.ca_pem()), token),
        )
        .unwrap();
        Kubectl::new(&path)
    };
    let jane = with_token("jane.kubeconfig", "t0ken-jane");
    let wrong = with_token("wrong.kubeconfig", "not-a-token");
    let outcome = tokio::task::spawn_blocking(move || {
        let namespaces = admin.ok(&["get", "ns", "-o", "name"]);
        assert!(namespaces.contains("namespace/kube-system"), "{namespaces}");
        let whoami = admin.json(&["auth", "whoami", "-o", "json"]);
        assert_eq!(whoami["kind"], "SelfSubjectReview");
        assert_eq!(whoami["status"]["userInfo"]["username"], "admin");
        assert_eq!(
            whoami["status"]["userInfo"]["groups"],
            serde_json::json!(["system:masters", "system:authenticated"])
        );
        let table = admin.ok(&["auth", "whoami"]);
        assert!(table.contains("admin"), "{table}");
        assert!(
            table.contains("[system:masters system:authenticated]"),
            "{table}"
        );

        let whoami = jane.json(&["auth", "whoami", "-o", "json"]);
        assert_eq!(whoami["status"]["userInfo"]["username"], "jane");
        assert_eq!(whoami["status"]["userInfo"]["uid"], "uid-1");
        assert_eq!(
            whoami["status"]["userInfo"]["groups"],
            serde_json::json!(["dev", "ops", "system:authenticated"])
        );
        let (ok, _, err) = wrong.run(&["get", "ns"], None);
        // kubectl words a 401 as it does against upstream.
        assert!(
            !ok && err.contains("You must be logged in to the server"),
            "{err}"
        );
    })
    .await;
    served.stop().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
