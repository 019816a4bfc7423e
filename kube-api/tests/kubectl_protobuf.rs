//! kubectl's typed commands, which send protobuf bodies, end to end against the server.

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
async fn kubectl_typed_commands_send_protobuf() {
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
    // -v=8 prints the request headers: the bodies below are protobuf.
    let (ok, _, log) = k.run(&["create", "namespace", "x", "-v=8"], None);
    assert!(ok, "{log}");
    assert!(
        log.contains("Content-Type: application/vnd.kubernetes.protobuf"),
        "kubectl sent no protobuf body:\n{log}"
    );
    let accept = log
        .lines()
        .find(|l| l.contains("Accept: "))
        .unwrap_or_default();
    assert!(accept.contains("application/json"), "{accept}");

    k.ok(&["-n", "x", "create", "configmap", "c", "--from-literal=a=b"]);
    k.ok(&[
        "-n",
        "x",
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=2",
    ]);
    k.ok(&[
        "-n",
        "x",
        "create",
        "secret",
        "generic",
        "s",
        "--from-literal=k=v",
    ]);

    let ns = k.json(&["get", "namespace", "x", "-o", "json"]);
    assert_eq!(ns["metadata"]["name"], "x");
    assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "x");
    let cm = k.json(&["-n", "x", "get", "configmap", "c", "-o", "json"]);
    assert_eq!(cm["data"], serde_json::json!({"a": "b"}));
    let secret = k.json(&["-n", "x", "get", "secret", "s", "-o", "json"]);
    assert_eq!(secret["data"], serde_json::json!({"k": "dg=="}));
    assert_eq!(secret["type"], "Opaque");
    let web = k.json(&["-n", "x", "get", "deployment", "web", "-o", "json"]);
    assert_eq!(web["spec"]["replicas"], 2);
    let container = &web["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx");
    assert_eq!(
        container["imagePullPolicy"], "Always",
        "defaulted, not left empty"
    );
    assert_eq!(web["spec"]["selector"]["matchLabels"]["app"], "web");

    // kubectl scale reads deployments/web/scale, then patches it.
    let (ok, _, log) = k.run(
        &[
            "-n",
            "x",
            "scale",
            "deployment",
            "web",
            "--replicas=3",
            "-v=8",
        ],
        None,
    );
    assert!(ok, "{log}");
    assert!(log.contains("/deployments/web/scale"), "{log}");
    let web = k.json(&["-n", "x", "get", "deployment", "web", "-o", "json"]);
    assert_eq!(web["spec"]["replicas"], 3);

    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
