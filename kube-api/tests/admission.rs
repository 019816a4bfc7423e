//! Admission through real requests: webhooks served over TLS on loopback by the test (a CA
//! made with rcgen), their failure policies, timeouts, selectors and reinvocation, and each
//! built-in plugin.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use common::{StoreKind, TestServer};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// A webhook server on `127.0.0.1:0` over TLS. Paths: `/mutate` adds the label
/// `mutated=true`; `/validate` denies objects labelled `bad=true`; `/label-b` adds `b=yes`;
/// `/copy-b` adds `seen-b=yes` when the object has label `b`; `/slow` answers after 30 s.
struct Webhook {
    address: SocketAddr,
    ca_bundle: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Webhook {
    async fn start() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::from_ca_cert_pem(&ca.pem(), ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "hook.webhooks.svc".to_owned()])
                .unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();

        use kube_api::server::tls;
        let mut config = rustls::ServerConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                tls::certificates_from_pem(cert.pem().as_bytes(), "webhook").unwrap(),
                tls::private_key_from_pem(key.serialize_pem().as_bytes(), "webhook").unwrap(),
            )
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(|req| async move {
                        Ok::<_, std::convert::Infallible>(answer(req).await)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            address,
            ca_bundle: base64::engine::general_purpose::STANDARD.encode(ca.pem()),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.address)
    }
}

/// The webhook's answer to one AdmissionReview.
async fn answer(req: Request<hyper::body::Incoming>) -> http::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let review: Value = serde_json::from_slice(&body).unwrap();
    let request = &review["request"];
    let labels = request["object"]["metadata"]["labels"].clone();
    let has_labels = labels.is_object();
    let label = |k: &str| labels.get(k).and_then(Value::as_str).map(str::to_owned);
    let add_label = |k: &str, v: &str| {
        let ops = if has_labels {
            json!([{"op": "add", "path": format!("/metadata/labels/{k}"), "value": v}])
        } else {
            json!([{"op": "add", "path": "/metadata/labels", "value": {k: v}}])
        };
        Some(ops)
    };
    let mut response = json!({"uid": request["uid"], "allowed": true});
    let patch = match path.as_str() {
        "/mutate" => add_label("mutated", "true"),
        "/label-b" => add_label("b", "yes"),
        "/copy-b" if label("b").is_some() => add_label("seen-b", "yes"),
        "/validate" if label("bad").as_deref() == Some("true") => {
            response["allowed"] = json!(false);
            response["status"] =
                json!({"code": 403, "message": "the label bad=true is not allowed"});
            None
        }
        "/validate" => {
            response["warnings"] = json!(["validated by the test webhook"]);
            None
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            None
        }
        _ => None,
    };
    if let Some(patch) = patch {
        response["patchType"] = json!("JSONPatch");
        response["patch"] = json!(
            base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&patch).unwrap())
        );
    }
    let out = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response});
    http::Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(&out).unwrap())))
        .unwrap()
}

/// One webhook entry for pods, calling `url`.
fn hook(name: &str, url: &str, ca_bundle: &str, extra: Value) -> Value {
    let mut hook = json!({
        "name": name,
        "clientConfig": {"url": url, "caBundle": ca_bundle},
        "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    });
    for (k, v) in extra.as_object().unwrap() {
        hook[k] = v.clone();
    }
    hook
}

async fn register(s: &TestServer, kind: &str, name: &str, hooks: Vec<Value>) {
    let plural = format!("{}s", kind.to_ascii_lowercase());
    let (code, body) = s
        .post(
            &format!("/apis/admissionregistration.k8s.io/v1/{plural}"),
            json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": kind,
                "metadata": {"name": name},
                "webhooks": hooks,
            }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
}

fn pod(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
    })
}

