//! The cluster's certificates and keys, kubeadm's layout: created on first start in a
//! directory (the binaries use `DATA_DIR/pki`), reused on every start after.
//!
//! | file | what |
//! | --- | --- |
//! | `ca.crt`, `ca.key` | the cluster CA: signs the serving and client certificates |
//! | `apiserver.crt`, `apiserver.key` | the serving certificate, for the names given |
//! | `admin.crt`, `admin.key` | the admin client certificate (`CN=admin`, `O=system:masters`) |
//! | `sa.key`, `sa.pub` | the service-account token signing key pair (ECDSA P-256, ES256) |
//!
//! Keys are written with mode 0600. A serving certificate that lacks a requested name, or any
//! certificate that has expired, is issued again from the same CA; a missing CA means a new
//! CA and new certificates. Every file is written aside and renamed into place, so a crash
//! leaves no half-written file.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;

use super::authn::SYSTEM_MASTERS_GROUP;
use super::kubeconfig;
use super::tls::{self, ClientCa};

/// The CA's validity (kubeadm's: ten years).
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// The validity of serving and client certificates (kubeadm's: one year).
pub const CERTIFICATE_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// The names every serving certificate holds besides the host's and the configured ones:
/// loopback and the in-cluster names of the `kubernetes` service.
pub const DEFAULT_SERVING_NAMES: [&str; 7] = [
    "localhost",
    "127.0.0.1",
    "::1",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// The result of this module's calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of creating or loading the certificates.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or the directory cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key cannot be generated, parsed or signed.
    #[error("{what}: {source}")]
    Certificate {
        /// Which certificate or key.
        what: &'static str,
        /// The reason.
        #[source]
        source: rcgen::Error,
    },
    /// A requested serving name is neither an IP address nor a DNS name.
    #[error("invalid serving name {0:?}")]
    InvalidName(String),
}

/// The certificates and keys of a cluster, as PEM.
#[derive(Clone)]
pub struct Pki {
    /// The directory they are kept in.
    pub dir: PathBuf,
    /// The cluster CA certificate.
    pub ca_cert_pem: String,
    ca_key_pem: String,
    /// The serving certificate.
    pub serving_cert_pem: String,
    /// The serving certificate's key.
    pub serving_key_pem: String,
    /// The admin client certificate.
    pub admin_cert_pem: String,
    /// The admin client certificate's key.
    pub admin_key_pem: String,
    /// The service-account token signing key (PKCS#8).
    pub service_account_key_pem: String,
    /// The service-account token verification key (SubjectPublicKeyInfo).
    pub service_account_public_pem: String,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.debug_struct("Pki")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The serving names for a host: [`DEFAULT_SERVING_NAMES`], the host name, the first service
/// address and `extra`, without repeats.
pub fn serving_names(
    host_name: Option<&str>,
    service_ip: Option<IpAddr>,
    extra: &[String],
) -> Vec<String> {
    let mut names: Vec<String> = DEFAULT_SERVING_NAMES
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    names.extend(host_name.map(str::to_owned));
    names.extend(service_ip.map(|ip| ip.to_string()));
    names.extend(extra.iter().cloned());
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| !n.is_empty() && seen.insert(n.clone()));
    names
}

/// This machine's host name, lower case (Linux: `/proc/sys/kernel/hostname`).
pub fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim().to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const SERVING_CERT: &str = "apiserver.crt";
const SERVING_KEY: &str = "apiserver.key";
const ADMIN_CERT: &str = "admin.crt";
const ADMIN_KEY: &str = "admin.key";
const SA_KEY: &str = "sa.key";
const SA_PUB: &str = "sa.pub";

