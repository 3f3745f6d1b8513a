//! Which of a user's claims are released, and the userinfo endpoint's logic (OIDC Core §5.3,
//! §5.4, §5.5).

use serde_json::{Map, Value};

use crate::model::{Resources, User, is_server_set_claim};
use crate::protocol::OAuthError;
use crate::tokens::introspect::{TokenLookup, live_access_token};

/// The claims `scopes` release through identity resources (OIDC Core §5.4).
fn scope_claims<'r>(scopes: &[String], resources: &'r Resources) -> Vec<&'r str> {
    resources
        .identity_resources
        .iter()
        .filter(|r| scopes.contains(&r.name))
        .flat_map(|r| r.claims.iter().map(String::as_str))
        .collect()
}

/// The claims asked for by name (OIDC Core §5.5) that `client` may be given: those an
/// identity resource of one of its allowed scopes holds, whether or not that scope was
/// requested. The user is asked for them by name on the consent page; others are ignored.
pub fn grantable_claims(
    requested: &[String],
    allowed_scopes: &[String],
    resources: &Resources,
) -> Vec<String> {
    let allowed = scope_claims(allowed_scopes, resources);
    let mut out: Vec<String> = Vec::new();
    for name in requested {
        if allowed.contains(&name.as_str()) && !is_server_set_claim(name) && !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

/// The claims of `named` that `scopes` do not release: what the consent page asks for by name.
pub fn claims_beyond_scopes<'n>(
    named: impl IntoIterator<Item = &'n String>,
    scopes: &[String],
    resources: &Resources,
) -> Vec<String> {
    let covered = scope_claims(scopes, resources);
    let mut out: Vec<String> = Vec::new();
    for name in named {
        if !covered.contains(&name.as_str()) && !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

/// The claims of `user` that `scopes` release (OIDC Core §5.4), plus the `named` ones (§5.5),
/// which the caller has checked with [`grantable_claims`] and the user consented to. `sub` and
/// the claims the server sets are never included.
pub fn released_claims(
    user: &User,
    scopes: &[String],
    named: &[String],
    resources: &Resources,
) -> Map<String, Value> {
    let mut names = scope_claims(scopes, resources);
    names.extend(named.iter().map(String::as_str));
    let mut out = Map::new();
    for name in names {
        if is_server_set_claim(name) || out.contains_key(name) {
            continue;
        }
        let value = match user.claims.get(name) {
            Some(v) => v.clone(),
            // The login name stands in for `preferred_username` when none is set.
            None if name == "preferred_username" => Value::String(user.username.clone()),
            None => continue,
        };
        out.insert(name.to_string(), value);
    }
    out
}

/// A userinfo response and whom it is for.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInfo {
    /// The client the access token was issued to (verified: the token is live).
    pub client_id: String,
    /// `sub` and the released claims.
    pub claims: Map<String, Value>,
}

/// How an access token was presented: its scheme (RFC 6750 §2.1, RFC 9449 §7.1) and the
/// request's checked DPoP proof, if any.
#[derive(Debug, Clone, Copy)]
pub struct Presentation<'a> {
    /// `Bearer` (also for a token in a form body) or `DPoP`.
    pub scheme: crate::protocol::token::TokenType,
    /// The proof, checked against the request and the token (`ath`).
    pub proof: Option<&'a crate::dpop::Proof>,
    /// The thumbprint of the TLS client certificate the request came with (RFC 8705 §3).
    pub certificate: Option<&'a str>,
}

/// The userinfo response for an access `token` (OIDC Core §5.3.2): `sub` and the released
/// claims. A token bound to a DPoP key is accepted only as RFC 9449 §7 says. Errors are RFC
/// 6750 §3.1 codes, and RFC 9449 §7.1's.
pub async fn userinfo(
    token: &str,
    presented: Presentation<'_>,
    lookup: &TokenLookup<'_>,
    resources: &Resources,
) -> Result<UserInfo, OAuthError> {
    let invalid = || OAuthError::InvalidToken("the access token is invalid or expired".into());
    let live = live_access_token(token, lookup)
        .await?
        .ok_or_else(invalid)?;
    crate::dpop::check_resource_request(
        token,
        live.claims.cnf.as_ref(),
        presented.scheme,
        presented.proof,
    )?;
    crate::dpop::check_certificate_binding(live.claims.cnf.as_ref(), presented.certificate)?;
    let scopes: Vec<String> = live
        .claims
        .scope
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    // §5.3: userinfo is for tokens that were granted `openid`.
    if !scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::InsufficientScope(
            "the access token was not granted the openid scope".into(),
        ));
    }
    // A client's own token (client_credentials) has no user behind it.
    let user = live.user.ok_or_else(invalid)?;
    let mut out = Map::new();
    out.insert("sub".into(), Value::String(user.subject.clone()));
    out.extend(released_claims(
        &user,
        &scopes,
        &live.data.userinfo_claims,
        resources,
    ));
    Ok(UserInfo {
        client_id: live.claims.client_id,
        claims: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IdentityResource, Source};
    use crate::secret::Secret;

    #[test]
    fn releases_by_scope_and_request() {
        let mut claims = Map::new();
        claims.insert("name".into(), "Alice".into());
        claims.insert("email".into(), "a@example.com".into());
        claims.insert("phone_number".into(), "+1".into());
        let user = User {
            subject: "s1".into(),
            username: "alice".into(),
            password_hash: Secret::new(String::new()),
            claims,
            source: Source::Config,
            disabled: false,
            created_at: 0,
            updated_at: 0,
        };
        let resources = Resources {
            authorization_details_types: vec![],
            identity_resources: IdentityResource::builtin(),
            ..Resources::default()
        };
        let scopes = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let openid = scopes(&["openid"]);
        let r = released_claims(&user, &openid, &[], &resources);
        assert!(r.is_empty());
        let profile = scopes(&["openid", "profile"]);
        let r = released_claims(&user, &profile, &[], &resources);
        assert_eq!(r["name"], "Alice");
        assert_eq!(r["preferred_username"], "alice");
        assert!(!r.contains_key("email"));
        // Claims asked for by name: only those a scope the client may have holds, whether or
        // not that scope was requested; never the server's own.
        let wanted = scopes(&["email", "sub", "missing", "phone_number", "email"]);
        let allowed = scopes(&["openid", "email"]);
        let named = grantable_claims(&wanted, &allowed, &resources);
        assert_eq!(named, ["email"]);
        let r = released_claims(&user, &openid, &named, &resources);
        assert_eq!(r.len(), 1);
        assert_eq!(r["email"], "a@example.com");
        assert!(grantable_claims(&wanted, &openid, &resources).is_empty());
    }
}
