//! Start-up of the in-process test server (`kube_api::testing::TestServer`): how long until a
//! test holds a client, until its first answered call, and with the loopback listener and
//! kubeconfig for out-of-process tools.
//!
//! Run with `cargo bench -p benches --bench test_server`.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube_api::client::{Api, PostParams};
use kube_api::testing::TestServer;

/// Start-ups per row.
const RUNS: usize = 200;

fn row(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "| {name:<44} | {:>9.3} | {:>9.3} | {:>9.3} | {:>9.3} |",
        at(0.0).as_secs_f64() * 1e3,
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        println!("test server start-up, {RUNS} runs each, milliseconds");
        println!(
            "| {:<44} | {:>9} | {:>9} | {:>9} | {:>9} |",
            "step", "min", "median", "p99", "max"
        );
        println!(
            "|{:-<46}|{:-<11}|{:-<11}|{:-<11}|{:-<11}|",
            "", "", "", "", ""
        );

        let mut start = Vec::with_capacity(RUNS);
        let mut first_call = Vec::with_capacity(RUNS);
        for i in 0..RUNS {
            let t = Instant::now();
            let server = TestServer::start().await;
            start.push(t.elapsed());
            let maps: Api<ConfigMap> = Api::default_namespaced(server.client());
            let mut cm = ConfigMap::default();
            cm.metadata.name = Some(format!("cm-{i}"));
            maps.create(&PostParams::default(), &cm)
                .await
                .expect("create");
            first_call.push(t.elapsed());
        }
        row("start (MemoryStore, system namespaces)", start);
        row("start + first create", first_call);

        let dir = tempfile::tempdir().expect("tempdir");
        let mut loopback = Vec::with_capacity(RUNS);
        for i in 0..RUNS {
            let t = Instant::now();
            let server = TestServer::start().await;
            let served = server
                .serve_loopback(&dir.path().join(i.to_string()))
                .await
                .expect("serve");
            loopback.push(t.elapsed());
            served.stop().await;
        }
        row("start + loopback listener + kubeconfig", loopback);
    });
}
