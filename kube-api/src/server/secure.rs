//! Secure serving as kube-apiserver's flags configure it: the certificates (generated in a
//! directory, or brought with `--tls-cert-file`, `--tls-private-key-file`,
//! `--client-ca-file`), the TLS settings, and the authentication chain (client certificates,
//! then bearer tokens: service-account tokens and `--token-auth-file`, then the anonymous
//! policy).
//!
//! [`SecureServing::build`] turns the options into what [`ApiServer::serve_tls`] and
//! [`Config::authentication`] take.
//!
//! [`ApiServer::serve_tls`]: super::ApiServer::serve_tls

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::Config;
use super::authn::bearer::BearerToken;
use super::authn::service_account::{self, ServiceAccountTokens};
use super::authn::token_file::{self, TokenFile};
use super::authn::x509::X509;
use super::authn::{Anonymous, Authentication};
use super::pki::{self, Pki};
use super::tls::{self, ClientCa};

/// The result of [`SecureServing::build`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of setting up secure serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The generated certificates cannot be created or loaded.
    #[error(transparent)]
    Pki(#[from] pki::Error),
    /// A certificate, key or CA file is unusable.
    #[error(transparent)]
    Tls(#[from] tls::Error),
    /// The service-account key pair is unusable.
    #[error(transparent)]
    ServiceAccount(#[from] service_account::Error),
    /// The token file is unusable.
    #[error(transparent)]
    TokenFile(#[from] token_file::Error),
    /// A file named by an option cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// Only one of `--tls-cert-file` and `--tls-private-key-file` is given.
    #[error("--tls-cert-file and --tls-private-key-file go together")]
    HalfAKeyPair,
}

/// The options of secure serving (upstream's flag names in the field docs).
#[derive(Debug, Clone)]
pub struct SecureServing {
    /// Where generated certificates and keys are kept (`DATA_DIR/pki`).
    pub pki_dir: PathBuf,
    /// Names and addresses added to the generated serving certificate (`--tls-san`).
    pub tls_sans: Vec<String>,
    /// A serving certificate chain to use instead of the generated one (`--tls-cert-file`).
    pub tls_cert_file: Option<PathBuf>,
    /// Its key (`--tls-private-key-file`).
    pub tls_private_key_file: Option<PathBuf>,
    /// The CAs client certificates are verified against instead of the generated CA
    /// (`--client-ca-file`).
    pub client_ca_file: Option<PathBuf>,
    /// The static token file (`--token-auth-file`).
    pub token_auth_file: Option<PathBuf>,
    /// When requests without credentials get in (`--anonymous-auth`; default: only the health
    /// checks and `/version`).
    pub anonymous: Anonymous,
    /// The issuer of service-account tokens, also their audience
    /// (`--service-account-issuer`).
    pub service_account_issuer: String,
}

impl SecureServing {
    /// Generated certificates in `pki_dir`, no token file, anonymous requests only to the
    /// health checks and `/version`.
    pub fn new(pki_dir: impl Into<PathBuf>) -> Self {
        Self {
            pki_dir: pki_dir.into(),
            tls_sans: Vec::new(),
            tls_cert_file: None,
            tls_private_key_file: None,
            client_ca_file: None,
            token_auth_file: None,
            anonymous: Anonymous::public_info(),
            service_account_issuer: service_account::DEFAULT_ISSUER.to_owned(),
        }
    }

    /// Creates or loads the certificates and builds the TLS settings and the authentication
    /// chain for a server with `config` (its clock and service range).
    pub fn build(&self, config: &Config) -> Result<Secured> {
        let names = pki::serving_names(
            pki::host_name().as_deref(),
            config.service_cidr.nth(0).map(IpAddr::V4),
            &self.tls_sans,
        );
        let pki = Pki::ensure(&self.pki_dir, &names, SystemTime::now())?;
        let generated_client_ca = self.client_ca_file.is_none();
        let client_ca = match &self.client_ca_file {
            Some(path) => ClientCa::from_pem(&read(path)?)?,
            None => pki.client_ca()?,
        };
        let generated_serving = self.tls_cert_file.is_none();
        let tls = match (&self.tls_cert_file, &self.tls_private_key_file) {
            (None, None) => pki.server_config(Some(&client_ca))?,
            (Some(cert), Some(key)) => {
                tls::server_config_from_pem(&read(cert)?, &read(key)?, Some(&client_ca))?
            }
            _ => return Err(Error::HalfAKeyPair),
        };
        let service_account_tokens = ServiceAccountTokens::new(
            &self.service_account_issuer,
            &pki.service_account_public_pem,
            Some(&pki.service_account_key_pem),
            Arc::clone(&config.clock),
        )?;
        let mut bearer = BearerToken::new().with(service_account_tokens.clone());
        if let Some(path) = &self.token_auth_file {
            bearer = bearer.with(TokenFile::load(path)?);
        }
        let authentication = Authentication::new()
            .with(X509::new(client_ca, Arc::clone(&config.clock)))
            .with(bearer)
            .with_anonymous(self.anonymous.clone());
        Ok(Secured {
            pki,
            tls,
            authentication,
            service_account_tokens,
            generated_serving,
            generated_client_ca,
        })
    }
}

/// What [`SecureServing::build`] makes.
#[derive(Debug, Clone)]
pub struct Secured {
    /// The generated certificates and keys.
    pub pki: Pki,
    /// The TLS settings for [`ApiServer::serve_tls`](super::ApiServer::serve_tls).
    pub tls: Arc<rustls::ServerConfig>,
    /// The authentication chain for [`Config::authentication`].
    pub authentication: Authentication,
    /// Issues and verifies service-account tokens with the generated key pair.
    pub service_account_tokens: ServiceAccountTokens,
    generated_serving: bool,
    generated_client_ca: bool,
}

impl Secured {
    /// Sets `config`'s authentication chain and token issuer from these settings.
    pub fn configure(&self, config: &mut Config) {
        config.authentication = self.authentication.clone();
        config.token_issuer = Some(self.service_account_tokens.clone());
    }

    /// An admin kubeconfig for `server_url`: the generated CA to verify the server (left out
    /// when the serving certificate was brought, so clients use their system roots) and the
    /// admin client certificate (left out when client certificates come from another CA).
    pub fn admin_kubeconfig(&self, server_url: &str) -> String {
        let ca = self
            .generated_serving
            .then_some(self.pki.ca_cert_pem.as_str());
        if self.generated_client_ca {
            super::kubeconfig::with_client_certificate(
                server_url,
                ca,
                &self.pki.admin_cert_pem,
                &self.pki.admin_key_pem,
            )
        } else {
            super::kubeconfig::anonymous(server_url, ca)
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}
