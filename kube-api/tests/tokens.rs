//! The TokenRequest API (`serviceaccounts/token`) and bound service-account tokens over TLS
//! with RBAC on, as the binaries serve them; the server's clock is a settable test clock so
//! that expiry needs no waiting. Includes the Python client as a service account (issue 5,
//! acceptance 4) and `kubectl create token`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::https::HttpsServer;
use common::kubectl::Kubectl;
use k8s_openapi::jiff::SignedDuration;
use kube_api::server::authz::Authorization;
use kube_api::server::clock::{Clock, FixedClock, SystemClock};
use kube_api::server::test_util::{Credentials, request_with_headers};
use kube_api::server::{Config, kubeconfig};
use kube_store::{MemoryStore, Store};
use serde_json::{Value, json};

struct Cluster {
    server: HttpsServer,
    clock: Arc<FixedClock>,
}

async fn start(max_token_expiration: Option<Duration>) -> Cluster {
    // Near the real time: the generated certificates are valid from now.
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    let config = Config {
        authorization: Authorization::node_rbac(),
        clock: Arc::clone(&clock) as Arc<dyn Clock>,
        max_token_expiration,
        ..Config::default()
    };
    let server = HttpsServer::start(Arc::new(MemoryStore::new()) as Arc<dyn Store>, config).await;
    let c = Cluster { server, clock };
    c.fixtures().await;
    c
}

impl Cluster {
    fn admin(&self) -> Credentials {
        let key = std::fs::read_to_string(self.server.secured.pki.path("admin.key")).unwrap();
        Credentials::cert(&self.server.secured.pki.admin_cert_pem, &key)
    }

    async fn send(
        &self,
        credentials: &Credentials,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let body = body.map(Value::to_string);
        let (code, text) = request_with_headers(
            self.server.address,
            self.server.ca_pem(),
            method,
            path,
            credentials,
            &[],
            body.as_deref(),
        )
        .await
        .expect("HTTPS request");
        (
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn create(&self, path: &str, obj: Value) -> Value {
        let (code, body) = self.send(&self.admin(), "POST", path, Some(&obj)).await;
        assert_eq!(code, 201, "{path}: {body}");
        body
    }

    /// Namespaces team-a and team-b; the service account team-a:builder may list pods in
    /// team-a (a Role and RoleBinding) and nothing else.
    async fn fixtures(&self) {
        for ns in ["team-a", "team-b"] {
            self.create(
                "/api/v1/namespaces",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .await;
        }
        self.create(
            "/api/v1/namespaces/team-a/serviceaccounts",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder"}}),
        )
        .await;
        let rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a";
        self.create(
            &format!("{rbac}/roles"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": "pod-lister"},
                   "rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}]}),
        )
        .await;
        self.create(
            &format!("{rbac}/rolebindings"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "builder-lists-pods"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                               "name": "pod-lister"},
                   "subjects": [{"kind": "ServiceAccount", "name": "builder",
                                 "namespace": "team-a"}]}),
        )
        .await;
    }

    /// A pod in team-a running as `account`, on `node` if given; returns its uid.
    async fn pod(&self, name: &str, account: &str, node: Option<&str>) -> String {
        let mut spec = json!({"serviceAccountName": account,
                              "containers": [{"name": "c", "image": "busybox"}]});
        if let Some(node) = node {
            spec["nodeName"] = json!(node);
        }
        let pod = self
            .create(
                "/api/v1/namespaces/team-a/pods",
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": spec}),
            )
            .await;
        pod["metadata"]["uid"].as_str().unwrap().to_owned()
    }

    /// POSTs a TokenRequest with `spec` for team-a's `account`.
    async fn token_request(&self, account: &str, spec: Value) -> (u16, Value) {
        let path = format!("/api/v1/namespaces/team-a/serviceaccounts/{account}/token");
        let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                          "spec": spec});
        self.send(&self.admin(), "POST", &path, Some(&body)).await
    }

    async fn token(&self, spec: Value) -> String {
        let (code, body) = self.token_request("builder", spec).await;
        assert_eq!(code, 201, "{body}");
        body["status"]["token"].as_str().unwrap().to_owned()
    }

    /// The code of listing team-a's pods with `token`.
    async fn list_pods(&self, token: &str) -> u16 {
        let path = "/api/v1/namespaces/team-a/pods";
        self.send(&Credentials::token(token), "GET", path, None)
            .await
            .0
    }

    async fn review(&self, token: &str) -> Value {
        let (code, body) = self
            .send(
                &self.admin(),
                "POST",
                "/apis/authentication.k8s.io/v1/tokenreviews",
                Some(&json!({"apiVersion": "authentication.k8s.io/v1",
                             "kind": "TokenReview", "spec": {"token": token}})),
            )
            .await;
        assert_eq!(code, 201, "{body}");
        body["status"].clone()
    }

