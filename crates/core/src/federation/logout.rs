//! An upstream's back-channel logout token (OpenID Connect Back-Channel Logout 1.0 §2.6),
//! validated as its relying party must: signed by the upstream's keys (allow-listed
//! algorithms), `iss` and `aud` as for its ID tokens, `iat` recent, a `jti`, the logout event,
//! a `sub` or `sid`, and no `nonce` (so that an ID token cannot pass for one).

use serde_json::{Map, Value};

use super::FederationError;
use crate::clients::jwk::{ASSERTION_ALGS, ClientJwk};
use crate::clock::UnixTime;
use crate::tokens::verify::parse_compact;

/// The event a logout token carries (§2.4).
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How old a logout token may be.
const MAX_AGE: i64 = 5 * 60;
/// Clock leeway.
const LEEWAY: i64 = 60;

/// The marker of a used logout token: stored under the digest of the provider and its `jti`
/// until it expires, so that a replayed token finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsedLogoutToken;

impl crate::store::GrantPayload for UsedLogoutToken {
    const KIND: crate::model::GrantKind = crate::model::GrantKind::UpstreamLogoutJti;
}

/// Records the token's `jti` for `provider`; false when it was used before.
pub async fn first_use(
    grants: &dyn crate::store::GrantStore,
    provider: &str,
    logout: &UpstreamLogout,
    now: UnixTime,
) -> Result<bool, crate::protocol::OAuthError> {
    let key = crate::crypto::handle_digest(&format!("upstream-logout\n{provider}\n{}", logout.jti));
    let marker = crate::model::Grant::new(key, provider, &UsedLogoutToken, now, logout.expires_at)?;
    match grants.insert_grant(&marker).await {
        Ok(()) => Ok(true),
        Err(crate::store::StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whom a valid logout token signs out at the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamLogout {
    /// The upstream subject, if given.
    pub sub: Option<String>,
    /// The upstream session, if given.
    pub sid: Option<String>,
    /// Its `jti`, to use it once.
    pub jti: String,
    /// Its `exp` or, without one, when it stops being accepted.
    pub expires_at: UnixTime,
}

fn refused(why: &str) -> FederationError {
    FederationError::Refused(why.to_string())
}

/// Validates a logout token from the upstream `issuer` for our `client_id`.
pub fn validate_logout_token(
    token: &str,
    keys: &[ClientJwk],
    (issuer, client_id): (&str, &str),
    now: UnixTime,
) -> Result<UpstreamLogout, FederationError> {
    let jws = parse_compact(token).ok_or_else(|| refused("not a compact JWS"))?;
    let h = &jws.header;
    if h.crit.is_some() || !ASSERTION_ALGS.contains(&h.alg.as_str()) {
        return Err(refused("its algorithm or header is not accepted"));
    }
    if let Some(typ) = &h.typ {
        let typ = typ.to_ascii_lowercase();
        if !matches!(typ.trim_start_matches("application/"), "logout+jwt" | "jwt") {
            return Err(refused("its typ is not logout+jwt"));
        }
    }
    let verified = keys
        .iter()
        .filter(|k| h.kid.is_none() || k.kid == h.kid)
        .any(|k| k.verify(&h.alg, jws.signing_input, &jws.signature));
    if !verified {
        return Err(refused(
            "its signature does not verify with the provider's keys",
        ));
    }
    check(&jws.unverified_claims, (issuer, client_id), now)
}

fn check(
    c: &Map<String, Value>,
    (issuer, client_id): (&str, &str),
    now: UnixTime,
) -> Result<UpstreamLogout, FederationError> {
    let text = |n: &str| c.get(n).and_then(Value::as_str).map(str::to_string);
    if text("iss").as_deref() != Some(issuer) {
        return Err(refused("its issuer is not the provider's"));
    }
    let aud_ok = match c.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err(refused("it is not for this client"));
    }
    let iat = c
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| refused("no iat"))?;
    if iat > now + LEEWAY || iat + MAX_AGE < now {
        return Err(refused("its iat is too far from now"));
    }
    let exp = c.get("exp").and_then(Value::as_i64);
    if exp.is_some_and(|exp| exp + LEEWAY <= now) {
        return Err(refused("it has expired"));
    }
    let event = c.get("events").and_then(|e| e.get(LOGOUT_EVENT));
    if !event.is_some_and(Value::is_object) {
        return Err(refused("it carries no back-channel logout event"));
    }
    if c.contains_key("nonce") {
        return Err(refused("it has a nonce (§2.4 forbids one)"));
    }
    let jti = text("jti").filter(|j| !j.is_empty() && j.len() <= 256);
    let jti = jti.ok_or_else(|| refused("no jti"))?;
    let (sub, sid) = (text("sub"), text("sid"));
    if sub.is_none() && sid.is_none() {
        return Err(refused("it names neither sub nor sid"));
    }
    Ok(UpstreamLogout {
        sub,
        sid,
        jti,
        expires_at: exp.unwrap_or(iat + MAX_AGE) + LEEWAY,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn logout_token_claims_are_checked() {
        let now = 1_000_000;
        let good = json!({"iss": "https://up", "aud": "t", "iat": now, "jti": "j1",
            "events": {LOGOUT_EVENT: {}}, "sid": "s1"});
        let ok = check(good.as_object().unwrap(), ("https://up", "t"), now).unwrap();
        assert_eq!(ok.sid.as_deref(), Some("s1"));
        for (k, v) in [
            ("iss", json!("https://other")),
            ("aud", json!("x")),
            ("iat", json!(now - 3600)),
            ("events", json!({})),
            ("nonce", json!("n")),
            ("jti", json!("")),
            ("sid", Value::Null),
        ] {
            let mut c = good.clone();
            c[k] = v;
            assert!(
                check(c.as_object().unwrap(), ("https://up", "t"), now).is_err(),
                "{k}"
            );
        }
    }
}
