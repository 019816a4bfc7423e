//! Client certificates: verified against the client CA, the subject's common name as the user
//! and its organizations as the groups (upstream's `CommonNameUserConversion`).

use std::sync::Arc;

use rustls::pki_types::UnixTime;

use super::{Authenticator, Error, Result, UserInfo};
use crate::server::clock::Clock;
use crate::server::tls::{ClientCa, PeerCertificates};

/// The x509 client-certificate authenticator.
#[derive(Clone)]
pub struct X509 {
    ca: ClientCa,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for X509 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X509")
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

impl X509 {
    /// Verifies against `ca` at the time `clock` tells.
    pub fn new(ca: ClientCa, clock: Arc<dyn Clock>) -> Self {
        Self { ca, clock }
    }
}

/// The user a certificate names: CN as the name, each O as a group.
pub fn user_of_certificate(der: &[u8]) -> Result<UserInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| Error::UnreadableCertificate(e.to_string()))?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .filter(|cn| !cn.is_empty())
        .ok_or(Error::NoCommonName)?;
    let groups: Vec<String> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .map(str::to_owned)
        .collect();
    Ok(UserInfo::new(name, groups))
}

#[async_trait::async_trait]
impl Authenticator for X509 {
    async fn authenticate(&self, request: &http::request::Parts) -> Result<Option<UserInfo>> {
        let Some(PeerCertificates(chain)) = request.extensions.get::<PeerCertificates>() else {
            return Ok(None);
        };
        let Some(leaf) = chain.first() else {
            return Ok(None);
        };
        let seconds = u64::try_from(self.clock.now().as_second()).unwrap_or_default();
        let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds));
        self.ca.verify(chain, now).map_err(Error::Certificate)?;
        user_of_certificate(leaf).map(Some)
    }
}
