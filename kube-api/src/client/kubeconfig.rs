//! Kubeconfig files: clusters, users and contexts, read and merged as kubectl does.
//!
//! [`Kubeconfig::read`] reads one file and resolves its relative paths against the file's
//! directory; [`Kubeconfig::read_env`] reads `$KUBECONFIG` (a colon-separated list, merged:
//! the first file to name a cluster, user or context wins, and the first non-empty
//! `current-context` wins) or else `~/.kube/config`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors of reading kubeconfig files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("reading kubeconfig {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a valid kubeconfig.
    #[error("parsing kubeconfig {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// Neither `$KUBECONFIG` nor `~/.kube/config` names a readable file.
    #[error("no kubeconfig: $KUBECONFIG names no file and ~/.kube/config does not exist")]
    NotFound,
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A kubeconfig file (clientcmd/api/v1 Config). See the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Kubeconfig {
    /// `clusters`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub clusters: Vec<NamedCluster>,
    /// `users`.
    #[serde(default, rename = "users", deserialize_with = "null_as_default")]
    pub auth_infos: Vec<NamedAuthInfo>,
    /// `contexts`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub contexts: Vec<NamedContext>,
    /// `current-context`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A named cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    /// Its name.
    pub name: String,
    /// The cluster.
    #[serde(default)]
    pub cluster: Cluster,
}

/// How to reach a cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    /// `server`: `https://host:port[/prefix]`.
    #[serde(default)]
    pub server: Option<String>,
    /// `certificate-authority`: a PEM file of CA certificates.
    #[serde(default)]
    pub certificate_authority: Option<String>,
    /// `certificate-authority-data`: base64 PEM.
    #[serde(default)]
    pub certificate_authority_data: Option<String>,
    /// `insecure-skip-tls-verify`.
    #[serde(default)]
    pub insecure_skip_tls_verify: Option<bool>,
    /// `tls-server-name`: the name to verify the server certificate against.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// `proxy-url` (refused by this client).
    #[serde(default)]
    pub proxy_url: Option<String>,
}

/// A named user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedAuthInfo {
    /// Its name.
    pub name: String,
    /// The credentials.
    #[serde(default)]
    pub user: AuthInfo,
}

/// A user's credentials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AuthInfo {
    /// `client-certificate`: a PEM file.
    #[serde(default)]
    pub client_certificate: Option<String>,
    /// `client-certificate-data`: base64 PEM.
    #[serde(default)]
    pub client_certificate_data: Option<String>,
    /// `client-key`: a PEM file.
    #[serde(default)]
    pub client_key: Option<String>,
    /// `client-key-data`: base64 PEM.
    #[serde(default)]
    pub client_key_data: Option<String>,
    /// `token`: a bearer token.
    #[serde(default)]
    pub token: Option<String>,
    /// `tokenFile`: a file holding the bearer token, re-read as it changes.
    #[serde(default, rename = "tokenFile")]
    pub token_file: Option<String>,
    /// `username` (basic auth).
    #[serde(default)]
    pub username: Option<String>,
    /// `password` (basic auth).
    #[serde(default)]
    pub password: Option<String>,
    /// `exec`: a credential plugin.
    #[serde(default)]
    pub exec: Option<ExecConfig>,
    /// `auth-provider` (refused by this client: upstream removed the in-tree providers).
    #[serde(default)]
    pub auth_provider: Option<serde_json::Value>,
}

/// An exec credential plugin (clientcmd/api/v1 ExecConfig).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecConfig {
    /// `apiVersion` of the ExecCredential exchanged (`client.authentication.k8s.io/v1`).
    #[serde(default)]
    pub api_version: Option<String>,
    /// The command to run.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: Vec<ExecEnvVar>,
    /// `provideClusterInfo`: pass the cluster in `KUBERNETES_EXEC_INFO`.
    #[serde(default)]
    pub provide_cluster_info: bool,
    /// `interactiveMode` (`Never`, `IfAvailable`, `Always`); this client never gives the plugin
    /// a terminal.
    #[serde(default)]
    pub interactive_mode: Option<String>,
    /// `installHint`: shown when the command cannot be run.
    #[serde(default)]
    pub install_hint: Option<String>,
}

