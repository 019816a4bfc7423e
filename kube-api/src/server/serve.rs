//! The accept loop: HTTP/1.1 and HTTP/2 connections on a listener, in plain text (h2c) or over
//! TLS, until shutdown.
//!
//! Each connection runs in its own task, the TLS handshake included (bounded by
//! [`HANDSHAKE_TIMEOUT`](super::tls::HANDSHAKE_TIMEOUT)), so a slow or failed handshake, or a
//! plain-HTTP request on the TLS port, ends only its own connection.

use std::future::Future;
use std::sync::Arc;

use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::tls::{HANDSHAKE_TIMEOUT, PeerCertificates};
use super::{ApiServer, Error};

/// Serves `server` on `listener` (over TLS with `tls`) until `shutdown` resolves, then ends
/// open watches and waits for requests in flight.
pub(super) async fn run(
    server: ApiServer,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    let builder = Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    // Ends handshakes in progress at shutdown: their connections serve no request yet.
    let (closing, closed) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // The peer went away between SYN and accept: not the listener's fault.
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => return Err(Error::Accept(e)),
            },
            () = &mut shutdown => break,
        };
        let server = server.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let mut closed = closed.clone();
        tokio::spawn(async move {
            let Some(tls) = tls else {
                return connection(server, builder, watcher, stream, None, peer).await;
            };
            let handshake = async {
                let mut stream = stream;
                if plain_http(&stream).await {
                    answer_plain_http(&mut stream).await;
                    return Err(std::io::Error::other("plain HTTP on the TLS port"));
                }
                tls.accept(stream).await
            };
            let handshake = tokio::select! {
                done = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake) => done,
                _ = closed.wait_for(|closed| *closed) => return,
            };
            match handshake {
                Ok(Ok(stream)) => {
                    let certs = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .filter(|certs| !certs.is_empty())
                        .map(|certs| {
                            PeerCertificates(certs.iter().map(|c| c.clone().into_owned()).collect())
                        });
                    connection(server, builder, watcher, stream, certs, peer).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
    closing.send_replace(true);
    server.shutdown_watches();
    graceful.shutdown().await;
    Ok(())
}

/// Serves one connection; requests carry the client's certificates, if any.
async fn connection<I>(
    server: ApiServer,
    builder: Builder<TokioExecutor>,
    watcher: Watcher,
    io: I,
    certs: Option<PeerCertificates>,
    peer: std::net::SocketAddr,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let certs = Arc::new(certs);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        if let Some(certs) = certs.as_ref() {
            request.extensions_mut().insert(certs.clone());
        }
        let mut server = server.clone();
        async move { tower::Service::call(&mut server, request).await }
    });
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Whether the client's first byte starts an HTTP request rather than a TLS record (which
/// starts with 0x16, a handshake). Waits for the first byte.
async fn plain_http(stream: &tokio::net::TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0].is_ascii_uppercase())
}

/// Go's answer to plain HTTP on a TLS port, which upstream's clients show as it is.
async fn answer_plain_http(stream: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let _ = stream
        .write_all(
            b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
              Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
        )
        .await;
    let _ = stream.shutdown().await;
}

/// Errors of one accepted connection rather than of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
