//! The whole cluster in one process, on the embedded store.
//!
//! It opens (or creates) the embedded store in `--data-dir` and serves the Kubernetes API on it
//! (HTTPS, default `127.0.0.1:6443`, certificates in `DATA_DIR/pki`), writing an admin
//! kubeconfig to `DATA_DIR/admin.kubeconfig`, and runs the stock controllers
//! (`--controllers`, default `*`) as a client of that API over loopback with the admin
//! credentials; the scheduler, kubelet and kube-proxy join it as their issues land. Ctrl-C or
//! SIGTERM stops the controllers (finishing their work in flight), then the server.
//!
//! `cluster [--data-dir DIR] [--listen ADDR:PORT] [--authorization-mode MODES]
//!  [--controllers LIST] [secure-serving flags]` (authorization default `Node,RBAC`)

use std::path::PathBuf;
use std::sync::Arc;

use kube_api::client::Client;
use kube_api::client::config::{Config as ClientConfig, KubeconfigOptions};
use kube_api::client::kubeconfig::Kubeconfig;
use kube_api::server::secure::SecureServing;
use kube_api::server::{ApiServer, Config};
use kube_control::{CancellationToken, ControllerContext, manager};
use kube_store::{EmbeddedOptions, EmbeddedStore, Store};

struct Args {
    data_dir: PathBuf,
    listen: String,
    secure: SecureServing,
    authorization: String,
    controllers: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    examples::init_tracing();
    let args = parse_args()?;
    let controllers = manager::select(&args.controllers)?;
    std::fs::create_dir_all(&args.data_dir)?;
    let store =
        EmbeddedStore::open(args.data_dir.join("store"), EmbeddedOptions::default()).await?;
    let revision = store.current_revision().await?;
    tracing::info!(data_dir = %args.data_dir.display(), revision, "embedded store open");

    let mut config = Config::default();
    let secured = args.secure.build(&config)?;
    secured.configure(&mut config);
    config.authorization = examples::authorization_mode(&args.authorization)?;
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    let address = listener.local_addr()?;
    let url = examples::https_url(address);
    let kubeconfig_path = args.data_dir.join("admin.kubeconfig");
    std::fs::write(&kubeconfig_path, secured.admin_kubeconfig(&url))?;
    let server = ApiServer::new(Arc::new(store) as Arc<dyn Store>, config);
    tracing::info!(%address, "serving the Kubernetes API");
    println!(
        "cluster: API server on {url} (store at {}, revision {revision})\n\
         cluster: kubeconfig written to {}\n\
         cluster:   export KUBECONFIG={}\n\
         cluster: Ctrl-C stops.",
        args.data_dir.display(),
        kubeconfig_path.display(),
        kubeconfig_path.display(),
    );
    let shutdown = CancellationToken::new();
    let stopping = shutdown.clone();
    let serving = tokio::spawn(async move {
        server
            .serve_tls(listener, secured.tls, stopping.cancelled_owned())
            .await
    });
    let client_config = ClientConfig::from_kubeconfig(
        &Kubeconfig::read(&kubeconfig_path)?,
        &KubeconfigOptions::default(),
    )?;
    let ctx = ControllerContext::new(Client::try_from(client_config)?);
    let names: Vec<&str> = controllers.iter().map(|c| c.name).collect();
    tracing::info!(controllers = names.join(","), "starting the controllers");
    let controllers_done = CancellationToken::new();
    let running = {
        let token = controllers_done.clone();
        tokio::spawn(async move { manager::run_controllers(ctx, &controllers, token).await })
    };
    examples::shutdown_signal().await;
    controllers_done.cancel();
    let _ = running.await;
    shutdown.cancel();
    serving.await??;
    Ok(())
}

/// `--data-dir DIR` (default `.data`), `--listen ADDR:PORT` (default `127.0.0.1:6443`),
/// `--authorization-mode` (default `Node,RBAC`), `--controllers` (default `*`), and the
/// secure-serving flags.
fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        data_dir: PathBuf::from(".data"),
        listen: "127.0.0.1:6443".to_owned(),
        secure: SecureServing::new(""),
        authorization: examples::DEFAULT_AUTHORIZATION_MODE.to_owned(),
        controllers: "*".to_owned(),
    };
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
            "--listen" => args.listen = value()?,
            "--authorization-mode" => args.authorization = value()?,
            "--controllers" => args.controllers = value()?,
            "-h" | "--help" => {
                println!(
                    "usage: cluster [--data-dir DIR] [--listen ADDR:PORT] \
                     [--authorization-mode MODES] [--controllers LIST] {}",
                    examples::SECURE_SERVING_USAGE
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    args.secure.pki_dir = args.data_dir.join("pki");
    Ok(args)
}
