//! Which of a user's claims are released, and the userinfo endpoint's logic (OIDC Core §5.3,
//! §5.4, §5.5).

use serde_json::{Map, Value};

use crate::authorize::ClaimsRequest;
use crate::crypto::handle_digest;
use crate::model::{Grant, Resources, SERVER_SET_CLAIMS, User};
use crate::protocol::OAuthError;
use crate::store::{GrantStore, UserStore};
use crate::tokens::access_token::AccessTokenClaims;
use crate::tokens::introspect::{TokenLookup, live_access_token};

/// The grant kind that keeps a `claims` request's userinfo member for the access tokens of a
/// grant (stored only when the request had one).
pub const USERINFO_CLAIMS: &str = "userinfo_claims";

/// The key under which the userinfo claims request of the access token `jti` is stored.
pub fn userinfo_claims_key(jti: &str) -> String {
    handle_digest(&format!("{USERINFO_CLAIMS}:{jti}"))
}

/// The user's claims that `scopes` release through identity resources (OIDC Core §5.4),
/// plus the individually `requested` ones (§5.5). `sub` is not included.
pub fn released_claims(
    user: &User,
    scopes: &[String],
    resources: &Resources,
    requested: &[String],
) -> Map<String, Value> {
    let mut names: Vec<&str> = resources
        .identity_resources
        .iter()
        .filter(|r| scopes.contains(&r.name))
        .flat_map(|r| r.claims.iter().map(String::as_str))
        .collect();
    names.extend(requested.iter().map(String::as_str));
    let mut out = Map::new();
    for name in names {
        if SERVER_SET_CLAIMS.contains(&name) || out.contains_key(name) {
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

/// The userinfo response for a bearer `token` (OIDC Core §5.3.2): `sub` and the released
/// claims. Errors are RFC 6750 §3.1 codes.
pub async fn userinfo(
    token: &str,
    lookup: &TokenLookup<'_>,
    users: &dyn UserStore,
    resources: &Resources,
) -> Result<Map<String, Value>, OAuthError> {
    let invalid = || OAuthError::InvalidToken("the access token is invalid or expired".into());
    let claims: AccessTokenClaims = live_access_token(token, lookup)
        .await?
        .ok_or_else(invalid)?;
    let scopes: Vec<String> = claims
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
    // A client_credentials token has the client as subject and no user behind it.
    let user = users
        .find_user_by_subject(&claims.sub)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(invalid)?;
    let requested = requested_userinfo_claims(lookup.grants, &claims.jti).await?;
    let mut out = Map::new();
    out.insert("sub".into(), Value::String(user.subject.clone()));
    out.extend(released_claims(&user, &scopes, resources, &requested));
    Ok(out)
}

async fn requested_userinfo_claims(
    grants: &dyn GrantStore,
    jti: &str,
) -> Result<Vec<String>, OAuthError> {
    Ok(grants
        .find_grant(&userinfo_claims_key(jti))
        .await?
        .filter(|g| g.kind == USERINFO_CLAIMS)
        .and_then(|g| serde_json::from_value::<ClaimsRequest>(g.data).ok())
        .map(|c| c.userinfo)
        .unwrap_or_default())
}

/// Remembers the userinfo member of a claims request for the access token `jti`.
pub async fn store_userinfo_claims(
    grants: &dyn GrantStore,
    grant: &Grant,
    jti: &str,
    claims: &ClaimsRequest,
) -> Result<(), OAuthError> {
    let record = Grant {
        handle_digest: userinfo_claims_key(jti),
        kind: USERINFO_CLAIMS.into(),
        data: serde_json::to_value(ClaimsRequest {
            userinfo: claims.userinfo.clone(),
            id_token: vec![],
        })
        .map_err(|_| OAuthError::ServerError)?,
        ..grant.clone()
    };
    grants.insert_grant(&record).await?;
    Ok(())
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
            identity_resources: IdentityResource::builtin(),
            ..Resources::default()
        };
        let scopes = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let r = released_claims(&user, &scopes(&["openid"]), &resources, &[]);
        assert!(r.is_empty());
        let r = released_claims(&user, &scopes(&["openid", "profile"]), &resources, &[]);
        assert_eq!(r["name"], "Alice");
        assert_eq!(r["preferred_username"], "alice");
        assert!(!r.contains_key("email"));
        let r = released_claims(
            &user,
            &scopes(&["openid"]),
            &resources,
            &scopes(&["email", "sub", "missing"]),
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r["email"], "a@example.com");
    }
}
