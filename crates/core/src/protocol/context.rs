//! What an endpoint knows of the HTTP request beyond its parameters, read once at the edge:
//! the protocols that bind a request to its transport (client assertions' audience, DPoP
//! proofs, mutual TLS, per-address limits) read it here, never from the HTTP layer.

use std::net::IpAddr;

/// The request, as protocol code may see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The HTTP method, upper case (RFC 9449 §4.2 `htm`).
    pub method: String,
    /// The endpoint's absolute URL: the issuer and the path, no query or fragment. A client
    /// assertion's `aud` may name it (RFC 7523 §3); a DPoP proof's `htu` must (RFC 9449 §4.3).
    pub url: String,
    /// The `DPoP` header's values, as sent (RFC 9449 §4.1: exactly one is valid).
    pub dpop: Vec<String>,
    /// The address of the connection's peer.
    pub peer: Option<IpAddr>,
    /// The client's certificate (DER) from a mutual-TLS connection (RFC 8705 §2).
    pub client_certificate: Option<Vec<u8>>,
}

impl RequestContext {
    /// A request to `url` with `method` and nothing else known about it.
    pub fn new(method: &str, url: String) -> RequestContext {
        RequestContext {
            method: method.to_owned(),
            url,
            ..RequestContext::default()
        }
    }
}
