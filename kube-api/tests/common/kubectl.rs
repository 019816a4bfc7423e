//! The real kubectl against a server on a loopback port: [`Cluster::start`] serves an
//! in-process [`ApiServer`] on 127.0.0.1 and writes a kubeconfig; [`Kubectl`] runs kubectl
//! with it. kubectl must be installed (scripts/setup): its absence fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use kube_api::server::{ApiServer, Config, kubeconfig};
use kube_store::{MemoryStore, Store};
use serde_json::Value;

/// kubectl bound to one kubeconfig and a private discovery cache.
#[derive(Debug, Clone)]
pub struct Kubectl {
    /// The kubeconfig kubectl uses.
    pub kubeconfig: PathBuf,
    /// kubectl's discovery cache directory.
    pub cache: PathBuf,
}

impl Kubectl {
    /// A kubectl command with the kubeconfig, cache and a request timeout set.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .arg("--request-timeout=20s")
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.command(args).output().expect("running kubectl");
        split(out)
    }

    /// Runs kubectl with `input` on its standard input.
    pub fn run_with_input(&self, args: &[&str], input: &str) -> (bool, String, String) {
        use std::io::Write as _;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running kubectl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        split(child.wait_with_output().unwrap())
    }

    /// Runs kubectl, which must succeed without warnings; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        assert!(
            !err.to_lowercase().contains("warning"),
            "kubectl {args:?} warned:\n{err}"
        );
        out
    }

    /// Runs kubectl, which must fail; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(
            !ok,
            "kubectl {args:?} succeeded but should not:\n{out}\n{err}"
        );
        err
    }

    /// Runs kubectl with `-o json` output already in `args`; returns the document.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// Writes `yaml` to `name` in `dir` and returns the path, for `-f`.
    pub fn file(dir: &Path, name: &str, yaml: &str) -> String {
        let file = dir.join(name);
        std::fs::write(&file, yaml).unwrap();
        file.to_str().unwrap().to_owned()
    }
}

fn split(out: Output) -> (bool, String, String) {
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Fails the test if kubectl is missing.
pub fn require_kubectl() {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "kubectl is not installed: run scripts/setup");
}

/// An in-process API server on a loopback port, with a kubeconfig for it. Stops when dropped.
pub struct Cluster {
    /// The server (call it in-process too).
    pub server: ApiServer,
    /// Where the server listens.
    pub address: std::net::SocketAddr,
    /// kubectl for this server.
    pub kubectl: Kubectl,
    /// A temporary directory for files the test writes; removed on drop.
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Cluster {
    /// A server on a MemoryStore with the default settings.
    pub async fn start() -> Self {
        Self::with_config(Config::default()).await
    }

    /// A server on a MemoryStore with `config`.
    pub async fn with_config(config: Config) -> Self {
        require_kubectl();
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = ApiServer::new(Arc::new(MemoryStore::new()) as Arc<dyn Store>, config);
        server.ensure_system_namespaces().await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.clone().serve(listener, async {
            let _ = stopped.await;
        }));
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            kubeconfig::plain_http(&format!("http://{address}")),
        )
        .unwrap();
        let kubectl = Kubectl {
            kubeconfig,
            cache: dir.path().join("cache"),
        };
        Self {
            server,
            address,
            kubectl,
            dir,
            stop: Some(stop),
        }
    }

    /// Writes `yaml` to a file in the test's directory; returns its path.
    pub fn file(&self, name: &str, yaml: &str) -> String {
        Kubectl::file(self.dir.path(), name, yaml)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
