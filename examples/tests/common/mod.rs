//! What the example binaries' tests share: building and running the apiserver example, and
//! kubectl against the kubeconfig it writes.

#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// Builds the example once per test run and returns its path. The features are those
/// `cargo test` builds examples with (dev-dependencies included), so after `cargo test` built
/// it this is a no-op, and it is never a stale binary.
pub fn apiserver_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = Command::new(cargo);
        build
            .args(["build", "-p", "examples", "--example", "apiserver"])
            .args(["--features", "kube-api/test-util"]);
        // What cargo set for this test process: build scripts that watch these variables
        // would otherwise rebuild (and dirty the outer build's artifacts).
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
        let status = build.status().expect("running cargo build");
        assert!(status.success(), "building the apiserver example failed");
        // target/debug/deps/apiserver-HASH -> target/debug/examples/apiserver
        let deps = std::env::current_exe().unwrap();
        let profile = deps.parent().unwrap().parent().unwrap();
        let binary = profile.join("examples").join("apiserver");
        assert!(binary.exists(), "{} missing", binary.display());
        binary
    })
}

/// A running apiserver, stopped (SIGTERM, by its pid) when dropped.
pub struct Apiserver {
    /// The process.
    pub child: Child,
    /// Where it listens (https).
    pub address: SocketAddr,
}

impl Apiserver {
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(apiserver_binary())
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting apiserver");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let address = line
            .trim()
            .strip_prefix("apiserver: listening on https://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Self { child, address }
    }

    pub fn stop(mut self) {
        self.terminate();
    }

    pub fn terminate(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Apiserver {
    fn drop(&mut self) {
        self.terminate();
    }
}

pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(kubeconfig.with_extension("cache"))
        .arg("--request-timeout=20s")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running kubectl (run scripts/setup)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn kubectl_ok(kubeconfig: &Path, args: &[&str]) -> String {
    let (ok, out, err) = kubectl(kubeconfig, args);
    assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
    out
}
