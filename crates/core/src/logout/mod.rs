//! Signing out: the end-session request (OpenID Connect RP-Initiated Logout 1.0), ending a
//! session with what belongs to it, logout tokens (Back-Channel Logout 1.0 §2.4) and
//! front-channel logout URLs (Front-Channel Logout 1.0 §2-3).

pub mod confirm;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::clock::UnixTime;
use crate::crypto::{base64url, random_bytes};
use crate::model::{Client, GrantKind, Session};
use crate::protocol::OAuthError;
use crate::protocol::form::Form;
use crate::sessions::session_clients;
use crate::store::{ClientStore, GrantStore, SessionStore};
use crate::tokens::jws::sign_compact;
use crate::tokens::verify::verify_own_jws;
use crate::tokens::{KeyError, KeyRing, SigningKey};

/// The `typ` of logout tokens (Back-Channel Logout §2.4).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";

/// The event a logout token carries (Back-Channel Logout §2.4).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Logout tokens are valid this long.
pub const LOGOUT_TOKEN_LIFETIME: i64 = 120;

/// What an `id_token_hint` of ours says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HintClaims {
    /// The user.
    pub sub: String,
    /// The clients it was issued to.
    pub aud: Vec<String>,
    /// The session it was issued in.
    pub sid: Option<String>,
}

/// Reads an identity token we signed, with our issuer; expired ones are accepted
/// (RP-Initiated Logout §2: "the OP SHOULD accept ID Tokens when the RP identified by the ID
/// Token's aud claim ... has a current session or had a recent session").
pub fn verify_id_token_hint(hint: &str, ring: &KeyRing, issuer: &str) -> Option<HintClaims> {
    let claims = verify_own_jws(hint, ring, "jwt")?;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return None;
    }
    let text = |v: &Value| v.as_str().map(str::to_string);
    let aud = match claims.get("aud")? {
        Value::Array(items) => items.iter().filter_map(text).collect(),
        one => vec![text(one)?],
    };
    Some(HintClaims {
        sub: claims.get("sub").and_then(text)?,
        aud,
        sid: claims.get("sid").and_then(text),
    })
}

/// A checked end-session request. Values that fail their checks are dropped, as if they had
/// not been sent (RP-Initiated Logout §2-3): the sign-out then asks for confirmation and never
/// redirects to an unverified address.
#[derive(Debug, Clone, Default)]
pub struct EndSessionRequest {
    /// The client asking, from `client_id` or the hint's audience.
    pub client: Option<Client>,
    /// The verified `id_token_hint`.
    pub hint: Option<HintClaims>,
    /// Where to send the user afterwards: registered for the client, matched exactly.
    pub post_logout_redirect_uri: Option<String>,
    /// Echoed to the post-logout redirect URI.
    pub state: Option<String>,
    /// `logout_hint`.
    pub logout_hint: Option<String>,
    /// What was dropped, for the confirmation page.
    pub problems: Vec<&'static str>,
}

/// Checks an end-session request (RP-Initiated Logout §2, §3). Only a malformed request
/// (a repeated parameter) is an error.
pub async fn parse_end_session(
    clients: &dyn ClientStore,
    ring: &KeyRing,
    issuer: &str,
    form: &Form,
) -> Result<EndSessionRequest, OAuthError> {
    let mut request = EndSessionRequest {
        state: form.one("state")?.map(str::to_string),
        logout_hint: form.one("logout_hint")?.map(str::to_string),
        ..EndSessionRequest::default()
    };
    if let Some(h) = form.one("id_token_hint")? {
        request.hint = verify_id_token_hint(h, ring, issuer);
        if request.hint.is_none() {
            request
                .problems
                .push("the id_token_hint is not an identity token of ours");
        }
    }
    // §2: with both, the client_id must be the one the token was issued to.
    let client_id = match (form.one("client_id")?, &request.hint) {
        (Some(id), Some(h)) if !h.aud.iter().any(|a| a == id) => {
            request
                .problems
                .push("client_id differs from the id_token_hint's audience");
            request.hint = None;
            None
        }
        (Some(id), _) => Some(id.to_string()),
        (None, Some(h)) => h.aud.first().cloned(),
        (None, None) => None,
    };
    if let Some(id) = client_id {
        request.client = clients.find_client(&id).await?.filter(|c| c.enabled);
        if request.client.is_none() {
            request.problems.push("unknown client");
        }
    }
    // §3: exactly one of the client's registered post_logout_redirect_uris, or no redirect.
    if let Some(uri) = form.one("post_logout_redirect_uri")? {
        match &request.client {
            Some(c) if c.post_logout_redirect_uris.iter().any(|r| r == uri) => {
                request.post_logout_redirect_uri = Some(uri.to_string());
            }
            Some(_) => request
                .problems
                .push("the post_logout_redirect_uri is not registered for this client"),
            None => request
                .problems
                .push("post_logout_redirect_uri needs client_id or id_token_hint"),
        }
    }
    Ok(request)
}

