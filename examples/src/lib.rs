//! What every example binary shares: logging set-up and the shutdown signal.
//!
//! The binaries stay thin: parse flags, pick the concrete parts, call the libraries. What a
//! binary needs beyond that lives in a module here ([`operator`]).

pub mod operator;

/// Logs to stderr with `RUST_LOG` as the filter (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down");
}

/// The flags of an argument list, `--flag value` and `--flag=value` alike, as
/// (flag, value-if-joined) pairs; the caller takes separate values from the iterator.
pub fn split_flag(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
        _ => (arg, None),
    }
}

/// Applies one of kube-apiserver's secure-serving and authentication flags to `options`:
/// `--tls-san NAME` (repeatable), `--tls-cert-file`, `--tls-private-key-file`,
/// `--client-ca-file`, `--token-auth-file`, `--service-account-issuer`,
/// `--anonymous-auth=true|false`. Returns false for
/// another flag.
pub fn secure_serving_flag(
    options: &mut kube_api::server::secure::SecureServing,
    flag: &str,
    value: &mut dyn FnMut() -> Result<String, String>,
) -> Result<bool, String> {
    use kube_api::server::authn::Anonymous;
    match flag {
        "--tls-san" => options.tls_sans.push(value()?),
        "--tls-cert-file" => options.tls_cert_file = Some(value()?.into()),
        "--tls-private-key-file" => options.tls_private_key_file = Some(value()?.into()),
        "--client-ca-file" => options.client_ca_file = Some(value()?.into()),
        "--token-auth-file" => options.token_auth_file = Some(value()?.into()),
        "--service-account-issuer" => options.service_account_issuer = value()?,
        "--anonymous-auth" => {
            options.anonymous = match value()?.as_str() {
                "true" => Anonymous::Enabled,
                "false" => Anonymous::Disabled,
                other => return Err(format!("--anonymous-auth={other}: true or false")),
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The usage text of [`secure_serving_flag`]'s flags.
pub const SECURE_SERVING_USAGE: &str = "[--tls-san NAME]... [--tls-cert-file FILE \
     --tls-private-key-file FILE] [--client-ca-file FILE] [--token-auth-file FILE] \
     [--service-account-issuer URL] [--anonymous-auth=true|false]";

/// The value of `--authorization-mode` when it is not given: upstream kubeadm's `Node,RBAC`.
pub const DEFAULT_AUTHORIZATION_MODE: &str = "Node,RBAC";

/// Parses `--authorization-mode` (`Node,RBAC`, `AlwaysAllow`, ...).
pub fn authorization_mode(value: &str) -> Result<kube_api::server::authz::Authorization, String> {
    kube_api::server::authz::Authorization::parse(value)
        .map_err(|e| format!("--authorization-mode={value}: {e}"))
}

/// The URL clients reach a server listening on `address` at: a wildcard address becomes
/// loopback.
pub fn https_url(address: std::net::SocketAddr) -> String {
    let mut address = address;
    if address.ip().is_unspecified() {
        address.set_ip(match address.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("https://{address}")
}
