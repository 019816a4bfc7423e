//! The endpoints and endpointslice controllers against the in-process server: both follow
//! pod readiness (named target ports resolved per pod) and Service changes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Kubelet, Outcome, set_status, wait_for};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube_api::client::runtime::{Clock, SystemClock, TokioClock};
use kube_api::client::{Api, ListParams, Patch, PatchParams, PostParams};
use kube_api::testing::TestServer;
use kube_control::controllers::{endpoints, endpointslice};
use kube_control::{CancellationToken, ControllerContext};
use serde_json::json;

const MINUTE: Duration = Duration::from_secs(60);

fn pod(name: &str, hostname: Option<&str>) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "nodeName": "node-1",
            "hostname": hostname, "subdomain": hostname.map(|_| "web"),
            "containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}],
        },
    }))
    .unwrap()
}

/// Ready addresses and not-ready addresses of the Endpoints, by pod name.
fn addresses(ep: &Endpoints) -> (Vec<String>, Vec<String>) {
    let mut ready = Vec::new();
    let mut not_ready = Vec::new();
    for s in ep.subsets.iter().flatten() {
        for (list, out) in [
            (&s.addresses, &mut ready),
            (&s.not_ready_addresses, &mut not_ready),
        ] {
            for a in list.iter().flatten() {
                out.push(a.target_ref.as_ref().unwrap().name.clone().unwrap());
            }
        }
    }
    ready.sort();
    not_ready.sort();
    (ready, not_ready)
}

/// Endpoints in all slices of the Service: (pod, ready, serving, terminating).
fn slice_endpoints(slices: &[EndpointSlice]) -> Vec<(String, bool, bool, bool)> {
    let mut out: Vec<_> = slices
        .iter()
        .flat_map(|s| s.endpoints.iter().flatten())
        .map(|e| {
            let c = e.conditions.clone().unwrap_or_default();
            (
                e.target_ref.as_ref().unwrap().name.clone().unwrap(),
                c.ready == Some(true),
                c.serving == Some(true),
                c.terminating == Some(true),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(start_paused = true)]
async fn endpoints_and_slices_follow_pod_readiness_and_the_service() {
    let server = TestServer::start().await;
    let client = server.client();
    let token = CancellationToken::new();
    let ctx = ControllerContext::new(client.clone());
    let clock = Arc::new(TokioClock::new(SystemClock.now()));
    tokio::spawn(endpoints::run(ctx.clone(), token.clone(), clock));
    tokio::spawn(endpointslice::run(ctx, token.clone()));
    let _stop = token.drop_guard();
    let kubelet = Kubelet::start(client.clone(), "default", |_| Outcome::RunForever);

    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "labels": {"tier": "front"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }))
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, host) in [("web-a", Some("a")), ("web-b", None)] {
        pods.create(&PostParams::default(), &pod(name, host))
            .await
            .unwrap();
    }
    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let ep = wait_for("both pods ready in the Endpoints", MINUTE, || async {
        let ep = eps.get_opt("web").await.unwrap()?;
        (addresses(&ep).0 == ["web-a", "web-b"]).then_some(ep)
    })
    .await;
    assert_eq!(kubelet.seen().started.len(), 2);
    let subset = &ep.subsets.as_ref().unwrap()[0];
    let port = &subset.ports.as_ref().unwrap()[0];
    assert_eq!((port.name.as_deref(), port.port), (Some("http"), 8080));
    let a = subset
        .addresses
        .as_ref()
        .unwrap()
        .iter()
        .find(|a| a.hostname.is_some())
        .unwrap();
    assert_eq!(a.hostname.as_deref(), Some("a"));
    assert_eq!(a.node_name.as_deref(), Some("node-1"));
    assert_eq!(ep.metadata.labels.as_ref().unwrap()["tier"], "front");
    assert!(
        ep.metadata
            .annotations
            .as_ref()
            .unwrap()
            .contains_key(endpoints::LAST_CHANGE_TRIGGER_TIME)
    );

    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let selector = format!("{}=web", endpointslice::SERVICE_NAME_LABEL);
    let list = wait_for("a slice with both pods", MINUTE, || async {
        let list = slices
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap()
            .items;
        (slice_endpoints(&list).len() == 2 && slice_endpoints(&list).iter().all(|e| e.1))
            .then_some(list)
    })
    .await;
    assert_eq!(list.len(), 1);
    let labels = list[0].metadata.labels.as_ref().unwrap();
    assert_eq!(
        labels[endpointslice::MANAGED_BY_LABEL],
        endpointslice::CONTROLLER_NAME
    );
    assert_eq!(list[0].address_type, "IPv4");
    assert_eq!(list[0].ports.as_ref().unwrap()[0].port, Some(8080));
    assert_eq!(
        list[0].metadata.owner_references.as_ref().unwrap()[0].kind,
        "Service"
    );

    // web-b stops being ready.
    let b = pods.get("web-b").await.unwrap();
    let mut b_not_ready = b.clone();
    b_not_ready.status.as_mut().unwrap().conditions = Some(vec![
        serde_json::from_value(json!({"type": "Ready", "status": "False"})).unwrap(),
    ]);
    pods.replace_status("web-b", &PostParams::default(), &b_not_ready)
        .await
        .unwrap();
    wait_for("web-b not ready in the Endpoints", MINUTE, || async {
        let ep = eps.get_opt("web").await.unwrap()?;
        (addresses(&ep) == (vec!["web-a".into()], vec!["web-b".into()])).then_some(())
    })
    .await;
    wait_for("web-b not ready in the slice", MINUTE, || async {
        let list = slices
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap()
            .items;
        (slice_endpoints(&list)
            == [
                ("web-a".into(), true, true, false),
                ("web-b".into(), false, false, false),
            ])
        .then_some(())
    })
    .await;
    // And ready again.
    assert!(
        set_status(
            &pods,
            pods.get("web-b").await.unwrap(),
            "Running",
            None,
            None
        )
        .await
    );
    wait_for("web-b ready again", MINUTE, || async {
        let ep = eps.get_opt("web").await.unwrap()?;
        (addresses(&ep).0.len() == 2).then_some(())
    })
    .await;

    // The Service selects something else: no addresses left.
    let patch = json!({"spec": {"selector": {"app": "other"}}});
    services
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_for("empty Endpoints", MINUTE, || async {
        let ep = eps.get_opt("web").await.unwrap()?;
        (addresses(&ep) == (vec![], vec![])).then_some(())
    })
    .await;
    wait_for("empty slices", MINUTE, || async {
        let list = slices
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap()
            .items;
        slice_endpoints(&list).is_empty().then_some(())
    })
    .await;

    // A deleted Service takes its Endpoints along.
    services.delete("web", &Default::default()).await.unwrap();
    wait_for("the Endpoints to go", MINUTE, || async {
        eps.get_opt("web").await.unwrap().is_none().then_some(())
    })
    .await;
}
