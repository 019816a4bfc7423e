//! The client acceptance suite ([`suite`]), run on every transport: in-process, over HTTP on
//! loopback, and over HTTPS with a client certificate.

mod suite;

use kube_api::client::Client;
use kube_api::testing::TestServer;

/// In-process: the client calls the server's tower service; no socket.
mod in_process {
    use super::*;

    async fn setup() -> (Client, ()) {
        (TestServer::start().await.client(), ())
    }

    crate::suite::client_suite!(setup);
}
