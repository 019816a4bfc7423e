//! An HTTPS test server: `ApiServer` behind tokio-rustls with rcgen certificates (a CA, a
//! serving certificate for 127.0.0.1, a client certificate), requiring client certificates,
//! offering h2 and http/1.1 over ALPN.

use std::sync::{Arc, Mutex};

use base64::Engine;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use k8s_openapi::api::core::v1::Namespace;
use kube_api::client::{Api, Client, Config, Kubeconfig, KubeconfigOptions, ListParams};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use tokio::task::JoinHandle;

/// The server; dropping it stops accepting.
pub struct TlsServer {
    pub address: std::net::SocketAddr,
    pub ca_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
    /// The ALPN protocol of each accepted connection.
    pub protocols: Arc<Mutex<Vec<Option<Vec<u8>>>>>,
    accept: JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl TlsServer {
    pub async fn start() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "test-ca");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        server_params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, "admin");
        client_params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
        let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_cert.der().clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![server_cert.der().clone()],
                PrivateKeyDer::from_pem_slice(server_key.serialize_pem().as_bytes()).unwrap(),
            )
            .unwrap();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

        let api = crate::suite::test_server().await.server().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let protocols = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&protocols);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let api = api.clone();
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    // Handshake failures (a client without a certificate) just drop the
                    // connection.
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    seen.lock()
                        .unwrap()
                        .push(tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec));
                    let _ = Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(
                            TokioIo::new(tls),
                            TowerToHyperService::new(api),
                        )
                        .await;
                });
            }
        });
        Self {
            address,
            ca_pem: ca_cert.pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
            protocols,
            accept,
        }
    }

    /// A kubeconfig with the CA and (if `with_client_cert`) the client certificate as data.
    pub fn kubeconfig(&self, with_client_cert: bool) -> String {
        let user = if with_client_cert {
            format!(
                "{{client-certificate-data: {}, client-key-data: {}}}",
                b64(&self.client_cert_pem),
                b64(&self.client_key_pem)
            )
        } else {
            "{}".to_owned()
        };
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: tls
  cluster:
    server: https://{}
    certificate-authority-data: {}
users:
- name: admin
  user: {user}
contexts:
- name: tls
  context: {{cluster: tls, user: admin, namespace: default}}
current-context: tls
",
            self.address,
            b64(&self.ca_pem)
        )
    }
}

fn client_of(yaml: &str) -> Client {
    let kc = Kubeconfig::from_yaml(yaml).unwrap();
    Client::try_from(Config::from_kubeconfig(&kc, &KubeconfigOptions::default()).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_negotiates_h2_and_requires_the_client_certificate() {
    let server = TlsServer::start().await;
    let namespaces: Api<Namespace> = Api::all(client_of(&server.kubeconfig(true)));
    let list = namespaces.list(&ListParams::default()).await.unwrap();
    assert!(
        list.items
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some("default"))
    );
    assert_eq!(
        server.protocols.lock().unwrap().first().cloned(),
        Some(Some(b"h2".to_vec()))
    );

    // Without a client certificate the handshake fails: a transport error, not a Status.
    let anonymous: Api<Namespace> = Api::all(client_of(&server.kubeconfig(false)));
    let e = anonymous.list(&ListParams::default()).await.unwrap_err();
    assert!(matches!(e, kube_api::client::Error::Transport(_)), "{e:?}");

    // A CA that did not sign the server certificate is refused.
    let other = TlsServer::start().await;
    let wrong_ca = server
        .kubeconfig(true)
        .replace(&b64(&server.ca_pem), &b64(&other.ca_pem));
    let e = Api::<Namespace>::all(client_of(&wrong_ca))
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(matches!(e, kube_api::client::Error::Transport(_)), "{e:?}");

    // insecure-skip-tls-verify accepts it, and tls-server-name is honoured.
    let insecure = wrong_ca.replace(
        "    certificate-authority-data:",
        "    insecure-skip-tls-verify: true\n    x-ignored:",
    );
    Api::<Namespace>::all(client_of(&insecure))
        .list(&ListParams::default())
        .await
        .unwrap();
    let by_name = server
        .kubeconfig(true)
        .replace("    server:", "    tls-server-name: localhost\n    server:");
    Api::<Namespace>::all(client_of(&by_name))
        .list(&ListParams::default())
        .await
        .unwrap();
    let wrong_name = server.kubeconfig(true).replace(
        "    server:",
        "    tls-server-name: other.example\n    server:",
    );
    assert!(
        Api::<Namespace>::all(client_of(&wrong_name))
            .list(&ListParams::default())
            .await
            .is_err()
    );
}
