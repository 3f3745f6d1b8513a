//! Which API scopes and audiences a token request gets (RFC 6749 §3.3, RFC 8707 §2).

use crate::model::{ApiResource, Client, Resources};
use crate::protocol::OAuthError;
use crate::protocol::scope::is_scope_token;

/// The scopes granted and the audiences they are for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAccess {
    /// Granted scopes, in request (or registration) order.
    pub scopes: Vec<String>,
    /// Audiences: the API resources the token is for.
    pub audiences: Vec<String>,
}

/// Splits a `scope` parameter (RFC 6749 §3.3: space-delimited scope-tokens).
pub fn parse_scope(scope: &str) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        if !is_scope_token(token) {
            return Err(OAuthError::InvalidScope(
                "the scope parameter is malformed".into(),
            ));
        }
        if !out.iter().any(|s| s == token) {
            out.push(token.to_string());
        }
    }
    Ok(out)
}

/// Selects API scopes and audiences for a machine-to-machine request.
///
/// - `resource` values (RFC 8707 §2) must be absolute URIs without fragment naming an API the
///   client may use, else `invalid_target`; they become the audience.
/// - Requested scopes must be allowed for the client and be API scopes, else `invalid_scope`;
///   with resources, each must belong to one of them. An omitted scope means every API scope
///   the client may use (of the requested resources, if any).
/// - Without resources, the audience is every API that offers one of the granted scopes, or
///   `{issuer}/resources` when none does.
pub fn select_api_access(
    issuer: &str,
    resources: &Resources,
    client: &Client,
    requested_scope: Option<&str>,
    requested_resources: &[String],
) -> Result<ApiAccess, OAuthError> {
    let targets = resolve_targets(resources, client, requested_resources)?;
    let scopes = grant_api_scopes(resources, client, requested_scope, &targets)?;
    let audiences = api_audiences(issuer, resources, &scopes, &targets);
    Ok(ApiAccess { scopes, audiences })
}

/// The APIs `requested_resources` name (RFC 8707 §2), each once: absolute URIs without
/// fragment, naming an API the client may use, else `invalid_target`.
fn resolve_targets<'r>(
    resources: &'r Resources,
    client: &Client,
    requested_resources: &[String],
) -> Result<Vec<&'r ApiResource>, OAuthError> {
    let mut targets: Vec<&ApiResource> = Vec::new();
    for r in requested_resources {
        if url::Url::parse(r).is_err() || r.contains('#') {
            return Err(OAuthError::InvalidTarget(
                format!("resource `{r}` is not an absolute URI without fragment").into(),
            ));
        }
        let api = resources
            .api_resources
            .iter()
            .find(|a| &a.name == r)
            .filter(|a| a.scopes.iter().any(|s| client.allowed_scopes.contains(s)))
            .ok_or_else(|| {
                OAuthError::InvalidTarget(
                    format!("resource `{r}` is not available to this client").into(),
                )
            })?;
        if !targets.iter().any(|t| t.name == api.name) {
            targets.push(api);
        }
    }
    Ok(targets)
}

/// The API scopes granted: those requested, each allowed for the client, an API scope, and
/// offered by a requested resource (`invalid_scope` otherwise); without a request, every API
/// scope the client may use (of the requested resources, if any).
fn grant_api_scopes(
    resources: &Resources,
    client: &Client,
    requested_scope: Option<&str>,
    targets: &[&ApiResource],
) -> Result<Vec<String>, OAuthError> {
    let is_api_scope = |s: &str| resources.api_scopes.iter().any(|a| a.name == s);
    let in_targets =
        |s: &str| targets.is_empty() || targets.iter().any(|t| t.scopes.iter().any(|x| x == s));
    let refuse = |why: String| Err(OAuthError::InvalidScope(why.into()));
    let scopes = match requested_scope {
        Some(scope) => {
            let scopes = parse_scope(scope)?;
            for s in &scopes {
                if !client.allowed_scopes.contains(s) {
                    return refuse(format!("scope `{s}` is not allowed for this client"));
                }
                if !is_api_scope(s) {
                    return refuse(format!("scope `{s}` is not an API scope"));
                }
                if !in_targets(s) {
                    return refuse(format!(
                        "scope `{s}` is not offered by the requested resource"
                    ));
                }
            }
            scopes
        }
        None => client
            .allowed_scopes
            .iter()
            .filter(|s| is_api_scope(s) && in_targets(s))
            .cloned()
            .collect(),
    };
    if scopes.is_empty() {
        return refuse("no scope could be granted".into());
    }
    Ok(scopes)
}

