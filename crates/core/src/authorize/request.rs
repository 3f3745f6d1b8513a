//! Parsing and checking an authorization request, in the order the specs require: first the
//! client and its redirect URI (errors there are shown on a page, never redirected: RFC 6749
//! §4.1.2.1, SECURITY.md SEC-03), then everything else (errors go back to the client).

use serde::{Deserialize, Serialize};

use super::acr::AcrRequest;
use super::claims::{ClaimsRequest, parse_claims_parameter};
use super::response_type::ResponseType;
use crate::grants::scopes::parse_scope;
use crate::model::Client;
use crate::protocol::OAuthError;
use crate::protocol::form::Form;
use crate::protocol::pkce::{ChallengeMethod, is_s256_challenge};
use crate::protocol::redirect::redirect_uri_matches;
use crate::store::ClientStore;

/// How the response reaches the client (OAuth 2.0 Multiple Response Types §2.1, Form Post
/// Response Mode §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query (the default for `code`).
    Query,
    /// Parameters in the fragment.
    Fragment,
    /// An auto-submitting HTML form POSTed to the redirect URI.
    FormPost,
}

/// OIDC Core §3.1.2.1 `prompt` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// No user interaction at all.
    None,
    /// Re-authenticate.
    Login,
    /// Ask for consent again.
    Consent,
    /// Let the user pick an account.
    SelectAccount,
}

/// A checked authorization request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The redirect URI, verified against the registration.
    pub redirect_uri: String,
    /// Whether the request named it (or it was the only registered one).
    #[serde(default)]
    pub redirect_uri_presented: bool,
    /// Response mode.
    pub response_mode: ResponseMode,
    /// What the response carries.
    pub response_type: ResponseType,
    /// Requested scopes, each allowed for the client.
    pub scopes: Vec<String>,
    /// Echoed back unchanged.
    pub state: Option<String>,
    /// Goes into the identity token.
    pub nonce: Option<String>,
    /// PKCE challenge and its method.
    pub code_challenge: Option<(String, ChallengeMethod)>,
    /// `prompt` values.
    pub prompt: Vec<Prompt>,
    /// `max_age` in seconds.
    pub max_age: Option<u64>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `id_token_hint` (unverified).
    pub id_token_hint: Option<String>,
    /// `ui_locales`.
    pub ui_locales: Option<String>,
    /// `acr_values`.
    pub acr_values: Option<String>,
    /// The authentication context asked for, from `acr_values`, the `claims` parameter's
    /// `acr` and the client's `default_acr_values`.
    #[serde(default)]
    pub acr: AcrRequest,
    /// RFC 8707 resources.
    pub resources: Vec<String>,
    /// Individual claims asked for (OIDC Core §5.5).
    pub claims: ClaimsRequest,
}

/// Where an error goes.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizeError {
    /// Shown to the user on an error page: the client or redirect URI cannot be trusted.
    Page(OAuthError),
    /// Sent back to the client's verified redirect URI (OIDC Core §3.1.2.6).
    Redirect {
        /// The error.
        error: OAuthError,
        /// Where to.
        redirect_uri: String,
        /// How.
        response_mode: ResponseMode,
        /// The request's state, echoed.
        state: Option<String>,
    },
}

fn page(description: &'static str) -> AuthorizeError {
    AuthorizeError::Page(OAuthError::InvalidRequest(description.into()))
}

