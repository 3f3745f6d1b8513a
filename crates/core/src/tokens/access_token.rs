//! Access tokens: signed JWTs (RFC 9068) or reference handles, chosen per client.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::jws::sign_compact;
use super::{KeyRing, SigningAlg};
use crate::clock::UnixTime;
use crate::crypto::{base64url, handle_digest, random_bytes, random_handle};
use crate::model::{AccessTokenType, Client, Grant};
use crate::protocol::OAuthError;
use crate::store::GrantStore;

/// The grant kind under which reference tokens are stored.
pub const REFERENCE_TOKEN: &str = "reference_token";

/// The `typ` header of JWT access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims of an access token (RFC 9068 §2.2), for a JWT and for a reference token alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Expiry.
    pub exp: UnixTime,
    /// Issued at.
    pub iat: UnixTime,
    /// Not before.
    pub nbf: UnixTime,
    /// Audience: a string for one resource, an array for several (RFC 7519 §4.1.3).
    pub aud: Value,
    /// The user, or the client itself for client_credentials (RFC 9068 §2.2).
    pub sub: String,
    /// The client (RFC 8693 §4.3).
    pub client_id: String,
    /// Granted scopes, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Unique id.
    pub jti: String,
}

/// What to put in an access token.
#[derive(Debug, Clone)]
pub struct AccessTokenRequest<'a> {
    /// Issuer identifier.
    pub issuer: &'a str,
    /// The client the token is for.
    pub client: &'a Client,
    /// The subject.
    pub subject: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Audiences (resource names).
    pub audiences: Vec<String>,
    /// Issue time.
    pub now: UnixTime,
    /// The grant family a reference token joins (so that revoking the family revokes it).
    pub family: Option<String>,
    /// The sign-in session a reference token belongs to (ending the session ends it).
    pub session_id: Option<String>,
}

/// An issued access token. Its `Debug` leaves the token out.
#[derive(Clone)]
pub struct IssuedAccessToken {
    /// The token as the client receives it.
    pub token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Granted scopes, space-separated.
    pub scope: String,
}

impl std::fmt::Debug for IssuedAccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedAccessToken")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

fn audience(audiences: &[String]) -> Value {
    match audiences {
        [one] => Value::String(one.clone()),
        many => Value::Array(many.iter().cloned().map(Value::String).collect()),
    }
}

/// Issues an access token in the form the client is registered for. A reference token is
/// stored (under its digest) before it is returned, so it is valid on every instance at once.
pub async fn issue_access_token(
    request: AccessTokenRequest<'_>,
    ring: &KeyRing,
    alg: SigningAlg,
    grants: &dyn GrantStore,
) -> Result<IssuedAccessToken, OAuthError> {
    let (issued, record) = prepare_access_token(request, ring, alg)?;
    if let Some(record) = record {
        grants.insert_grant(&record).await?;
    }
    Ok(issued)
}

/// An access token and, for a reference token, the record to store before it is returned
/// (the caller stores it, in the same transaction as the rest of the grant when there is one).
pub fn prepare_access_token(
    request: AccessTokenRequest<'_>,
    ring: &KeyRing,
    alg: SigningAlg,
) -> Result<(IssuedAccessToken, Option<Grant>), OAuthError> {
    let lifetime = request.client.access_token_lifetime;
    let exp = request
        .now
        .saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX));
    let scope = request.scopes.join(" ");
    let claims = AccessTokenClaims {
        iss: request.issuer.to_string(),
        exp,
        iat: request.now,
        nbf: request.now,
        aud: audience(&request.audiences),
        sub: request.subject.clone(),
        client_id: request.client.client_id.clone(),
        scope: (!scope.is_empty()).then(|| scope.clone()),
        jti: base64url(&random_bytes(16).map_err(|_| OAuthError::ServerError)?),
    };
    let (token, record) = match request.client.access_token_type {
        AccessTokenType::Jwt => {
            let key = ring.signing_key(alg).map_err(|_| OAuthError::ServerError)?;
            let jwt = sign_compact(key, ACCESS_TOKEN_TYP, &claims)
                .map_err(|_| OAuthError::ServerError)?;
            (jwt, None)
        }
        AccessTokenType::Reference => {
            let handle = random_handle().map_err(|_| OAuthError::ServerError)?;
            let grant = Grant {
                handle_digest: handle_digest(&handle),
                kind: REFERENCE_TOKEN.into(),
                client_id: claims.client_id.clone(),
                subject: Some(claims.sub.clone()),
                session_id: request.session_id.clone(),
                family: request.family.clone(),
                data: serde_json::to_value(&claims).map_err(|_| OAuthError::ServerError)?,
                created_at: request.now,
                expires_at: exp,
                consumed_at: None,
            };
            (handle, Some(grant))
        }
    };
    let issued = IssuedAccessToken {
        token,
        expires_in: lifetime,
        scope,
    };
    Ok((issued, record))
}
