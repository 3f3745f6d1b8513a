//! Which of a user's claims are released, and the userinfo endpoint's logic (OIDC Core §5.3,
//! §5.4, §5.5).

use serde_json::{Map, Value};

use crate::model::{Resources, SERVER_SET_CLAIMS, User};
use crate::protocol::OAuthError;
use crate::store::UserStore;
use crate::tokens::access_token::AccessTokenClaims;
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

/// The user's claims that `released_scopes` release (OIDC Core §5.4), plus the individually
/// `requested` ones (§5.5). A requested claim is released only when one of the `granted`
/// scopes covers it: the user consented to scopes, so the `claims` parameter chooses among
/// what was consented to (and where it goes), never beyond. `sub` is not included.
pub fn released_claims(
    user: &User,
    released_scopes: &[String],
    granted: &[String],
    resources: &Resources,
    requested: &[String],
) -> Map<String, Value> {
    let consented = scope_claims(granted, resources);
    let mut names = scope_claims(released_scopes, resources);
    names.extend(
        requested
            .iter()
            .map(String::as_str)
            .filter(|r| consented.contains(r)),
    );
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
    // §5.5's userinfo member can only choose among the granted scopes' claims, which userinfo
    // returns anyway.
    let mut out = Map::new();
    out.insert("sub".into(), Value::String(user.subject.clone()));
    out.extend(released_claims(&user, &scopes, &scopes, resources, &[]));
    Ok(out)
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
        let openid = scopes(&["openid"]);
        let r = released_claims(&user, &openid, &openid, &resources, &[]);
        assert!(r.is_empty());
        let profile = scopes(&["openid", "profile"]);
        let r = released_claims(&user, &profile, &profile, &resources, &[]);
        assert_eq!(r["name"], "Alice");
        assert_eq!(r["preferred_username"], "alice");
        assert!(!r.contains_key("email"));
        // Requested claims come only from granted scopes, wherever they are released.
        let email = scopes(&["openid", "email"]);
        let wanted = scopes(&["email", "sub", "missing", "phone_number"]);
        let r = released_claims(&user, &[], &email, &resources, &wanted);
        assert_eq!(r.len(), 1);
        assert_eq!(r["email"], "a@example.com");
        let r = released_claims(&user, &[], &openid, &resources, &wanted);
        assert!(r.is_empty(), "no scope covers them: {r:?}");
    }
}
