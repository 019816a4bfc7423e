//! The resourcequota controller against the in-process server: `status.used` follows creates
//! and deletes of what a quota counts, compute requests over non-terminal pods included.

mod common;

use std::collections::BTreeMap;

use common::until_async;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Pod, PodSpec, ResourceQuota, ResourceQuotaSpec, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_api::client::{Api, DeleteParams, PostParams};
use kube_api::testing::TestServer;
use kube_control::controllers::resource_quota;
use kube_control::{CancellationToken, ControllerContext};

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some("default".into()),
        ..ObjectMeta::default()
    }
}

fn pod(name: &str, cpu: &str, memory: &str) -> Pod {
    Pod {
        metadata: meta(name),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                image: Some("nginx".into()),
                resources: Some(ResourceRequirements {
                    requests: Some(
                        [
                            ("cpu".to_owned(), Quantity(cpu.into())),
                            ("memory".to_owned(), Quantity(memory.into())),
                        ]
                        .into(),
                    ),
                    limits: Some([("cpu".to_owned(), Quantity("1".into()))].into()),
                    ..ResourceRequirements::default()
                }),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

async fn used(quotas: &Api<ResourceQuota>) -> BTreeMap<String, String> {
    quotas
        .get("compute")
        .await
        .unwrap()
        .status
        .and_then(|s| s.used)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, q)| (k, q.0))
        .collect()
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn usage_follows_creates_and_deletes() {
    let server = TestServer::start().await;
    let client = server.client();
    let token = CancellationToken::new();
    let controller = tokio::spawn(resource_quota::run(
        ControllerContext::new(client.clone()),
        token.clone(),
    ));
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), "default");
    let hard = [
        "pods",
        "configmaps",
        "resourcequotas",
        "requests.cpu",
        "requests.memory",
        "limits.cpu",
        "count/deployments.apps",
    ]
    .into_iter()
    // Room enough for every create: the ResourceQuota admission plugin enforces these.
    .map(|k| {
        let limit = if k.ends_with("memory") {
            "100Gi"
        } else {
            "100"
        };
        (k.to_owned(), Quantity(limit.into()))
    })
    .collect();
    quotas
        .create(
            &PostParams::default(),
            &ResourceQuota {
                metadata: meta("compute"),
                spec: Some(ResourceQuotaSpec {
                    hard: Some(hard),
                    ..ResourceQuotaSpec::default()
                }),
                ..ResourceQuota::default()
            },
        )
        .await
        .unwrap();
    let empty = expect(&[
        ("configmaps", "0"),
        ("count/deployments.apps", "0"),
        ("limits.cpu", "0"),
        ("pods", "0"),
        ("requests.cpu", "0"),
        ("requests.memory", "0"),
        ("resourcequotas", "1"),
    ]);
    // The namespace may hold a root CA config map already: count what is there.
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let base_maps = maps.list(&Default::default()).await.unwrap().items.len();
    let mut want = empty.clone();
    want.insert("configmaps".into(), base_maps.to_string());
    until_async("the first usage", || async { used(&quotas).await == want }).await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("a", "250m", "64Mi"))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("b", "500m", "64Mi"))
        .await
        .unwrap();
    maps.create(
        &PostParams::default(),
        &ConfigMap {
            metadata: meta("settings"),
            ..ConfigMap::default()
        },
    )
    .await
    .unwrap();
    let mut want = expect(&[
        ("count/deployments.apps", "0"),
        ("limits.cpu", "2"),
        ("pods", "2"),
        ("requests.cpu", "750m"),
        ("requests.memory", "128Mi"),
        ("resourcequotas", "1"),
    ]);
    want.insert("configmaps".into(), (base_maps + 1).to_string());
    until_async("usage after creates", || async {
        used(&quotas).await == want
    })
    .await;

    let gone = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    pods.delete("a", &gone).await.unwrap();
    maps.delete("settings", &gone).await.unwrap();
    let mut want = expect(&[
        ("count/deployments.apps", "0"),
        ("limits.cpu", "1"),
        ("pods", "1"),
        ("requests.cpu", "500m"),
        ("requests.memory", "64Mi"),
        ("resourcequotas", "1"),
    ]);
    want.insert("configmaps".into(), base_maps.to_string());
    until_async("usage after deletes", || async {
        used(&quotas).await == want
    })
    .await;

    // A terminal pod no longer counts.
    let mut b = pods.get("b").await.unwrap();
    b.status.get_or_insert_with(Default::default).phase = Some("Succeeded".into());
    pods.replace_status("b", &PostParams::default(), &b)
        .await
        .unwrap();
    let mut want = empty;
    want.insert("configmaps".into(), base_maps.to_string());
    until_async("usage after the pod finished", || async {
        used(&quotas).await == want
    })
    .await;

    token.cancel();
    controller.await.unwrap();
}
