//! The real kubectl, driven through a kubeconfig with its own cache directory.

use std::path::{Path, PathBuf};
use std::process::Command;

/// kubectl with a kubeconfig.
pub struct Kubectl {
    /// The kubeconfig it reads.
    pub kubeconfig: PathBuf,
    /// Its discovery cache directory.
    pub cache: PathBuf,
}

impl Kubectl {
    /// kubectl with `kubeconfig`, caching discovery beside it. Fails the test if kubectl is
    /// not installed (never skipped).
    pub fn new(kubeconfig: &Path) -> Self {
        assert!(installed(), "kubectl is not installed: run scripts/setup");
        let cache = kubeconfig.with_extension("cache");
        Self {
            kubeconfig: kubeconfig.to_owned(),
            cache,
        }
    }

    /// The command for `args`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .arg("--request-timeout=20s")
            .args(args);
        cmd
    }

    /// Runs kubectl with `args` (and stdin, if given); returns (success, stdout, stderr).
    pub fn run(&self, args: &[&str], stdin: Option<&Path>) -> (bool, String, String) {
        let mut cmd = self.command(args);
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

    /// Runs kubectl with `args`, failing the test unless it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args, None);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }

    /// [`ok`](Self::ok), parsed as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// `kubectl apply -f` of `yaml`, written to `dir/name`.
    pub fn apply(&self, dir: &Path, name: &str, yaml: &str) {
        let file = dir.join(name);
        std::fs::write(&file, yaml).unwrap();
        self.ok(&["apply", "-f", file.to_str().unwrap()]);
    }
}

/// Whether kubectl runs.
pub fn installed() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}
