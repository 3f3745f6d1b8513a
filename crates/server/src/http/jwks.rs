//! The JWKS endpoint (RFC 7517 §5): public keys only, serialised when the key ring changes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;

/// `public, max-age=` [`tessera_core::tokens::JWKS_CACHE_SECONDS`]; configuration validation
/// relies on this value when it checks `keys.propagation`.
const JWKS_CACHE_CONTROL: &str = "public, max-age=300";
const _: () = assert!(tessera_core::tokens::JWKS_CACHE_SECONDS == 300);

/// Serves the current key set. `max-age` is far below the propagation time of new keys, so a
/// relying party's cache always learns a key before it signs.
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let json = state.keys.current().jwks_json();
    (
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, JWKS_CACHE_CONTROL),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        Bytes::from_owner(json),
    )
}
