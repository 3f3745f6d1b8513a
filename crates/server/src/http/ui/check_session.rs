//! The check-session iframe (OpenID Connect Session Management 1.0 §3.2): a page clients load
//! in a hidden iframe to learn, without a round trip, whether the user's session changed.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::http::AppState;

const SCRIPT: &str = include_str!("../../../templates/check_session.js");

/// `GET /check_session`: framed by clients, so `frame-ancestors` is open; it runs only our
/// script and reads only the browser-state cookie.
pub async fn check_session(State(state): State<AppState>) -> Response {
    let base = state.config.issuer.trim_end_matches('/');
    let html = format!(
        "<!doctype html><html data-cookie=\"{}\"><head><meta charset=\"utf-8\"><title>Session</title>\
         <script src=\"{base}/assets/check_session.js\"></script></head><body></body></html>",
        state.cookies.browser_state
    );
    let mut response = html.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; script-src 'self'; frame-ancestors *"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// `GET /assets/check_session.js`
pub async fn check_session_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}
