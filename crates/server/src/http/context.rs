//! The request context extractor: what protocol code may know of a request beyond its
//! parameters, read once (`tessera_core::protocol::context`).

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tessera_core::protocol::context::RequestContext;

use super::AppState;
use crate::connections::PeerAddr;

/// The request's [`RequestContext`], for handlers.
#[derive(Debug, Clone)]
pub struct Context(pub RequestContext);

impl FromRequestParts<AppState> for Context {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        // The endpoint as the issuer names it: routes sit at the issuer's paths.
        let url = format!("{}{}", state.config.issuer, parts.uri.path());
        let dpop = parts
            .headers
            .get_all("dpop")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        let peer = parts.extensions.get::<PeerAddr>().map(|p| p.0.ip());
        Ok(Context(RequestContext {
            method: parts.method.as_str().to_owned(),
            url,
            dpop,
            peer,
            client_certificate: client_certificate(parts, peer, state),
        }))
    }
}

/// The client's TLS certificate (RFC 8705): the handshake's, on our own TLS listener, where no
/// header counts; otherwise the `[tls] client_certificate_header` of a TLS-terminating proxy
/// in `[tls] client_certificate_proxies` (RFC 9440), and only of one (SEC-68, CVE-59).
fn client_certificate(
    parts: &Parts,
    peer: Option<std::net::IpAddr>,
    state: &AppState,
) -> Option<Vec<u8>> {
    if let Some(tls) = parts.extensions.get::<crate::mtls::TlsConnection>() {
        return tls.certificate.as_ref().map(|c| c.to_vec());
    }
    let header = state.config.tls.header?;
    let peer = peer?;
    let trusted = &state.config.tls.proxies;
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return None;
    }
    let value = parts.headers.get(header.name())?.to_str().ok()?;
    crate::mtls::certificate_from_header(header, value)
}
