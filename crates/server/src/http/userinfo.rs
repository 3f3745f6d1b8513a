//! `GET` and `POST /userinfo` (OIDC Core §5.3): the signed-in user's claims for a bearer
//! access token, sent in the Authorization header (RFC 6750 §2.1) or, with POST, in the form
//! body (§2.2); never both.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::form::Form;
use tessera_core::userinfo::userinfo;

use super::AppState;
use super::error::ApiError;
use super::form::read_form;

/// RFC 6750 §3.1: a request without any token gets a bare challenge, no error code.
fn no_token() -> Response {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer realm="tessera""#),
    );
    let (parts, _) = response.into_parts();
    let body = super::error::json_error(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "an access token is required",
    )
    .into_body();
    Response::from_parts(parts, body)
}

/// The bearer token in the Authorization header (RFC 6750 §2.1), if any.
fn header_token(headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
    let Some(value) = super::form::authorization(headers)
        .map_err(|_| OAuthError::InvalidRequest("the Authorization header is malformed".into()))?
    else {
        return Ok(None);
    };
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(OAuthError::InvalidRequest(
            "the Authorization header must use the Bearer scheme".into(),
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(OAuthError::InvalidRequest(
            "the Bearer credentials are empty".into(),
        ));
    }
    Ok(Some(token.to_string()))
}

async fn answer(state: &AppState, token: &str) -> Response {
    let ring = state.keys.current();
    match userinfo(
        token,
        &state.token_lookup(&ring),
        state.store.as_ref(),
        &state.config.resources,
    )
    .await
    {
        Ok(claims) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(claims),
        )
            .into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

/// `GET /userinfo`
pub async fn userinfo_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match header_token(&headers) {
        Ok(Some(token)) => answer(&state, &token).await,
        Ok(None) => no_token(),
        Err(e) => ApiError(e).into_response(),
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
        Err(e) => return ApiError(e).into_response(),
    };
    // A POST without a body is fine when the token is in the header.
    let form = if body.is_empty() && in_header.is_some() {
        Form::default()
    } else {
        match read_form(&headers, &uri, &body) {
            Ok(f) => f,
            Err(e) => return ApiError(e).into_response(),
        }
    };
    let in_body = match form.one("access_token") {
        Ok(t) => t.map(str::to_string),
        Err(e) => return ApiError(e).into_response(),
    };
    match (in_header, in_body) {
        (Some(_), Some(_)) => ApiError(OAuthError::InvalidRequest(
            "send the access token in one place only (RFC 6750 §2)".into(),
        ))
        .into_response(),
        (Some(token), None) | (None, Some(token)) => answer(&state, &token).await,
        (None, None) => no_token(),
    }
}
