//! `POST /revoke` (RFC 7009).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tessera_core::tokens::revoke::revoke;

use super::AppState;
use super::context::Context;
use super::error::ApiError;
use super::form::read_form;

/// The revocation endpoint: 200 for revoked and for unknown tokens alike (RFC 7009 §2.2).
pub async fn revocation(
    State(state): State<AppState>,
    Context(request_context): Context,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = read_form(&headers, &uri, &body)?;
    let token = form.required("token")?;
    form.one("token_type_hint")?;
    let client = state
        .authenticate(&request_context, &headers, &form)
        .await?;
    let ring = state.keys.current();
    let lookup = state.token_lookup(&ring);
    revoke(token, &client, &lookup).await?;
    Ok((StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response())
}
