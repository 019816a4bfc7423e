//! The client acceptance suite of kube-api (`kube-api/tests/client/suite.rs`, the same cases
//! the in-process, HTTP and HTTPS transports run) against the apiserver binary over HTTPS,
//! configured only from the kubeconfig the binary writes. The suite's custom resource,
//! CronTab, is installed as a CustomResourceDefinition, as a user would.

mod common;

#[allow(dead_code)] // the in-process test server of the suite is not used here
#[path = "../../kube-api/tests/client/suite.rs"]
mod suite;

use std::time::Duration;

use kube_api::client::{Client, Config, Discovery, Kubeconfig, KubeconfigOptions, PostParams};
use kube_core::dynamic::DynamicObject;

use common::Apiserver;

/// The suite's CronTab (stable.example.com/v1, short name `ct`, a status subresource).
fn crontab_crd() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab",
                      "shortNames": ["ct"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            }],
        },
    })
}

/// Starts the binary on the embedded store in a fresh data directory, installs CronTab and
/// waits until discovery serves it.
async fn setup() -> (Client, (Apiserver, tempfile::TempDir)) {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("admin.kubeconfig");
    let server = Apiserver::start(&[
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--write-kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    let kc = Kubeconfig::read(&kubeconfig).unwrap();
    let config = Config::from_kubeconfig(&kc, &KubeconfigOptions::default()).unwrap();
    assert_eq!(config.cluster_url.scheme_str(), Some("https"));
    let client = Client::try_from(config).unwrap();

    let discovery = Discovery::run(&client).await.unwrap();
    let crds = kube_api::client::DynamicApi::all(
        client.clone(),
        discovery
            .resolve("customresourcedefinitions.apiextensions.k8s.io")
            .expect("CRDs are served"),
    );
    let crd: DynamicObject = serde_json::from_value(crontab_crd()).unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    for _ in 0..200 {
        let discovery = Discovery::run(&client).await.unwrap();
        if discovery.resolve("ct").is_some() {
            return (client, (server, dir));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the CronTab CRD was never served");
}

suite::client_suite!(setup);
