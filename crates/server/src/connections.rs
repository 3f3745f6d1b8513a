//! The accept loop: HTTP/1.1 connections with a header-read timeout, a connection limit, and
//! graceful shutdown.
//!
//! A client that sends its headers slowly, or keeps an idle connection open, is disconnected
//! after `http.header_read_timeout`; at most `http.max_connections` connections are served at
//! once (further ones wait in the kernel's listen backlog).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::config::HttpSettings;

/// The address of the connection's peer, in every request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// Resolves once `stop` is true.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves `app` on `listener` until `stop` turns true, then lets open connections finish their
/// current request and returns when all are closed. With `tls`, each connection is a TLS one
/// (the handshake within the header-read timeout), and its client certificate goes into every
/// request's extensions (`mtls::TlsConnection`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: HttpSettings,
    mut stop: watch::Receiver<bool>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = stopped(&mut stop) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let Some(tls) = tls.clone() else {
            let service = with_extensions(&app, peer, None);
            let connection = graceful.watch(
                builder(&settings)
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)),
            );
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, %peer, "connection closed with an error");
                }
                drop(slot);
            });
            continue;
        };
        let (app, settings, watcher) = (app.clone(), settings.clone(), graceful.watcher());
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(settings.header_read_timeout, tls.accept(stream));
            let stream = match handshake.await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let certificate = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|leaf| Arc::new(leaf.to_vec()));
            let connection = crate::mtls::TlsConnection { certificate };
            let service = with_extensions(&app, peer, Some(connection));
            let served = watcher.watch(
                builder(&settings)
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)),
            );
            if let Err(e) = served.await {
                tracing::debug!(error = %e, %peer, "connection closed with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

fn builder(settings: &HttpSettings) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    builder
}

/// The app with the connection's peer and TLS state in every request's extensions: handlers
/// that need them (sign-in throttling, mutual TLS) read them there.
fn with_extensions(
    app: &Router,
    peer: std::net::SocketAddr,
    tls: Option<crate::mtls::TlsConnection>,
) -> impl tower::Service<
    axum::extract::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    app.clone()
        .map_request(move |mut request: axum::extract::Request<Incoming>| {
            request.extensions_mut().insert(PeerAddr(peer));
            if let Some(tls) = &tls {
                request.extensions_mut().insert(tls.clone());
            }
            request
        })
}