impl Pki {
    /// Loads the certificates in `dir`, creating what is missing, expired, or (for the
    /// serving certificate) lacking one of `serving_names`.
    pub fn ensure(dir: &Path, serving_names: &[String], now: SystemTime) -> Result<Self> {
        create_private_dir(dir)?;
        let read = |name: &str| read_optional(&dir.join(name));

        let (ca_cert_pem, ca_key_pem, new_ca) = match (read(CA_CERT)?, read(CA_KEY)?) {
            (Some(cert), Some(key)) if !expired(&cert, now) => (cert, key, false),
            _ => {
                let (cert, key) = new_ca(now)?;
                write_file(&dir.join(CA_KEY), &key, true)?;
                write_file(&dir.join(CA_CERT), &cert, false)?;
                (cert, key, true)
            }
        };
        let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(cert_error("cluster CA key"))?;
        let issuer =
            Issuer::from_ca_cert_pem(&ca_cert_pem, ca_key).map_err(cert_error("cluster CA"))?;

        let (serving_cert_pem, serving_key_pem) = match (read(SERVING_CERT)?, read(SERVING_KEY)?) {
            (Some(cert), Some(key))
                if !new_ca && !expired(&cert, now) && has_names(&cert, serving_names) =>
            {
                (cert, key)
            }
            _ => {
                let (cert, key) = issue_serving(&issuer, serving_names, now)?;
                write_file(&dir.join(SERVING_KEY), &key, true)?;
                write_file(&dir.join(SERVING_CERT), &cert, false)?;
                (cert, key)
            }
        };
        let (admin_cert_pem, admin_key_pem) = match (read(ADMIN_CERT)?, read(ADMIN_KEY)?) {
            (Some(cert), Some(key)) if !new_ca && !expired(&cert, now) => (cert, key),
            _ => {
                let (cert, key) = issue_client(&issuer, "admin", &[SYSTEM_MASTERS_GROUP], now)?;
                write_file(&dir.join(ADMIN_KEY), &key, true)?;
                write_file(&dir.join(ADMIN_CERT), &cert, false)?;
                (cert, key)
            }
        };
        let (service_account_key_pem, service_account_public_pem) =
            match (read(SA_KEY)?, read(SA_PUB)?) {
                (Some(key), Some(public)) => (key, public),
                _ => {
                    let key = KeyPair::generate().map_err(cert_error("service-account key"))?;
                    let (private, public) = (key.serialize_pem(), key.public_key_pem());
                    write_file(&dir.join(SA_KEY), &private, true)?;
                    write_file(&dir.join(SA_PUB), &public, false)?;
                    (private, public)
                }
            };
        Ok(Self {
            dir: dir.to_owned(),
            ca_cert_pem,
            ca_key_pem,
            serving_cert_pem,
            serving_key_pem,
            admin_cert_pem,
            admin_key_pem,
            service_account_key_pem,
            service_account_public_pem,
        })
    }

    /// The path of one of the files (`ca.crt`, `apiserver.crt`, ...).
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The cluster CA as the client CA.
    pub fn client_ca(&self) -> tls::Result<ClientCa> {
        ClientCa::from_pem(self.ca_cert_pem.as_bytes())
    }

    /// TLS settings with the serving certificate, requesting client certificates of
    /// `client_ca`.
    pub fn server_config(
        &self,
        client_ca: Option<&ClientCa>,
    ) -> tls::Result<Arc<rustls::ServerConfig>> {
        tls::server_config_from_pem(
            self.serving_cert_pem.as_bytes(),
            self.serving_key_pem.as_bytes(),
            client_ca,
        )
    }

    /// A new client certificate and key (PEM) for `user` in `groups`, signed by the CA.
    /// Nothing is written.
    pub fn issue_client_certificate(
        &self,
        user: &str,
        groups: &[&str],
        now: SystemTime,
    ) -> Result<(String, String)> {
        let ca_key = KeyPair::from_pem(&self.ca_key_pem).map_err(cert_error("cluster CA key"))?;
        let issuer = Issuer::from_ca_cert_pem(&self.ca_cert_pem, ca_key)
            .map_err(cert_error("cluster CA"))?;
        issue_client(&issuer, user, groups, now)
    }

    /// A kubeconfig for the admin at `server_url` (`https://127.0.0.1:6443`).
    pub fn admin_kubeconfig(&self, server_url: &str) -> String {
        kubeconfig::with_client_certificate(
            server_url,
            Some(&self.ca_cert_pem),
            &self.admin_cert_pem,
            &self.admin_key_pem,
        )
    }
}

fn cert_error(what: &'static str) -> impl Fn(rcgen::Error) -> Error {
    move |source| Error::Certificate { what, source }
}

fn validity(params: &mut CertificateParams, now: SystemTime, lifetime: Duration) {
    let now = OffsetDateTime::from(now);
    // A little slack for clocks behind ours.
    params.not_before = now - Duration::from_secs(5 * 60);
    params.not_after = now + lifetime;
    let mut serial = *uuid::Uuid::new_v4().as_bytes();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
}

