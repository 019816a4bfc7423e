//! The WebApp operator: a `WebApp` custom resource whose controller creates and owns a
//! Deployment and a Service and reports availability (the logic is in
//! [`examples::operator`]).
//!
//! `operator [--kubeconfig PATH]` (default: `$KUBECONFIG`, `~/.kube/config`, or in-cluster).

use std::path::PathBuf;

use kube_api::client::{Client, Config, Kubeconfig, KubeconfigOptions};
use kube_control::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    examples::init_tracing();
    let mut kubeconfig: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match examples::split_flag(&arg) {
            ("--kubeconfig", Some(v)) => kubeconfig = Some(v.into()),
            ("--kubeconfig", None) => {
                kubeconfig = Some(args.next().ok_or("--kubeconfig needs a path")?.into())
            }
            (other, _) => {
                return Err(
                    format!("unknown flag {other}; usage: operator [--kubeconfig PATH]").into(),
                );
            }
        }
    }
    let config = match kubeconfig {
        Some(path) => {
            Config::from_kubeconfig(&Kubeconfig::read(&path)?, &KubeconfigOptions::default())?
        }
        None => Config::infer()?,
    };
    let client = Client::try_from(config)?;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        examples::shutdown_signal().await;
        stop.cancel();
    });
    examples::operator::run(client, shutdown).await?;
    Ok(())
}
