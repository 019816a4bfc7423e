//! The server on a loopback port over TLS, as the binaries serve it: generated certificates in
//! a directory, client certificates and bearer tokens authenticated, an admin kubeconfig
//! written; requests through `kube_api::server::test_util`'s HTTPS client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube_api::server::secure::{SecureServing, Secured};
use kube_api::server::test_util::{Credentials, request};
use kube_api::server::{ApiServer, Config};
use kube_store::Store;
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
        secured.configure(&mut config);
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
