//! Kubeconfig parsing and selection as a table, merge order, and exec credential plugins.

use std::convert::Infallible;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use k8s_openapi::api::core::v1::Namespace;
use kube_api::client::config::Error as ConfigError;
use kube_api::client::{Api, Auth, Client, Config, Kubeconfig, KubeconfigOptions};

const TWO_CONTEXTS: &str = "
apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: 'https://prod.example:6443', insecure-skip-tls-verify: true}
- name: dev
  cluster: {server: 'http://127.0.0.1:8080/prefix/'}
- name: proxied
  cluster: {server: 'https://p.example', proxy-url: 'http://proxy:3128'}
- name: noserver
  cluster: {}
users:
- name: alice
  user: {token: secret}
- name: bob
  user: {username: bob, password: pw}
- name: half
  user: {client-certificate-data: Zm9v}
contexts:
- name: prod
  context: {cluster: prod, user: alice, namespace: team}
- name: dev
  context: {cluster: dev, user: bob}
- name: proxied
  context: {cluster: proxied, user: alice}
- name: noserver
  context: {cluster: noserver, user: alice}
- name: half
  context: {cluster: dev, user: half}
- name: ghost
  context: {cluster: nowhere, user: alice}
current-context: prod
";

fn select(context: Option<&str>) -> Result<Config, ConfigError> {
    let kc = Kubeconfig::from_yaml(TWO_CONTEXTS).unwrap();
    Config::from_kubeconfig(
        &kc,
        &KubeconfigOptions {
            context: context.map(str::to_owned),
            ..KubeconfigOptions::default()
        },
    )
}

#[test]
fn contexts_select_cluster_user_and_namespace() {
    // (context override, server, namespace, auth)
    let table: [(Option<&str>, &str, &str, Auth); 2] = [
        (
            None,
            "https://prod.example:6443/",
            "team",
            Auth::Bearer("secret".into()),
        ),
        (
            Some("dev"),
            "http://127.0.0.1:8080/prefix/",
            "default",
            Auth::Basic {
                username: "bob".into(),
                password: "pw".into(),
            },
        ),
    ];
    for (context, server, namespace, auth) in table {
        let config = select(context).unwrap();
        assert_eq!(config.cluster_url.to_string(), server, "{context:?}");
        assert_eq!(config.default_namespace, namespace, "{context:?}");
        assert_eq!(config.auth, auth, "{context:?}");
    }
    assert!(select(None).unwrap().accept_invalid_certs);
}

#[test]
fn unusable_contexts_fail_with_the_reason() {
    // (context, text the error must contain)
    let table = [
        ("proxied", "proxy-url"),
        ("noserver", "has no server"),
        ("half", "both a client certificate and a client key"),
        ("ghost", "cluster \"nowhere\" does not exist"),
        ("missing", "context \"missing\" does not exist"),
    ];
    for (context, text) in table {
        let e = select(Some(context)).unwrap_err().to_string();
        assert!(e.contains(text), "{context}: {e}");
    }
    let none = Kubeconfig::from_yaml("apiVersion: v1\nkind: Config\n").unwrap();
    let e = Config::from_kubeconfig(&none, &KubeconfigOptions::default()).unwrap_err();
    assert!(e.to_string().contains("no current-context"), "{e}");
}

#[test]
fn merge_keeps_the_first_definition_and_current_context() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    std::fs::write(
        &first,
        "clusters:\n- name: a\n  cluster: {server: 'http://first'}\ncontexts:\n- name: a\n  context: {cluster: a}\n",
    )
    .unwrap();
    std::fs::write(
        &second,
        "clusters:\n- name: a\n  cluster: {server: 'http://second'}\n- name: b\n  cluster: {server: 'http://b', certificate-authority: ca.pem}\ncontexts:\n- name: b\n  context: {cluster: b}\ncurrent-context: b\n",
    )
    .unwrap();
    let missing = dir.path().join("missing");
    let kc = Kubeconfig::read_merged(&[first.clone(), missing, second.clone()]).unwrap();
    assert_eq!(
        kc.cluster("a").unwrap().server.as_deref(),
        Some("http://first")
    );
    assert_eq!(kc.cluster("b").unwrap().server.as_deref(), Some("http://b"));
    assert_eq!(kc.current_context.as_deref(), Some("b"));
    // Relative paths are resolved against the file that holds them.
    assert_eq!(
        kc.cluster("b").unwrap().certificate_authority.as_deref(),
        Some(dir.path().join("ca.pem").to_str().unwrap())
    );
    let kc = Kubeconfig::read_merged(&[second, first]).unwrap();
    assert_eq!(
        kc.cluster("a").unwrap().server.as_deref(),
        Some("http://second")
    );
    assert!(Kubeconfig::read_merged(&[dir.path().join("none")]).is_err());
}

