//! The garbage collector and the namespace controller against the in-process server.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, WatchEvent};
use kube_api::client::discovery::ApiResource;
use kube_api::client::dynamic::DynamicApi;
use kube_api::client::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams,
};
use kube_api::testing::TestServer;
use kube_core::dynamic::DynamicObject;

use common::{eventually, play_nodes, start_controller};

const WAIT: Duration = Duration::from_secs(60);

async fn config_map(api: &Api<ConfigMap>, name: &str, owners: &[&ConfigMap]) -> ConfigMap {
    let refs: Vec<OwnerReference> = owners
        .iter()
        .map(|o| OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: o.metadata.name.clone().unwrap(),
            uid: o.metadata.uid.clone().unwrap(),
            block_owner_deletion: Some(true),
            controller: None,
        })
        .collect();
    api.create(
        &PostParams::default(),
        &ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                owner_references: (!refs.is_empty()).then_some(refs),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        },
    )
    .await
    .unwrap()
}

async fn gone(api: &Api<ConfigMap>, name: &str) {
    eventually(&format!("{name} deleted"), WAIT, || async {
        api.get_opt(name).await.unwrap().is_none().then_some(())
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn background_foreground_orphan_and_cycles() {
    let server = TestServer::start().await;
    let client = server.client();
    let (stop, task) = start_controller(client.clone(), "garbage-collector");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    // Background: the owner goes at once, its dependents after.
    let owner = config_map(&cms, "bg-owner", &[]).await;
    config_map(&cms, "bg-a", &[&owner]).await;
    let grandchild_owner = config_map(&cms, "bg-b", &[&owner]).await;
    config_map(&cms, "bg-c", &[&grandchild_owner]).await;
    cms.delete("bg-owner", &DeleteParams::background())
        .await
        .unwrap();
    assert!(cms.get_opt("bg-owner").await.unwrap().is_none());
    for n in ["bg-a", "bg-b", "bg-c"] {
        gone(&cms, n).await;
    }

    // A dependent with a second owner that stays is kept, without the reference to the
    // owner that went.
    let a = config_map(&cms, "two-a", &[]).await;
    let b = config_map(&cms, "two-b", &[]).await;
    config_map(&cms, "two-child", &[&a, &b]).await;
    cms.delete("two-a", &DeleteParams::background())
        .await
        .unwrap();
    eventually("reference to the deleted owner dropped", WAIT, || async {
        let c = cms.get("two-child").await.unwrap();
        let refs = c.metadata.owner_references.unwrap_or_default();
        (refs.len() == 1 && refs[0].name == "two-b").then_some(())
    })
    .await;

    // Foreground: the owner waits, with the finalizer, until its dependents are gone.
    let mut watch = cms.watch(&WatchParams::default()).await.unwrap();
    let owner = config_map(&cms, "fg-owner", &[]).await;
    let child = config_map(&cms, "fg-a", &[&owner]).await;
    config_map(&cms, "fg-b", &[&child]).await;
    cms.delete("fg-owner", &DeleteParams::foreground())
        .await
        .unwrap();
    let pending = cms.get_opt("fg-owner").await.unwrap();
    if let Some(p) = pending {
        assert!(p.metadata.deletion_timestamp.is_some());
        assert!(
            p.metadata
                .finalizers
                .unwrap()
                .contains(&"foregroundDeletion".to_owned())
        );
    }
    gone(&cms, "fg-owner").await;
    let mut order = Vec::new();
    while order.len() < 3 {
        match tokio::time::timeout(WAIT, watch.next()).await {
            Ok(Some(Ok(WatchEvent::Deleted(o)))) => {
                let name = o.metadata.name.unwrap();
                if name.starts_with("fg-") {
                    order.push(name);
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("watch ended: {other:?}"),
        }
    }
    assert_eq!(order, ["fg-b", "fg-a", "fg-owner"], "dependents first");

    // Orphan: the owner goes, its dependents stay without the reference.
    let owner = config_map(&cms, "or-owner", &[]).await;
    config_map(&cms, "or-a", &[&owner]).await;
    cms.delete("or-owner", &DeleteParams::orphan())
        .await
        .unwrap();
    gone(&cms, "or-owner").await;
    let a = cms.get("or-a").await.unwrap();
    assert!(a.metadata.owner_references.unwrap_or_default().is_empty());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(cms.get_opt("or-a").await.unwrap().is_some(), "orphans stay");

    // A cycle in foreground deletion does not hang.
    let x = config_map(&cms, "cy-x", &[]).await;
    let y = config_map(&cms, "cy-y", &[&x]).await;
    let refs = serde_json::json!({"metadata": {"ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "cy-y",
        "uid": y.metadata.uid, "blockOwnerDeletion": true,
    }]}});
    cms.patch("cy-x", &PatchParams::default(), &Patch::Merge(refs))
        .await
        .unwrap();
    cms.delete("cy-x", &DeleteParams::foreground())
        .await
        .unwrap();
    gone(&cms, "cy-x").await;
    gone(&cms, "cy-y").await;

    stop.cancel();
    task.await.unwrap();
}

fn widget_crd() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            }],
        },
    })
}