/// The audiences of a machine token: without resources, every API that offers a granted scope
/// (or `{issuer}/resources` when none does); with them, least privilege (SEC-27): only the
/// requested resources that a granted scope is for.
fn api_audiences(
    issuer: &str,
    resources: &Resources,
    scopes: &[String],
    targets: &[&ApiResource],
) -> Vec<String> {
    if !targets.is_empty() {
        return targets
            .iter()
            .filter(|t| t.scopes.iter().any(|s| scopes.contains(s)))
            .map(|t| t.name.clone())
            .collect();
    }
    let offering: Vec<String> = resources
        .api_resources
        .iter()
        .filter(|a| a.scopes.iter().any(|s| scopes.contains(s)))
        .map(|a| a.name.clone())
        .collect();
    if offering.is_empty() {
        vec![format!("{issuer}/resources")]
    } else {
        offering
    }
}

/// The audiences of a user's access token for the granted `scopes` (already checked against
/// the client) and the requested `resource` values (RFC 8707 §2): each requested resource must
/// be an API that a granted scope is for, else `invalid_target`; without resources, every API
/// that offers a granted scope, or `{issuer}/resources` when none does.
pub fn user_audiences(
    issuer: &str,
    resources: &Resources,
    scopes: &[String],
    requested_resources: &[String],
) -> Result<Vec<String>, OAuthError> {
    let offers = |a: &crate::model::ApiResource| a.scopes.iter().any(|s| scopes.contains(s));
    let mut audiences: Vec<String> = Vec::new();
    for r in requested_resources {
        let api = resources
            .api_resources
            .iter()
            .find(|a| &a.name == r)
            .filter(|a| offers(a))
            .ok_or_else(|| {
                OAuthError::InvalidTarget(
                    format!("resource `{r}` is not available for the requested scopes").into(),
                )
            })?;
        if !audiences.contains(&api.name) {
            audiences.push(api.name.clone());
        }
    }
    if audiences.is_empty() {
        audiences = resources
            .api_resources
            .iter()
            .filter(|a| offers(a))
            .map(|a| a.name.clone())
            .collect();
    }
    if audiences.is_empty() {
        audiences.push(format!("{issuer}/resources"));
    }
    Ok(audiences)
}