fn new_ca(now: SystemTime) -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(cert_error("cluster CA key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "kubernetes");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params, now, CA_VALIDITY);
    let cert = params.self_signed(&key).map_err(cert_error("cluster CA"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn issue_serving(
    issuer: &Issuer<'_, KeyPair>,
    names: &[String],
    now: SystemTime,
) -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(cert_error("serving key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    params.subject_alt_names = names
        .iter()
        .map(|name| match name.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => name
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|_| Error::InvalidName(name.clone())),
        })
        .collect::<Result<_>>()?;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, now, CERTIFICATE_VALIDITY);
    let cert = params
        .signed_by(&key, issuer)
        .map_err(cert_error("serving certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn issue_client(
    issuer: &Issuer<'_, KeyPair>,
    user: &str,
    groups: &[&str],
    now: SystemTime,
) -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(cert_error("client key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    for group in groups {
        params
            .distinguished_name
            .push(DnType::OrganizationName, *group);
    }
    params.distinguished_name.push(DnType::CommonName, user);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, now, CERTIFICATE_VALIDITY);
    let cert = params
        .signed_by(&key, issuer)
        .map_err(cert_error("client certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Whether a PEM certificate is unreadable or past its end at `now`.
fn expired(cert_pem: &str, now: SystemTime) -> bool {
    let Ok(der) = tls::certificates_from_pem(cert_pem.as_bytes(), "certificate") else {
        return true;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der[0]) else {
        return true;
    };
    let now = OffsetDateTime::from(now).unix_timestamp();
    cert.validity().not_after.timestamp() <= now
}

/// Whether a PEM certificate holds every one of `names` as a subject alternative name.
fn has_names(cert_pem: &str, names: &[String]) -> bool {
    use x509_parser::extensions::GeneralName;
    let Ok(der) = tls::certificates_from_pem(cert_pem.as_bytes(), "certificate") else {
        return false;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der[0]) else {
        return false;
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return names.is_empty();
    };
    let held: Vec<String> = san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    names.iter().all(|name| {
        let name = name
            .parse::<IpAddr>()
            .map_or_else(|_| name.clone(), |ip| ip.to_string());
        held.contains(&name)
    })
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_error(dir))
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path)(e)),
    }
}

/// Writes `contents` aside, syncs, and renames it to `path`; `private` files get mode 0600.
fn write_file(path: &Path, contents: &str, private: bool) -> Result<()> {
    use std::io::Write;
    let aside = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options.open(&aside).map_err(io_error(&aside))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(&aside))?;
    std::fs::rename(&aside, path).map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let names = serving_names(Some("node-1"), Some("10.96.0.1".parse().unwrap()), &[]);
        let first = Pki::ensure(dir.path(), &names, now).unwrap();
        let again = Pki::ensure(dir.path(), &names, now).unwrap();
        assert_eq!(first.ca_cert_pem, again.ca_cert_pem);
        assert_eq!(first.serving_cert_pem, again.serving_cert_pem);
        assert_eq!(first.admin_cert_pem, again.admin_cert_pem);
        assert_eq!(first.service_account_key_pem, again.service_account_key_pem);
        #[cfg(unix)]
        for (file, mode) in [
            ("ca.key", 0o600),
            ("apiserver.key", 0o600),
            ("sa.key", 0o600),
            ("ca.crt", 0o644),
        ] {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(dir.path().join(file)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
        }
        assert!(has_names(&first.serving_cert_pem, &names));
        assert!(has_names(
            &first.serving_cert_pem,
            &[
                "0:0:0:0:0:0:0:1".to_owned(),
                "kubernetes.default.svc.cluster.local".to_owned()
            ]
        ));

        // A new name: a new serving certificate from the same CA; the admin's stays.
        let more = serving_names(Some("node-1"), None, &["api.example.test".to_owned()]);
        let third = Pki::ensure(dir.path(), &more, now).unwrap();
        assert_eq!(third.ca_cert_pem, first.ca_cert_pem);
        assert_eq!(third.admin_cert_pem, first.admin_cert_pem);
        assert_ne!(third.serving_cert_pem, first.serving_cert_pem);
        assert!(has_names(&third.serving_cert_pem, &more));
        third
            .server_config(Some(&third.client_ca().unwrap()))
            .unwrap();
    }

    #[test]
    fn expired_certificates_are_issued_again() {
        let dir = tempfile::tempdir().unwrap();
        let names = serving_names(None, None, &[]);
        let then = SystemTime::now();
        let first = Pki::ensure(dir.path(), &names, then).unwrap();
        let later = then + CERTIFICATE_VALIDITY + Duration::from_secs(3600);
        let second = Pki::ensure(dir.path(), &names, later).unwrap();
        assert_eq!(second.ca_cert_pem, first.ca_cert_pem);
        assert_ne!(second.serving_cert_pem, first.serving_cert_pem);
        assert_ne!(second.admin_cert_pem, first.admin_cert_pem);
    }

    #[test]
    fn refuses_invalid_names() {
        let dir = tempfile::tempdir().unwrap();
        let err = Pki::ensure(
            dir.path(),
            &["bad name\u{e9}".to_owned()],
            SystemTime::now(),
        );
        assert!(matches!(err, Err(Error::InvalidName(_))), "{err:?}");
    }

    #[test]
    fn admin_certificate_names_admin_in_system_masters() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::ensure(
            dir.path(),
            &serving_names(None, None, &[]),
            SystemTime::now(),
        )
        .unwrap();
        let der = tls::certificates_from_pem(pki.admin_cert_pem.as_bytes(), "admin").unwrap();
        let user = super::super::authn::x509::user_of_certificate(&der[0]).unwrap();
        assert_eq!(user.name, "admin");
        assert_eq!(user.groups, [SYSTEM_MASTERS_GROUP]);
        pki.client_ca()
            .unwrap()
            .verify(&der, rustls::pki_types::UnixTime::now())
            .unwrap();
    }
}
