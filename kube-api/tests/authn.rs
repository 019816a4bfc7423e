//! Authentication over TLS as the binaries serve it: 401 Status for requests without
//! credentials outside the health checks and `/version`, client certificates of the cluster CA
//! (and only of it), static tokens, SelfSubjectReview, and an accept loop that neither stalls
//! nor ends on bad handshakes.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::https::HttpsServer;
use kube_api::server::Config;
use kube_api::server::authn::Anonymous;
use kube_api::server::pki::{self, Pki};
use kube_api::server::test_util::{self, Credentials};
use kube_store::{MemoryStore, Store};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bounds a wait on the server (a bound, not a speed check).
const WAIT: Duration = Duration::from_secs(30);

const TOKENS: &str = "s3cret,jane,uid-jane,\"dev,ops\"\nother-token,bob,uid-bob\n";

async fn start() -> HttpsServer {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, TOKENS).unwrap();
    let server = HttpsServer::start_with(store(), Config::default(), |s| {
        s.token_auth_file = Some(tokens);
    })
    .await;
    // The token file is read at start; its directory may go.
    drop(dir);
    server
}

fn store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

fn admin(s: &HttpsServer) -> Credentials {
    Credentials::cert(&s.secured.pki.admin_cert_pem, &admin_key(s))
}

fn admin_key(s: &HttpsServer) -> String {
    std::fs::read_to_string(s.secured.pki.path("admin.key")).unwrap()
}

