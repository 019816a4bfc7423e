//! TLS serving: rustls server settings (ring provider, ALPN h2 and http/1.1) from PEM, and
//! the client-certificate policy of upstream's kube-apiserver.
//!
//! A client certificate is requested, never required, and not judged by the handshake: the
//! handshake only checks that the client holds the certificate's key; the x509 authenticator
//! ([`super::authn::x509`]) verifies the chain against the [`ClientCa`]. So, as upstream, a
//! certificate from another CA gets 401 rather than a failed handshake, and clients without a
//! certificate connect and authenticate with tokens.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

/// How long a TLS handshake may take before the connection is dropped (Go's default).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The result of this module's calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of reading certificates and keys and of building TLS settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A PEM document holds no certificate.
    #[error("{what}: no certificate found")]
    NoCertificate {
        /// What the document was for.
        what: String,
    },
    /// A PEM document could not be read (or holds no private key).
    #[error("{what}: {source}")]
    Pem {
        /// What the document was for.
        what: String,
        /// The reason.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// rustls refused the certificates or the key.
    #[error("{what}: {source}")]
    Rustls {
        /// What was being set up.
        what: String,
        /// The reason.
        #[source]
        source: rustls::Error,
    },
    /// The client CA's verifier could not be built (no usable CA certificate).
    #[error("client CA: {0}")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
}

/// The crypto provider every TLS setting of the server uses: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate of a PEM document, in order.
pub fn certificates_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| Error::Pem {
            what: what.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(Error::NoCertificate {
            what: what.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of a PEM document.
pub fn private_key_from_pem(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| Error::Pem {
        what: what.to_owned(),
        source,
    })
}

/// The certificate authorities client certificates are verified against (upstream's
/// `--client-ca-file`).
#[derive(Debug, Clone)]
pub struct ClientCa {
    verifier: Arc<dyn ClientCertVerifier>,
}

impl ClientCa {
    /// The CAs of a PEM bundle.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        let mut roots = RootCertStore::empty();
        for cert in certificates_from_pem(pem, "client CA")? {
            roots.add(cert).map_err(|source| Error::Rustls {
                what: "client CA".to_owned(),
                source,
            })?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .allow_unauthenticated()
            .build()
            .map_err(Error::Verifier)?;
        Ok(Self { verifier })
    }

    /// Verifies `chain` (leaf first) for client authentication at `now`: signed by one of the
    /// CAs, in its validity period, with the client-auth usage if it names usages.
    pub fn verify(&self, chain: &[CertificateDer<'_>], now: UnixTime) -> Result<(), rustls::Error> {
        let (leaf, intermediates) = chain
            .split_first()
            .ok_or(rustls::Error::NoCertificatesPresented)?;
        self.verifier
            .verify_client_cert(leaf, intermediates, now)
            .map(|_| ())
    }
}

/// Server settings for `cert_chain` (leaf first) and its `key`; with a `client_ca`, client
/// certificates are requested (see the module docs).
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<&ClientCa>,
) -> Result<Arc<ServerConfig>> {
    let rustls_error = |source| Error::Rustls {
        what: "serving certificate".to_owned(),
        source,
    };
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(rustls_error)?;
    let builder = match client_ca {
        Some(ca) => {
            builder.with_client_cert_verifier(Arc::new(RequestClientCert(Arc::clone(&ca.verifier))))
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(cert_chain, key)
        .map_err(rustls_error)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// [`server_config`] from PEM documents.
pub fn server_config_from_pem(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
    client_ca: Option<&ClientCa>,
) -> Result<Arc<ServerConfig>> {
    server_config(
        certificates_from_pem(cert_chain_pem, "serving certificate")?,
        private_key_from_pem(key_pem, "serving key")?,
        client_ca,
    )
}

/// The certificates a client presented on its TLS connection (leaf first), put in every
/// request's extensions for the x509 authenticator.
#[derive(Debug, Clone)]
pub struct PeerCertificates(pub Arc<[CertificateDer<'static>]>);

/// Go's `tls.RequestClientCert`: asks for a certificate (naming the client CAs), accepts any
/// or none, and checks only the client's proof that it holds the certificate's key.
#[derive(Debug)]
struct RequestClientCert(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