    fn advance(&self, seconds: i64) {
        self.clock.advance(SignedDuration::from_secs(seconds));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_requests_default_validate_and_bind_as_upstream() {
    let c = start(Some(Duration::from_secs(7200))).await;
    // Defaults: the server's audience, an hour.
    let (code, body) = c.token_request("builder", json!({})).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["kind"], "TokenRequest");
    assert_eq!(
        body["spec"]["audiences"],
        json!(["https://kubernetes.default.svc.cluster.local"])
    );
    assert_eq!(body["spec"]["expirationSeconds"], 3600);
    let expiry = body["status"]["expirationTimestamp"].as_str().unwrap();
    let expiry: k8s_openapi::jiff::Timestamp = expiry.parse().unwrap();
    assert_eq!(expiry.as_second() - c.clock.now().as_second(), 3600);
    let token = body["status"]["token"].as_str().unwrap();
    assert_eq!(c.list_pods(token).await, 200);

    // Longer than the server's maximum: shortened.
    let (code, body) = c
        .token_request("builder", json!({"expirationSeconds": 100_000}))
        .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["spec"]["expirationSeconds"], 7200);

    // Under ten minutes, or over 2^32 seconds: 422 as upstream's validation.
    for seconds in [599_i64, (1 << 32) + 1] {
        let (code, body) = c
            .token_request("builder", json!({"expirationSeconds": seconds}))
            .await;
        assert_eq!(code, 422, "{body}");
        assert_eq!(body["reason"], "Invalid");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("spec.expirationSeconds"),
            "{body}"
        );
    }

    // Another audience: issued, but not accepted by this server.
    let (code, body) = c
        .token_request("builder", json!({"audiences": ["vault"]}))
        .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["spec"]["audiences"], json!(["vault"]));
    let vault = body["status"]["token"].as_str().unwrap();
    assert_eq!(c.list_pods(vault).await, 401);

    // A missing service account.
    let (code, body) = c.token_request("nobody", json!({})).await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(body["message"], "serviceaccounts \"nobody\" not found");

    // Bound objects: must exist, carry the given uid, and a pod must run as the account.
    let uid = c.pod("web", "builder", None).await;
    c.pod("other", "default", None).await;
    let bound = |kind: &str, name: &str, uid: &str| json!({"boundObjectRef": {"apiVersion": "v1", "kind": kind, "name": name, "uid": uid}});
    let (code, body) = c
        .token_request("builder", bound("Pod", "missing", ""))
        .await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(body["message"], "pods \"missing\" not found");
    let (code, body) = c
        .token_request("builder", bound("Pod", "web", "not-the-uid"))
        .await;
    assert_eq!(code, 409, "{body}");
    let (code, body) = c.token_request("builder", bound("Pod", "other", "")).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("different serviceaccount"),
        "{body}"
    );
    let (code, body) = c
        .token_request("builder", bound("ConfigMap", "web", ""))
        .await;
    assert_eq!(code, 400, "{body}");

    // A pod-bound token names the pod.
    let token = c.token(bound("Pod", "web", &uid)).await;
    let status = c.review(&token).await;
    assert_eq!(status["authenticated"], true, "{status}");
    let extra = &status["user"]["extra"];
    assert_eq!(
        extra["authentication.kubernetes.io/pod-name"],
        json!(["web"])
    );
    assert_eq!(extra["authentication.kubernetes.io/pod-uid"], json!([uid]));
    c.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_tokens_stop_working_with_their_objects() {
    let c = start(None).await;
    let admin = c.admin();

    // Bound to an unscheduled pod: deleted at once, the token with it.
    let uid = c.pod("web", "builder", None).await;
    let token = c
        .token(
            json!({"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web",
                                         "uid": uid}}),
        )
        .await;
    assert_eq!(c.list_pods(&token).await, 200);
    let (code, _) = c
        .send(&admin, "DELETE", "/api/v1/namespaces/team-a/pods/web", None)
        .await;
    assert_eq!(code, 200);
    assert_eq!(c.list_pods(&token).await, 401);
    let status = c.review(&token).await;
    assert_eq!(status["authenticated"], false, "{status}");
    assert!(
        status["error"].as_str().unwrap().contains("invalidated"),
        "{status}"
    );
    // A pod of the same name, recreated: another uid, the token stays dead.
    c.pod("web", "builder", None).await;
    assert_eq!(c.list_pods(&token).await, 401);

    // Bound to a pod on a node, deleted gracefully: valid until 60 s past the end of its
    // grace period (30 s), as upstream.
    let uid = c.pod("api", "builder", Some("node-a")).await;
    let token = c
        .token(
            json!({"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "api",
                                         "uid": uid}}),
        )
        .await;
    let (code, _) = c
        .send(&admin, "DELETE", "/api/v1/namespaces/team-a/pods/api", None)
        .await;
    assert_eq!(code, 200);
    assert_eq!(c.list_pods(&token).await, 200);
    c.advance(89);
    assert_eq!(c.list_pods(&token).await, 200);
    c.advance(2);
    assert_eq!(c.list_pods(&token).await, 401);

    // Bound to a secret.
    let secret = c
        .create(
            "/api/v1/namespaces/team-a/secrets",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}),
        )
        .await;
    let token = c
        .token(
            json!({"boundObjectRef": {"kind": "Secret", "apiVersion": "v1", "name": "s",
                                         "uid": secret["metadata"]["uid"]}}),
        )
        .await;
    assert_eq!(c.list_pods(&token).await, 200);
    let (code, _) = c
        .send(
            &admin,
            "DELETE",
            "/api/v1/namespaces/team-a/secrets/s",
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(c.list_pods(&token).await, 401);

    // Expiry, by the server's clock.
    let token = c.token(json!({"expirationSeconds": 600})).await;
    c.advance(599);
    assert_eq!(c.list_pods(&token).await, 200);
    c.advance(1);
    assert_eq!(c.list_pods(&token).await, 401);

    // The service account deleted, then recreated under the same name.
    let token = c.token(json!({})).await;
    let account = "/api/v1/namespaces/team-a/serviceaccounts/builder";
    let (code, _) = c.send(&admin, "DELETE", account, None).await;
    assert_eq!(code, 200);
    assert_eq!(c.list_pods(&token).await, 401);
    c.create(
        "/api/v1/namespaces/team-a/serviceaccounts",
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder"}}),
    )
    .await;
    assert_eq!(c.list_pods(&token).await, 401);
    assert_eq!(c.list_pods(&c.token(json!({})).await).await, 200);
    c.server.stop().await;
}

