//! Identity tokens (OIDC Core §2, §3.1.3.6).

use serde::Serialize;

use super::hash::left_half_hash;
use super::jws::sign_compact;
use super::{KeyError, SigningKey};
use crate::clock::UnixTime;

/// What goes into an identity token.
#[derive(Debug, Clone)]
pub struct IdTokenRequest<'a> {
    /// Issuer identifier.
    pub issuer: &'a str,
    /// The user.
    pub subject: &'a str,
    /// The client (the only audience, so no `azp` is needed).
    pub client_id: &'a str,
    /// Issue time.
    pub now: UnixTime,
    /// Lifetime in seconds.
    pub lifetime: u64,
    /// When the user authenticated.
    pub auth_time: UnixTime,
    /// The authorization request's nonce, echoed exactly.
    pub nonce: Option<&'a str>,
    /// Authentication methods (`pwd`).
    pub amr: &'a [String],
    /// The authentication context class, when asked for.
    pub acr: Option<&'a str>,
    /// Identity provider (`local`).
    pub idp: &'a str,
    /// Session id.
    pub sid: Option<&'a str>,
    /// The access token issued alongside, for `at_hash`.
    pub access_token: Option<&'a str>,
    /// The code issued alongside (hybrid flows), for `c_hash`.
    pub code: Option<&'a str>,
    /// User claims released into the token (never one of the claims the server sets).
    pub user_claims: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: UnixTime,
    iat: UnixTime,
    nbf: UnixTime,
    auth_time: UnixTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    // OIDC Core §2: an array of strings; none when the sign-in said nothing of its methods (an
    // OAuth 2.0 provider's).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    amr: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    idp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    c_hash: Option<String>,
    #[serde(flatten)]
    user_claims: &'a serde_json::Map<String, serde_json::Value>,
}

/// Signs an identity token with `key`.
pub fn issue_id_token(request: &IdTokenRequest<'_>, key: &SigningKey) -> Result<String, KeyError> {
    let alg = key.alg();
    let claims = Claims {
        iss: request.issuer,
        sub: request.subject,
        aud: request.client_id,
        exp: request
            .now
            .saturating_add(crate::clock::seconds(request.lifetime)),
        iat: request.now,
        nbf: request.now,
        auth_time: request.auth_time,
        nonce: request.nonce,
        amr: request.amr,
        acr: request.acr,
        idp: request.idp,
        sid: request.sid,
        at_hash: request.access_token.map(|t| left_half_hash(alg, t)),
        c_hash: request.code.map(|c| left_half_hash(alg, c)),
        user_claims: &request.user_claims,
    };
    sign_compact(key, "JWT", &claims)
}

/// The subject of an `id_token_hint` at the authorization endpoint (OIDC Core §3.1.2.1;
/// SEC-44, CVE-25): an identity token we signed, with our issuer, issued to `client_id`, and
/// not expired (an expired hint is accepted at sign-out only).
pub fn id_token_hint_subject(
    hint: &str,
    ring: &super::KeyRing,
    issuer: &str,
    client_id: &str,
    now: crate::clock::UnixTime,
) -> Option<String> {
    let claims = super::verify::verify_own_jws(hint, ring, "jwt")?;
    if claims.get("iss").and_then(|v| v.as_str()) != Some(issuer) {
        return None;
    }
    let for_client = match claims.get("aud")? {
        serde_json::Value::String(aud) => aud == client_id,
        serde_json::Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    // SEC-40: `exp` must be a number; a string or null is refused, not read as absent.
    let live = claims
        .get("exp")
        .and_then(|v| v.as_i64())
        .is_some_and(|exp| exp > now);
    if !for_client || !live {
        return None;
    }
    claims
        .get("sub")
        .and_then(|v| v.as_str())
        .map(str::to_string)
}
