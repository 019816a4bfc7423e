//! The whole cluster in one process, on the embedded store.
//!
//! Today it opens (or creates) the embedded store in `--data-dir` and holds it until Ctrl-C; the
//! API server, controllers, scheduler, kubelet and kube-proxy join it as their issues land.

use std::path::PathBuf;

use kube_store::{EmbeddedOptions, EmbeddedStore, Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let data_dir = parse_args()?;
    let store = EmbeddedStore::open(data_dir.join("store"), EmbeddedOptions::default()).await?;
    let revision = store.current_revision().await?;
    tracing::info!(data_dir = %data_dir.display(), revision, "embedded store open");
    println!(
        "cluster: store open at {} (revision {revision}); the API server comes next. Ctrl-C stops.",
        data_dir.display()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// `--data-dir DIR` (default `.data`).
fn parse_args() -> Result<PathBuf, String> {
    let mut data_dir = PathBuf::from(".data");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-dir" => {
                data_dir = args.next().ok_or("--data-dir needs a value")?.into();
            }
            "-h" | "--help" => {
                println!("usage: cluster [--data-dir DIR]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(data_dir)
}
