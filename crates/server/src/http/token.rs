//! `POST /token` (RFC 6749 §3.2): authenticate the client, run the grant, answer per §5.1.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::grants::{authorization_code, client_credentials, refresh_token};
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::paths;
use tessera_core::tokens::access_token::IssuedAccessToken;

use super::AppState;
use super::error::ApiError;
use super::form::read_form;

/// RFC 6749 §5.1 successful response.
#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<&'a str>,
}

/// The token endpoint.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = read_form(&headers, &uri, &body)?;
    let grant_type = form.required("grant_type")?;
    let client = state.authenticate(&headers, &form, paths::TOKEN).await?;
    let ring = state.keys.current();
    let ctx = state.token_context(&ring);
    let users = state.store.as_ref();
    let response = match grant_type {
        client_credentials::GRANT_TYPE => {
            let issued = client_credentials::exchange(&ctx, &client, &form).await?;
            token_response(&issued, None, None)
        }
        authorization_code::GRANT_TYPE => {
            let t = authorization_code::exchange(&ctx, users, &client, &form).await?;
            token_response(&t.access, t.refresh_token.as_deref(), t.id_token.as_deref())
        }
        refresh_token::GRANT_TYPE => {
            let t = refresh_token::exchange(&ctx, users, &client, &form).await?;
            token_response(&t.access, Some(&t.refresh_token), t.id_token.as_deref())
        }
        other => {
            return Err(OAuthError::UnsupportedGrantType(
                format!("grant type `{other}` is not supported").into(),
            )
            .into());
        }
    };
    Ok(response)
}

/// RFC 6749 §5.1: JSON with `Cache-Control: no-store` and `Pragma: no-cache`.
fn token_response(
    issued: &IssuedAccessToken,
    refresh_token: Option<&str>,
    id_token: Option<&str>,
) -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(TokenResponse {
            access_token: &issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            scope: &issued.scope,
            refresh_token,
            id_token,
        }),
    )
        .into_response()
}
