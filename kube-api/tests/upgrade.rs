//! Upgrade requests (exec, attach, port-forward, proxy) with no kubelet connection: refused
//! with a Status, and the connection closed without reading anything more the client sent
//! (CVE-2018-1002105: a refused upgrade must not leave a connection whose later bytes reach
//! anything). Raw TLS connections, so what the server writes is seen byte for byte.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::https::HttpsServer;
use kube_api::server::Config;
use kube_api::server::authz::Authorization;
use kube_api::server::test_util::{Credentials, client_config};
use kube_store::{MemoryStore, Store};
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn admin(s: &HttpsServer) -> Credentials {
    let key = std::fs::read_to_string(s.secured.pki.path("admin.key")).unwrap();
    Credentials::cert(&s.secured.pki.admin_cert_pem, &key)
}

/// Writes `bytes` on a new TLS connection as the admin and reads until the server closes
/// it (bounded, so a connection left open fails the test); returns what the server wrote.
async fn exchange(s: &HttpsServer, bytes: &[u8]) -> String {
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(client_config(s.ca_pem(), &admin(s))));
    let tcp = tokio::net::TcpStream::connect(s.address).await.unwrap();
    let name = ServerName::IpAddress(s.address.ip().into());
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(bytes).await.unwrap();
    tls.flush().await.unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut raw)).await;
    match read {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Ok(Err(e)) => panic!("reading failed: {e}"),
        Err(_) => panic!(
            "the server kept the connection open after:\n{}",
            String::from_utf8_lossy(&raw)
        ),
    }
    String::from_utf8_lossy(&raw).into_owned()
}

fn upgrade_head(s: &HttpsServer, path: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\
         X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n",
        s.address
    )
}

/// The status code and Status body of the one response in `raw`; fails if there is more.
fn only_response(raw: &str) -> (u16, Value) {
    assert_eq!(
        raw.matches("HTTP/1.1 ").count(),
        1,
        "exactly one response expected:\n{raw}"
    );
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body.split_once("\r\n")
            .unwrap()
            .1
            .rsplit_once("\r\n0")
            .unwrap()
            .0
    } else {
        body
    };
    (code, serde_json::from_str(body.trim()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upgrades_close_the_connection_and_nothing_after_is_read() {
    let config = Config {
        authorization: Authorization::node_rbac(),
        ..Config::default()
    };
    let s = HttpsServer::start(Arc::new(MemoryStore::new()) as Arc<dyn Store>, config).await;
    let pods = "/api/v1/namespaces/default/pods";
    for (name, node) in [("on-node", Some("node-a")), ("pending", None)] {
        let mut spec = json!({"containers": [{"name": "c", "image": "busybox"}]});
        if let Some(node) = node {
            spec["nodeName"] = json!(node);
        }
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                         "spec": spec})
        .to_string();
        let (code, body) = s.request("POST", pods, &admin(&s), Some(&pod)).await;
        assert_eq!(code, 201, "{body}");
    }

    // After the upgrade request: a smuggled second request, then stream bytes.
    let smuggled = format!(
        "DELETE {pods}/on-node HTTP/1.1\r\nHost: {}\r\n\r\n\x00\x01stdin bytes",
        s.address
    );
    for (path, code, message) in [
        (
            format!("{pods}/on-node/exec?command=sh&stdin=true"),
            503,
            "no kubelet connection for node \"node-a\"",
        ),
        (
            format!("{pods}/on-node/attach?stdin=true"),
            503,
            "no kubelet connection",
        ),
        (
            format!("{pods}/on-node/portforward?ports=80"),
            503,
            "no kubelet connection",
        ),
        (
            format!("{pods}/on-node/proxy/"),
            503,
            "no kubelet connection",
        ),
        (
            "/api/v1/nodes/node-a/proxy/pods".to_owned(),
            404,
            "nodes \"node-a\" not found",
        ),
        (
            format!("{pods}/pending/exec?command=sh"),
            400,
            "pod pending does not have a host assigned",
        ),
        (
            format!("{pods}/missing/exec?command=sh"),
            404,
            "pods \"missing\" not found",
        ),
    ] {
        let request = format!("{}{smuggled}", upgrade_head(&s, &path));
        let raw = exchange(&s, request.as_bytes()).await;
        let (got, status) = only_response(&raw);
        assert_eq!(got, code, "{path}: {raw}");
        assert_eq!(status["kind"], "Status", "{path}: {raw}");
        assert!(
            status["message"].as_str().unwrap().contains(message),
            "{path}: {status}"
        );
    }

    // Not an upgrade: exec says so (and a normal request keeps its connection semantics).
    let (code, body) = s
        .request(
            "POST",
            &format!("{pods}/on-node/exec?command=sh"),
            &admin(&s),
            None,
        )
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("Upgrade request required"), "{body}");

    // The smuggled deletes never ran, and the server answers normally.
    let (code, body) = s
        .request("GET", &format!("{pods}/on-node"), &admin(&s), None)
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, _) = s
        .request("GET", "/healthz", &Credentials::none(), None)
        .await;
    assert_eq!(code, 200);

    // Without credentials an upgrade is refused before anything is resolved, and closed too.
    let request = format!(
        "{}{smuggled}",
        upgrade_head(&s, &format!("{pods}/on-node/exec"))
    );
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(client_config(s.ca_pem(), &Credentials::none())));
    let tcp = tokio::net::TcpStream::connect(s.address).await.unwrap();
    let mut tls = connector
        .connect(ServerName::IpAddress(s.address.ip().into()), tcp)
        .await
        .unwrap();
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut raw))
        .await
        .expect("the connection was left open");
    let (code, _) = only_response(&String::from_utf8_lossy(&raw));
    assert_eq!(code, 401);
    s.stop().await;
}
