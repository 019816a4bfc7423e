//! [`Config`]: where the API is and how to authenticate, from a kubeconfig or the pod's
//! service account; [`Config::infer`] tries `$KUBECONFIG`, `~/.kube/config`, then in-cluster.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;

use super::kubeconfig::{self, ExecConfig, Kubeconfig};

/// Errors of building a client configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig files could not be read.
    #[error(transparent)]
    Kubeconfig(#[from] kubeconfig::Error),
    /// A context, cluster or user named in the kubeconfig does not exist, or none is selected.
    #[error("kubeconfig: {0}")]
    Missing(String),
    /// A setting is present but unusable (a bad URL, bad base64, a proxy).
    #[error("kubeconfig: {0}")]
    Invalid(String),
    /// A referenced file (CA, certificate, key, token) could not be read.
    #[error("reading {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not running in a pod: `KUBERNETES_SERVICE_HOST` / `_PORT` are unset.
    #[error("not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")]
    NotInCluster,
    /// No way to configure the client was found.
    #[error("no configuration found: {kubeconfig}; and {in_cluster}")]
    NoConfig {
        /// Why the kubeconfig failed.
        kubeconfig: Box<Error>,
        /// Why in-cluster configuration failed.
        in_cluster: Box<Error>,
    },
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The in-cluster service account directory.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How requests authenticate.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Auth {
    /// Not at all (or only with a client certificate).
    #[default]
    None,
    /// `Authorization: Basic`.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// A bearer token read from a file, re-read every minute (projected service account tokens
    /// rotate).
    TokenFile(PathBuf),
    /// A bearer token from an exec plugin, cached until it expires and refreshed on 401.
    Exec {
        /// The plugin.
        exec: ExecConfig,
        /// The cluster, passed in `KUBERNETES_EXEC_INFO` when the plugin asks for it.
        cluster: Box<kubeconfig::Cluster>,
    },
}

/// A client certificate and key, PEM.
#[derive(Clone, PartialEq)]
pub struct Identity {
    /// The certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// The private key, PEM.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

/// Where the API is and how to reach it. Build a [`Client`](super::Client) with
/// `Client::try_from(config)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The server, `http(s)://host:port[/prefix]`.
    pub cluster_url: http::Uri,
    /// The namespace of `Api::default_namespaced`.
    pub default_namespace: String,
    /// CA certificates (PEM) the server certificate must chain to; empty: the server must
    /// present one of `root_certs`, so HTTPS without a CA fails unless
    /// [`Config::accept_invalid_certs`].
    pub root_certs: Vec<u8>,
    /// `insecure-skip-tls-verify`.
    pub accept_invalid_certs: bool,
    /// `tls-server-name`.
    pub tls_server_name: Option<String>,
    /// A client certificate to present.
    pub identity: Option<Identity>,
    /// How requests authenticate.
    pub auth: Auth,
    /// A timeout on connecting.
    pub connect_timeout: Option<Duration>,
}

/// Which entries of a kubeconfig to use, overriding its `current-context`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeconfigOptions {
    /// The context (default: `current-context`).
    pub context: Option<String>,
    /// The cluster (default: the context's).
    pub cluster: Option<String>,
    /// The user (default: the context's).
    pub user: Option<String>,
}

impl Config {
    /// A configuration for `cluster_url` with no credentials.
    pub fn new(cluster_url: http::Uri) -> Self {
        Self {
            cluster_url,
            default_namespace: "default".into(),
            root_certs: Vec::new(),
            accept_invalid_certs: false,
            tls_server_name: None,
            identity: None,
            auth: Auth::None,
            connect_timeout: Some(Duration::from_secs(30)),
        }
    }

