//! Cross-origin calls from single-page apps (Fetch Standard §3.2, the CORS protocol; SEC-64).
//!
//! Only the token, revocation and userinfo endpoints take them, and only from the origins the
//! caller's client registered (`allowed_cors_origins`, exact). A response carries
//! `Access-Control-Allow-Origin` only once its client is known from verified data: the
//! authenticated client at the token and revocation endpoints, a live access token's client
//! at userinfo. An unknown client, a failed authentication or a bad token gets no CORS
//! headers, whatever the request claims (CVE-47). `Access-Control-Allow-Credentials` is never
//! sent: these calls carry their credentials in headers and bodies, never in cookies.
//! Discovery and the JWKS are public documents readable from any origin; the pages (authorize,
//! login, consent, account) send no CORS headers at all.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tessera_core::model::Client;
use tessera_core::protocol::paths;
use tower_http::set_header::SetResponseHeaderLayer;

use super::AppState;

/// How long a browser may keep a preflight's answer (seconds).
const PREFLIGHT_MAX_AGE: &str = "600";

/// The request headers a cross-origin call may send: client or bearer credentials, the form's
/// type, and a DPoP proof (RFC 9449 §4.1).
const ALLOWED_HEADERS: &str = "authorization, content-type, dpop";

/// The response headers a page may read besides the safelisted ones: the challenge of a
/// refused token (RFC 6750 §3, RFC 9449 §7.1) and the nonce for the next DPoP proof (§8).
const EXPOSED_HEADERS: &str = "www-authenticate, dpop-nonce";

/// The request's `Origin`, when it sent exactly one.
fn request_origin(headers: &HeaderMap) -> Option<&HeaderValue> {
    let mut values = headers.get_all(header::ORIGIN).iter();
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// The `Access-Control-Allow-Origin` of a response to `client`: the request's `Origin` when
/// the client registered it. A cross-origin request from any other origin is logged, since the
/// page will only see a network error.
pub fn allowed_origin(headers: &HeaderMap, client: &Client) -> Option<HeaderValue> {
    let origin = request_origin(headers)?;
    let text = origin.to_str().ok()?;
    if client.allows_origin(text) {
        Some(origin.clone())
    } else {
        tracing::info!(
            origin = text,
            client_id = client.client_id,
            "cross-origin call from an origin the client did not register in \
             allowed_cors_origins; answered without CORS headers"
        );
        None
    }
}

/// `response`, readable by a page of `origin` when there is one.
pub fn allow(mut response: Response, origin: Option<HeaderValue>) -> Response {
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    response
}

/// `Vary: Origin` on every response of an endpoint whose CORS headers depend on the origin,
/// so that no cache hands one origin's answer to another (Fetch Standard §3.2.5).
pub fn vary_origin() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::appending(header::VARY, HeaderValue::from_static("origin"))
}

/// The methods an endpoint takes cross-origin.
fn methods_of(path: &str) -> &'static str {
    if path == paths::USERINFO {
        "GET, POST"
    } else {
        "POST"
    }
}

/// `OPTIONS` on the token, revocation and userinfo endpoints: a CORS preflight (Fetch Standard
/// §4.8). It carries no credentials, so it is allowed for an origin some enabled client
/// registered and a method the endpoint takes; the call itself is then checked against its own
/// client. Otherwise the answer has no CORS headers and the browser stops there.
pub async fn preflight(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let methods = methods_of(uri.path());
    let allow_header = format!("{methods}, OPTIONS");
    let plain = || {
        (
            StatusCode::NO_CONTENT,
            [(header::ALLOW, allow_header.clone())],
        )
            .into_response()
    };
    let Some(origin) = request_origin(&headers) else {
        return plain();
    };
    let origin_text = origin.to_str().unwrap_or_default();
    let method = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok());
    let method_ok = method
        .as_ref()
        .is_some_and(|m| methods.split(", ").any(|allowed| allowed == m.as_str()));
    if !method_ok || !state.clients.any_allows_origin(origin_text) {
        tracing::info!(
            origin = origin_text,
            method = method.as_ref().map(Method::as_str),
            reason = if method_ok {
                "no client registered the origin in allowed_cors_origins"
            } else {
                "the endpoint does not take that method"
            },
            "CORS preflight refused"
        );
        return plain();
    }
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()),
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(methods),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            ),
            (
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(PREFLIGHT_MAX_AGE),
            ),
        ],
    )
        .into_response()
}
