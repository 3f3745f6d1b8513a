//! `POST /token` (RFC 6749 §3.2): authenticate the client, run the grant, answer per §5.1.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tessera_core::grants::{self, TokenContext};
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
    let (ring, resources) = (state.keys.current(), state.resources.current());
    let nonces = state.dpop_nonces();
    let ctx = TokenContext {
        dpop_nonces: &nonces,
        ..state.token_context((&ring, &resources), Some(&posted.context))
    };
    let response = grants::exchange(&ctx, state.store.as_ref(), client, &request).await?;
    // RFC 6749 §5.1: JSON with `Cache-Control: no-store` and `Pragma: no-cache`.
    let mut answer = (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(response),
    )
        .into_response();
    with_dpop_nonce(&mut answer, &nonces);
    Ok(answer)
}

/// RFC 9449 §8.2: where nonces are required, every answer gives out the current one, so that a
/// client's next proof carries it without a refusal first.
pub fn with_dpop_nonce(response: &mut Response, nonces: &[String]) {
    if let Some(value) = nonces.first().and_then(|n| HeaderValue::from_str(n).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("dpop-nonce"), value);
    }
}
