//! `POST /introspect` (RFC 7662): for APIs (authenticated with their secret) and clients.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tessera_core::clients::{PresentedCredentials, authenticate_api};
use tessera_core::protocol::{OAuthError, OrServerError as _};
use tessera_core::tokens::KeyRing;
use tessera_core::tokens::introspect::{Caller, introspect};
use tessera_core::tokens::jws::sign_compact;

use super::AppState;
use super::error::ApiError;
use super::form::{FormRequest, authorization};

/// The introspection endpoint.
pub async fn post_introspect(
    State(state): State<AppState>,
    posted: FormRequest,
) -> Result<Response, ApiError> {
    let form = &posted.form;
    let token = form.required("token")?;
    // RFC 7662 §2.1: the hint may speed up the lookup; it is not trusted, and the token's
    // own form decides how it is looked up.
    form.one("token_type_hint")?;
    let presented = PresentedCredentials::extract(authorization(&posted.headers)?, form)?;
    let client;
    let resources = state.resources.current();
    let caller = match authenticate_api(&resources.api_resources, &presented) {
        Some(api) => Caller::Api(api?),
        None => {
            client = (state.authenticate_presented(&presented, &posted.context)).await?;
            state.check_dpop_if_sent(&posted.context).await?;
            Caller::client(&client)?
        }
    };
    let (caller_id, limited) = (caller.id(), caller.is_limited());
    let started = state.clock.now_millis();
    if limited
        && let Err(wait) = state
            .scan_limit
            .check(caller_id, started)
            .await
            .map_err(OAuthError::from)?
    {
        return Ok(super::error::too_many_requests(
            "too many inactive tokens introspected by this caller in a minute; retry later",
            wait,
        ));
    }
    let ring = state.keys.current();
    let lookup = state.token_lookup(&ring);
    let response = introspect(token, caller, &lookup).await?;
    if limited && response.get("active") != Some(&Value::Bool(true)) {
        (state.scan_limit.record_inactive(caller_id, started).await).map_err(OAuthError::from)?;
    }
    if wants_jwt(&posted.headers) {
        return jwt_response(&state, &ring, caller_id, lookup.now, response);
    }
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(response),
    )
        .into_response())
}

/// RFC 9701 §4: the caller asks for a signed response with this media type.
const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

fn wants_jwt(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case(JWT_MEDIA_TYPE)
        })
}

/// RFC 9701 §5: a JWT with `iss`, `aud` (the caller), `iat` and the RFC 7662 answer in
/// `token_introspection`; the introspected token's own claims stay inside that member so the
/// response can never pass for an access token.
fn jwt_response(
    state: &AppState,
    ring: &KeyRing,
    audience: &str,
    now: i64,
    introspection: Value,
) -> Result<Response, ApiError> {
    let alg = state.default_alg();
    let key = ring
        .signing_key(alg)
        .or_server_error("finding the signing key")?;
    let claims = json!({
        "iss": state.config.issuer,
        "aud": audience,
        "iat": now,
        "token_introspection": introspection,
    });
    let jwt =
        sign_compact(key, "token-introspection+jwt", &claims).or_server_error("signing a token")?;
    Ok((
        [
            (header::CONTENT_TYPE, JWT_MEDIA_TYPE),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        jwt,
    )
        .into_response())
}
