//! `POST /token` (RFC 6749 §3.2): authenticate the client, run the grant, answer per §5.1.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use tessera_core::grants;
use tessera_core::protocol::token::TokenRequest;

use super::AppState;
use super::context::Context;
use super::error::ApiError;
use super::form::read_form;

/// The token endpoint: the form is read into a typed request once the client is authenticated
/// (RFC 6749 §5.2 reports `invalid_client` before anything about the grant), then core
/// dispatches it.
pub async fn post_token(
    State(state): State<AppState>,
    Context(request_context): Context,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = read_form(&headers, &uri, &body)?;
    form.required("grant_type")?;
    let client = state
        .authenticate(&request_context, &headers, &form)
        .await?;
    let request = TokenRequest::parse(&form)?;
    let ring = state.keys.current();
    let ctx = state.token_context(&ring);
    let response = grants::exchange(&ctx, state.store.as_ref(), &client, &request).await?;
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