async fn whoami(s: &HttpsServer, credentials: &Credentials) -> (u16, Value) {
    let review = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let (code, body) = s
        .request(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            credentials,
            Some(&review.to_string()),
        )
        .await;
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn assert_unauthorized(code: u16, body: &str) {
    assert_eq!(code, 401, "{body}");
    let status: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        status,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_credentials_get_401_outside_public_info() {
    let s = start().await;
    for path in [
        "/api/v1/pods",
        "/api/v1/namespaces/default/configmaps",
        "/api",
        "/apis",
        "/openapi/v2",
        "/metrics",
    ] {
        let (code, body) = s.request("GET", path, &Credentials::none(), None).await;
        assert_unauthorized(code, &body);
    }
    let (code, body) = whoami(&s, &Credentials::none()).await;
    assert_eq!(code, 401, "{body}");
    for path in ["/healthz", "/livez", "/readyz", "/readyz/ping", "/version"] {
        let (code, body) = s.request("GET", path, &Credentials::none(), None).await;
        assert_eq!(code, 200, "{path}: {body}");
    }
    let (_, version) = s
        .request("GET", "/version", &Credentials::none(), None)
        .await;
    let version: Value = serde_json::from_str(&version).unwrap();
    assert_eq!(version["major"], "1");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_certificate_authenticates_as_admin_in_system_masters() {
    let s = start().await;
    let (code, body) = s
        .request("GET", "/api/v1/namespaces", &admin(&s), None)
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, review) = whoami(&s, &admin(&s)).await;
    assert_eq!(code, 201, "{review}");
    assert_eq!(review["kind"], "SelfSubjectReview");
    assert_eq!(review["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(
        review["status"]["userInfo"],
        json!({"username": "admin", "groups": ["system:masters", "system:authenticated"]})
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_tokens_authenticate_and_wrong_tokens_get_401() {
    let s = start().await;
    let (code, review) = whoami(&s, &Credentials::token("s3cret")).await;
    assert_eq!(code, 201, "{review}");
    assert_eq!(
        review["status"]["userInfo"],
        json!({"username": "jane", "uid": "uid-jane", "groups": ["dev", "ops", "system:authenticated"]})
    );
    let (code, body) = s
        .request(
            "GET",
            "/api/v1/pods",
            &Credentials::token("other-token"),
            None,
        )
        .await;
    assert_eq!(code, 200, "{body}");

    // A wrong token is refused everywhere, the public paths included (upstream).
    for path in ["/api/v1/pods", "/healthz", "/version"] {
        let (code, body) = s
            .request("GET", path, &Credentials::token("wrong"), None)
            .await;
        assert_unauthorized(code, &body);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_of_another_ca_get_401() {
    let s = start().await;
    let elsewhere = tempfile::tempdir().unwrap();
    let other = Pki::ensure(
        elsewhere.path(),
        &pki::serving_names(None, None, &[]),
        SystemTime::now(),
    )
    .unwrap();
    let foreign = Credentials::cert(&other.admin_cert_pem, &other.admin_key_pem);
    // The handshake succeeds (the certificate is only requested), authentication refuses.
    for path in ["/api/v1/pods", "/healthz"] {
        let (code, body) = s.request("GET", path, &foreign, None).await;
        assert_unauthorized(code, &body);
    }
    // A certificate the cluster CA issued for another user is that user.
    let (cert, key) = s
        .secured
        .pki
        .issue_client_certificate("carol", &["qa"], SystemTime::now())
        .unwrap();
    let (code, review) = whoami(&s, &Credentials::cert(&cert, &key)).await;
    assert_eq!(code, 201, "{review}");
    assert_eq!(
        review["status"]["userInfo"],
        json!({"username": "carol", "groups": ["qa", "system:authenticated"]})
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_auth_enabled_lets_anonymous_in_everywhere() {
    let s = HttpsServer::start_with(store(), Config::default(), |s| {
        s.anonymous = Anonymous::Enabled;
    })
    .await;
    let (code, body) = s
        .request("GET", "/api/v1/pods", &Credentials::none(), None)
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, review) = whoami(&s, &Credentials::none()).await;
    assert_eq!(code, 201, "{review}");
    assert_eq!(
        review["status"]["userInfo"],
        json!({"username": "system:anonymous", "groups": ["system:unauthenticated"]})
    );
    s.stop().await;

    let s = HttpsServer::start_with(store(), Config::default(), |s| {
        s.anonymous = Anonymous::Disabled;
    })
    .await;
    let (code, body) = s
        .request("GET", "/healthz", &Credentials::none(), None)
        .await;
    assert_unauthorized(code, &body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handshakes_neither_stall_nor_end_the_accept_loop() {
    let s = start().await;
    // A client that connects and says nothing holds only its own connection.
    let mut silent = tokio::net::TcpStream::connect(s.address).await.unwrap();
    // Plain HTTP on the TLS port: Go's 400 answer, then the connection is closed.
    let mut plain = tokio::net::TcpStream::connect(s.address).await.unwrap();
    plain
        .write_all(b"GET /api/v1/pods HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(WAIT, plain.read_to_end(&mut reply))
        .await
        .expect("the server closes a plain-HTTP connection")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.0 400 Bad Request\r\n"), "{reply}");
    assert!(
        reply.ends_with("\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"),
        "{reply}"
    );
    // A client that does not trust the server's CA fails its own handshake.
    let elsewhere = tempfile::tempdir().unwrap();
    let other = Pki::ensure(
        elsewhere.path(),
        &pki::serving_names(None, None, &[]),
        SystemTime::now(),
    )
    .unwrap();
    let refused = test_util::request(
        s.address,
        &other.ca_cert_pem,
        "GET",
        "/healthz",
        &Credentials::none(),
        None,
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");

    // Meanwhile the server answers, the silent connection still open.
    let (code, body) = tokio::time::timeout(
        WAIT,
        s.request("GET", "/api/v1/namespaces", &admin(&s), None),
    )
    .await
    .expect("served while a handshake is pending");
    assert_eq!(code, 200, "{body}");
    let mut byte = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(1), silent.read(&mut byte))
            .await
            .is_err(),
        "the silent connection is still pending"
    );
    // Stopping does not wait for the silent client's handshake to time out.
    tokio::time::timeout(kube_api::server::tls::HANDSHAKE_TIMEOUT / 2, s.stop())
        .await
        .expect("shutdown abandons pending handshakes");
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_and_kubeconfig_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = store();
    let first =
        HttpsServer::start_in(dir.path(), Arc::clone(&store), Config::default(), |_| {}).await;
    let ca = first.ca_pem().to_owned();
    let admin_cert = first.secured.pki.admin_cert_pem.clone();
    let admin_key = admin_key(&first);
    first.stop().await;

    let second = HttpsServer::start_in(dir.path(), store, Config::default(), |_| {}).await;
    assert_eq!(second.ca_pem(), ca);
    let (code, body) = second
        .request(
            "GET",
            "/api/v1/namespaces",
            &Credentials::cert(&admin_cert, &admin_key),
            None,
        )
        .await;
    assert_eq!(code, 200, "{body}");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_tokens_authenticate_and_token_reviews_judge_tokens() {
    let s = start().await;
    // Tokens are checked against their service account: it must exist.
    let (code, body) = s
        .request(
            "POST",
            "/api/v1/namespaces",
            &admin(&s),
            Some(r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team"}}"#),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = s
        .request(
            "POST",
            "/api/v1/namespaces/team/serviceaccounts",
            &admin(&s),
            Some(r#"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"builder"}}"#),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let account: Value = serde_json::from_str(&body).unwrap();
    let uid = account["metadata"]["uid"].as_str().unwrap().to_owned();
    let token = s
        .secured
        .service_account_tokens
        .issue("team", "builder", &uid, 3600)
        .unwrap();
    let (code, review) = whoami(&s, &Credentials::token(&token)).await;
    assert_eq!(code, 201, "{review}");
    let user = &review["status"]["userInfo"];
    assert_eq!(user["username"], "system:serviceaccount:team:builder");
    assert_eq!(user["uid"], uid.as_str());
    assert_eq!(
        user["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:team",
            "system:authenticated"
        ])
    );

    // A token signed by another key pair with the same issuer is refused.
    let elsewhere = tempfile::tempdir().unwrap();
    let other = kube_api::server::secure::SecureServing::new(elsewhere.path().join("pki"))
        .build(&Config::default())
        .unwrap();
    let forged = other
        .service_account_tokens
        .issue("kube-system", "admin", "", 3600)
        .unwrap();
    let (code, body) = s
        .request("GET", "/api/v1/pods", &Credentials::token(&forged), None)
        .await;
    assert_unauthorized(code, &body);

    let review = |token: &str| {
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
               "spec": {"token": token}})
        .to_string()
    };
    let path = "/apis/authentication.k8s.io/v1/tokenreviews";
    let (code, body) = s
        .request("POST", path, &admin(&s), Some(&review(&token)))
        .await;
    assert_eq!(code, 201, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["kind"], "TokenReview");
    assert_eq!(answer["status"]["authenticated"], true);
    assert_eq!(
        answer["status"]["user"]["username"],
        "system:serviceaccount:team:builder"
    );
    let (code, body) = s
        .request("POST", path, &admin(&s), Some(&review("s3cret")))
        .await;
    assert_eq!(code, 201, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["status"]["user"]["username"], "jane");
    for bad in [forged.as_str(), "nonsense"] {
        let (code, body) = s
            .request("POST", path, &admin(&s), Some(&review(bad)))
            .await;
        assert_eq!(code, 201, "{body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["status"]["authenticated"], false, "{answer}");
        assert!(answer["status"]["error"].is_string(), "{answer}");
    }
    let (code, body) = s.request("POST", path, &admin(&s), Some(&review(""))).await;
    assert_eq!(code, 400, "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brought_serving_certificate_and_client_ca_replace_the_generated_ones() {
    // Another cluster's PKI stands for the operator's own CA and certificates.
    let own = tempfile::tempdir().unwrap();
    let names = pki::serving_names(None, None, &[]);
    let brought = Pki::ensure(own.path(), &names, SystemTime::now()).unwrap();
    let s = HttpsServer::start_with(store(), Config::default(), |s| {
        s.tls_cert_file = Some(own.path().join("apiserver.crt"));
        s.tls_private_key_file = Some(own.path().join("apiserver.key"));
        s.client_ca_file = Some(own.path().join("ca.crt"));
    })
    .await;
    // The server presents the brought certificate: clients verify it with the brought CA.
    let brought_admin = Credentials::cert(&brought.admin_cert_pem, &brought.admin_key_pem);
    let (code, body) = test_util::request(
        s.address,
        &brought.ca_cert_pem,
        "GET",
        "/api/v1/namespaces",
        &brought_admin,
        None,
    )
    .await
    .unwrap();
    assert_eq!(code, 200, "{body}");
    // The generated CA no longer vouches for clients.
    let generated_admin = Credentials::cert(&s.secured.pki.admin_cert_pem, &admin_key(&s));
    let (code, body) = test_util::request(
        s.address,
        &brought.ca_cert_pem,
        "GET",
        "/api/v1/namespaces",
        &generated_admin,
        None,
    )
    .await
    .unwrap();
    assert_unauthorized(code, &body);
    // The written kubeconfig then carries neither the generated CA nor the admin certificate.
    let kubeconfig = std::fs::read_to_string(&s.kubeconfig).unwrap();
    assert!(
        !kubeconfig.contains("certificate-authority-data"),
        "{kubeconfig}"
    );
    assert!(
        !kubeconfig.contains("client-certificate-data"),
        "{kubeconfig}"
    );
    s.stop().await;
}