/// The audiences of a user's access token asked for at the token endpoint (RFC 8707 §2.2): each
/// `resource` must be one of the `granted` audiences (the grant's), else `invalid_target`;
/// without `resource`, all of them.
pub fn token_audiences(
    granted: &[String],
    requested: &[String],
) -> Result<Vec<String>, OAuthError> {
    if requested.is_empty() {
        return Ok(granted.to_vec());
    }
    let mut out: Vec<String> = Vec::new();
    for r in requested {
        if !granted.contains(r) {
            return Err(OAuthError::InvalidTarget(
                format!("resource `{r}` was not granted for this authorization").into(),
            ));
        }
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    Ok(out)
}

/// An access token's scope narrowed to its audience (SEC-27, least privilege): an API scope
/// stays only when one of `audiences` offers it; other scopes (`openid` and the identity
/// scopes, which userinfo reads) stay.
pub fn scopes_for_audiences(
    resources: &Resources,
    scopes: &[String],
    audiences: &[String],
) -> Vec<String> {
    scopes
        .iter()
        .filter(|s| {
            let is_api_scope = resources.api_scopes.iter().any(|a| &a.name == *s);
            !is_api_scope
                || resources
                    .api_resources
                    .iter()
                    .any(|api| audiences.contains(&api.name) && api.scopes.contains(s))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApiResource, ApiScope, IdentityResource, TokenEndpointAuthMethod};

    fn setup() -> (Resources, Client) {
        let scope = |n: &str| ApiScope {
            name: n.into(),
            display_name: None,
            show_in_discovery: true,
        };
        let api = |n: &str, s: &[&str]| ApiResource {
            name: n.into(),
            scopes: s.iter().map(|x| x.to_string()).collect(),
            secret_digests: vec![],
            signing_alg: None,
        };
        let resources = Resources {
            authorization_details_types: vec![],
            api_scopes: vec![
                scope("a.read"),
                scope("a.write"),
                scope("b.read"),
                scope("lone"),
            ],
            api_resources: vec![
                api("urn:a", &["a.read", "a.write"]),
                api("urn:b", &["b.read"]),
            ],
            identity_resources: IdentityResource::builtin(),
        };
        let client = Client::builder("m")
            .grant_types(&["client_credentials"])
            .scopes(&["a.read", "b.read", "lone", "openid"])
            .consent(false)
            .auth_method(TokenEndpointAuthMethod::ClientSecretBasic)
            .build();
        (resources, client)
    }

    fn select(scope: Option<&str>, res: &[&str]) -> Result<ApiAccess, OAuthError> {
        let (resources, client) = setup();
        let res: Vec<String> = res.iter().map(|r| r.to_string()).collect();
        select_api_access("https://id", &resources, &client, scope, &res)
    }

    #[test]
    fn omitted_scope_gets_every_allowed_api_scope() {
        let a = select(None, &[]).unwrap();
        assert_eq!(a.scopes, ["a.read", "b.read", "lone"]);
        assert_eq!(a.audiences, ["urn:a", "urn:b"]);
    }

    #[test]
    fn requested_scope_picks_audience() {
        let a = select(Some("b.read"), &[]).unwrap();
        assert_eq!(a.audiences, ["urn:b"]);
        let lone = select(Some("lone"), &[]).unwrap();
        assert_eq!(lone.audiences, ["https://id/resources"]);
    }

    #[test]
    fn resource_indicators_narrow_audience_and_scope() {
        let a = select(None, &["urn:a"]).unwrap();
        assert_eq!(
            (a.scopes, a.audiences),
            (vec!["a.read".to_string()], vec!["urn:a".to_string()])
        );
        assert!(matches!(
            select(Some("b.read"), &["urn:a"]),
            Err(OAuthError::InvalidScope(_))
        ));
    }

    #[test]
    fn audience_is_limited_to_resources_of_granted_scopes() {
        let a = select(Some("a.read"), &["urn:a", "urn:b"]).unwrap();
        assert_eq!(a.audiences, ["urn:a"]);
    }

    #[test]
    fn refusals() {
        assert!(
            matches!(
                select(Some("a.write"), &[]),
                Err(OAuthError::InvalidScope(_))
            ),
            "not allowed"
        );
        assert!(
            matches!(select(Some("nope"), &[]), Err(OAuthError::InvalidScope(_))),
            "unknown"
        );
        assert!(
            matches!(
                select(Some("openid"), &[]),
                Err(OAuthError::InvalidScope(_))
            ),
            "identity scope"
        );
        assert!(
            matches!(
                select(Some("a.read\tb.read"), &[]),
                Err(OAuthError::InvalidScope(_))
            ),
            "malformed"
        );
        assert!(
            matches!(
                select(None, &["urn:zzz"]),
                Err(OAuthError::InvalidTarget(_))
            ),
            "unknown resource"
        );
        assert!(matches!(
            select(None, &["not a uri"]),
            Err(OAuthError::InvalidTarget(_))
        ));
        assert!(matches!(
            select(None, &["urn:a#frag"]),
            Err(OAuthError::InvalidTarget(_))
        ));
    }

    #[test]
    fn token_requests_narrow_audience_and_scope() {
        let (resources, _) = setup();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let granted = s(&["urn:a", "urn:b"]);
        assert_eq!(token_audiences(&granted, &[]).unwrap(), granted);
        assert_eq!(
            token_audiences(&granted, &s(&["urn:b", "urn:b"])).unwrap(),
            s(&["urn:b"])
        );
        assert_eq!(
            token_audiences(&granted, &s(&["urn:c"]))
                .unwrap_err()
                .code(),
            "invalid_target"
        );
        let scopes = s(&["openid", "a.read", "b.read", "profile"]);
        assert_eq!(
            scopes_for_audiences(&resources, &scopes, &s(&["urn:b"])),
            s(&["openid", "b.read", "profile"])
        );
    }
}