/// Checks an authorization request (query or form parameters) against the client registry.
pub async fn parse_authorization_request(
    clients: &dyn ClientStore,
    params: &Form,
) -> Result<(Client, AuthorizationRequest), AuthorizeError> {
    // 1. The client (RFC 6749 §4.1.2.1: never redirect for an invalid client_id).
    let client_id = params
        .one("client_id")
        .map_err(|_| page("the client_id parameter is repeated"))?
        .ok_or_else(|| page("the client_id parameter is missing"))?;
    let client = clients
        .find_client(client_id)
        .await
        .map_err(|e| AuthorizeError::Page(e.into()))?
        .filter(|c| c.enabled)
        .ok_or_else(|| page("unknown client"))?;
    // 2. The redirect URI: required when several are registered (RFC 6749 §3.1.2.3) and always
    //    for OpenID Connect (OIDC Core §3.1.2.1); matched exactly (RFC 9700 §2.1).
    let presented = params
        .one("redirect_uri")
        .map_err(|_| page("the redirect_uri parameter is repeated"))?;
    let wants_openid = params
        .one("scope")
        .ok()
        .flatten()
        .is_some_and(|s| s.split(' ').any(|t| t == "openid"));
    let redirect_uri = match presented {
        Some(uri) => client
            .redirect_uris
            .iter()
            .any(|r| redirect_uri_matches(r, uri, client.application_type))
            .then(|| uri.to_string())
            .ok_or_else(|| page("the redirect_uri is not registered for this client"))?,
        None if wants_openid => return Err(page("the redirect_uri parameter is missing")),
        None => match client.redirect_uris.as_slice() {
            [only] => only.clone(),
            _ => return Err(page("the redirect_uri parameter is missing")),
        },
    };
    // From here on, errors go back to the client.
    // A repeated state cannot be echoed: the error goes back without one (RFC 6749 §3.1).
    let (state, repeated_state) = match params.one("state") {
        Ok(state) => (state.map(str::to_string), false),
        Err(_) => (None, true),
    };
    let redirect = |error: OAuthError, mode: ResponseMode| AuthorizeError::Redirect {
        error,
        redirect_uri: redirect_uri.clone(),
        response_mode: mode,
        state: state.clone(),
    };
    // The response type decides the default response mode, so it is read first; a response
    // that would carry tokens never goes into the query (Multiple Response Types §5).
    let response_type_param = params.one("response_type");
    let response_type = response_type_param
        .as_ref()
        .ok()
        .copied()
        .flatten()
        .and_then(ResponseType::parse);
    let default_mode = response_type.map_or(ResponseMode::Query, ResponseType::default_mode);
    let one = |name: &str| params.one(name).map_err(|e| redirect(e, default_mode));
    let response_mode = match one("response_mode")? {
        None => default_mode,
        Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => {
            return Err(redirect(
                OAuthError::InvalidRequest("unsupported response_mode".into()),
                default_mode,
            ));
        }
    };
    if response_mode == ResponseMode::Query && default_mode != ResponseMode::Query {
        return Err(redirect(
            OAuthError::InvalidRequest(
                "tokens are never returned in the query: use fragment or form_post".into(),
            ),
            default_mode,
        ));
    }
    let fail = |error: OAuthError| redirect(error, response_mode);
    if repeated_state {
        return Err(fail(OAuthError::InvalidRequest(
            "the state parameter is repeated".into(),
        )));
    }
    // 3. Request objects are not offered (OIDC Core §6).
    if params.has("request") {
        return Err(fail(OAuthError::RequestNotSupported));
    }
    if params.has("request_uri") {
        return Err(fail(OAuthError::RequestUriNotSupported));
    }
    // 4. response_type (OIDC Core §3.1.2.1, §3.2.2.1, §3.3.2.1).
    let response_type = match (response_type_param.map_err(fail)?, response_type) {
        (None, _) => {
            return Err(fail(OAuthError::InvalidRequest(
                "the response_type parameter is missing".into(),
            )));
        }
        (Some(_), None) => {
            return Err(fail(OAuthError::UnsupportedResponseType(
                "the response_type is not supported".into(),
            )));
        }
        (Some(_), Some(rt)) => rt,
    };
    let may = |grant: &str| client.grant_types.iter().any(|g| g == grant);
    if response_type.code && !may("authorization_code") {
        return Err(fail(OAuthError::UnauthorizedClient(
            "the client may not use the authorization code flow".into(),
        )));
    }
    // RFC 9700 §2.1.2: tokens in the front channel only for clients registered for it.
    if response_type.is_front_channel() && !may("implicit") {
        return Err(fail(OAuthError::UnauthorizedClient(
            "the client may not use the implicit or hybrid flow".into(),
        )));
    }
    // 5. Scopes, each allowed for the client.
    let scopes = parse_scope(one("scope")?.unwrap_or_default()).map_err(fail)?;
    if scopes.is_empty() {
        return Err(fail(OAuthError::InvalidScope(
            "the scope parameter is missing".into(),
        )));
    }
    // OIDC Core §3.2.2.1, §3.3.2.1: an identity token is only for OpenID requests.
    if response_type.id_token && !scopes.iter().any(|s| s == "openid") {
        return Err(fail(OAuthError::InvalidScope(
            "response_type id_token needs the openid scope".into(),
        )));
    }
    if let Some(s) = scopes.iter().find(|s| !client.allowed_scopes.contains(s)) {
        return Err(fail(OAuthError::InvalidScope(
            format!("scope `{s}` is not allowed for this client").into(),
        )));
    }
    // 6. PKCE (RFC 7636 §4.3, RFC 9700 §2.1.1): S256 only; required for public clients and
    //    where configured; a missing method is not read as `plain`.
    let code_challenge = match (one("code_challenge")?, one("code_challenge_method")?) {
        // Without a code there is nothing to bind a challenge to.
        (None, None) if !response_type.code => None,
        (None, None) if client.require_pkce || client.is_public() => {
            return Err(fail(OAuthError::InvalidRequest(
                "PKCE is required: send code_challenge with code_challenge_method=S256".into(),
            )));
        }
        (None, None) => None,
        (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => {
            Some((challenge.to_string(), ChallengeMethod::S256))
        }
        (Some(_), Some("S256")) => {
            return Err(fail(OAuthError::InvalidRequest(
                "the code_challenge is not 43 base64url characters".into(),
            )));
        }
        (None, Some(_)) => {
            return Err(fail(OAuthError::InvalidRequest(
                "code_challenge is missing".into(),
            )));
        }
        (_, Some(_)) => {
            return Err(fail(OAuthError::InvalidRequest(
                "only code_challenge_method=S256 is supported".into(),
            )));
        }
        (Some(_), None) => {
            return Err(fail(OAuthError::InvalidRequest(
                "code_challenge_method is missing (S256 required)".into(),
            )));
        }
    };
    // 7. prompt (OIDC Core §3.1.2.1): `none` stands alone.
    let mut prompt = Vec::new();
    for p in one("prompt")?
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
    {
        prompt.push(match p {
            "none" => Prompt::None,
            "login" => Prompt::Login,
            "consent" => Prompt::Consent,
            "select_account" => Prompt::SelectAccount,
            _ => {
                return Err(fail(OAuthError::InvalidRequest(
                    "unknown prompt value".into(),
                )));
            }
        });
    }
    if prompt.contains(&Prompt::None) && prompt.len() > 1 {
        return Err(fail(OAuthError::InvalidRequest(
            "prompt=none cannot be combined with other values".into(),
        )));
    }
    let max_age = one("max_age")?
        .map(|m| {
            m.parse::<u64>().map_err(|_| {
                fail(OAuthError::InvalidRequest(
                    "max_age is not a non-negative integer".into(),
                ))
            })
        })
        .transpose()?;
    let claims = one("claims")?
        .map(parse_claims_parameter)
        .transpose()
        .map_err(fail)?
        .unwrap_or_default();
    let text = |name: &str| one(name).map(|v| v.map(str::to_string));
    let acr_values = text("acr_values")?;
    let acr = requested_acr(&claims, acr_values.as_deref(), &client.default_acr_values);
    let nonce = text("nonce")?;
    // OIDC Core §3.2.2.1, §3.3.2.11: nonce is REQUIRED when tokens come from the front channel.
    if response_type.is_front_channel() && nonce.is_none() {
        return Err(fail(OAuthError::InvalidRequest(
            "nonce is required for the implicit and hybrid flows".into(),
        )));
    }
    Ok((
        client.clone(),
        AuthorizationRequest {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            redirect_uri_presented: presented.is_some(),
            response_mode,
            scopes,
            state: state.clone(),
            nonce,
            response_type,
            code_challenge,
            prompt,
            max_age,
            login_hint: text("login_hint")?,
            id_token_hint: text("id_token_hint")?,
            ui_locales: text("ui_locales")?,
            acr_values,
            acr,
            resources: params.all("resource").to_vec(),
            claims,
        },
    ))
}

/// The authentication context a request asks for (OIDC Core §3.1.2.1, §5.5.1.1): the `claims`
/// parameter's `acr` (essential when it says so) wins over `acr_values` (voluntary), and either
/// over the client's `default_acr_values` (OIDC Registration §2).
fn requested_acr(
    claims: &ClaimsRequest,
    acr_values: Option<&str>,
    defaults: &[String],
) -> AcrRequest {
    let listed: Vec<String> = acr_values
        .unwrap_or_default()
        .split(' ')
        .filter(|v| !v.is_empty())
        .take(16)
        .map(str::to_string)
        .collect();
    match &claims.acr {
        // §3.1.2.1: acr_values are voluntary; they never become essential through a claims
        // request that names no values.
        Some(c) if c.essential || !c.values.is_empty() => AcrRequest {
            values: c.values.clone(),
            essential: c.essential,
            requested: true,
        },
        Some(_) => AcrRequest {
            values: listed,
            essential: false,
            requested: true,
        },
        None if acr_values.is_some() => AcrRequest {
            values: listed,
            essential: false,
            requested: true,
        },
        None => AcrRequest {
            values: defaults.to_vec(),
            essential: false,
            requested: !defaults.is_empty(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Source, TokenEndpointAuthMethod};
    use crate::protocol::pkce::s256_challenge;
    use crate::store::MemoryStore;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    async fn store() -> MemoryStore {
        let store = MemoryStore::new();
        let client = |id: &str, uris: &[&str], method| {
            Client::builder(id)
                .grant_types(&["authorization_code"])
                .redirect_uris(uris)
                .scopes(&["openid", "profile"])
                .auth_method(method)
                .build()
        };
        store
            .upsert_client(
                &client(
                    "web",
                    &["https://app.example/cb"],
                    TokenEndpointAuthMethod::ClientSecretBasic,
                ),
                Source::Config,
            )
            .await
            .unwrap();
        store
            .upsert_client(
                &client(
                    "two",
                    &["https://a.example/cb", "https://b.example/cb"],
                    TokenEndpointAuthMethod::ClientSecretBasic,
                ),
                Source::Config,
            )
            .await
            .unwrap();
        store
    }

    async fn parse(query: &str) -> Result<(Client, AuthorizationRequest), AuthorizeError> {
        parse_authorization_request(&store().await, &Form::parse(query.as_bytes()).unwrap()).await
    }

    fn good(extra: &str) -> String {
        format!(
            "client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code&scope=openid+profile&state=xyz&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}"
        )
    }

    #[tokio::test]
    async fn a_good_request() {
        let (_, r) = parse(&good("&prompt=login&max_age=0&response_mode=form_post"))
            .await
            .unwrap();
        assert_eq!(r.redirect_uri, "https://app.example/cb");
        assert_eq!(r.scopes, ["openid", "profile"]);
        assert_eq!(r.state.as_deref(), Some("xyz"));
        assert_eq!(
            r.code_challenge,
            Some((
                s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
                ChallengeMethod::S256
            ))
        );
        assert_eq!(
            (r.prompt, r.max_age, r.response_mode),
            (vec![Prompt::Login], Some(0), ResponseMode::FormPost)
        );
    }

    #[tokio::test]
    async fn a_repeated_state_is_an_error_without_state() {
        match parse(&good("&state=again")).await {
            Err(AuthorizeError::Redirect { error, state, .. }) => {
                assert_eq!(error.code(), "invalid_request");
                assert_eq!(state, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn untrusted_client_or_redirect_uri_never_redirects() {
        for q in [
            "redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code".to_string(),
            good("").replace("client_id=web", "client_id=ghost"),
            good("").replace("app.example%2Fcb", "evil.example%2Fcb"),
            good("").replace("app.example%2Fcb", "app.example%2Fcb%2F"),
            good("&client_id=web"),
            good("&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"),
            // openid requests must name the redirect_uri; so must clients with several.
            good("").replace("redirect_uri=https%3A%2F%2Fapp.example%2Fcb&", ""),
            "client_id=two&response_type=code&scope=profile".to_string(),
        ] {
            assert!(
                matches!(parse(&q).await, Err(AuthorizeError::Page(_))),
                "{q}"
            );
        }
    }

    #[tokio::test]
    async fn other_errors_go_back_with_state() {
        let cases: Vec<(String, &str)> = vec![
            (
                good("").replace("response_type=code&", ""),
                "invalid_request",
            ),
            (
                good("").replace("response_type=code", "response_type=token"),
                "unsupported_response_type",
            ),
            (
                good("").replace("scope=openid+profile", "scope=openid+admin"),
                "invalid_scope",
            ),
            (
                good("").replace("scope=openid+profile&", ""),
                "invalid_scope",
            ),
            (
                good("").replace("code_challenge_method=S256", "code_challenge_method=plain"),
                "invalid_request",
            ),
            (
                good("").replace("&code_challenge_method=S256", ""),
                "invalid_request",
            ),
            (
                good("").replace(
                    &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
                    "",
                ),
                "invalid_request",
            ),
            (good("&prompt=none+login"), "invalid_request"),
            (good("&max_age=-1"), "invalid_request"),
            (good("&request=eyJ"), "request_not_supported"),
            (
                good("&request_uri=https%3A%2F%2Fx"),
                "request_uri_not_supported",
            ),
            (good("&nonce=again"), "invalid_request"),
            (good("&claims=%5B%5D"), "invalid_request"),
        ];
        for (q, code) in cases {
            match parse(&q).await {
                Err(AuthorizeError::Redirect {
                    error,
                    redirect_uri,
                    state,
                    ..
                }) => {
                    assert_eq!(error.code(), code, "{q}");
                    assert_eq!(redirect_uri, "https://app.example/cb");
                    assert_eq!(state.as_deref(), Some("xyz"), "state echoed");
                }
                other => panic!("{q}: {other:?}"),
            }
        }
    }
}
