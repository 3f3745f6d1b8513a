//! `POST /revoke` (RFC 7009).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_core::tokens::revoke::revoke;

use super::error::ApiError;
use super::form::FormRequest;
use super::{AppState, cors};

/// The revocation endpoint: 200 for revoked and for unknown tokens alike (RFC 7009 §2.2).
/// Once the client is authenticated, its registered origins may read the answer (SEC-64).
pub async fn post_revoke(
    State(state): State<AppState>,
    posted: FormRequest,
) -> Result<Response, ApiError> {
    let token = posted.form.required("token")?;
    posted.form.one("token_type_hint")?;
    let client = state.authenticate(&posted).await?;
    let origin = cors::allowed_origin(&posted.headers, &client);
    let ring = state.keys.current();
    let lookup = state.token_lookup(&ring);
    let revoked = match state.check_dpop_if_sent(&posted.context).await {
        Ok(()) => revoke(token, &client, &lookup).await,
        Err(e) => Err(e),
    };
    let answer = match revoked {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(e) => ApiError(e).into_response(),
    };
    Ok(cors::allow(answer, origin))
}
