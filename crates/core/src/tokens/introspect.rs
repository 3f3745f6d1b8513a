//! Token introspection (RFC 7662): is this one of our live access tokens, and may this caller
//! learn about it?

use serde_json::{Value, json};

use super::KeyRing;
use super::access_token::{ACCESS_TOKEN_TYP, AccessTokenClaims, REFERENCE_TOKEN};
use super::verify::{looks_like_jws, verify_own_jws};
use crate::clock::UnixTime;
use crate::crypto::handle_digest;
use crate::model::{ApiResource, Client};
use crate::protocol::OAuthError;
use crate::store::GrantStore;

/// Reference handles are 43 characters; anything far longer is not one of ours.
const MAX_REFERENCE_HANDLE: usize = 256;

/// Clock difference between instances tolerated on `nbf`.
const NBF_LEEWAY: i64 = 60;

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// An API, authenticated with its secret: sees tokens whose audience includes it.
    Api(&'a ApiResource),
    /// A client: sees the tokens issued to it.
    Client(&'a Client),
}

/// What introspection needs.
#[derive(Clone, Copy)]
pub struct TokenLookup<'a> {
    /// Our issuer identifier.
    pub issuer: &'a str,
    /// Now.
    pub now: UnixTime,
    /// Keys for JWT access tokens.
    pub ring: &'a KeyRing,
    /// Store for reference tokens.
    pub grants: &'a dyn GrantStore,
}

/// The claims of `token` if it is a live access token we issued (JWT or reference).
/// Expired, revoked, foreign, malformed or unknown tokens give `None`, never an error; only a
/// store failure is an error.
pub async fn live_access_token(
    token: &str,
    lookup: &TokenLookup<'_>,
) -> Result<Option<AccessTokenClaims>, OAuthError> {
    let claims: Option<AccessTokenClaims> = if looks_like_jws(token) {
        // Typed deserialisation: `exp` as a string or null is refused, not read as absent.
        verify_own_jws(token, lookup.ring, ACCESS_TOKEN_TYP)
            .and_then(|c| serde_json::from_value(Value::Object(c)).ok())
    } else if token.len() <= MAX_REFERENCE_HANDLE {
        lookup
            .grants
            .find_grant(&handle_digest(token))
            .await?
            .filter(|g| g.kind == REFERENCE_TOKEN && g.consumed_at.is_none())
            .and_then(|g| serde_json::from_value(g.data).ok())
    } else {
        None
    };
    Ok(claims.filter(|c| {
        c.iss == lookup.issuer && c.exp > lookup.now && c.nbf <= lookup.now + NBF_LEEWAY
    }))
}

fn audience_contains(aud: &Value, name: &str) -> bool {
    match aud {
        Value::String(s) => s == name,
        Value::Array(items) => items.iter().any(|a| a.as_str() == Some(name)),
        _ => false,
    }
}

/// The RFC 7662 §2.2 response for `token` as seen by `caller`.
pub async fn introspect(
    token: &str,
    caller: Caller<'_>,
    lookup: &TokenLookup<'_>,
) -> Result<Value, OAuthError> {
    let visible = live_access_token(token, lookup)
        .await?
        .filter(|c| match caller {
            Caller::Api(api) => audience_contains(&c.aud, &api.name),
            Caller::Client(client) => c.client_id == client.client_id,
        });
    Ok(match visible {
        None => json!({ "active": false }),
        Some(c) => {
            let mut response = json!({
                "active": true,
                "token_type": "Bearer",
                "iss": c.iss,
                "sub": c.sub,
                "aud": c.aud,
                "client_id": c.client_id,
                "exp": c.exp,
                "iat": c.iat,
                "nbf": c.nbf,
                "jti": c.jti,
            });
            if let (Some(scope), Some(obj)) = (c.scope, response.as_object_mut()) {
                obj.insert("scope".into(), Value::String(scope));
            }
            response
        }
    })
}
