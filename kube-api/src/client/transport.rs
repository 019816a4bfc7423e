//! The HTTP(S) transport: hyper-util's pooled client over rustls (ring), HTTP/2 when the
//! server offers it over ALPN, plus authentication ([`Auth`]). `Client::try_from(config)`
//! builds a [`Client`] on it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine;
use http::header::{AUTHORIZATION, HeaderValue};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::sync::Mutex;

use super::config::{Auth, Config};
use super::error::BoxError;
use super::kubeconfig::ExecConfig;
use super::request::Body;
use super::{Client, Error};

/// Errors of building the transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The TLS settings are unusable (bad PEM, a key that does not fit).
    #[error("TLS configuration: {0}")]
    Tls(String),
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        Error::Config(Box::new(e))
    }
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The tower service of the HTTP(S) transport: sends requests with path-only URIs to the
/// configured server, authenticated.
#[derive(Clone)]
pub struct HttpTransport {
    inner: HyperClient<Connector, Body>,
    base: http::Uri,
    auth: Arc<Authenticator>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// The transport `config` describes.
    pub fn new(config: &Config) -> Result<Self, TransportError> {
        let tls = tls_config(config)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(config.connect_timeout);
        http.set_nodelay(true);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let builder = match &config.tls_server_name {
            Some(name) => {
                let name = ServerName::try_from(name.clone())
                    .map_err(|e| TransportError::Tls(format!("tls-server-name {name:?}: {e}")))?;
                builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            }
            None => builder,
        };
        let connector = builder.enable_http1().enable_http2().wrap_connector(http);
        let inner = HyperClient::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            inner,
            base: config.cluster_url.clone(),
            auth: Arc::new(Authenticator::new(config.auth.clone())),
        })
    }

    fn absolute(&self, uri: &http::Uri) -> Result<http::Uri, BoxError> {
        let prefix = self.base.path().trim_end_matches('/');
        let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut parts = self.base.clone().into_parts();
        parts.path_and_query = Some(format!("{prefix}{pq}").parse()?);
        Ok(http::Uri::from_parts(parts)?)
    }
}

impl tower::Service<http::Request<Body>> for HttpTransport {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            parts.uri = this.absolute(&parts.uri)?;
            let send = |parts: &http::request::Parts, header: Option<HeaderValue>| {
                let mut req = http::Request::from_parts(parts.clone(), body.clone());
                if let Some(h) = header {
                    req.headers_mut().insert(AUTHORIZATION, h);
                }
                this.inner.request(req)
            };
            let header = this.auth.header(false).await?;
            let response = send(&parts, header).await?;
            if response.status() == http::StatusCode::UNAUTHORIZED && this.auth.refreshable() {
                // The token may have expired or rotated: fetch a new one and retry once.
                let header = this.auth.header(true).await?;
                return Ok(send(&parts, header).await?);
            }
            Ok(response)
        })
    }
}

impl TryFrom<Config> for Client {
    type Error = Error;

    /// A client on the HTTP(S) transport `config` describes.
    fn try_from(config: Config) -> Result<Self, Error> {
        let transport = HttpTransport::new(&config)?;
        Ok(Client::new(transport).with_default_namespace(config.default_namespace))
    }
}