#[tokio::test]
async fn a_server_without_a_signing_key_says_so() {
    let s = common::TestServer::new().await;
    let (code, body) = s
        .post(
            "/api/v1/namespaces/default/serviceaccounts/default/token",
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                   "spec": {}}),
        )
        .await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("signing key"),
        "{body}"
    );
}

/// Runs tests/python/token_client.py with `token` on team-a and team-b; returns its codes.
async fn python_codes(c: &Cluster, dir: &Path, token: &str) -> Value {
    let config = dir.join("sa-kubeconfig");
    std::fs::write(
        &config,
        kubeconfig::with_token(&c.server.url, Some(c.server.ca_pem()), token),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/token_client.py");
    let out = tokio::process::Command::new("python3")
        .arg(&script)
        .args(["team-a", "team-b"])
        .env("KUBECONFIG", &config)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("the Python client hung")
        .expect("running python3 (run scripts/setup)");
    assert!(
        out.status.success(),
        "token_client.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
    })
}

/// Issue 5, acceptance 4: a token from TokenRequest works for the Python client with exactly
/// what the account's binding grants, and stops working when its pod is deleted and when it
/// expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_acts_as_the_service_account_until_pod_deletion_or_expiry() {
    let c = start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let granted = json!({"create team-a": 403, "create team-b": 403,
                         "list team-a": 200, "list team-b": 403});
    let refused = json!({"create team-a": 401, "create team-b": 401,
                         "list team-a": 401, "list team-b": 401});

    let uid = c.pod("web", "builder", None).await;
    let bound = c
        .token(
            json!({"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web",
                                         "uid": uid}}),
        )
        .await;
    let unbound = c.token(json!({"expirationSeconds": 600})).await;
    assert_eq!(python_codes(&c, dir.path(), &bound).await, granted);
    assert_eq!(python_codes(&c, dir.path(), &unbound).await, granted);

    let (code, _) = c
        .send(
            &c.admin(),
            "DELETE",
            "/api/v1/namespaces/team-a/pods/web",
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(python_codes(&c, dir.path(), &bound).await, refused);
    assert_eq!(python_codes(&c, dir.path(), &unbound).await, granted);

    c.advance(600);
    assert_eq!(python_codes(&c, dir.path(), &unbound).await, refused);
    c.server.stop().await;
}

/// `kubectl create token` with audiences, duration and a bound pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_token_works() {
    let c = start(None).await;
    c.pod("web", "builder", None).await;
    let k = Kubectl::new(&c.server.kubeconfig);
    let (plain, bound, audience) = tokio::task::spawn_blocking(move || {
        let plain = k.ok(&["create", "token", "builder", "-n", "team-a"]);
        let bound = k.ok(&[
            "create",
            "token",
            "builder",
            "-n",
            "team-a",
            "--duration",
            "20m",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "web",
        ]);
        let audience = k.ok(&[
            "create",
            "token",
            "builder",
            "-n",
            "team-a",
            "--audience",
            "vault",
        ]);
        let err = k.fails(&["create", "token", "nobody", "-n", "team-a"]);
        assert!(err.contains("not found"), "{err}");
        let err = k.fails(&[
            "create",
            "token",
            "builder",
            "-n",
            "team-a",
            "--duration",
            "5m",
        ]);
        assert!(err.contains("10 minutes"), "{err}");
        (plain, bound, audience)
    })
    .await
    .unwrap();
    assert_eq!(c.list_pods(plain.trim()).await, 200);
    assert_eq!(c.list_pods(bound.trim()).await, 200);
    assert_eq!(c.list_pods(audience.trim()).await, 401);
    let status = c.review(bound.trim()).await;
    assert_eq!(
        status["user"]["extra"]["authentication.kubernetes.io/pod-name"],
        json!(["web"])
    );
    c.server.stop().await;
}