/// Ends the session with the digest `id_digest`: the record goes, and with it every grant bound
/// to it (codes, reference access tokens) except refresh tokens, which exist only for `offline_access` and so outlive the
/// session (OIDC Core §11). Returns the ended session and the clients that were signed in
/// through it, for logout notifications; `None` when it had already ended (so no one is
/// notified twice).
pub async fn end_session(
    sessions: &dyn SessionStore,
    grants: &dyn GrantStore,
    clients: &dyn ClientStore,
    id_digest: &str,
) -> Result<Option<(Session, Vec<Client>)>, OAuthError> {
    let Some(session) = sessions.delete_session(id_digest).await? else {
        return Ok(None);
    };
    let ids = session_clients(grants, &session.sid).await?;
    grants
        .delete_session_grants(&session.sid, GrantKind::RefreshToken)
        .await?;
    let mut signed_in = Vec::new();
    for id in ids {
        if let Some(client) = clients.find_client(&id).await?.filter(|c| c.enabled) {
            signed_in.push(client);
        }
    }
    Ok(Some((session, signed_in)))
}

#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: UnixTime,
    exp: UnixTime,
    jti: String,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    events: Map<String, Value>,
}

/// A logout token for `client` (Back-Channel Logout §2.4): iss, aud, iat, exp, jti, events,
/// sub and sid; never a nonce; `typ: logout+jwt` (§2.4, RFC 8725 §3.11).
pub fn issue_logout_token(
    issuer: &str,
    client_id: &str,
    subject: &str,
    sid: &str,
    now: UnixTime,
    key: &SigningKey,
) -> Result<String, KeyError> {
    let mut events = Map::new();
    events.insert(BACKCHANNEL_EVENT.into(), json!({}));
    let claims = LogoutClaims {
        iss: issuer,
        aud: client_id,
        iat: now,
        exp: now + LOGOUT_TOKEN_LIFETIME,
        jti: base64url(&random_bytes(16).map_err(|_| KeyError::Crypto("drawing random bytes"))?),
        sub: subject,
        sid: Some(sid),
        events,
    };
    sign_compact(key, LOGOUT_TOKEN_TYP, &claims)
}

/// The front-channel logout URL of `client` for session `sid` (Front-Channel Logout §2-3):
/// with `iss` and `sid` added when the client requires the session.
pub fn frontchannel_url(client: &Client, issuer: &str, sid: &str) -> Option<String> {
    let uri = client.logout.frontchannel_logout_uri.as_ref()?;
    if !client.logout.frontchannel_logout_session_required {
        return Some(uri.clone());
    }
    let params = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("iss", issuer)
        .append_pair("sid", sid)
        .finish();
    let separator = if uri.contains('?') { '&' } else { '?' };
    Some(format!("{uri}{separator}{params}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ClientLogout;

    #[test]
    fn frontchannel_urls_carry_the_session_when_required() {
        let mut client: Client = serde_json::from_value(json!({
            "client_id": "web", "client_name": null, "secret_digests": [],
            "grant_types": [], "redirect_uris": [], "post_logout_redirect_uris": [],
            "allowed_scopes": [], "require_pkce": true, "require_consent": true,
            "access_token_type": "jwt", "access_token_lifetime": 60,
            "identity_token_lifetime": 60, "token_endpoint_auth_method": "none",
            "enabled": true
        }))
        .unwrap();
        assert_eq!(frontchannel_url(&client, "https://id", "s1"), None);
        client.logout = ClientLogout {
            frontchannel_logout_uri: Some("https://app/logout?x=1".into()),
            frontchannel_logout_session_required: true,
            ..ClientLogout::default()
        };
        assert_eq!(
            frontchannel_url(&client, "https://id", "s 1").as_deref(),
            Some("https://app/logout?x=1&iss=https%3A%2F%2Fid&sid=s+1")
        );
        client.logout.frontchannel_logout_session_required = false;
        assert_eq!(
            frontchannel_url(&client, "https://id", "s1").as_deref(),
            Some("https://app/logout?x=1")
        );
    }
}
