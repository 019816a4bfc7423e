//! The API server on its own: the Kubernetes REST API over the embedded store (or memory, or
//! etcd), on HTTPS with client-certificate and token authentication.
//!
//! `apiserver --data-dir DIR --listen ADDR:PORT --write-kubeconfig PATH
//!  [--store embedded|memory|etcd --etcd-endpoints URLS] [--authorization-mode MODES]
//!  [secure-serving flags]`
//!
//! `--authorization-mode` (default `Node,RBAC`) names the authorizers in order; with RBAC the
//! default roles and bindings are created at start.
//!
//! On first start it creates its certificates in `DATA_DIR/pki` (reused after); the kubeconfig
//! it writes holds the CA and the admin client certificate.

use std::path::PathBuf;
use std::sync::Arc;

use kube_api::server::secure::SecureServing;
use kube_api::server::{ApiServer, Config};
use kube_store::{EmbeddedOptions, EmbeddedStore, EtcdOptions, EtcdStore, MemoryStore, Store};

struct Args {
    data_dir: PathBuf,
    listen: String,
    kubeconfig: Option<PathBuf>,
    store: String,
    etcd_endpoints: Vec<String>,
    secure: SecureServing,
    authorization: String,
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
    let mut config = Config::default();
    let secured = args.secure.build(&config)?;
    secured.configure(&mut config);
    config.authorization = examples::authorization_mode(&args.authorization)?;
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    let address = listener.local_addr()?;
    let url = examples::https_url(address);
    if let Some(path) = &args.kubeconfig {
        std::fs::write(path, secured.admin_kubeconfig(&url))?;
    }
    tracing::info!(%address, store = %args.store, "serving the Kubernetes API");
    println!("apiserver: listening on {url}");
    let server = ApiServer::new(store, config);
    server
        .serve_tls(listener, secured.tls, examples::shutdown_signal())
        .await?;
    Ok(())
}

fn parse_args() -> Result<Args, String> {
    let data_dir = PathBuf::from(".data");
    let mut args = Args {
        secure: SecureServing::new(data_dir.join("pki")),
        data_dir,
        listen: "127.0.0.1:6443".to_owned(),
        kubeconfig: None,
        store: "embedded".to_owned(),
        etcd_endpoints: Vec::new(),
        authorization: examples::DEFAULT_AUTHORIZATION_MODE.to_owned(),
    };
    let mut pki_dir_set = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, joined) = examples::split_flag(&arg);
        let mut joined = joined.map(str::to_owned);
        let mut value = || {
            joined
                .take()
                .or_else(|| it.next())
                .ok_or(format!("{flag} needs a value"))
        };
        if examples::secure_serving_flag(&mut args.secure, flag, &mut value)? {
            continue;
        }
        match flag {
            "--data-dir" => args.data_dir = value()?.into(),
            "--cert-dir" => {
                args.secure.pki_dir = value()?.into();
                pki_dir_set = true;
            }
            "--listen" => args.listen = value()?,
            "--authorization-mode" => args.authorization = value()?,
            "--write-kubeconfig" => args.kubeconfig = Some(value()?.into()),
            "--store" => args.store = value()?,
            "--etcd-endpoints" => {
                args.etcd_endpoints = value()?.split(',').map(str::to_owned).collect();
            }
            "-h" | "--help" => {
                println!(
                    "usage: apiserver [--data-dir DIR] [--cert-dir DIR] [--listen ADDR:PORT] \
                     [--write-kubeconfig PATH] [--store embedded|memory|etcd] \
                     [--etcd-endpoints URLS] [--authorization-mode MODES] {}",
                    examples::SECURE_SERVING_USAGE
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if !pki_dir_set {
        args.secure.pki_dir = args.data_dir.join("pki");
    }
    Ok(args)
}
