//! Token introspection (RFC 7662): is this one of our live access tokens, and may this caller
//! learn about it?

use crate::tokens::access_token::Confirmation;
use serde_json::{Value, json};

use super::KeyRing;
use super::access_token::{
    ACCESS_TOKEN_TYP, AccessTokenClaims, RecordData, ReferenceRecord, RevokedAccessToken, jti_key,
};
use super::verify::{looks_like_jws, verify_own_jws};
use crate::clock::UnixTime;
use crate::crypto::handle_digest;
use crate::grants::refresh_token::RefreshData;
use crate::model::{ApiResource, Client, Grant, User};
use crate::protocol::OAuthError;
use crate::store::{ClientStore, GrantStore, UserStore};

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

impl<'a> Caller<'a> {
    /// An authenticated client as a caller. RFC 7662 §2.1: the caller must authenticate; a
    /// public client cannot.
    pub fn client(client: &'a Client) -> Result<Caller<'a>, OAuthError> {
        if client.is_public() {
            return Err(OAuthError::InvalidClient {
                description: "introspection needs an authenticated client".into(),
                used_authorization_header: false,
            });
        }
        Ok(Caller::Client(client))
    }

    /// Its name: the API's or the client's id.
    pub fn id(&self) -> &'a str {
        match self {
            Caller::Api(api) => &api.name,
            Caller::Client(client) => &client.client_id,
        }
    }

    /// RFC 7662 §4: whether its inactive answers are limited (token scanning). Only clients
    /// are: an API passes on the tokens its own callers send it, so a limit on it would let
    /// anyone who can call the API stop its introspection.
    pub fn is_limited(&self) -> bool {
        matches!(self, Caller::Client(_))
    }
}

/// What token lookups need.
#[derive(Clone, Copy)]
pub struct TokenLookup<'a> {
    /// Our issuer identifier.
    pub issuer: &'a str,
    /// The time of the lookup (expiry is compared with it).
    pub now: UnixTime,
    /// Keys for JWT access tokens.
    pub ring: &'a KeyRing,
    /// Token records, refresh tokens and deny-list entries.
    pub grants: &'a dyn GrantStore,
    /// Registered clients: a token lives only while its client is registered and enabled.
    pub clients: &'a dyn ClientStore,
    /// Users: a user's token lives only while the user exists and is enabled.
    pub users: &'a dyn UserStore,
}

/// A live access token.
#[derive(Debug, Clone)]
pub struct LiveAccessToken {
    /// Its claims.
    pub claims: AccessTokenClaims,
    /// What its record keeps (empty for a client's own token).
    pub data: RecordData,
    /// The user it was issued to, active; `None` for a client's own token.
    pub user: Option<User>,
    /// The grant family its record belongs to: ending the family ends the token.
    pub family: Option<String>,
}

/// The access token `token` if it is one we issued and it is live: signed by us (a JWT) or
/// stored (a reference token), not expired, not revoked, and its client, its user and the
/// grant it came from still there (SEC-25, SEC-26, SEC-34). Expired, revoked, foreign,
/// malformed or unknown tokens give `None`, never an error; only a store failure or a stored
/// record that does not read is an error.
pub async fn live_access_token(
    token: &str,
    lookup: &TokenLookup<'_>,
) -> Result<Option<LiveAccessToken>, OAuthError> {
    let found = if looks_like_jws(token) {
        jwt_access_token(token, lookup).await?
    } else if token.len() <= MAX_REFERENCE_HANDLE {
        lookup
            .grants
            .find_grant(&handle_digest(token))
            .await?
            .filter(|g| g.is::<ReferenceRecord>() && g.consumed_at.is_none())
            .map(|g| Ok::<_, OAuthError>((g.payload::<ReferenceRecord>()?, g.family)))
            .transpose()?
            .filter(|(r, _)| timely(&r.claims, lookup))
            .map(|(r, family)| (r.claims, r.data, family))
    } else {
        None
    };
    let Some((claims, data, family)) = found else {
        return Ok(None);
    };
    if !client_active(lookup, &claims.client_id).await? {
        return Ok(None);
    }
    let user = if claims.is_for_user() {
        match active_user(lookup, &claims.sub).await? {
            Some(user) => Some(user),
            None => return Ok(None),
        }
    } else {
        None
    };
    Ok(Some(LiveAccessToken {
        claims,
        data,
        user,
        family,
    }))
}

/// Issued by us, and within its lifetime.
fn timely(claims: &AccessTokenClaims, lookup: &TokenLookup<'_>) -> bool {
    claims.iss == lookup.issuer && claims.exp > lookup.now && claims.nbf <= lookup.now + NBF_LEEWAY
}

/// The claims of a JWT access token we signed that is within its lifetime; nothing else about
/// it is checked.
pub(crate) fn own_jwt_access_token(
    token: &str,
    lookup: &TokenLookup<'_>,
) -> Option<AccessTokenClaims> {
    // Typed deserialisation: `exp` as a string or null is refused, not read as absent.
    verify_own_jws(token, lookup.ring, ACCESS_TOKEN_TYP)
        .and_then(|c| serde_json::from_value::<AccessTokenClaims>(Value::Object(c)).ok())
        .filter(|c| timely(c, lookup))
}

