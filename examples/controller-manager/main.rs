//! The controller manager: the stock controllers against the API server a kubeconfig names.
//!
//! `controller-manager [--kubeconfig PATH] [--controllers=*,-name] [--leader-elect[=true|false]]`
//!
//! Without `--kubeconfig` the client is inferred (`$KUBECONFIG`, `~/.kube/config`, then the
//! pod's service account). With leader election (the default, as upstream) only the holder of
//! the Lease `kube-system/kube-controller-manager` runs controllers; losing it exits non-zero.

use std::path::PathBuf;

use kube_api::client::Client;
use kube_api::client::config::{Config, KubeconfigOptions};
use kube_api::client::kubeconfig::Kubeconfig;
use kube_control::{CancellationToken, ControllerContext, manager};

struct Args {
    kubeconfig: Option<PathBuf>,
    controllers: String,
    leader_elect: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    examples::init_tracing();
    let args = parse_args()?;
    let controllers = manager::select(&args.controllers)?;
    let config = match &args.kubeconfig {
        Some(path) => {
            Config::from_kubeconfig(&Kubeconfig::read(path)?, &KubeconfigOptions::default())?
        }
        None => Config::infer()?,
    };
    let client = Client::try_from(config)?;
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        examples::shutdown_signal().await;
        signal.cancel();
    });
    let names: Vec<&str> = controllers.iter().map(|c| c.name).collect();
    println!("controller-manager: running {}", names.join(","));
    if args.leader_elect {
        let identity = format!(
            "{}_{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "controller-manager".to_owned()),
            std::process::id()
        );
        manager::run_leader_elected(client, identity, &controllers, shutdown).await?;
    } else {
        manager::run_controllers(ControllerContext::new(client), &controllers, shutdown).await;
    }
    Ok(())
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        kubeconfig: None,
        controllers: "*".to_owned(),
        leader_elect: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, joined) = examples::split_flag(&arg);
        let mut joined = joined.map(str::to_owned);
        match flag {
            "--kubeconfig" => {
                args.kubeconfig = Some(
                    joined
                        .take()
                        .or_else(|| it.next())
                        .ok_or("--kubeconfig needs a value")?
                        .into(),
                )
            }
            "--controllers" => {
                args.controllers = joined
                    .take()
                    .or_else(|| it.next())
                    .ok_or("--controllers needs a value")?
            }
            // A boolean flag: `--leader-elect` alone is true, as in Go's flag package.
            "--leader-elect" => {
                args.leader_elect = match joined.as_deref() {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(other) => return Err(format!("--leader-elect={other}: true or false")),
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: controller-manager [--kubeconfig PATH] [--controllers=*,-name] \
                     [--leader-elect[=true|false]]\ncontrollers: {}",
                    kube_control::stock()
                        .iter()
                        .map(|c| c.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}
