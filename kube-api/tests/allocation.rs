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
    requested_ips_are_checked,
    type_changes_allocate_and_release,
    repair_releases_leaks_and_records_what_services_hold
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

/// The allocation keys in the store: cluster IPs and node ports.
async fn held(s: &TestServer) -> (BTreeSet<String>, BTreeSet<u16>) {
    let list = |prefix: &'static str| async move {
        s.store
            .list(kube_store::ListRequest::prefix(prefix))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|kv| kv.key.trim_start_matches(prefix).to_owned())
            .collect::<Vec<_>>()
    };
    let ips = list("/registry/ranges/serviceips/")
        .await
        .into_iter()
        .collect();
    let ports = list("/registry/ranges/servicenodeports/")
        .await
        .into_iter()
        .map(|p| p.parse().unwrap())
        .collect();
    (ips, ports)
}

fn node_ports(svc: &Value) -> BTreeSet<u16> {
    svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["nodePort"].as_u64())
        .map(|p| p as u16)
        .collect()
}

async fn merge_patch(s: &TestServer, name: &str, patch: Value) -> (StatusCode, Value) {
    s.call_typed(
        http::Method::PATCH,
        &format!("{SERVICES}/{name}"),
        "application/merge-patch+json",
        Some(patch),
    )
    .await
}