/// A JWT access token of ours, with its record: a user's token lives exactly as long as its
/// record; a client's own token unless it is on the deny-list. A user's token issued before
/// tokens had records (no `auth_time`) is checked against its client and user only.
async fn jwt_access_token(
    token: &str,
    lookup: &TokenLookup<'_>,
) -> Result<Option<(AccessTokenClaims, RecordData, Option<String>)>, OAuthError> {
    let Some(claims) = own_jwt_access_token(token, lookup) else {
        return Ok(None);
    };
    let record = lookup.grants.find_grant(&jti_key(&claims.jti)).await?;
    Ok(if claims.has_record() {
        record
            .filter(|g| g.is::<RecordData>() && g.consumed_at.is_none())
            .map(|g| Ok::<_, OAuthError>((g.payload::<RecordData>()?, g.family)))
            .transpose()?
            .map(|(data, family)| (claims, data, family))
    } else if record.is_some_and(|g| g.is::<RevokedAccessToken>()) {
        None
    } else {
        Some((claims, RecordData::default(), None))
    })
}

async fn client_active(lookup: &TokenLookup<'_>, client_id: &str) -> Result<bool, OAuthError> {
    Ok(lookup.clients.client_enabled(client_id).await?)
}

async fn active_user(lookup: &TokenLookup<'_>, subject: &str) -> Result<Option<User>, OAuthError> {
    Ok(lookup
        .users
        .find_user_by_subject(subject)
        .await?
        .filter(|u| !u.disabled))
}

/// The live refresh token `token` of `client` (RFC 7662 §2.1: its client may introspect it),
/// with its client and user still active.
async fn live_refresh_token(
    token: &str,
    client: &Client,
    lookup: &TokenLookup<'_>,
) -> Result<Option<(Grant, RefreshData)>, OAuthError> {
    if token.len() > MAX_REFERENCE_HANDLE {
        return Ok(None);
    }
    let Some(grant) = lookup
        .grants
        .find_grant(&handle_digest(token))
        .await?
        .filter(|g| {
            g.is::<RefreshData>()
                && g.consumed_at.is_none()
                && g.expires_at > lookup.now
                && g.client_id == client.client_id
        })
    else {
        return Ok(None);
    };
    let data: RefreshData = grant.payload()?;
    let subject = grant.subject.clone().unwrap_or_default();
    if !client_active(lookup, &grant.client_id).await?
        || active_user(lookup, &subject).await?.is_none()
    {
        return Ok(None);
    }
    Ok(Some((grant, data)))
}

fn audience_contains(aud: &Value, name: &str) -> bool {
    match aud {
        Value::String(s) => s == name,
        Value::Array(items) => items.iter().any(|a| a.as_str() == Some(name)),
        _ => false,
    }
}

/// The RFC 7662 §2.2 response for `token` as seen by `caller`: an access token for its
/// client or an API in its audience, a refresh token for its client only (§2.1).
pub async fn introspect(
    token: &str,
    caller: Caller<'_>,
    lookup: &TokenLookup<'_>,
) -> Result<Value, OAuthError> {
    let visible = live_access_token(token, lookup)
        .await?
        .filter(|t| match caller {
            Caller::Api(api) => audience_contains(&t.claims.aud, &api.name),
            Caller::Client(client) => t.claims.client_id == client.client_id,
        });
    if let Some(t) = visible {
        return Ok(access_token_response(t.claims));
    }
    if let Caller::Client(client) = caller
        && !looks_like_jws(token)
        && let Some((grant, data)) = live_refresh_token(token, client, lookup).await?
    {
        let mut response = json!({
            "active": true,
            "iss": lookup.issuer,
            "sub": grant.subject,
            "client_id": grant.client_id,
            "scope": data.scopes.join(" "),
            "exp": grant.expires_at,
            "iat": grant.created_at,
            "auth_time": data.sign_in.auth_time,
        });
        // RFC 9449 §6.2: the key a public client's refresh token is bound to.
        if let (Some(jkt), Some(obj)) = (data.jkt, response.as_object_mut()) {
            obj.insert("cnf".into(), json!({ "jkt": jkt }));
        }
        return Ok(response);
    }
    Ok(json!({ "active": false }))
}

fn access_token_response(c: AccessTokenClaims) -> Value {
    let mut response = json!({
        "active": true,
        // RFC 9449 §6.2: a bound token is a DPoP token, and says which key it is bound to.
        "token_type": Confirmation::token_type(c.cnf.as_ref()).as_str(),
        "iss": c.iss,
        "sub": c.sub,
        "aud": c.aud,
        "client_id": c.client_id,
        "exp": c.exp,
        "iat": c.iat,
        "nbf": c.nbf,
        "jti": c.jti,
    });
    if let Some(obj) = response.as_object_mut() {
        if let Some(scope) = c.scope {
            obj.insert("scope".into(), Value::String(scope));
        }
        if let Some(auth_time) = c.auth_time {
            obj.insert("auth_time".into(), auth_time.into());
        }
        if let Some(acr) = c.acr {
            obj.insert("acr".into(), Value::String(acr));
        }
        if !c.amr.is_empty() {
            obj.insert("amr".into(), c.amr.into());
        }
        // RFC 9449 §6.2, RFC 8705 §3.2: the key and certificate it is bound to.
        if let Some(cnf) = c.cnf {
            obj.insert("cnf".into(), json!(cnf));
        }
        // RFC 8693 §4.1: the chain of actors of an exchanged token.
        if let Some(act) = c.act {
            obj.insert("act".into(), act);
        }
        // RFC 9396 §9.2: what the token authorizes besides its scopes.
        if let Some(details) = c.authorization_details {
            obj.insert("authorization_details".into(), details.into());
        }
    }
    response
}
