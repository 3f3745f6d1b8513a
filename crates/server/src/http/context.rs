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
        Ok(Context(RequestContext {
            method: parts.method.as_str().to_owned(),
            url,
            dpop,
            peer: parts.extensions.get::<PeerAddr>().map(|p| p.0.ip()),
            client_certificate: None,
        }))
    }
}
