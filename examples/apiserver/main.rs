//! The API server on its own: the Kubernetes REST API over the embedded store (or memory, or
//! etcd), on plain HTTP.
//!
//! `apiserver --data-dir DIR --listen ADDR:PORT --write-kubeconfig PATH
//!  [--store embedded|memory|etcd --etcd-endpoints URLS]`

use std::path::PathBuf;
use std::sync::Arc;

use kube_api::server::{ApiServer, Config, kubeconfig};
use kube_store::{EmbeddedOptions, EmbeddedStore, EtcdOptions, EtcdStore, MemoryStore, Store};

struct Args {
    data_dir: PathBuf,
    listen: String,
    kubeconfig: Option<PathBuf>,
    store: String,
    etcd_endpoints: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    examples::init_tracing();
    let args = parse_args()?;
    let store: Arc<dyn Store> = match args.store.as_str() {
        "embedded" => Arc::new(
            EmbeddedStore::open(args.data_dir.join("store"), EmbeddedOptions::default()).await?,
        ),
        "memory" => Arc::new(MemoryStore::new()),
        "etcd" => {
            Arc::new(EtcdStore::connect(EtcdOptions::new(args.etcd_endpoints.clone())).await?)
        }
        other => {
            return Err(format!("unknown --store {other:?} (embedded, memory or etcd)").into());
        }
    };
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    let address = listener.local_addr()?;
    if let Some(path) = &args.kubeconfig {
        // Plain HTTP and no credentials until TLS and authentication land.
        std::fs::write(path, kubeconfig::plain_http(&format!("http://{address}")))?;
    }
    tracing::info!(%address, store = %args.store, "serving the Kubernetes API");
    println!("apiserver: listening on http://{address}");
    let server = ApiServer::new(store, Config::default());
    server.serve(listener, examples::shutdown_signal()).await?;
    Ok(())
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        data_dir: PathBuf::from(".data"),
        listen: "127.0.0.1:6443".to_owned(),
        kubeconfig: None,
        store: "embedded".to_owned(),
        etcd_endpoints: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--data-dir" => args.data_dir = value()?.into(),
            "--listen" => args.listen = value()?,
            "--write-kubeconfig" => args.kubeconfig = Some(value()?.into()),
            "--store" => args.store = value()?,
            "--etcd-endpoints" => {
                args.etcd_endpoints = value()?.split(',').map(str::to_owned).collect();
            }
            "-h" | "--help" => {
                println!(
                    "usage: apiserver [--data-dir DIR] [--listen ADDR:PORT] [--write-kubeconfig PATH] \
                     [--store embedded|memory|etcd] [--etcd-endpoints URLS]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}