#[test]
fn bad_data_and_bad_yaml_are_errors() {
    let bad = TWO_CONTEXTS.replace(
        "{token: secret}",
        "{client-certificate-data: '!!', client-key-data: '!!'}",
    );
    let kc = Kubeconfig::from_yaml(&bad).unwrap();
    let e = Config::from_kubeconfig(&kc, &KubeconfigOptions::default()).unwrap_err();
    assert!(e.to_string().contains("not valid base64"), "{e}");
    assert!(Kubeconfig::from_yaml("clusters: 5").is_err());
}

/// A plugin script that prints token `t<N>` on its N-th run, counting runs in `count`.
fn plugin(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("plugin.sh");
    let mut f = std::fs::File::create(&path).unwrap();
    write!(
        f,
        r#"#!/bin/sh
n=$(cat "$COUNT_FILE" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > "$COUNT_FILE"
case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) ;; *) echo "no exec info" >&2; exit 1;; esac
echo '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"t'$n'","expirationTimestamp":"2999-01-01T00:00:00Z"}}}}'
"#
    )
    .unwrap();
    drop(f);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn exec_kubeconfig(server: &str, dir: &std::path::Path, command: &str) -> String {
    format!(
        "clusters:
- name: c
  cluster: {{server: '{server}'}}
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: {command}
      args: []
      env: [{{name: COUNT_FILE, value: '{}'}}]
      interactiveMode: Never
contexts:
- name: c
  context: {{cluster: c, user: u}}
current-context: c
",
        dir.join("count").display()
    )
}

/// The exec plugin runs once, its token is cached, and a 401 runs it again and retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_plugin_tokens_are_cached_and_refreshed_on_401() {
    let dir = tempfile::tempdir().unwrap();
    plugin(dir.path());
    // A server that accepts only token t2 and records what it saw.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let record = Arc::clone(&seen);
    let serving = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let record = Arc::clone(&record);
            let svc = tower::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let auth = req
                    .headers()
                    .get("authorization")
                    .map(|h| h.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                record.lock().unwrap().push(auth.clone());
                let (code, body) = if auth == "Bearer t2" {
                    (
                        200,
                        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}"#,
                    )
                } else {
                    (
                        401,
                        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","message":"Unauthorized","code":401}"#,
                    )
                };
                async move {
                    Ok::<_, Infallible>(
                        http::Response::builder()
                            .status(code)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(body.as_bytes())))
                            .unwrap(),
                    )
                }
            });
            tokio::spawn(
                Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                    .into_owned(),
            );
        }
    });
    // The command is relative to the kubeconfig's directory.
    let kc_path = dir.path().join("config");
    std::fs::write(
        &kc_path,
        exec_kubeconfig(&format!("http://{address}"), dir.path(), "./plugin.sh"),
    )
    .unwrap();
    let kc = Kubeconfig::read(&kc_path).unwrap();
    let config = Config::from_kubeconfig(&kc, &KubeconfigOptions::default()).unwrap();
    assert!(matches!(config.auth, Auth::Exec { .. }));
    let namespaces: Api<Namespace> = Api::all(Client::try_from(config).unwrap());
    namespaces.get("default").await.unwrap();
    namespaces.get("default").await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        ["Bearer t1", "Bearer t2", "Bearer t2"]
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("count"))
            .unwrap()
            .trim(),
        "2"
    );
    serving.abort();
}

#[tokio::test]
async fn exec_plugin_failures_and_token_files() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = exec_kubeconfig("http://127.0.0.1:1", dir.path(), "/nonexistent/plugin");
    let kc = Kubeconfig::from_yaml(&yaml).unwrap();
    let config = Config::from_kubeconfig(&kc, &KubeconfigOptions::default()).unwrap();
    let e = kube_api::client::transport::bearer_token(&config)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/plugin"), "{e}");

    let token = dir.path().join("token");
    std::fs::write(&token, "abc\n").unwrap();
    let mut config = Config::new("https://127.0.0.1:1".parse().unwrap());
    config.auth = Auth::TokenFile(token);
    assert_eq!(
        kube_api::client::transport::bearer_token(&config)
            .await
            .unwrap()
            .as_deref(),
        Some("abc")
    );
}

#[test]
fn in_cluster_reads_the_service_account() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.crt"), "ca").unwrap();
    std::fs::write(dir.path().join("token"), "tok").unwrap();
    std::fs::write(dir.path().join("namespace"), "apps\n").unwrap();
    let config = Config::incluster_with("10.0.0.1", "443", dir.path()).unwrap();
    assert_eq!(config.cluster_url.to_string(), "https://10.0.0.1:443/");
    assert_eq!(config.default_namespace, "apps");
    assert_eq!(config.root_certs, b"ca");
    assert_eq!(config.auth, Auth::TokenFile(dir.path().join("token")));
    let v6 = Config::incluster_with("fd00::1", "443", dir.path()).unwrap();
    assert_eq!(v6.cluster_url.to_string(), "https://[fd00::1]:443/");
    std::fs::remove_file(dir.path().join("token")).unwrap();
    assert!(Config::incluster_with("10.0.0.1", "443", dir.path()).is_err());
}
