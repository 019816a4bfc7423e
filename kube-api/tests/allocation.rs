//! Service cluster IP and node port allocation, kept in the store.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use common::{TestServer, on_every_store};
use http::StatusCode;
use kube_api::server::storage::allocator::Ipv4Cidr;
use kube_api::server::{ApiServer, Config};
use serde_json::{Value, json};

const SERVICES: &str = "/api/v1/namespaces/default/services";

fn service(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    if spec.get("ports").is_none() {
        spec["ports"] = json!([{"port": 80, "protocol": "TCP"}]);
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
}

fn ip_of(svc: &Value) -> Ipv4Addr {
    svc["spec"]["clusterIP"].as_str().unwrap().parse().unwrap()
}

on_every_store!(
    concurrent_creates_get_distinct_ips_in_range,
    requested_ips_are_checked
);

async fn concurrent_creates_get_distinct_ips_in_range(s: TestServer) {
    let s = Arc::new(s);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            s.post(SERVICES, service(&format!("s{i}"), json!({}))).await
        }));
    }
    let cidr = Ipv4Cidr::default();
    let mut ips = BTreeSet::new();
    for t in tasks {
        let (code, svc) = t.await.unwrap();
        assert_eq!(code, StatusCode::CREATED, "{svc}");
        let ip = ip_of(&svc);
        assert!(cidr.offset(ip).is_some(), "{ip} is in {cidr}");
        assert_eq!(svc["spec"]["clusterIPs"], json!([ip.to_string()]));
        assert_eq!(svc["spec"]["ipFamilies"], json!(["IPv4"]));
        ips.insert(ip);
    }
    assert_eq!(ips.len(), 50);
}

#[tokio::test]
async fn a_small_range_fills_without_collision_across_a_restart() {
    // A /28 has 14 addresses: the random picks collide and the scan finds the rest.
    let config = Config {
        service_cidr: "10.0.0.0/28".parse().unwrap(),
        ..Config::default()
    };
    let mut s = TestServer::with_config(common::StoreKind::Memory, config.clone()).await;
    let mut ips = BTreeSet::new();
    for i in 0..7 {
        let (code, svc) = s.post(SERVICES, service(&format!("a{i}"), json!({}))).await;
        assert_eq!(code, StatusCode::CREATED, "{svc}");
        ips.insert(ip_of(&svc));
    }
    // A new server over the same store sees what the first one allocated.
    s.server = ApiServer::new(Arc::clone(&s.store), config);
    let s2 = &s;
    for i in 0..7 {
        let (code, svc) = s2
            .post(SERVICES, service(&format!("b{i}"), json!({})))
            .await;
        assert_eq!(code, StatusCode::CREATED, "{svc}");
        assert!(ips.insert(ip_of(&svc)), "{} allocated twice", ip_of(&svc));
    }
    assert_eq!(ips.len(), 14);
    let (code, status) = s2.post(SERVICES, service("full", json!({}))).await;
    assert!(code.is_server_error(), "{code} {status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("range is full")
    );

    // Deleting frees the address for the next create.
    let (code, deleted) = s2.delete(&format!("{SERVICES}/a3")).await;
    assert_eq!(code, StatusCode::OK, "{deleted}");
    let freed = ip_of(&deleted);
    let (code, svc) = s2.post(SERVICES, service("again", json!({}))).await;
    assert_eq!(code, StatusCode::CREATED, "{svc}");
    assert_eq!(ip_of(&svc), freed);
}

async fn requested_ips_are_checked(s: TestServer) {
    let (code, svc) = s
        .post(SERVICES, service("a", json!({"clusterIP": "10.96.0.10"})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{svc}");
    assert_eq!(svc["spec"]["clusterIPs"], json!(["10.96.0.10"]));

    let (code, status) = s
        .post(SERVICES, service("b", json!({"clusterIP": "10.96.0.10"})))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("spec.clusterIPs: Invalid value:")
            && message.contains("provided IP is already allocated"),
        "{message}"
    );

    let (code, status) = s
        .post(SERVICES, service("c", json!({"clusterIP": "192.168.0.1"})))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("not in the valid range")
    );

    // Headless and ExternalName services hold no address.
    let (code, svc) = s
        .post(SERVICES, service("h", json!({"clusterIP": "None"})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{svc}");
    assert_eq!(svc["spec"]["clusterIPs"], json!(["None"]));

    // Deleting frees the requested address.
    let (code, _) = s.delete(&format!("{SERVICES}/a")).await;
    assert_eq!(code, StatusCode::OK);
    let (code, svc) = s
        .post(SERVICES, service("b", json!({"clusterIP": "10.96.0.10"})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{svc}");
}

#[tokio::test]
async fn node_ports_are_allocated_and_checked() {
    let s = TestServer::new().await;
    let (code, svc) = s
        .post(
            SERVICES,
            service(
                "np",
                json!({"type": "NodePort", "ports": [
                    {"name": "a", "port": 80, "protocol": "TCP"},
                    {"name": "b", "port": 81, "protocol": "TCP", "nodePort": 30080},
                ]}),
            ),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{svc}");
    let first = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    assert!((30000..=32767).contains(&first), "{first}");
    assert_ne!(first, 30080);
    assert_eq!(svc["spec"]["ports"][1]["nodePort"], 30080);

    let taken =
        json!({"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}]});
    let (code, status) = s.post(SERVICES, service("other", taken.clone())).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains(
            "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        ),
        "{message}"
    );
    let out =
        json!({"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP", "nodePort": 80}]});
    let (code, status) = s.post(SERVICES, service("out", out)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert!(status["message"].as_str().unwrap().contains("30000-32767"));

    // ClusterIP services get no node port.
    let (_, plain) = s.post(SERVICES, service("plain", json!({}))).await;
    assert!(
        plain["spec"]["ports"][0].get("nodePort").is_none(),
        "{plain}"
    );

    let (code, _) = s.delete(&format!("{SERVICES}/np")).await;
    assert_eq!(code, StatusCode::OK);
    let (code, svc) = s.post(SERVICES, service("other", taken)).await;
    assert_eq!(code, StatusCode::CREATED, "{svc}");
}

#[tokio::test]
async fn the_kubernetes_service_holds_the_first_address() {
    let s = TestServer::new().await;
    s.server.ensure_kubernetes_service(6443).await.unwrap();
    s.server.ensure_kubernetes_service(6443).await.unwrap();
    let (code, svc) = s.get(&format!("{SERVICES}/kubernetes")).await;
    assert_eq!(code, StatusCode::OK, "{svc}");
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.1");
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 6443);
    let (code, _) = s
        .post(SERVICES, service("x", json!({"clusterIP": "10.96.0.1"})))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
}
