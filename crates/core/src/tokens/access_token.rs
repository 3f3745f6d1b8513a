//! Access tokens: signed JWTs (RFC 9068) or reference handles, chosen per client.
//!
//! Every access token issued to a user is tied to a stored record: a reference token is its
//! record; a JWT's record is kept under [`jti_key`] of its `jti`. The record carries the grant
//! family and the session, so revoking either (a replayed code, a revoked refresh token, a
//! sign-out) deletes it and the token stops being active at introspection and userinfo. A
//! client's own JWT (client_credentials) has no record; revoking it writes a deny-list entry
//! under the same key that lives until the token expires.

use crate::protocol::OrServerError as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::jws::sign_compact;
use super::{KeyRing, SigningAlg};
use crate::clock::UnixTime;
use crate::crypto::{base64url, handle_digest, random_bytes, random_handle};
use crate::model::{AccessTokenType, Client, Grant, GrantKind};
use crate::protocol::OAuthError;
use crate::protocol::token::TokenType;
use crate::store::{GrantPayload, GrantStore};

/// The `typ` header of JWT access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The key of a JWT access token's record or deny-list entry.
pub fn jti_key(jti: &str) -> String {
    handle_digest(&format!("access_token_jti:{jti}"))
}

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
    /// When the user authenticated (RFC 9068 §2.2.1); present on every token issued to a user,
    /// which is tied to a stored record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<UnixTime>,
    /// The authentication context class achieved (RFC 9068 §2.2.1, OIDC Core §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods (RFC 8176).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The identity provider that authenticated the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// The sign-in session the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The key the token is bound to (RFC 9449 §6.1, RFC 7800 §3.1): only a request with a
    /// DPoP proof of that key may use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// Who acts for the subject, the actors before them nested inside (RFC 8693 §4.1): set by
    /// a token exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Value>,
    /// RFC 9396 §9.1: what the token authorizes besides its scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Vec<Value>>,
}

/// The confirmation claim of a sender-constrained token (RFC 7800 §3.1): a DPoP key, a TLS
/// client certificate, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 thumbprint of the DPoP key (RFC 9449 §6.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    /// The SHA-256 thumbprint of the client's TLS certificate (RFC 8705 §3.1).
    #[serde(rename = "x5t#S256", default, skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
}

impl Confirmation {
    /// The confirmation of a token bound to `jkt` and/or `x5t_s256`; `None` when neither.
    pub fn of(jkt: Option<String>, x5t_s256: Option<String>) -> Option<Confirmation> {
        (jkt.is_some() || x5t_s256.is_some()).then_some(Confirmation { jkt, x5t_s256 })
    }

    /// The token type a client uses it with (RFC 9449 §5: DPoP for a key-bound token; RFC
    /// 8705 §3: a certificate-bound token stays a Bearer token).
    pub fn token_type(cnf: Option<&Confirmation>) -> TokenType {
        match cnf.and_then(|c| c.jkt.as_ref()) {
            Some(_) => TokenType::DPoP,
            None => TokenType::Bearer,
        }
    }
}

impl AccessTokenClaims {
    /// Whether the token was issued to a user (RFC 9068 §2.2: a client's own token has the
    /// client as `sub`).
    pub fn is_for_user(&self) -> bool {
        self.auth_time.is_some() || self.sub != self.client_id
    }

    /// Whether a JWT is tied to a stored record: every token issued to a user since tokens
    /// carry the sign-in (`auth_time`).
    pub fn has_record(&self) -> bool {
        self.auth_time.is_some()
    }
}

/// The sign-in behind the tokens issued to a user; codes and refresh tokens store it with
/// their grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    /// When the user authenticated.
    pub auth_time: UnixTime,
    /// How (RFC 8176).
    pub amr: Vec<String>,
    /// The authentication context class, when one was achieved.
    #[serde(default)]
    pub acr: Option<String>,
    /// The identity provider (records made before it was recorded are local sign-ins).
    #[serde(default = "crate::login::local_idp")]
    pub idp: String,
    /// The session; ending it ends the token.
    pub sid: Option<String>,
}

/// What a user's access token record keeps besides the columns of its row: the payload of
/// the record a user's JWT access token lives with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordData {
    /// Claims asked for by name for userinfo (OIDC Core §5.5) and consented to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo_claims: Vec<String>,
}

impl GrantPayload for RecordData {
    const KIND: GrantKind = GrantKind::JwtAccessToken;
}

/// A reference token's record: its claims and what a JWT's record keeps, side by side in one
/// JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceRecord {
    /// The token's claims.
    #[serde(flatten)]
    pub claims: AccessTokenClaims,
    /// The rest.
    #[serde(flatten)]
    pub data: RecordData,
}

impl GrantPayload for ReferenceRecord {
    const KIND: GrantKind = GrantKind::ReferenceToken;

