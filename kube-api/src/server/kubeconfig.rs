//! Kubeconfigs that point clients at this server.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A kubeconfig with one cluster, user and context (all named `local`) reaching the server at
/// `server_url` (such as `http://127.0.0.1:6443`) in plain HTTP with no credentials: for a
/// server on [`ApiServer::serve`](super::ApiServer::serve) with anonymous requests let in.
pub fn plain_http(server_url: &str) -> String {
    render(server_url, None, "{}")
}

/// A kubeconfig for `https` at `server_url`, verifying the server against `ca_pem` (else the
/// system roots) and authenticating with the client certificate `cert_pem` and its key
/// `key_pem`.
pub fn with_client_certificate(
    server_url: &str,
    ca_pem: Option<&str>,
    cert_pem: &str,
    key_pem: &str,
) -> String {
    let user = format!(
        "\n    client-certificate-data: {}\n    client-key-data: {}",
        STANDARD.encode(cert_pem),
        STANDARD.encode(key_pem)
    );
    render(server_url, ca_pem, &user)
}

/// A kubeconfig for `https` at `server_url`, verifying the server against `ca_pem` (else the
/// system roots) and authenticating with the bearer `token`.
pub fn with_token(server_url: &str, ca_pem: Option<&str>, token: &str) -> String {
    let user = format!("\n    token: {}", serde_json::Value::from(token));
    render(server_url, ca_pem, &user)
}

/// A kubeconfig for `https` at `server_url`, verifying the server against `ca_pem` (else the
/// system roots), without credentials.
pub fn anonymous(server_url: &str, ca_pem: Option<&str>) -> String {
    render(server_url, ca_pem, "{}")
}

fn render(server_url: &str, ca_pem: Option<&str>, user: &str) -> String {
    let ca = ca_pem
        .map(|pem| format!("\n    certificate-authority-data: {}", STANDARD.encode(pem)))
        .unwrap_or_default();
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: {server_url}{ca}
users:
- name: local
  user: {user}
contexts:
- name: local
  context:
    cluster: local
    user: local
    namespace: default
current-context: local
"
    )
}
