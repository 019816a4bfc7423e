//! The client acceptance suite ([`suite`]), run on every transport: in-process, over HTTP on
//! loopback through a kubeconfig, and over HTTPS (rustls, HTTP/2 over ALPN) with a CA and a
//! client certificate carried in a kubeconfig; plus the kubeconfig table and exec plugins.

mod kubeconfig;
mod suite;
mod tls;

use kube_api::client::{Client, Config, Kubeconfig, KubeconfigOptions};
use kube_api::testing::Loopback;

/// In-process: the client calls the server's tower service; no socket.
mod in_process {
    use super::*;

    async fn setup() -> (Client, ()) {
        (crate::suite::test_server().await.client(), ())
    }

    crate::suite::client_suite!(setup);
}

/// Plain HTTP on 127.0.0.1:0, configured from the kubeconfig the test server writes.
mod http {
    use super::*;

    async fn setup() -> (Client, (Loopback, tempfile::TempDir)) {
        let dir = tempfile::tempdir().unwrap();
        let served = crate::suite::test_server()
            .await
            .serve_loopback(dir.path())
            .await
            .unwrap();
        let kc = Kubeconfig::read(served.kubeconfig()).unwrap();
        let config = Config::from_kubeconfig(&kc, &KubeconfigOptions::default()).unwrap();
        assert_eq!(config.cluster_url.scheme_str(), Some("http"));
        (Client::try_from(config).unwrap(), (served, dir))
    }

    crate::suite::client_suite!(setup);
}

/// HTTPS with a CA and client certificate from `*-data` kubeconfig fields.
mod https {
    use super::*;

    async fn setup() -> (Client, crate::tls::TlsServer) {
        let server = crate::tls::TlsServer::start().await;
        let kc = Kubeconfig::from_yaml(&server.kubeconfig(true)).unwrap();
        let config = Config::from_kubeconfig(&kc, &KubeconfigOptions::default()).unwrap();
        (Client::try_from(config).unwrap(), server)
    }

    crate::suite::client_suite!(setup);
}