    /// `$KUBECONFIG`, else `~/.kube/config`, else the pod's service account.
    pub fn infer() -> Result<Self> {
        match Kubeconfig::read_env() {
            Ok(kc) => Self::from_kubeconfig(&kc, &KubeconfigOptions::default()),
            Err(kubeconfig::Error::NotFound) => {
                Self::incluster().map_err(|in_cluster| Error::NoConfig {
                    kubeconfig: Box::new(Error::Kubeconfig(kubeconfig::Error::NotFound)),
                    in_cluster: Box::new(in_cluster),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The configuration `options` select from `kubeconfig`.
    pub fn from_kubeconfig(kubeconfig: &Kubeconfig, options: &KubeconfigOptions) -> Result<Self> {
        let context_name = options
            .context
            .clone()
            .or_else(|| kubeconfig.current_context.clone().filter(|c| !c.is_empty()))
            .ok_or_else(|| {
                Error::Missing("no current-context is set and no context was chosen".into())
            })?;
        let context = kubeconfig
            .context(&context_name)
            .ok_or_else(|| Error::Missing(format!("context {context_name:?} does not exist")))?;
        let cluster_name = options.cluster.as_deref().unwrap_or(&context.cluster);
        let cluster = kubeconfig
            .cluster(cluster_name)
            .ok_or_else(|| Error::Missing(format!("cluster {cluster_name:?} does not exist")))?;
        let user_name = options.user.as_deref().unwrap_or(&context.user);
        let user = if user_name.is_empty() {
            kubeconfig::AuthInfo::default()
        } else {
            kubeconfig
                .auth_info(user_name)
                .cloned()
                .ok_or_else(|| Error::Missing(format!("user {user_name:?} does not exist")))?
        };

        let server = cluster
            .server
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::Missing(format!("cluster {cluster_name:?} has no server")))?;
        let cluster_url: http::Uri = server
            .parse()
            .map_err(|e| Error::Invalid(format!("server {server:?} is not a URL: {e}")))?;
        if !matches!(cluster_url.scheme_str(), Some("http" | "https")) {
            return Err(Error::Invalid(format!(
                "server {server:?} must be http:// or https://"
            )));
        }
        if cluster.proxy_url.as_deref().is_some_and(|p| !p.is_empty()) {
            return Err(Error::Invalid(format!(
                "cluster {cluster_name:?} sets proxy-url, which this client does not support; reach the server directly"
            )));
        }
        if user.auth_provider.is_some() {
            return Err(Error::Invalid(format!(
                "user {user_name:?} uses auth-provider, which upstream removed; use an exec credential plugin"
            )));
        }

        let mut config = Self::new(cluster_url);
        if let Some(ns) = context.namespace.as_deref().filter(|n| !n.is_empty()) {
            config.default_namespace = ns.to_owned();
        }
        config.root_certs = data_or_file(
            cluster.certificate_authority_data.as_deref(),
            cluster.certificate_authority.as_deref(),
            "certificate-authority-data",
        )?
        .unwrap_or_default();
        config.accept_invalid_certs = cluster.insecure_skip_tls_verify.unwrap_or(false);
        config.tls_server_name = cluster.tls_server_name.clone().filter(|s| !s.is_empty());
        let cert = data_or_file(
            user.client_certificate_data.as_deref(),
            user.client_certificate.as_deref(),
            "client-certificate-data",
        )?;
        let key = data_or_file(
            user.client_key_data.as_deref(),
            user.client_key.as_deref(),
            "client-key-data",
        )?;
        config.identity = match (cert, key) {
            (Some(cert_pem), Some(key_pem)) => Some(Identity { cert_pem, key_pem }),
            (None, None) => None,
            _ => {
                return Err(Error::Invalid(format!(
                    "user {user_name:?} needs both a client certificate and a client key"
                )));
            }
        };
        config.auth = if let Some(token) = user.token.clone().filter(|t| !t.is_empty()) {
            Auth::Bearer(token)
        } else if let Some(file) = user.token_file.clone().filter(|t| !t.is_empty()) {
            Auth::TokenFile(file.into())
        } else if let Some(exec) = user.exec.clone() {
            Auth::Exec {
                exec,
                cluster: Box::new(cluster.clone()),
            }
        } else if let Some(username) = user.username.clone() {
            Auth::Basic {
                username,
                password: user.password.clone().unwrap_or_default(),
            }
        } else {
            Auth::None
        };
        Ok(config)
    }

    /// The pod's service account: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`,
    /// the CA, token and namespace under [`SERVICE_ACCOUNT_DIR`].
    pub fn incluster() -> Result<Self> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| Error::NotInCluster)?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").map_err(|_| Error::NotInCluster)?;
        Self::incluster_with(&host, &port, std::path::Path::new(SERVICE_ACCOUNT_DIR))
    }

    /// [`Config::incluster`] for the service at `host`:`port`, with the service account files
    /// under `dir`.
    pub fn incluster_with(host: &str, port: &str, dir: &std::path::Path) -> Result<Self> {
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let url = format!("https://{host}:{port}");
        let cluster_url = url
            .parse()
            .map_err(|e| Error::Invalid(format!("in-cluster server {url:?}: {e}")))?;
        let mut config = Self::new(cluster_url);
        config.root_certs = read_file(&dir.join("ca.crt"))?;
        let token = dir.join("token");
        read_file(&token)?;
        config.auth = Auth::TokenFile(token);
        if let Ok(ns) = std::fs::read_to_string(dir.join("namespace")) {
            let ns = ns.trim();
            if !ns.is_empty() {
                config.default_namespace = ns.to_owned();
            }
        }
        Ok(config)
    }
}

fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })
}

/// `*-data` (base64) wins over the file, as in kubectl.
fn data_or_file(data: Option<&str>, file: Option<&str>, what: &str) -> Result<Option<Vec<u8>>> {
    if let Some(data) = data.filter(|d| !d.is_empty()) {
        let cleaned: String = data.split_whitespace().collect();
        return base64::engine::general_purpose::STANDARD
            .decode(cleaned)
            .map(Some)
            .map_err(|e| Error::Invalid(format!("{what} is not valid base64: {e}")));
    }
    match file.filter(|f| !f.is_empty()) {
        Some(f) => read_file(std::path::Path::new(f)).map(Some),
        None => Ok(None),
    }
}
