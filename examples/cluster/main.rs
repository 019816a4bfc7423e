//! The whole cluster in one process, on the embedded store.
//!
//! Today it opens (or creates) the embedded store in `--data-dir` and serves the Kubernetes API
//! on it (plain HTTP, default `127.0.0.1:6443`), writing an admin kubeconfig to
//! `DATA_DIR/admin.kubeconfig`; the controllers, scheduler, kubelet and kube-proxy join it as
//! their issues land. Ctrl-C or SIGTERM stops it.
//!
//! `cluster [--data-dir DIR] [--listen ADDR:PORT]`

use std::path::PathBuf;
use std::sync::Arc;

use kube_api::server::{ApiServer, Config, kubeconfig};
use kube_store::{EmbeddedOptions, EmbeddedStore, Store};

struct Args {
    data_dir: PathBuf,
    listen: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    examples::init_tracing();
    let args = parse_args()?;
    std::fs::create_dir_all(&args.data_dir)?;
    let store =
        EmbeddedStore::open(args.data_dir.join("store"), EmbeddedOptions::default()).await?;
    let revision = store.current_revision().await?;
    tracing::info!(data_dir = %args.data_dir.display(), revision, "embedded store open");

    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    let address = listener.local_addr()?;
    let kubeconfig_path = args.data_dir.join("admin.kubeconfig");
    // Plain HTTP and no credentials until TLS and authentication land.
    std::fs::write(
        &kubeconfig_path,
        kubeconfig::plain_http(&format!("http://{address}")),
    )?;
    let server = ApiServer::new(Arc::new(store) as Arc<dyn Store>, Config::default());
    tracing::info!(%address, "serving the Kubernetes API");
    println!(
        "cluster: API server on http://{address} (store at {}, revision {revision})\n\
         cluster: kubeconfig written to {}\n\
         cluster:   export KUBECONFIG={}\n\
         cluster: Ctrl-C stops.",
        args.data_dir.display(),
        kubeconfig_path.display(),
        kubeconfig_path.display(),
    );
    server.serve(listener, examples::shutdown_signal()).await?;
    Ok(())
}

/// `--data-dir DIR` (default `.data`), `--listen ADDR:PORT` (default `127.0.0.1:6443`).
fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        data_dir: PathBuf::from(".data"),
        listen: "127.0.0.1:6443".to_owned(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--data-dir" => args.data_dir = value()?.into(),
            "--listen" => args.listen = value()?,
            "-h" | "--help" => {
                println!("usage: cluster [--data-dir DIR] [--listen ADDR:PORT]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}
