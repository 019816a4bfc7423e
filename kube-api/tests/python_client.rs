//! The official Kubernetes Python client end to end: the server on a loopback port, the unittest
//! modules in tests/python/ driving it over TLS through the admin kubeconfig the server wrote
//! (certificate verification on).
//!
//! The tests ask for a store compaction by printing `COMPACT` on stdout; the harness compacts
//! the MemoryStore at its current revision and answers `COMPACTED <revision>` on stdin.

mod common;

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::https::HttpsServer;
use kube_api::server::Config;
use kube_store::{MemoryStore, Store};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// A bound on the whole Python run, so a hung client fails the test instead of hanging CI.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Fails (never skips) when python3 or the `kubernetes` package is missing.
fn require_python_client() {
    let out = std::process::Command::new("python3")
        .args(["-c", "import kubernetes; print(kubernetes.__version__)"])
        .output();
    match out {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "the Python package `kubernetes` is not importable; run scripts/setup\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(error) => panic!("python3 could not be run ({error}); run scripts/setup"),
    }
}

/// What the Python run printed so far: kept by the caller, so a run cut short still shows it.
#[derive(Default)]
struct Transcript {
    stdout: String,
    stderr: Arc<Mutex<String>>,
}

impl Transcript {
    fn stderr(&self) -> String {
        self.stderr.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

/// Runs the unittest modules and answers their compaction requests; returns the exit status.
async fn run_python(
    kubeconfig: &Path,
    store: &MemoryStore,
    transcript: &mut Transcript,
) -> ExitStatus {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let mut child = Command::new("python3")
        .args(["-m", "unittest", "discover", "-v", "-p", "test_*.py"])
        .current_dir(&dir)
        .env("KUBECONFIG", kubeconfig)
        .env("KUBE_API_COMPACT", "stdio")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawning python3");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut stderr = child.stderr.take().expect("piped stderr");
    let errors = Arc::clone(&transcript.stderr);
    let reading = tokio::spawn(async move {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = stderr.read(&mut chunk).await {
            if let Ok(mut errors) = errors.lock() {
                errors.push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        }
    });

    let output = &mut transcript.stdout;
    while let Some(line) = lines.next_line().await.expect("reading python stdout") {
        if line.trim() == "COMPACT" {
            let revision = store.current_revision().await.expect("current revision");
            store.compact(revision).await.expect("compaction");
            output.push_str(&format!("[harness] compacted at {revision}\n"));
            stdin
                .write_all(format!("COMPACTED {revision}\n").as_bytes())
                .await
                .expect("answering python");
            stdin.flush().await.expect("answering python");
        } else {
            output.push_str(&line);
            output.push('\n');
        }
    }
    drop(stdin);
    let status = child.wait().await.expect("waiting for python3");
    let _ = reading.await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_drives_the_server() {
    require_python_client();
    let store = MemoryStore::new();
    // Over TLS, as the binaries serve: the client loads the admin kubeconfig (CA and client
    // certificate) and verifies the server.
    let served = HttpsServer::start(Arc::new(store.clone()), Config::default()).await;
    let kubeconfig = served.kubeconfig.clone();

    let mut transcript = Transcript::default();
    let outcome =
        tokio::time::timeout(RUN_LIMIT, run_python(&kubeconfig, &store, &mut transcript)).await;
    served.stop().await;
    let (out, err) = (&transcript.stdout, transcript.stderr());
    let Ok(status) = outcome else {
        panic!(
            "the Python client tests did not finish in time:\n--- stdout\n{out}\n--- stderr\n{err}"
        );
    };
    // Shown with --nocapture: the per-case lines of unittest's -v output.
    eprintln!("{err}");
    assert!(
        status.success(),
        "the Python client tests failed ({status}):\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    // Every case ran, the compaction ones included.
    assert!(!err.contains("skipped"), "a case was skipped:\n{err}");
    assert!(
        out.contains("[harness] compacted at"),
        "no compaction was asked for:\n{out}\n{err}"
    );
}
