//! JWT Secured Authorization Response Mode (JARM, OpenID Foundation, §2.1, §4.1): a response in
//! a `*.jwt` mode carries one parameter, `response`, a JWT signed with our key for the client's
//! `authorization_signed_response_alg` that holds the response's parameters (a code and
//! `state`, or an error) with `iss`, `aud` (the client) and `exp`; for a client that registered
//! `authorization_encrypted_response_alg`, that JWT is then encrypted to its key as a nested
//! JWT (JARM §2.3, RFC 7519 §5.2 `cty: JWT`).

use serde_json::{Map, Value, json};
use tessera_core::authorize::AuthorizationResponse;
use tessera_core::protocol::{OAuthError, OrServerError as _};
use tessera_core::tokens::jws::sign_compact;

use crate::http::AppState;

/// How long a JWT response is accepted (JARM §4.1 recommends at most 10 minutes; a redirect
/// is followed at once).
const RESPONSE_LIFETIME: i64 = 300;

/// `response` signed as a JWT when its mode asks for one; as it was otherwise. The mode becomes
/// the one the JWT travels in (query, fragment or form post).
pub fn sign_response(
    state: &AppState,
    mut response: AuthorizationResponse,
) -> Result<AuthorizationResponse, OAuthError> {
    let Some(signing) = response.signing.take() else {
        return Ok(response);
    };
    let ring = state.keys.current();
    let key = ring
        .signing_key(signing.alg)
        .or_server_error("signing a JWT authorization response")?;
    let mut claims: Map<String, Value> = response
        .params
        .iter()
        .map(|(name, value)| (name.to_string(), json!(value)))
        .collect();
    // The parameters carry `iss` already (RFC 9207): the same value.
    claims.insert("iss".into(), json!(state.config.issuer));
    claims.insert("aud".into(), json!(signing.client_id));
    claims.insert("exp".into(), json!(state.clock.now() + RESPONSE_LIFETIME));
    let mut jwt = sign_compact(key, "JWT", &claims)
        .or_server_error("signing a JWT authorization response")?;
    if let Some(e) = &signing.encryption {
        jwt = tessera_core::tokens::jwe::encrypt_compact(
            jwt.as_bytes(),
            &e.key,
            (&e.encryption.alg, &e.encryption.enc),
            Some("JWT"),
        )
        .or_server_error("encrypting a JWT authorization response")?;
    }
    response.params = vec![("response", jwt)];
    response.response_mode = response.response_mode.delivery();
    Ok(response)
}
