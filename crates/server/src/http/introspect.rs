//! `POST /introspect` (RFC 7662): for APIs (authenticated with their secret) and clients.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use tessera_core::clients::{PresentedCredentials, authenticate_api, authenticate_client};
use tessera_core::protocol::paths;
use tessera_core::tokens::introspect::{Caller, TokenLookup, introspect};

use super::AppState;
use super::error::ApiError;
use super::form::{authorization, read_form};

/// The introspection endpoint.
pub async fn introspection(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = read_form(&headers, &uri, &body)?;
    let token = form.required("token")?;
    // RFC 7662 §2.1: the hint may speed up the lookup; it is not trusted, and the token's
    // own form decides how it is looked up.
    form.one("token_type_hint")?;
    let presented = PresentedCredentials::extract(authorization(&headers)?, &form)?;
    let client;
    let caller = match authenticate_api(&state.config.resources.api_resources, &presented) {
        Some(api) => Caller::Api(api?),
        None => {
            client = authenticate_client(
                state.store.as_ref(),
                &presented,
                &state.assertion_audience(paths::INTROSPECT),
            )
            .await?;
            Caller::Client(&client)
        }
    };
    let ring = state.keys.current();
    let lookup = TokenLookup {
        issuer: &state.config.issuer,
        now: state.clock.now(),
        ring: &ring,
        grants: state.store.as_ref(),
    };
    let response = introspect(token, caller, &lookup).await?;
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(response),
    )
        .into_response())
}