    /// Each part from the one object: no buffering through `flatten`, which would cost
    /// introspection much of its speed.
    fn read(stored: &Value) -> serde_json::Result<ReferenceRecord> {
        Ok(ReferenceRecord {
            claims: AccessTokenClaims::deserialize(stored)?,
            data: RecordData::deserialize(stored)?,
        })
    }
}

/// A revoked JWT access token that has no record (a client's own token): a deny-list entry
/// under [`jti_key`] until the token expires. It carries nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedAccessToken;

impl GrantPayload for RevokedAccessToken {
    const KIND: GrantKind = GrantKind::RevokedAccessToken;
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
    /// The grant family the token joins (so that revoking the family revokes it).
    pub family: Option<String>,
    /// The user's sign-in, for a token issued to a user; `None` for a client's own token.
    pub sign_in: Option<SignIn>,
    /// Claims asked for by name for userinfo, kept with the token's record.
    pub userinfo_claims: Vec<String>,
    /// The DPoP key (RFC 9449 §5) and TLS certificate (RFC 8705 §3) the token is bound to.
    pub cnf: Option<Confirmation>,
    /// Who acts for the subject (RFC 8693 §4.1).
    pub act: Option<Value>,
    /// The token expires by then at the latest (an exchanged token outlives no token it came
    /// from).
    pub not_after: Option<UnixTime>,
    /// RFC 9396 §9.1: the authorization details the token carries.
    pub authorization_details: Vec<Value>,
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
    /// `Bearer`, or `DPoP` for a token bound to a key (RFC 9449 §5).
    pub token_type: TokenType,
    /// RFC 9396 §7: its authorization details, for the token response.
    pub authorization_details: Vec<Value>,
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

/// An access token and the record to store before it is returned (a reference token, or a
/// user's JWT); the caller stores it, in the same transaction as the rest of the grant when
/// there is one.
pub fn prepare_access_token(
    request: AccessTokenRequest<'_>,
    ring: &KeyRing,
    alg: SigningAlg,
) -> Result<(IssuedAccessToken, Option<Grant>), OAuthError> {
    let exp = request
        .now
        .saturating_add(crate::clock::seconds(
            request.client.settings.access_token_lifetime,
        ))
        .min(request.not_after.unwrap_or(UnixTime::MAX));
    let lifetime = u64::try_from(exp.saturating_sub(request.now)).unwrap_or_default();
    let scope = request.scopes.join(" ");
    let sign_in = request.sign_in.clone().unwrap_or_default();
    let for_user = request.sign_in.is_some();
    let claims = AccessTokenClaims {
        iss: request.issuer.to_string(),
        exp,
        iat: request.now,
        nbf: request.now,
        aud: audience(&request.audiences),
        sub: request.subject.clone(),
        client_id: request.client.client_id.clone(),
        scope: (!scope.is_empty()).then(|| scope.clone()),
        jti: base64url(&random_bytes(16).or_server_error("drawing random bytes")?),
        auth_time: for_user.then_some(sign_in.auth_time),
        acr: sign_in.acr,
        amr: sign_in.amr,
        idp: for_user.then_some(sign_in.idp),
        sid: sign_in.sid.clone(),
        cnf: request.cnf.clone(),
        act: request.act.clone(),
        authorization_details: (!request.authorization_details.is_empty())
            .then(|| request.authorization_details.clone()),
    };
    let data = RecordData {
        userinfo_claims: request.userinfo_claims.clone(),
    };
    let (token, record) = match request.client.settings.access_token_type {
        AccessTokenType::Jwt => {
            let key = ring
                .signing_key(alg)
                .or_server_error("finding the signing key")?;
            let jwt = sign_compact(key, ACCESS_TOKEN_TYP, &claims)
                .or_server_error("signing an access token")?;
            let record = if for_user {
                let key = jti_key(&claims.jti);
                Some(token_record(key, &data, &claims, request.family.clone())?)
            } else {
                None
            };
            (jwt, record)
        }
        AccessTokenType::Reference => {
            let handle = random_handle().or_server_error("drawing random bytes")?;
            let stored = ReferenceRecord {
                claims: claims.clone(),
                data,
            };
            let key = handle_digest(&handle);
            let grant = token_record(key, &stored, &stored.claims, request.family.clone())?;
            (handle, Some(grant))
        }
    };
    let issued = IssuedAccessToken {
        token,
        expires_in: lifetime,
        scope,
        token_type: Confirmation::token_type(claims.cnf.as_ref()),
        authorization_details: request.authorization_details.clone(),
    };
    Ok((issued, record))
}

/// The stored record of an access token with `claims`, under `handle_digest`: bound to its
/// user, session and grant family, so that ending any of them ends the token.
fn token_record<T: GrantPayload>(
    handle_digest: String,
    payload: &T,
    claims: &AccessTokenClaims,
    family: Option<String>,
) -> Result<Grant, OAuthError> {
    Ok(Grant {
        subject: Some(claims.sub.clone()),
        session_id: claims.sid.clone(),
        family,
        ..Grant::new(
            handle_digest,
            &claims.client_id,
            payload,
            claims.iat,
            claims.exp,
        )?
    })
}
