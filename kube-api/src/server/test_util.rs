//! Helpers for tests of the server on a socket (feature `test-util`): a small HTTPS client
//! that presents a bearer token or a client certificate, for checks below what kubectl shows
//! (status codes and Status bodies, handshakes).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::tls;

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
    request_with_headers(address, ca_pem, method, path, credentials, &[], body).await
}

/// [`request`] with further headers (`Impersonate-User`, a patch `Content-Type`, ...); a
/// `Content-Type` given here replaces the default `application/json`.
pub async fn request_with_headers(
    address: SocketAddr,
    ca_pem: &str,
    method: &str,
    path: &str,
    credentials: &Credentials,
    headers: &[(&str, &str)],
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
    let mut typed = false;
    for (name, value) in headers {
        typed |= name.eq_ignore_ascii_case("content-type");
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() {
        if !typed {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
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