/// An environment variable of an exec plugin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecEnvVar {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// A named context.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    /// Its name.
    pub name: String,
    /// The context.
    #[serde(default)]
    pub context: Context,
}

/// A cluster, a user and a default namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// The cluster's name.
    #[serde(default)]
    pub cluster: String,
    /// The user's name.
    #[serde(default)]
    pub user: String,
    /// The default namespace.
    #[serde(default)]
    pub namespace: Option<String>,
}

impl Kubeconfig {
    /// Parses `yaml`; relative paths stay as written.
    pub fn from_yaml(yaml: &str) -> std::result::Result<Self, serde_yaml_ng::Error> {
        if yaml.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml_ng::from_str(yaml)
    }

    /// Reads `path`, resolving relative file references (certificates, keys, token files, an
    /// exec command with a `/`) against its directory, as kubectl does.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::from_yaml(&text).map_err(|source| Error::Parse {
            path: path.to_owned(),
            source,
        })?;
        if let Some(dir) = path.parent() {
            config.resolve_paths(dir);
        }
        Ok(config)
    }

    /// Reads the files of `$KUBECONFIG` (merged, missing ones skipped), or `~/.kube/config`.
    pub fn read_env() -> Result<Self> {
        if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            let paths: Vec<PathBuf> = std::env::split_paths(&list)
                .filter(|p| !p.as_os_str().is_empty())
                .collect();
            return Self::read_merged(&paths);
        }
        let home = std::env::var_os("HOME").ok_or(Error::NotFound)?;
        let path = Path::new(&home).join(".kube").join("config");
        if !path.exists() {
            return Err(Error::NotFound);
        }
        Self::read(&path)
    }

    /// Reads and merges `paths` in order; files that do not exist are skipped, but at least one
    /// must.
    pub fn read_merged(paths: &[PathBuf]) -> Result<Self> {
        let mut merged: Option<Self> = None;
        for path in paths {
            if !path.exists() {
                continue;
            }
            let next = Self::read(path)?;
            merged = Some(match merged {
                None => next,
                Some(m) => m.merge(next),
            });
        }
        merged.ok_or(Error::NotFound)
    }

    /// `self` merged with a later file `next`: entries `self` already names win, and so does
    /// its `current-context` if set.
    pub fn merge(mut self, next: Self) -> Self {
        for c in next.clusters {
            if !self.clusters.iter().any(|x| x.name == c.name) {
                self.clusters.push(c);
            }
        }
        for u in next.auth_infos {
            if !self.auth_infos.iter().any(|x| x.name == u.name) {
                self.auth_infos.push(u);
            }
        }
        for c in next.contexts {
            if !self.contexts.iter().any(|x| x.name == c.name) {
                self.contexts.push(c);
            }
        }
        if self
            .current_context
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        {
            self.current_context = next.current_context;
        }
        self
    }

    fn resolve_paths(&mut self, dir: &Path) {
        let fix = |p: &mut Option<String>| {
            if let Some(s) = p
                && !s.is_empty()
                && Path::new(s.as_str()).is_relative()
            {
                *s = dir.join(s.as_str()).to_string_lossy().into_owned();
            }
        };
        for c in &mut self.clusters {
            fix(&mut c.cluster.certificate_authority);
        }
        for u in &mut self.auth_infos {
            fix(&mut u.user.client_certificate);
            fix(&mut u.user.client_key);
            fix(&mut u.user.token_file);
            if let Some(exec) = &mut u.user.exec
                && exec.command.contains('/')
                && Path::new(&exec.command).is_relative()
            {
                exec.command = dir.join(&exec.command).to_string_lossy().into_owned();
            }
        }
    }

    /// The context named `name`.
    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.context)
    }

    /// The cluster named `name`.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.cluster)
    }

    /// The user named `name`.
    pub fn auth_info(&self, name: &str) -> Option<&AuthInfo> {
        self.auth_infos
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.user)
    }
}