fn tls_config(config: &Config) -> Result<rustls::ClientConfig, TransportError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    let builder = if config.accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerifier(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&config.root_certs) {
            let cert =
                cert.map_err(|e| TransportError::Tls(format!("certificate-authority: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| TransportError::Tls(format!("certificate-authority: {e}")))?;
        }
        if roots.is_empty() && config.cluster_url.scheme_str() == Some("https") {
            return Err(TransportError::Tls(
                "no certificate-authority for an https server: set certificate-authority(-data) or insecure-skip-tls-verify".into(),
            ));
        }
        builder.with_root_certificates(roots)
    };
    match &config.identity {
        Some(id) => {
            let certs = CertificateDer::pem_slice_iter(&id.cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TransportError::Tls(format!("client-certificate: {e}")))?;
            let key = PrivateKeyDer::from_pem_slice(&id.key_pem)
                .map_err(|e| TransportError::Tls(format!("client-key: {e}")))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| TransportError::Tls(format!("client certificate and key: {e}")))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// `insecure-skip-tls-verify`: any server certificate, signatures still checked.
#[derive(Debug)]
struct NoVerifier(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerifier {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// How often a token file is re-read.
const TOKEN_FILE_REFRESH: Duration = Duration::from_secs(60);

/// Makes the `Authorization` header of [`Auth`], caching tokens.
struct Authenticator {
    auth: Auth,
    cached: Mutex<Option<(HeaderValue, Option<Instant>)>>,
}

impl Authenticator {
    fn new(auth: Auth) -> Self {
        Self {
            auth,
            cached: Mutex::new(None),
        }
    }

    fn refreshable(&self) -> bool {
        matches!(self.auth, Auth::TokenFile(_) | Auth::Exec { .. })
    }

    /// The header to send; `refresh` drops the cached token first.
    async fn header(&self, refresh: bool) -> Result<Option<HeaderValue>, BoxError> {
        match &self.auth {
            Auth::None => Ok(None),
            Auth::Basic { username, password } => {
                let b64 = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                Ok(Some(sensitive(&format!("Basic {b64}"))?))
            }
            Auth::Bearer(token) => Ok(Some(sensitive(&format!("Bearer {token}"))?)),
            Auth::TokenFile(path) => {
                let mut cached = self.cached.lock().await;
                if !refresh
                    && let Some((h, Some(until))) = &*cached
                    && Instant::now() < *until
                {
                    return Ok(Some(h.clone()));
                }
                let token = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| format!("reading the token file {}: {e}", path.display()))?;
                let h = sensitive(&format!("Bearer {}", token.trim()))?;
                *cached = Some((h.clone(), Some(Instant::now() + TOKEN_FILE_REFRESH)));
                Ok(Some(h))
            }
            Auth::Exec { exec, cluster } => {
                let mut cached = self.cached.lock().await;
                if !refresh
                    && let Some((h, until)) = &*cached
                    && until.is_none_or(|u| Instant::now() < u)
                {
                    return Ok(Some(h.clone()));
                }
                let (token, expires) = run_exec(exec, cluster).await?;
                let h = sensitive(&format!("Bearer {token}"))?;
                *cached = Some((h.clone(), expires));
                Ok(Some(h))
            }
        }
    }
}

fn sensitive(value: &str) -> Result<HeaderValue, BoxError> {
    let mut h =
        HeaderValue::from_str(value).map_err(|_| "the credential is not a valid header value")?;
    h.set_sensitive(true);
    Ok(h)
}

/// Runs an exec credential plugin; its token and when the token expires (as an `Instant`).
async fn run_exec(
    exec: &ExecConfig,
    cluster: &super::kubeconfig::Cluster,
) -> Result<(String, Option<Instant>), BoxError> {
    let api_version = exec
        .api_version
        .clone()
        .unwrap_or_else(|| "client.authentication.k8s.io/v1".into());
    let mut spec = serde_json::json!({"interactive": false});
    if exec.provide_cluster_info {
        spec["cluster"] = serde_json::json!({
            "server": cluster.server,
            "tls-server-name": cluster.tls_server_name,
            "certificate-authority-data": cluster.certificate_authority_data,
            "insecure-skip-tls-verify": cluster.insecure_skip_tls_verify.unwrap_or(false),
        });
    }
    let info =
        serde_json::json!({"apiVersion": api_version, "kind": "ExecCredential", "spec": spec});
    let mut cmd = tokio::process::Command::new(&exec.command);
    cmd.args(&exec.args)
        .envs(exec.env.iter().map(|e| (&e.name, &e.value)))
        .env("KUBERNETES_EXEC_INFO", info.to_string())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = cmd.output().await.map_err(|e| {
        let hint = exec.install_hint.as_deref().unwrap_or_default();
        format!(
            "running the exec credential plugin {:?}: {e}. {hint}",
            exec.command
        )
    })?;
    if !output.status.success() {
        return Err(format!(
            "the exec credential plugin {:?} failed ({}): {}",
            exec.command,
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Credential {
        status: Option<CredentialStatus>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct CredentialStatus {
        token: Option<String>,
        expiration_timestamp: Option<Time>,
        client_certificate_data: Option<String>,
    }
    let cred: Credential = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("the exec credential plugin printed no ExecCredential: {e}"))?;
    let status = cred.status.ok_or("the ExecCredential has no status")?;
    let Some(token) = status.token.filter(|t| !t.is_empty()) else {
        return Err(if status.client_certificate_data.is_some() {
            "exec plugins that return client certificates are not supported; return a token".into()
        } else {
            "the ExecCredential has no token".into()
        });
    };
    let expires = status.expiration_timestamp.map(|Time(at)| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let left = (at.as_millisecond() as f64 / 1000.0 - now).max(0.0);
        Instant::now() + Duration::from_secs_f64(left)
    });
    Ok((token, expires))
}

/// The bearer token a transport built from `config` would send now (running its exec plugin
/// or reading its token file), if it sends one.
pub async fn bearer_token(config: &Config) -> Result<Option<String>, BoxError> {
    let auth = Authenticator::new(config.auth.clone());
    Ok(auth.header(false).await?.and_then(|h| {
        h.to_str()
            .ok()
            .map(|s| s.trim_start_matches("Bearer ").to_owned())
    }))
}
