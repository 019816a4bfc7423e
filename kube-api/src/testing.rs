//! The test server: our API server in-process on a MemoryStore, and a [`Client`] to it.
//!
//! [`TestServer::start`] takes milliseconds and opens no socket: the client calls the
//! [`ApiServer`] service directly, through the same [`Client`] code that talks HTTP.
//! [`TestServer::serve_loopback`] also serves it on `127.0.0.1:0` and writes a kubeconfig, for
//! tools that run out of process (kubectl, the Python client).
//!
//! ```
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use kube_api::client::{Api, PostParams};
//! use kube_api::testing::TestServer;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let server = TestServer::start().await;
//! let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
//! let mut cm = ConfigMap::default();
//! cm.metadata.name = Some("settings".into());
//! maps.create(&PostParams::default(), &cm).await.unwrap();
//! assert!(maps.get_opt("settings").await.unwrap().is_some());
//!
//! // kubectl --kubeconfig <dir>/kubeconfig get configmaps
//! let dir = std::env::temp_dir().join(format!("kube-api-doc-{}", std::process::id()));
//! let served = server.serve_loopback(&dir).await.unwrap();
//! assert!(served.kubeconfig().exists());
//! # });
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube_store::{MemoryStore, Store};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::server::{ApiServer, Config, kubeconfig};

/// Errors of starting the test server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The system namespaces could not be created.
    #[error("bootstrapping the test server failed: {0}")]
    Bootstrap(#[source] kube_core::status::StatusError),
    /// The loopback listener or the kubeconfig file failed.
    #[error("serving the test server on loopback failed: {0}")]
    Io(#[source] std::io::Error),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An API server in-process on a MemoryStore. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct TestServer {
    server: ApiServer,
}

impl TestServer {
    /// A server with the default configuration (every built-in kind), the system namespaces
    /// created.
    ///
    /// # Panics
    /// If the system namespaces cannot be created (a bug in the server, not in the test).
    pub async fn start() -> Self {
        Self::with_config(Config::default())
            .await
            .expect("the in-memory server starts")
    }

    /// A server with `config`.
    pub async fn with_config(config: Config) -> Result<Self> {
        let store = Arc::new(MemoryStore::new()) as Arc<dyn Store>;
        let server = ApiServer::new(store, config);
        server
            .ensure_system_namespaces()
            .await
            .map_err(Error::Bootstrap)?;
        // With RBAC configured: the default roles, as a served server has them.
        server
            .ensure_default_policy()
            .await
            .map_err(Error::Bootstrap)?;
        Ok(Self { server })
    }

    /// A client calling the server in-process, its default namespace `default`.
    pub fn client(&self) -> Client {
        Client::new(self.server.clone())
    }

    /// The server.
    pub fn server(&self) -> &ApiServer {
        &self.server
    }

    /// Also serves the server on `127.0.0.1:0` and writes `dir/kubeconfig` pointing at it
    /// (`dir` is created if missing). Serving stops when the returned value is dropped.
    pub async fn serve_loopback(&self, dir: &Path) -> Result<Loopback> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::Io)?;
        let address = listener.local_addr().map_err(Error::Io)?;
        std::fs::create_dir_all(dir).map_err(Error::Io)?;
        let path = dir.join("kubeconfig");
        std::fs::write(&path, kubeconfig::plain_http(&format!("http://{address}")))
            .map_err(Error::Io)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.server.clone().serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(Loopback {
            address,
            kubeconfig: path,
            stop: Some(stop),
            task,
        })
    }
}

/// The test server on a loopback port. Dropping it stops serving.
#[derive(Debug)]
pub struct Loopback {
    address: SocketAddr,
    kubeconfig: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), crate::server::Error>>,
}

impl Loopback {
    /// The address served.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The kubeconfig file that points at it.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Stops serving and waits for requests in flight.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