fn owned_by(meta: &ObjectMeta, api_version: &str, kind: &str) -> serde_json::Value {
    serde_json::json!([{
        "apiVersion": api_version, "kind": kind, "name": meta.name, "uid": meta.uid,
        "blockOwnerDeletion": true,
    }])
}

#[tokio::test(start_paused = true)]
async fn custom_resources_are_collected_both_ways() {
    let server = TestServer::start().await;
    let client = server.client();
    // Started before the CRD exists: its resource is found by a later discovery.
    let (stop, task) = start_controller(client.clone(), "garbage-collector");
    let crds: Api<DynamicObject> = Api::with_request(
        client.clone(),
        kube_api::client::Request::for_resource(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            None,
        ),
        None,
    );
    let crd: DynamicObject = serde_json::from_value(widget_crd()).unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let widget = ApiResource {
        group: "example.com".into(),
        version: "v1".into(),
        api_version: "example.com/v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
        singular: "widget".into(),
        short_names: Vec::new(),
        namespaced: true,
        verbs: Vec::new(),
        subresources: Vec::new(),
        preferred: true,
    };
    let widgets = DynamicApi::namespaced(client.clone(), &widget, "default");
    eventually("widgets served", WAIT, || async {
        widgets.list(&ListParams::default()).await.ok().map(|_| ())
    })
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let new_widget = |name: &str, owners: serde_json::Value| {
        let mut v = serde_json::json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": name}, "spec": {}});
        if !owners.is_null() {
            v["metadata"]["ownerReferences"] = owners;
        }
        serde_json::from_value::<DynamicObject>(v).unwrap()
    };

    // A config map owned by a widget goes with it.
    let w1 = widgets
        .create(
            &PostParams::default(),
            &new_widget("w1", serde_json::Value::Null),
        )
        .await
        .unwrap();
    let mut cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "of-w1", "ownerReferences": owned_by(&w1.metadata, "example.com/v1", "Widget")}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    // A widget owned by a config map goes with it.
    cm = config_map(&cms, "widget-owner", &[]).await;
    widgets
        .create(
            &PostParams::default(),
            &new_widget("w2", owned_by(&cm.metadata, "v1", "ConfigMap")),
        )
        .await
        .unwrap();
    // Let a discovery pass pick the widgets up.
    tokio::time::sleep(Duration::from_secs(35)).await;

    widgets
        .delete("w1", &DeleteParams::background())
        .await
        .unwrap();
    gone(&cms, "of-w1").await;
    cms.delete("widget-owner", &DeleteParams::background())
        .await
        .unwrap();
    eventually("w2 collected", WAIT, || async {
        widgets.get_opt("w2").await.unwrap().is_none().then_some(())
    })
    .await;

    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn deleting_a_deployment_cascades_as_asked() {
    let server = TestServer::start().await;
    let client = server.client();
    let nodes = play_nodes(client.clone(), Duration::ZERO);
    let controllers: Vec<_> = ["garbage-collector", "deployment", "replicaset"]
        .into_iter()
        .map(|c| start_controller(client.clone(), c))
        .collect();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .unwrap();
    let count =
        |api: Api<Pod>| async move { api.list(&ListParams::default()).await.unwrap().items.len() };

    for policy in [DeleteParams::foreground(), DeleteParams::background()] {
        deployments
            .create(&PostParams::default(), &d)
            .await
            .unwrap();
        eventually("two pods", WAIT, || async {
            (count(pods.clone()).await == 2).then_some(())
        })
        .await;
        deployments.delete("web", &policy).await.unwrap();
        eventually("everything gone", WAIT, || async {
            let left = count(pods.clone()).await
                + rss.list(&ListParams::default()).await.unwrap().items.len()
                + deployments
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                    .len();
            (left == 0).then_some(())
        })
        .await;
    }

    // Orphan: the ReplicaSet stays, released, and keeps its pods.
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    eventually("two pods", WAIT, || async {
        (count(pods.clone()).await == 2).then_some(())
    })
    .await;
    deployments
        .delete("web", &DeleteParams::orphan())
        .await
        .unwrap();
    eventually("deployment gone, replica set released", WAIT, || async {
        let d = deployments.get_opt("web").await.unwrap();
        let list = rss.list(&ListParams::default()).await.unwrap().items;
        (d.is_none()
            && list.len() == 1
            && list[0]
                .metadata
                .owner_references
                .clone()
                .unwrap_or_default()
                .is_empty())
        .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count(pods.clone()).await, 2);

    for (stop, task) in controllers {
        stop.cancel();
        task.await.unwrap();
    }
    nodes.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_namespace_deletion_empties_and_removes_the_namespace() {
    let server = TestServer::start().await;
    let client = server.client();
    let (stop, task) = start_controller(client.clone(), "namespace");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some("doomed".into()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
        )
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    let services: Api<Service> = Api::namespaced(client.clone(), "doomed");
    config_map(&cms, "a", &[]).await;
    let held = ConfigMap {
        metadata: ObjectMeta {
            name: Some("held".into()),
            finalizers: Some(vec!["example.com/hold".into()]),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    cms.create(&PostParams::default(), &held).await.unwrap();
    services
        .create(
            &PostParams::default(),
            &Service {
                metadata: ObjectMeta {
                    name: Some("svc".into()),
                    ..ObjectMeta::default()
                },
                spec: Some(ServiceSpec {
                    ports: Some(vec![ServicePort {
                        port: 80,
                        ..ServicePort::default()
                    }]),
                    selector: Some(BTreeMap::from([("app".into(), "x".into())])),
                    ..ServiceSpec::default()
                }),
                ..Service::default()
            },
        )
        .await
        .unwrap();

    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    // The finalizer on "held" keeps the namespace, and the conditions say why.
    let ns = eventually("finalizers-remaining condition", WAIT, || async {
        let ns = namespaces.get("doomed").await.unwrap();
        let conds = ns.status.as_ref()?.conditions.clone()?;
        conds
            .iter()
            .find(|c| c.type_ == "NamespaceFinalizersRemaining" && c.status == "True")
            .map(|_| ns.clone())
    })
    .await;
    let conds = ns.status.unwrap().conditions.unwrap();
    let by_type: BTreeMap<&str, &str> = conds
        .iter()
        .map(|c| (c.type_.as_str(), c.reason.as_deref().unwrap_or_default()))
        .collect();
    assert_eq!(by_type["NamespaceContentRemaining"], "SomeResourcesRemain");
    assert_eq!(
        by_type["NamespaceFinalizersRemaining"],
        "SomeFinalizersRemain"
    );
    assert_eq!(by_type["NamespaceDeletionContentFailure"], "ContentDeleted");
    assert!(cms.get_opt("a").await.unwrap().is_none());
    assert!(services.get_opt("svc").await.unwrap().is_none());

    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually("namespace gone", WAIT, || async {
        namespaces
            .get_opt("doomed")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;

    stop.cancel();
    task.await.unwrap();
}