async fn namespace(s: &TestServer, name: &str, labels: Value) {
    let (code, body) = s
        .post(
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
}

/// A request as another user, by impersonation.
async fn call_as(
    s: &TestServer,
    user: &str,
    groups: &[&str],
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header("Impersonate-User", user);
    for g in groups {
        request = request.header("Impersonate-Group", *g);
    }
    let request = request
        .body(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap())))
        .unwrap();
    let response = s.server.clone().oneshot(request).await.unwrap();
    let code = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutating_webhook_labels_pods_and_a_validating_one_rejects_bad_ones() {
    let s = TestServer::new().await;
    let w = Webhook::start().await;
    register(
        &s,
        "MutatingWebhookConfiguration",
        "labeller",
        vec![hook(
            "label.example.com",
            &w.url("/mutate"),
            &w.ca_bundle,
            json!({}),
        )],
    )
    .await;
    register(
        &s,
        "ValidatingWebhookConfiguration",
        "policy",
        vec![hook(
            "deny.example.com",
            &w.url("/validate"),
            &w.ca_bundle,
            json!({}),
        )],
    )
    .await;

    let response = s
        .raw(
            Method::POST,
            "/api/v1/namespaces/default/pods",
            "application/json",
            serde_json::to_vec(&pod("good", json!({"app": "web"}))).unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let warning = response.headers().get("warning").unwrap().to_str().unwrap();
    assert!(
        warning.contains("validated by the test webhook"),
        "{warning}"
    );
    let (_, stored) = s.get("/api/v1/namespaces/default/pods/good").await;
    assert_eq!(stored["metadata"]["labels"]["mutated"], "true", "{stored}");
    assert_eq!(stored["metadata"]["labels"]["app"], "web");

    let (code, status) = s
        .post(
            "/api/v1/namespaces/default/pods",
            pod("bad", json!({"bad": "true"})),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
    assert_eq!(
        status["message"],
        "admission webhook \"deny.example.com\" denied the request: the label bad=true is not allowed"
    );
    assert_eq!(status["reason"], "Forbidden");
    let (code, _) = s.get("/api/v1/namespaces/default/pods/bad").await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // An update is admitted too: a patch adding the bad label is refused.
    let (code, status) = s
        .call_typed(
            Method::PATCH,
            "/api/v1/namespaces/default/pods/good",
            "application/merge-patch+json",
            Some(json!({"metadata": {"labels": {"bad": "true"}}})),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");

    // A dry run is admitted (sideEffects None) and not written.
    let (code, created) = s
        .post(
            "/api/v1/namespaces/default/pods?dryRun=All",
            pod("dry", json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["metadata"]["labels"]["mutated"], "true");
    let (code, _) = s.get("/api/v1/namespaces/default/pods/dry").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_is_refused_by_a_webhook_with_side_effects() {
    let s = TestServer::new().await;
    let w = Webhook::start().await;
    register(
        &s,
        "ValidatingWebhookConfiguration",
        "effects",
        vec![hook(
            "effects.example.com",
            &w.url("/validate"),
            &w.ca_bundle,
            json!({"sideEffects": "Some"}),
        )],
    )
    .await;
    let (code, status) = s
        .post(
            "/api/v1/namespaces/default/pods?dryRun=All",
            pod("dry", json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{status}");
    assert_eq!(
        status["message"],
        "admission webhook \"effects.example.com\" does not support dry run"
    );
}

/// The address of a port nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_is_down_fails_open_with_ignore_and_closed_with_fail() {
    let s = TestServer::new().await;
    let w = Webhook::start().await;
    let down = format!("https://{}/validate", closed_port().await);
    register(
        &s,
        "ValidatingWebhookConfiguration",
        "ignored",
        vec![hook(
            "ignored.example.com",
            &down,
            &w.ca_bundle,
            json!({"failurePolicy": "Ignore"}),
        )],
    )
    .await;
    let (code, body) = s
        .post("/api/v1/namespaces/default/pods", pod("first", json!({})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");

    register(
        &s,
        "ValidatingWebhookConfiguration",
        "required",
        vec![hook(
            "required.example.com",
            &down,
            &w.ca_bundle,
            json!({"failurePolicy": "Fail"}),
        )],
    )
    .await;
    let (code, status) = s
        .post("/api/v1/namespaces/default/pods", pod("second", json!({})))
        .await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Internal error occurred: failed calling webhook \"required.example.com\": failed to call webhook: Post"
        ),
        "{message}"
    );
    let (code, _) = s.get("/api/v1/namespaces/default/pods/second").await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // Webhook configurations themselves are never sent to webhooks: the broken one can go.
    let (code, body) = s
        .delete("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/required")
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, body) = s
        .post("/api/v1/namespaces/default/pods", pod("second", json!({})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
}

#[tokio::test(start_paused = true)]
async fn a_slow_webhook_times_out() {
    let s = TestServer::paused(StoreKind::Memory).await;
    let w = Webhook::start().await;
    register(
        &s,
        "MutatingWebhookConfiguration",
        "slow",
        vec![hook(
            "slow.example.com",
            &w.url("/slow"),
            &w.ca_bundle,
            json!({"timeoutSeconds": 2}),
        )],
    )
    .await;
    let started = tokio::time::Instant::now();
    let (code, status) = s
        .post("/api/v1/namespaces/default/pods", pod("late", json!({})))
        .await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(message.ends_with("context deadline exceeded"), "{message}");
    assert!(started.elapsed() <= Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_and_object_selectors_choose_the_requests_a_webhook_sees() {
    let s = TestServer::new().await;
    let w = Webhook::start().await;
    namespace(&s, "checked", json!({"policy": "on"})).await;
    namespace(&s, "unchecked", json!({})).await;
    register(
        &s,
        "ValidatingWebhookConfiguration",
        "by-namespace",
        vec![hook(
            "ns.example.com",
            &w.url("/validate"),
            &w.ca_bundle,
            json!({"namespaceSelector": {"matchLabels": {"policy": "on"}}}),
        )],
    )
    .await;
    let (code, _) = s
        .post(
            "/api/v1/namespaces/unchecked/pods",
            pod("p", json!({"bad": "true"})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, _) = s
        .post(
            "/api/v1/namespaces/checked/pods",
            pod("p", json!({"bad": "true"})),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);

    register(
        &s,
        "MutatingWebhookConfiguration",
        "by-object",
        vec![hook(
            "object.example.com",
            &w.url("/mutate"),
            &w.ca_bundle,
            json!({"objectSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}}),
        )],
    )
    .await;
    let (_, front) = s
        .post(
            "/api/v1/namespaces/unchecked/pods",
            pod("front", json!({"tier": "front"})),
        )
        .await;
    assert_eq!(front["metadata"]["labels"]["mutated"], "true", "{front}");
    let (_, back) = s
        .post(
            "/api/v1/namespaces/unchecked/pods",
            pod("back", json!({"tier": "back"})),
        )
        .await;
    assert!(
        back["metadata"]["labels"].get("mutated").is_none(),
        "{back}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_if_needed_webhook_runs_again_after_a_later_one_changes_the_object() {
    let s = TestServer::new().await;
    let w = Webhook::start().await;
    register(
        &s,
        "MutatingWebhookConfiguration",
        "a-copy",
        vec![hook(
            "copy.example.com",
            &w.url("/copy-b"),
            &w.ca_bundle,
            json!({"reinvocationPolicy": "IfNeeded"}),
        )],
    )
    .await;
    register(
        &s,
        "MutatingWebhookConfiguration",
        "b-label",
        vec![hook(
            "label-b.example.com",
            &w.url("/label-b"),
            &w.ca_bundle,
            json!({}),
        )],
    )
    .await;
    let (code, created) = s
        .post("/api/v1/namespaces/default/pods", pod("p", json!({})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["metadata"]["labels"]["b"], "yes");
    assert_eq!(created["metadata"]["labels"]["seen-b"], "yes", "{created}");

    // With the default policy (Never) the first webhook does not see the later change.
    let (code, _) = s
        .call_typed(
            Method::PATCH,
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/a-copy",
            "application/json-patch+json",
            Some(json!([{"op": "remove", "path": "/webhooks/0/reinvocationPolicy"}])),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (_, created) = s
        .post("/api/v1/namespaces/default/pods", pod("q", json!({})))
        .await;
    assert_eq!(created["metadata"]["labels"]["b"], "yes");
    assert!(
        created["metadata"]["labels"].get("seen-b").is_none(),
        "{created}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_lifecycle_refuses_missing_namespaces_and_deleting_system_ones() {
    let s = TestServer::new().await;
    let (code, status) = s
        .post("/api/v1/namespaces/nowhere/pods", pod("p", json!({})))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{status}");
    assert_eq!(status["message"], "namespaces \"nowhere\" not found");
    for ns in ["default", "kube-system", "kube-public"] {
        let (code, status) = s.delete(&format!("/api/v1/namespaces/{ns}")).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
        assert_eq!(
            status["message"],
            format!("namespaces \"{ns}\" is forbidden: this namespace may not be deleted")
        );
    }
    namespace(&s, "scratch", json!({})).await;
    let (code, _) = s.delete("/api/v1/namespaces/scratch").await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_get_their_service_account_token_volume_and_default_tolerations() {
    let s = TestServer::new().await;
    namespace(&s, "apps", json!({})).await;
    let (code, _) = s
        .post(
            "/api/v1/namespaces/apps/serviceaccounts",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, created) = s
        .post("/api/v1/namespaces/apps/pods", pod("web", json!({})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let spec = &created["spec"];
    assert_eq!(spec["serviceAccountName"], "default");
    let volume = &spec["volumes"][0];
    let name = volume["name"].as_str().unwrap();
    assert!(
        name.starts_with("kube-api-access-") && name.len() == 21,
        "{name}"
    );
    let sources = &volume["projected"]["sources"];
    assert_eq!(sources[0]["serviceAccountToken"]["path"], "token");
    assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt");
    assert_eq!(
        sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(
        spec["containers"][0]["volumeMounts"][0],
        json!({"name": name, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"})
    );
    let tolerations = spec["tolerations"].as_array().unwrap();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        assert!(
            tolerations.contains(&json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})),
            "{tolerations:?}"
        );
    }

    // automountServiceAccountToken: false on the pod: no volume.
    let mut quiet = pod("quiet", json!({}));
    quiet["spec"]["automountServiceAccountToken"] = json!(false);
    let (_, created) = s.post("/api/v1/namespaces/apps/pods", quiet).await;
    assert!(created["spec"].get("volumes").is_none(), "{created}");

    // A service account that does not exist is refused.
    let mut missing = pod("missing", json!({}));
    missing["spec"]["serviceAccountName"] = json!("builder");
    let (code, status) = s.post("/api/v1/namespaces/apps/pods", missing).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
    assert_eq!(
        status["message"],
        "pods \"missing\" is forbidden: error looking up service account apps/builder: serviceaccounts \"builder\" not found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_restriction_keeps_a_node_to_its_own_node_and_pods() {
    let s = TestServer::new().await;
    let node = |name: &str, labels: Value| json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}});
    let nodes = ["system:nodes"];
    let (code, _) = s.post("/api/v1/nodes", node("node-b", json!({}))).await;
    assert_eq!(code, StatusCode::CREATED);

    let (code, body) = call_as(
        &s,
        "system:node:node-a",
        &nodes,
        Method::POST,
        "/api/v1/nodes",
        node("node-a", json!({"zone": "a"})),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (code, status) = call_as(
        &s,
        "system:node:node-a",
        &nodes,
        Method::POST,
        "/api/v1/nodes",
        node("node-c", json!({})),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
    assert_eq!(
        status["message"],
        "nodes \"node-c\" is forbidden: node \"node-a\" is not allowed to modify node \"node-c\""
    );
    let (code, status) = call_as(
        &s,
        "system:node:node-a",
        &nodes,
        Method::PUT,
        "/api/v1/nodes/node-b",
        node("node-b", json!({"x": "y"})),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
    let (code, status) = call_as(
        &s,
        "system:node:node-a",
        &nodes,
        Method::PUT,
        "/api/v1/nodes/node-a",
        node(
            "node-a",
            json!({"node-restriction.kubernetes.io/pool": "gold"}),
        ),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
    assert_eq!(
        status["message"],
        "nodes \"node-a\" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/pool"
    );
    let (code, status) = call_as(
        &s,
        "system:node:node-a",
        &nodes,
        Method::PUT,
        "/api/v1/nodes/node-a",
        node("node-a", json!({"zone": "b"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{status}");

    // Pods: only mirror pods bound to itself.
    let (code, status) = call_as(
        &s,
        "system:node:node-a",
        &nodes,
        Method::POST,
        "/api/v1/namespaces/default/pods",
        pod("plain", json!({})),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
    assert_eq!(
        status["message"],
        "pods \"plain\" is forbidden: pod does not have \"kubernetes.io/config.mirror\" annotation, node \"node-a\" can only create mirror pods"
    );
    let mut mirror = pod("static-web-node-a", json!({}));
    mirror["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "hash"});
    mirror["spec"]["nodeName"] = json!("node-b");
    let (code, _) = call_as(
        &s,
        "system:node:node-a",
        &nodes,
        Method::POST,
        "/api/v1/namespaces/default/pods",
        mirror.clone(),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    mirror["spec"]["nodeName"] = json!("node-a");
    let (code, body) = call_as(
        &s,
        "system:node:node-a",
        &nodes,
        Method::POST,
        "/api/v1/namespaces/default/pods",
        mirror,
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");

    // Deleting a pod bound to another node is refused; its own is allowed.
    let mut other = pod("on-b", json!({}));
    other["spec"]["nodeName"] = json!("node-b");
    let (code, _) = s.post("/api/v1/namespaces/default/pods", other).await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, status) = call_as(
        &s,
        "system:node:node-a",
        &nodes,
        Method::DELETE,
        "/api/v1/namespaces/default/pods/on-b",
        json!({}),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
    assert_eq!(
        status["message"],
        "pods \"on-b\" is forbidden: node \"node-a\" can only delete pods with spec.nodeName set to itself"
    );
    // Another user is not restricted.
    let (code, _) = call_as(
        &s,
        "alice",
        &[],
        Method::DELETE,
        "/api/v1/namespaces/default/pods/on-b",
        json!({}),
    )
    .await;
    assert!(code.is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_run_into_a_guarded_namespace_shows_the_denial() {
    use common::https::HttpsServer;
    use common::kubectl::Kubectl;
    let served = HttpsServer::start(
        Arc::new(kube_store::MemoryStore::new()),
        kube_api::server::Config::default(),
    )
    .await;
    let k = Kubectl::new(&served.kubeconfig);
    let w = Webhook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "policy"},
        "webhooks": [hook(
            "deny.example.com",
            &w.url("/validate"),
            &w.ca_bundle,
            json!({"namespaceSelector": {"matchLabels": {"policy": "on"}}}),
        )],
    });
    let path = dir.path().join("policy.json");
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    k.ok(&["create", "-f", path.to_str().unwrap()]);
    k.ok(&["create", "namespace", "guarded"]);
    k.ok(&["label", "namespace", "guarded", "policy=on"]);
    let err = k.fails(&[
        "run",
        "web",
        "--image=nginx",
        "-n",
        "guarded",
        "--labels=bad=true",
    ]);
    assert!(
        err.contains(
            "admission webhook \"deny.example.com\" denied the request: the label bad=true is not allowed"
        ),
        "{err}"
    );
    // The webhook's warning reaches kubectl.
    let args = [
        "run",
        "web",
        "--image=nginx",
        "-n",
        "guarded",
        "--labels=app=web",
    ];
    let (ok, _, err) = k.run(&args, None);
    assert!(ok, "{err}");
    assert!(
        err.contains("Warning: validated by the test webhook"),
        "{err}"
    );
    let pod = k.json(&["get", "pod", "web", "-n", "guarded", "-o", "json"]);
    assert_eq!(pod["metadata"]["labels"]["app"], "web");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_ranges_default_and_bound_container_resources() {
    let s = TestServer::new().await;
    namespace(&s, "limited", json!({})).await;
    let (code, body) = s
        .post(
            "/api/v1/namespaces/limited/limitranges",
            json!({
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": {"name": "limits"},
                "spec": {"limits": [{
                    "type": "Container",
                    "default": {"cpu": "500m"},
                    "defaultRequest": {"cpu": "200m"},
                    "max": {"cpu": "1"},
                    "min": {"cpu": "100m"},
                }]},
            }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (code, created) = s
        .post(
            "/api/v1/namespaces/limited/pods",
            pod("defaulted", json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let resources = &created["spec"]["containers"][0]["resources"];
    assert_eq!(resources["limits"]["cpu"], "500m", "{created}");
    assert_eq!(resources["requests"]["cpu"], "200m");
    assert_eq!(
        created["metadata"]["annotations"]["kubernetes.io/limit-ranger"],
        "LimitRanger plugin set: cpu limit for container app; cpu request for container app"
    );

    let mut big = pod("big", json!({}));
    big["spec"]["containers"][0]["resources"] =
        json!({"limits": {"cpu": "2"}, "requests": {"cpu": "300m"}});
    let (code, status) = s.post("/api/v1/namespaces/limited/pods", big).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
    assert_eq!(
        status["message"],
        "pods \"big\" is forbidden: maximum cpu usage per Container is 1, but limit is 2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_quota_stays_exact_under_concurrent_creates() {
    let s = Arc::new(TestServer::new().await);
    namespace(&s, "quota", json!({})).await;
    // One pod exists before the quota: its usage is counted when the quota is first charged.
    let (code, _) = s
        .post("/api/v1/namespaces/quota/pods", pod("early", json!({})))
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, body) = s
        .post(
            "/api/v1/namespaces/quota/resourcequotas",
            json!({
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": {"name": "compute"},
                "spec": {"hard": {"pods": "5", "requests.cpu": "10"}},
            }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");

    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let mut p = pod(&format!("p{i}"), json!({}));
            p["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": "100m"}});
            s.post("/api/v1/namespaces/quota/pods", p).await
        }));
    }
    let mut created = 0;
    for t in tasks {
        let (code, body) = t.await.unwrap();
        match code {
            StatusCode::CREATED => created += 1,
            StatusCode::FORBIDDEN => {
                let message = body["message"].as_str().unwrap();
                assert!(
                    message.ends_with(
                        "is forbidden: exceeded quota: compute, requested: pods=1, used: pods=5, limited: pods=5"
                    ),
                    "{message}"
                );
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created, 4);
    let (_, pods) = s.get("/api/v1/namespaces/quota/pods").await;
    assert_eq!(pods["items"].as_array().unwrap().len(), 5);
    let (_, quota) = s
        .get("/api/v1/namespaces/quota/resourcequotas/compute")
        .await;
    assert_eq!(quota["status"]["used"]["pods"], "5", "{quota}");
    assert_eq!(quota["status"]["used"]["requests.cpu"], "400m", "{quota}");
    assert_eq!(quota["status"]["hard"]["pods"], "5");

    // A delete releases its charge; a dry run is checked but not charged.
    let (code, _) = s.delete("/api/v1/namespaces/quota/pods/early").await;
    assert!(code.is_success());
    let (_, quota) = s
        .get("/api/v1/namespaces/quota/resourcequotas/compute")
        .await;
    assert_eq!(quota["status"]["used"]["pods"], "4", "{quota}");
    let used = "4";
    let (code, body) = s
        .post(
            "/api/v1/namespaces/quota/pods?dryRun=All",
            pod("dry", json!({})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (_, quota) = s
        .get("/api/v1/namespaces/quota/resourcequotas/compute")
        .await;
    assert_eq!(quota["status"]["used"]["pods"], used);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_security_labels_enforce_and_warn_levels() {
    let s = TestServer::new().await;
    namespace(
        &s,
        "secure",
        json!({
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/warn": "restricted",
        }),
    )
    .await;
    let mut host = pod("host", json!({}));
    host["spec"]["hostNetwork"] = json!(true);
    let (code, status) = s.post("/api/v1/namespaces/secure/pods", host).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
    assert_eq!(
        status["message"],
        "pods \"host\" is forbidden: violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true)"
    );

    let response = s
        .raw(
            Method::POST,
            "/api/v1/namespaces/secure/pods",
            "application/json",
            serde_json::to_vec(&pod("plain", json!({}))).unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let warning = response.headers().get("warning").unwrap().to_str().unwrap();
    assert!(
        warning.contains(
            "would violate PodSecurity \\\"restricted:latest\\\": allowPrivilegeEscalation != false"
        ),
        "{warning}"
    );

    // Without labels, anything goes.
    let mut host = pod("host", json!({}));
    host["spec"]["hostNetwork"] = json!(true);
    let (code, _) = s.post("/api/v1/namespaces/default/pods", host).await;
    assert_eq!(code, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_named_by_service_is_called_at_its_endpoints() {
    let s = TestServer::new().await;
    let w = Webhook::start().await;
    namespace(&s, "webhooks", json!({})).await;
    let (code, body) = s
        .post(
            "/api/v1/namespaces/webhooks/services",
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "hook"},
                "spec": {"ports": [{"name": "https", "port": 443, "targetPort": w.address.port()}]},
            }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (code, body) = s
        .post(
            "/api/v1/namespaces/webhooks/endpoints",
            json!({
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "hook"},
                "subsets": [{
                    "addresses": [{"ip": "127.0.0.1"}],
                    "ports": [{"name": "https", "port": w.address.port()}],
                }],
            }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let mut by_service = hook("service.example.com", "", &w.ca_bundle, json!({}));
    by_service["clientConfig"] = json!({
        "service": {"namespace": "webhooks", "name": "hook", "path": "/mutate"},
        "caBundle": w.ca_bundle,
    });
    register(
        &s,
        "MutatingWebhookConfiguration",
        "by-service",
        vec![by_service],
    )
    .await;
    let (code, created) = s
        .post("/api/v1/namespaces/default/pods", pod("p", json!({})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["metadata"]["labels"]["mutated"], "true",
        "{created}"
    );
}
