//! The controller scenarios against the API server on etcd (the shared test etcd,
//! `KUBE_TEST_ETCD_ENDPOINTS`, or a private one), on real time: a rollout with its bounds and
//! rollback, then a cascading delete by the garbage collector.

mod common;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube_api::client::{Api, Client, DeleteParams, ListParams};
use kube_api::server::{ApiServer, Config};
use kube_store::Store;
use kube_store::test_util::etcd::shared_store;

use common::{eventually, play_nodes, start_controller};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_and_cascading_delete_on_etcd() {
    let store = shared_store().await.expect("test etcd");
    let server = ApiServer::new(Arc::new(store) as Arc<dyn Store>, Config::default());
    server.ensure_system_namespaces().await.unwrap();
    let client = Client::new(server.clone());
    let nodes = play_nodes(client.clone(), Duration::from_millis(100));
    let controllers: Vec<_> = ["deployment", "replicaset", "garbage-collector"]
        .into_iter()
        .map(|c| start_controller(client.clone(), c))
        .collect();

    common::workloads::create_scale_roll_and_roll_back(client.clone()).await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    deployments
        .delete("web", &DeleteParams::background())
        .await
        .unwrap();
    eventually("everything gone", Duration::from_secs(60), || async {
        let left = pods.list(&ListParams::default()).await.unwrap().items.len()
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

    for (stop, task) in controllers {
        stop.cancel();
        task.await.unwrap();
    }
    nodes.cancel();
}