/// As upstream: a type change drops what the new type cannot have and releases it; a type
/// or port that needs more allocates it; values an update omits are kept.
async fn type_changes_allocate_and_release(s: TestServer) {
    let two_ports = json!({"type": "NodePort", "ports": [
        {"name": "http", "port": 80, "protocol": "TCP"},
        {"name": "https", "port": 443, "protocol": "TCP"}]});
    let (code, svc) = s.post(SERVICES, service("np", two_ports)).await;
    assert_eq!(code, StatusCode::CREATED, "{svc}");
    let ports = node_ports(&svc);
    assert_eq!(ports.len(), 2);
    let ip = ip_of(&svc).to_string();
    assert_eq!(held(&s).await, ([ip.clone()].into(), ports.clone()));

    // A port taken by np cannot be requested by another service.
    let taken = *ports.iter().next().unwrap();
    let other = json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": taken}]});
    let (code, status) = s.post(SERVICES, service("other", other.clone())).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");

    // A replace that omits the node ports keeps them (matched by port name).
    let mut replace = svc.clone();
    for port in replace["spec"]["ports"].as_array_mut().unwrap() {
        port.as_object_mut().unwrap().remove("nodePort");
    }
    replace["spec"].as_object_mut().unwrap().remove("clusterIP");
    replace["spec"]
        .as_object_mut()
        .unwrap()
        .remove("clusterIPs");
    let (code, svc) = s.put(&format!("{SERVICES}/np"), replace).await;
    assert_eq!(code, StatusCode::OK, "{svc}");
    assert_eq!(node_ports(&svc), ports);
    assert_eq!(ip_of(&svc).to_string(), ip);

    // NodePort -> ClusterIP: the node ports go, and are free again.
    let (code, svc) = merge_patch(&s, "np", json!({"spec": {"type": "ClusterIP"}})).await;
    assert_eq!(code, StatusCode::OK, "{svc}");
    assert_eq!(node_ports(&svc), BTreeSet::new(), "{svc}");
    assert_eq!(held(&s).await, ([ip.clone()].into(), BTreeSet::new()));
    let (code, status) = s.post(SERVICES, service("other", other)).await;
    assert_eq!(code, StatusCode::CREATED, "{status}");

    // ClusterIP -> NodePort: new ports, none of them the one `other` now holds.
    let (code, svc) = merge_patch(&s, "np", json!({"spec": {"type": "NodePort"}})).await;
    assert_eq!(code, StatusCode::OK, "{svc}");
    let again = node_ports(&svc);
    assert_eq!(again.len(), 2, "{svc}");
    assert!(!again.contains(&taken));
    let (_, held_ports) = held(&s).await;
    assert!(again.is_subset(&held_ports) && held_ports.contains(&taken));

    // A new port gets a node port; the others keep theirs.
    let mut with_third = svc.clone();
    with_third["spec"]["ports"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "metrics", "port": 9090, "protocol": "TCP"}));
    let (code, svc) = s.put(&format!("{SERVICES}/np"), with_third).await;
    assert_eq!(code, StatusCode::OK, "{svc}");
    let three = node_ports(&svc);
    assert_eq!(three.len(), 3);
    assert!(again.is_subset(&three));

    // -> ExternalName: the cluster IP and node ports go.
    let (code, svc) = merge_patch(
        &s,
        "np",
        json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{svc}");
    assert!(svc["spec"].get("clusterIP").is_none(), "{svc}");
    assert_eq!(node_ports(&svc), BTreeSet::new());
    let (ips, ports) = held(&s).await;
    assert!(!ips.contains(&ip), "{ips:?}");
    assert_eq!(ports, [taken].into());

    // ExternalName -> ClusterIP: a cluster IP again.
    let (code, svc) = merge_patch(
        &s,
        "np",
        json!({"spec": {"type": "ClusterIP", "externalName": null}}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{svc}");
    let new_ip = ip_of(&svc).to_string();
    assert!(held(&s).await.0.contains(&new_ip));

    // Deleting releases everything np holds; `other` keeps its own.
    let (code, _) = s.delete(&format!("{SERVICES}/np")).await;
    assert_eq!(code, StatusCode::OK);
    let (ips, ports) = held(&s).await;
    assert!(!ips.contains(&new_ip));
    assert_eq!(ports, [taken].into());
}

/// The repair loop's rules, one run at a time: a leaked key goes on the third run that finds
/// it leaked, a key whose service appears in the meantime stays, and an address a service
/// holds without a key is recorded again.
async fn repair_releases_leaks_and_records_what_services_hold(s: TestServer) {
    use kube_api::server::storage::allocator::{IP_PREFIX, Repair};
    let (code, a) = s.post(SERVICES, service("a", json!({}))).await;
    assert_eq!(code, StatusCode::CREATED, "{a}");
    let a_key = format!("{IP_PREFIX}{}", ip_of(&a));
    let owner =
        |name: &str| bytes::Bytes::from(json!({"namespace": "default", "name": name}).to_string());
    // A key whose service was never written, and one taken for a create still in flight.
    let ghost = format!("{IP_PREFIX}10.96.5.5");
    let late = format!("{IP_PREFIX}10.96.5.6");
    s.store.create(&ghost, owner("ghost")).await.unwrap();
    s.store.create(&late, owner("late")).await.unwrap();
    let mut repair = Repair::new();
    let server = s.server.clone();
    let mut run = async || {
        server
            .repair_service_allocations(&mut repair)
            .await
            .expect("services allocate")
            .expect("the repair reads the store")
    };
    let first = run().await;
    assert_eq!(first.suspected, [ghost.clone(), late.clone()]);
    assert!(first.released.is_empty() && first.recorded.is_empty());
    // The in-flight create lands: its service now holds the key.
    let late_service = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "late", "namespace": "default", "uid": "u-late"},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.5.6", "clusterIPs": ["10.96.5.6"],
            "ports": [{"port": 80, "protocol": "TCP"}]}});
    s.store
        .create(
            "/registry/core/services/default/late",
            bytes::Bytes::from(late_service.to_string()),
        )
        .await
        .unwrap();
    // Service a loses its key (a store restored without the ranges, say).
    s.store.delete(&a_key, None).await.unwrap();
    let second = run().await;
    assert_eq!(second.suspected, std::slice::from_ref(&ghost));
    assert_eq!(second.recorded, std::slice::from_ref(&a_key));
    let third = run().await;
    assert_eq!(third.released, std::slice::from_ref(&ghost));
    assert!(
        third.suspected.is_empty() && third.recorded.is_empty(),
        "{third:?}"
    );
    let fourth = run().await;
    assert_eq!(fourth, Default::default());
    assert!(s.store.get(&ghost).await.unwrap().is_none());
    assert!(s.store.get(&late).await.unwrap().is_some());
    assert!(s.store.get(&a_key).await.unwrap().is_some());
    // The released address can be taken again.
    let (code, b) = s
        .post(SERVICES, service("b", json!({"clusterIP": "10.96.5.5"})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{b}");
}
