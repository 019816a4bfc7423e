//! The apiserver binary end to end: HTTPS by default with certificates it generates, 401 for
//! requests without credentials outside the health checks and `/version`, kubectl through the
//! kubeconfig it writes (certificate verification on), static tokens, RBAC on by default
//! (403 for a user without bindings, `kubectl auth can-i`), and certificates, kubeconfig and
//! data that survive a restart.

mod common;

use std::path::Path;

use kube_api::server::test_util::{Credentials, request};
use serde_json::{Value, json};

use common::{Apiserver, kubectl, kubectl_ok};
fn whoami(kubeconfig: &Path) -> Value {
    let out = kubectl_ok(kubeconfig, &["auth", "whoami", "-o", "json"]);
    serde_json::from_str::<Value>(&out).unwrap()["status"]["userInfo"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_serves_https_with_authentication_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let kubeconfig = dir.path().join("admin.kubeconfig");
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "t0ken-jane,jane,uid-1,\"dev,ops\"\n").unwrap();
    let data_arg = data.to_str().unwrap();
    let tokens_arg = tokens.to_str().unwrap();
    let first = Apiserver::start(&[
        "--data-dir",
        data_arg,
        "--listen",
        "127.0.0.1:0",
        "--write-kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--token-auth-file",
        tokens_arg,
        "--tls-san",
        "api.cluster.test",
    ]);
    let address = first.address;
    let ca = std::fs::read_to_string(data.join("pki/ca.crt")).unwrap();
    #[cfg(unix)]
    for key in ["ca.key", "apiserver.key", "admin.key", "sa.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("pki").join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }

    // No credentials: 401 with upstream's Status, except the health checks and /version.
    let (code, body) = request(
        address,
        &ca,
        "GET",
        "/api/v1/pods",
        &Credentials::none(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(code, 401, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );
    for path in ["/healthz", "/livez", "/readyz", "/version"] {
        let (code, body) = request(address, &ca, "GET", path, &Credentials::none(), None)
            .await
            .unwrap();
        assert_eq!(code, 200, "{path}: {body}");
    }

    // kubectl with the written kubeconfig, verifying the server.
    let written = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        written.contains(&format!("server: https://{address}")),
        "{written}"
    );
    assert!(written.contains("certificate-authority-data:"), "{written}");
    assert!(!written.contains("insecure-skip-tls-verify"), "{written}");
    let namespaces = kubectl_ok(&kubeconfig, &["get", "ns", "-o", "name"]);
    assert!(namespaces.contains("namespace/default"), "{namespaces}");
    assert_eq!(
        whoami(&kubeconfig),
        json!({"username": "admin", "groups": ["system:masters", "system:authenticated"]})
    );
    kubectl_ok(
        &kubeconfig,
        &["create", "configmap", "kept", "--from-literal=k=v"],
    );

    // A token of the token file, and a wrong one.
    let token_config = |name: &str, token: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            kube_api::server::kubeconfig::with_token(
                &format!("https://{address}"),
                Some(&ca),
                token,
            ),
        )
        .unwrap();
        path
    };
    assert_eq!(
        whoami(&token_config("jane.kubeconfig", "t0ken-jane")),
        json!({"username": "jane", "uid": "uid-1", "groups": ["dev", "ops", "system:authenticated"]})
    );
    // Authorization is Node,RBAC by default: jane has no bindings, so she may ask what she
    // may do, and nothing more; the admin (system:masters) may do anything.
    let jane = token_config("jane2.kubeconfig", "t0ken-jane");
    let (ok, _, err) = kubectl(&jane, &["get", "pods", "-n", "default"]);
    assert!(
        !ok && err.contains(
            "pods is forbidden: User \"jane\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        ),
        "{err}"
    );
    let (ok, out, _) = kubectl(&jane, &["auth", "can-i", "list", "pods"]);
    assert!(!ok && out.trim() == "no", "{out}");
    let (ok, out, _) = kubectl(
        &kubeconfig,
        &["auth", "can-i", "list", "pods", "--as", "jane"],
    );
    assert!(!ok && out.trim() == "no", "{out}");
    assert_eq!(
        kubectl_ok(&kubeconfig, &["auth", "can-i", "list", "pods"]).trim(),
        "yes"
    );
    let (ok, _, err) = kubectl(&token_config("wrong.kubeconfig", "wrong"), &["get", "ns"]);
    assert!(!ok && err.contains("You must be logged in"), "{err}");
    first.stop();

    // A restart on the same address reuses the certificates: the first kubeconfig still works,
    // and the data is still there.
    let second = Apiserver::start(&[
        "--data-dir",
        data_arg,
        "--listen",
        &address.to_string(),
        "--token-auth-file",
        tokens_arg,
    ]);
    assert_eq!(
        std::fs::read_to_string(data.join("pki/ca.crt")).unwrap(),
        ca
    );
    let kept = kubectl_ok(
        &kubeconfig,
        &["get", "configmap", "kept", "-o", "jsonpath={.data.k}"],
    );
    assert_eq!(kept, "v");
    second.stop();
}
