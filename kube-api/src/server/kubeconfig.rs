//! A kubeconfig that points clients at this server.

/// A kubeconfig with one cluster, user and context (all named `local`) reaching the server at
/// `server_url` (such as `http://127.0.0.1:6443`).
///
/// Plain HTTP with no credentials: TLS and authentication come with the security work, and
/// then this writes the CA and a client certificate or token too.
pub fn plain_http(server_url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: {server_url}
users:
- name: local
  user: {{}}
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
