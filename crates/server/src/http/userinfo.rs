//! `GET` and `POST /userinfo` (OIDC Core §5.3): the signed-in user's claims for a bearer
//! access token, sent in the Authorization header (RFC 6750 §2.1) or, with POST, in the form
//! body (§2.2); never both.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::form::Form;
use tessera_core::protocol::token::TokenType;
use tessera_core::userinfo::userinfo;

use tessera_core::store::ClientStore as _;

use super::error::{bearer_error, no_token};
use super::form::read_form;
use super::{AppState, cors};

/// The bearer token in the Authorization header (RFC 6750 §2.1), if any.
fn header_token(headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
    let Some(value) = super::form::authorization(headers)
        .map_err(|_| OAuthError::InvalidRequest("the Authorization header is malformed".into()))?
    else {
        return Ok(None);
    };
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    // Credentials of another scheme are no bearer token (RFC 6750 §3.1: a bare challenge).
    if !scheme.eq_ignore_ascii_case(TokenType::Bearer.as_str()) {
        return Ok(None);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(OAuthError::InvalidRequest(
            "the bearer credentials are empty".into(),
        ));
    }
    Ok(Some(token.to_string()))
}

/// The claims for `token`; readable by the registered origins of the token's client (SEC-64),
/// and by no origin when the token is refused.
async fn answer(state: &AppState, headers: &HeaderMap, token: &str) -> Response {
    let ring = state.keys.current();
    let info = match userinfo(token, &state.token_lookup(&ring), &state.config.resources).await {
        Ok(info) => info,
        Err(e) => return bearer_error(e),
    };
    // The token is live, so its client exists; a store failure only costs the CORS headers.
    let origin = match state.clients.find_client(&info.client_id).await {
        Ok(Some(client)) => cors::allowed_origin(headers, &client),
        Ok(None) | Err(_) => None,
    };
    let response = (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(info.claims),
    )
        .into_response();
    cors::allow(response, origin)
}

/// `GET /userinfo`
pub async fn userinfo_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match header_token(&headers) {
        Ok(Some(token)) => answer(&state, &headers, &token).await,
        Ok(None) => no_token(),
        Err(e) => bearer_error(e),
    }
}

/// `POST /userinfo`
pub async fn userinfo_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let in_header = match header_token(&headers) {
        Ok(t) => t,
        Err(e) => return bearer_error(e),
    };
    // A POST without a body is fine when the token is in the header.
    let form = if body.is_empty() && in_header.is_some() {
        Form::default()
    } else {
        match read_form(&headers, &uri, &body) {
            Ok(f) => f,
            Err(e) => return bearer_error(e),
        }
    };
    let in_body = match form.one("access_token") {
        Ok(t) => t.map(str::to_string),
        Err(e) => return bearer_error(e),
    };
    match (in_header, in_body) {
        (Some(_), Some(_)) => bearer_error(OAuthError::InvalidRequest(
            "send the access token in one place only (RFC 6750 §2)".into(),
        )),
        (Some(token), None) | (None, Some(token)) => answer(&state, &headers, &token).await,
        (None, None) => no_token(),
    }
}
