//! `POST /token` (RFC 6749 §3.2): authenticate the client, run the grant, answer per §5.1.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tessera_core::grants;
use tessera_core::protocol::token::TokenRequest;

use tessera_core::model::Client;

use super::AppState;
use super::cors;
use super::error::ApiError;
use super::form::FormRequest;

/// The token endpoint: the form is read into a typed request once the client is authenticated
/// (RFC 6749 §5.2 reports `invalid_client` before anything about the grant), then core
/// dispatches it. From then on the answer, tokens or an error, is readable by the client's
/// registered origins (SEC-64); before, by none.
pub async fn post_token(
    State(state): State<AppState>,
    posted: FormRequest,
) -> Result<Response, ApiError> {
    posted.form.required("grant_type")?;
    let client = state.authenticate(&posted).await?;
    let origin = cors::allowed_origin(&posted.headers, &client);
    let answer = exchange(&state, &posted, &client)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    Ok(cors::allow(answer, origin))
}

/// Runs the grant for the authenticated `client`.
async fn exchange(
    state: &AppState,
    posted: &FormRequest,
    client: &Client,
) -> Result<Response, ApiError> {
    let request = TokenRequest::parse(&posted.form)?;
    let ring = state.keys.current();
    let ctx = state.token_context(&ring, Some(&posted.context));
    let response = grants::exchange(&ctx, state.store.as_ref(), client, &request).await?;
    // RFC 6749 §5.1: JSON with `Cache-Control: no-store` and `Pragma: no-cache`.
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(response),
    )
        .into_response())
}
