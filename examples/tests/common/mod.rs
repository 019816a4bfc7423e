//! What the example binaries' tests share: building and running the apiserver example, and
//! kubectl against the kubeconfig it writes.

#![allow(dead_code)] // each test file uses its own part

use std::path::Path;
use std::process::{Command, Stdio};

#[path = "../../../kube-api/tests/common/binary.rs"]
mod binary;
pub use binary::Apiserver;

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
