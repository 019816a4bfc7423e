//! The server on a loopback port over TLS, as the binaries serve it: generated certificates in
//! a directory, client certificates and bearer tokens authenticated, an admin kubeconfig
//! written; and a small HTTPS client for checks below what kubectl shows.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube_api::server::secure::{SecureServing, Secured};
use kube_api::server::{ApiServer, Config};
use kube_store::Store;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server on `127.0.0.1:0` over TLS.
pub struct HttpsServer {
    /// Where it listens.
    pub address: SocketAddr,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// Its certificates, TLS settings and authentication chain.
    pub secured: Secured,
    /// The admin kubeconfig (client certificate `admin` in `system:masters`).
    pub kubeconfig: PathBuf,
    /// The directory holding `pki/` and the kubeconfig, unless the caller chose one.
    pub dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<Result<(), kube_api::server::Error>>>,
}

impl HttpsServer {
    /// The server over `store` with `config`, certificates in a new temporary directory.
    pub async fn start(store: Arc<dyn Store>, config: Config) -> Self {
        Self::start_with(store, config, |_| {}).await
    }

    /// [`start`](Self::start), the secure-serving options adjusted by `options`.
    pub async fn start_with(
        store: Arc<dyn Store>,
        config: Config,
        options: impl FnOnce(&mut SecureServing),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self::start_in(dir.path(), store, config, options).await;
        server.dir = Some(dir);
        server
    }

    /// The server with its certificates in `dir/pki` (reused if there) and its kubeconfig at
    /// `dir/kubeconfig`.
    pub async fn start_in(
        dir: &Path,
        store: Arc<dyn Store>,
        mut config: Config,
        options: impl FnOnce(&mut SecureServing),
    ) -> Self {
        let mut secure = SecureServing::new(dir.join("pki"));
        options(&mut secure);
        let secured = secure.build(&config).expect("secure serving");
        config.authentication = secured.authentication.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let url = format!("https://{address}");
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, secured.admin_kubeconfig(&url)).unwrap();
        let server = ApiServer::new(store, config);
        server.ensure_system_namespaces().await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve_tls(listener, Arc::clone(&secured.tls), async {
            let _ = stopped.await;
        }));
        Self {
            address,
            url,
            secured,
            kubeconfig,
            dir: None,
            stop: Some(stop),
            serving: Some(serving),
        }
    }

    /// The cluster CA (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.secured.pki.ca_cert_pem
    }

    /// A request with `credentials` through [`request`].
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        credentials: &Credentials,
        body: Option<&str>,
    ) -> (u16, String) {
        request(self.address, self.ca_pem(), method, path, credentials, body)
            .await
            .expect("HTTPS request")
    }

    /// Stops serving and waits for the accept loop to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            serving.await.unwrap().unwrap();
        }
    }
}

/// What a request authenticates with.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// A bearer token.
    pub token: Option<String>,
    /// A client certificate and its key (PEM).
    pub client_cert: Option<(String, String)>,
}

impl Credentials {
    /// No credentials.
    pub fn none() -> Self {
        Self::default()
    }

    /// A bearer token.
    pub fn token(token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            ..Self::default()
        }
    }

    /// A client certificate and key (PEM).
    pub fn cert(cert_pem: &str, key_pem: &str) -> Self {
        Self {
            client_cert: Some((cert_pem.to_owned(), key_pem.to_owned())),
            ..Self::default()
        }
    }
}

/// TLS client settings trusting `ca_pem`, presenting `credentials`' certificate if any.
pub fn client_config(ca_pem: &str, credentials: &Credentials) -> rustls::ClientConfig {
    use kube_api::server::tls;
    let mut roots = rustls::RootCertStore::empty();
    for cert in tls::certificates_from_pem(ca_pem.as_bytes(), "CA").unwrap() {
        roots.add(cert).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match &credentials.client_cert {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                tls::certificates_from_pem(cert.as_bytes(), "client").unwrap(),
                tls::private_key_from_pem(key.as_bytes(), "client").unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// One HTTP/1.1 request over TLS to `address` (verified as `127.0.0.1` against `ca_pem`);
/// returns the status code and the body.
pub async fn request(
    address: SocketAddr,
    ca_pem: &str,
    method: &str,
    path: &str,
    credentials: &Credentials,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(ca_pem, credentials)));
    let tcp = tokio::net::TcpStream::connect(address).await?;
    let name = ServerName::IpAddress(address.ip().into());
    let mut tls = connector.connect(name, tcp).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAccept: application/json\r\nConnection: close\r\n"
    );
    if let Some(token) = &credentials.token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes()).await?;
    tls.write_all(body.as_bytes()).await?;
    tls.flush().await?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw).await {
        Ok(_) => {}
        // A peer that closes without close_notify after the whole response.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((code, body))
}

/// The payload of a chunked HTTP/1.1 body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
