//! The real kubectl, driven through a kubeconfig with its own cache directory; [`Cluster`]
//! gives it the apiserver binary to talk to.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::binary::Apiserver;

/// kubectl with a kubeconfig.
#[derive(Debug, Clone)]
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
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs kubectl with `args` (and stdin, if given); returns (success, stdout, stderr).
    pub fn run(&self, args: &[&str], stdin: Option<&Path>) -> (bool, String, String) {
        let mut cmd = self.command(args);
        if let Some(file) = stdin {
            cmd.stdin(std::fs::File::open(file).unwrap());
        }
        split(cmd.output().expect("running kubectl"))
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

    /// Runs kubectl with `args`, failing the test unless it succeeds without warnings;
    /// returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args, None);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        assert!(
            !err.to_lowercase().contains("warning"),
            "kubectl {args:?} warned:\n{err}"
        );
        out
    }

    /// Runs kubectl, which must fail; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args, None);
        assert!(
            !ok,
            "kubectl {args:?} succeeded but should not:\n{out}\n{err}"
        );
        err
    }

    /// [`ok`](Self::ok), parsed as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// `kubectl apply -f` of `yaml`, written to `dir/name`.
    pub fn apply(&self, dir: &Path, name: &str, yaml: &str) {
        let file = Self::file(dir, name, yaml);
        self.ok(&["apply", "-f", &file]);
    }

    /// Writes `yaml` to `dir/name` and returns the path, for `-f`.
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

/// Whether kubectl runs.
pub fn installed() -> bool {
    Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The apiserver binary (embedded store, HTTPS, RBAC, its own certificates) in a temporary
/// directory, and kubectl with the admin kubeconfig it writes: what a user runs. Stops
/// (SIGTERM, by pid) when dropped.
pub struct Cluster {
    /// kubectl for it.
    pub kubectl: Kubectl,
    /// The running binary.
    pub apiserver: Apiserver,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// The binary with its default flags.
    pub async fn start() -> Self {
        Self::with_flags(&[])
    }

    /// The binary with `flags` added to the data directory, listen address and kubeconfig.
    pub fn with_flags(flags: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (apiserver, kubeconfig) = Apiserver::in_dir(dir.path(), flags);
        let kubectl = Kubectl::new(&kubeconfig);
        Self {
            kubectl,
            apiserver,
            dir,
        }
    }

    /// The test's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `yaml` to a file in the test's directory; returns its path.
    pub fn file(&self, name: &str, yaml: &str) -> String {
        Kubectl::file(self.dir(), name, yaml)
    }
}
