//! An authorization request checked as a list of named steps, in the order the specs require:
//! first the client, then the request's resolution (a pushed request or a request object:
//! `authorize::pushed`), then the redirect URI (errors until here are shown on a page, never redirected:
//! RFC 6749 §4.1.2.1, SEC-03), then everything else (errors go back to the client).
//!
//! Each step is a function over [`Checking`]; other front doors (pushed, device and
//! back-channel authorization requests) run their own list from the same steps.

use std::borrow::Cow;

use super::acr::AcrRequest;
use super::claims::{ClaimsRequest, parse_claims_parameter};
use super::pushed::{Resolver, resolve_request};
use super::request::{AuthorizationRequest, AuthorizeError, Prompt, ResponseMode};
use super::response_type::ResponseType;
use crate::grants::scopes::parse_scope;
use crate::model::Client;
use crate::protocol::OAuthError;
use crate::protocol::form::Form;
use crate::protocol::grant_type::GrantType;
use crate::protocol::pkce::{ChallengeMethod, is_s256_challenge};
use crate::protocol::redirect::redirect_uri_matches;
use crate::store::ClientStore;

/// A request part-way through its checks: the client, the parameters, and the request as far
/// as the steps so far have read it.
pub struct Checking<'p> {
    /// The requesting client, enabled and registered.
    pub client: Client,
    /// The parameters, once resolved.
    pub params: Cow<'p, Form>,
    /// What the steps so far have checked.
    pub request: AuthorizationRequest,
    /// `state` was repeated, so it cannot be echoed (RFC 6749 §3.1).
    repeated_state: bool,
    /// The redirect URI was checked against the registration: errors may go there.
    redirect_verified: bool,
}

/// One step: it reads what it checks into the request, or refuses it.
pub type Step = fn(&mut Checking<'_>) -> Result<(), AuthorizeError>;

/// The steps of an authorization request (OIDC Core §3.1.2.2), after the client and the
/// request's resolution, in order.
pub const AUTHORIZATION_STEPS: &[(&str, Step)] = &[
    ("redirect_uri", check_redirect_uri),
    ("state", read_state),
    ("response_mode", check_response_mode),
    ("repeated_state", refuse_repeated_state),
    ("response_type", check_response_type),
    ("scope", check_scopes),
    ("pkce", check_pkce),
    ("dpop", check_dpop),
    ("prompt", check_prompt),
    ("max_age", read_max_age),
    ("claims_and_acr", read_claims_and_acr),
    ("nonce", check_nonce),
    ("hints_and_resources", read_hints_and_resources),
];

/// Checks an authorization request (query or form parameters) against the client registry,
/// its parameters resolved first (a pushed request or a request object, `authorize::pushed`).
pub async fn parse_authorization_request(
    clients: &dyn ClientStore,
    resolver: &Resolver<'_>,
    params: &Form,
) -> Result<(Client, AuthorizationRequest), AuthorizeError> {
    let client = find_client(clients, params).await?;
    let resolved = resolve_request(resolver, &client, params).await?;
    let mut request = check_request(client, resolved.params)?;
    request.1.pushed = resolved.pushed;
    Ok(request)
}

/// Runs the steps after the resolution on `params`, the parameters of `client`'s request.
pub fn check_request(
    client: Client,
    params: Cow<'_, Form>,
) -> Result<(Client, AuthorizationRequest), AuthorizeError> {
    let mut checking = Checking {
        request: AuthorizationRequest {
            client_id: client.client_id.clone(),
            ..AuthorizationRequest::default()
        },
        client,
        params,
        repeated_state: false,
        redirect_verified: false,
    };
    for (_, step) in AUTHORIZATION_STEPS {
        step(&mut checking)?;
    }
    Ok((checking.client, checking.request))
}

fn page(description: &'static str) -> AuthorizeError {
    AuthorizeError::Page(OAuthError::InvalidRequest(description.into()))
}

impl Checking<'_> {
    /// An error for the client, sent to its verified redirect URI with the response mode
    /// known so far; shown on a page while the redirect URI is not verified (RFC 6749
    /// §4.1.2.1: never redirect to an unverified address).
    fn fail(&self, error: OAuthError) -> AuthorizeError {
        if !self.redirect_verified {
            return AuthorizeError::Page(error);
        }
        AuthorizeError::Redirect {
            error,
            redirect_uri: self.request.redirect_uri.clone(),
            response_mode: self.request.response_mode,
            state: self.request.state.clone(),
            signing: self.request.response_signing().map(Box::new),
        }
    }

    /// The single value of `name`; a repeated one goes back to the client.
    fn one(&self, name: &str) -> Result<Option<&str>, AuthorizeError> {
        self.params.one(name).map_err(|e| self.fail(e))
    }

    fn text(&self, name: &str) -> Result<Option<String>, AuthorizeError> {
        Ok(self.one(name)?.map(str::to_string))
    }
}

/// The client (RFC 6749 §4.1.2.1: an invalid client_id is never redirected to).
pub async fn find_client(
    clients: &dyn ClientStore,
    params: &Form,
) -> Result<Client, AuthorizeError> {
    let client_id = params
        .one("client_id")
        .map_err(|_| page("the client_id parameter is repeated"))?
        .ok_or_else(|| page("the client_id parameter is missing"))?;
    clients
        .find_client(client_id)
        .await
        .map_err(|e| AuthorizeError::Page(e.into()))?
        .filter(|c| c.enabled)
        .ok_or_else(|| page("unknown client"))
}

/// The redirect URI: required when several are registered (RFC 6749 §3.1.2.3) and always for
/// OpenID Connect (OIDC Core §3.1.2.1); matched exactly (RFC 9700 §2.1).
pub fn check_redirect_uri(c: &mut Checking<'_>) -> Result<(), AuthorizeError> {
    let presented = c
        .params
        .one("redirect_uri")
        .map_err(|_| page("the redirect_uri parameter is repeated"))?;
    let wants_openid = c
        .params
        .one("scope")
        .ok()
        .flatten()
        .is_some_and(|s| s.split(' ').any(|t| t == "openid"));
    let client = &c.client;
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
    c.request.redirect_uri_presented = presented.is_some();
    c.request.redirect_uri = redirect_uri;
    c.redirect_verified = true;
    Ok(())
}

/// `state`, echoed back. A repeated one cannot be echoed: the error goes back without one.
pub fn read_state(c: &mut Checking<'_>) -> Result<(), AuthorizeError> {
    match c.params.one("state") {
        Ok(state) => c.request.state = state.map(str::to_string),
        Err(_) => c.repeated_state = true,
    }
    Ok(())
}

/// The response mode (OAuth 2.0 Multiple Response Types §2.1, Form Post Response Mode §2).
/// The response type decides the default, so it is read first; a response that would carry
/// tokens never goes into the query (Multiple Response Types §5).
pub fn check_response_mode(c: &mut Checking<'_>) -> Result<(), AuthorizeError> {
    let response_type = c
        .params
        .one("response_type")
        .ok()
        .flatten()
        .and_then(ResponseType::parse);
    let default_mode = response_type.map_or(ResponseMode::Query, ResponseType::default_mode);
    c.request.response_mode = default_mode;
    let mode = match c.one("response_mode")? {
        None => default_mode,
        Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        // JARM §2.3: the same modes with the parameters in a signed JWT.
        Some("jwt") => default_mode.jwt(),
        Some("query.jwt") => ResponseMode::QueryJwt,
        Some("fragment.jwt") => ResponseMode::FragmentJwt,
        Some("form_post.jwt") => ResponseMode::FormPostJwt,
        Some(_) => {
            return Err(c.fail(OAuthError::InvalidRequest(
                "unsupported response_mode".into(),
            )));
        }
    };
    // JARM §2.3.1: query.jwt only where the response carries no token either.
    if mode.delivery() == ResponseMode::Query && default_mode != ResponseMode::Query {
        return Err(c.fail(OAuthError::InvalidRequest(
            "tokens are never returned in the query: use fragment or form_post".into(),
        )));
    }
    c.request.response_mode = mode;
    // JARM §3: RS256 unless the client registered another algorithm.
    c.request.response_alg = mode.is_jwt().then(|| {
        c.client
            .authorization_signed_response_alg
            .unwrap_or(crate::tokens::SigningAlg::Rs256)
    });
    // JARM §3: signed, then encrypted to the client's key when it registered an algorithm.
    if let Some(encryption) = c
        .client
        .authorization_encryption
        .as_ref()
        .filter(|_| mode.is_jwt())
    {
        let encrypt = crate::grants::encryption_key(&c.client, encryption).map(|key| {
            crate::authorize::ResponseEncryption {
                encryption: encryption.clone(),
                key: key.clone(),
            }
        });
        c.request.response_encryption = Some(encrypt.map_err(|e| c.fail(e))?);
    }
    Ok(())
}

/// RFC 6749 §3.1: a parameter sent twice is an error, `state` too.
pub fn refuse_repeated_state(c: &mut Checking<'_>) -> Result<(), AuthorizeError> {
    if c.repeated_state {
        return Err(c.fail(OAuthError::InvalidRequest(
            "the state parameter is repeated".into(),
        )));
    }
    Ok(())
}

/// `response_type` (OIDC Core §3.1.2.1, §3.2.2.1, §3.3.2.1), for a client registered for the
/// flow it asks for.
pub fn check_response_type(c: &mut Checking<'_>) -> Result<(), AuthorizeError> {
    let Some(value) = c.one("response_type")? else {
        return Err(c.fail(OAuthError::InvalidRequest(
            "the response_type parameter is missing".into(),
        )));
    };
    let Some(response_type) = ResponseType::parse(value) else {
        return Err(c.fail(OAuthError::UnsupportedResponseType(
            "the response_type is not supported".into(),
        )));
    };
    let may = |grant: GrantType| c.client.grant_types.iter().any(|g| g == grant.name());
    if response_type.code && !may(GrantType::AuthorizationCode) {
        return Err(c.fail(OAuthError::UnauthorizedClient(
            "the client may not use the authorization code flow".into(),
        )));
    }
    // RFC 9700 §2.1.2: tokens in the front channel only for clients registered for it.
    if response_type.is_front_channel() && !may(GrantType::Implicit) {
        return Err(c.fail(OAuthError::UnauthorizedClient(
            "the client may not use the implicit or hybrid flow".into(),
        )));
    }
    c.request.response_type = response_type;
    Ok(())
}

/// Scopes, each allowed for the client; an identity token only for OpenID requests (OIDC Core
/// §3.2.2.1, §3.3.2.1).
pub fn check_scopes(c: &mut Checking<'_>) -> Result<(), AuthorizeError> {
    let scopes = parse_scope(c.one("scope")?.unwrap_or_default()).map_err(|e| c.fail(e))?;
    if scopes.is_empty() {
        return Err(c.fail(OAuthError::InvalidScope(
            "the scope parameter is missing".into(),
        )));
    }
    if c.request.response_type.id_token && !scopes.iter().any(|s| s == "openid") {
        return Err(c.fail(OAuthError::InvalidScope(
            "response_type id_token needs the openid scope".into(),
        )));
    }
    if let Some(s) = scopes.iter().find(|s| !c.client.allowed_scopes.contains(s)) {
        return Err(c.fail(OAuthError::InvalidScope(
            format!("scope `{s}` is not allowed for this client").into(),
        )));
    }
    c.request.scopes = scopes;
    Ok(())
}

/// PKCE (RFC 7636 §4.3, RFC 9700 §2.1.1): S256 only; required for public clients and where
/// configured; a missing method is not read as `plain`.
pub fn check_pkce(c: &mut Checking<'_>) -> Result<(), AuthorizeError> {
    let invalid = |why: &'static str| c.fail(OAuthError::InvalidRequest(why.into()));
    let challenge = match (c.one("code_challenge")?, c.one("code_challenge_method")?) {
        // Without a code there is nothing to bind a challenge to.
        (None, None) if !c.request.response_type.code => None,
        (None, None) if c.client.settings.require_pkce || c.client.is_public() => {
            return Err(invalid(
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ));
        }
        (None, None) => None,
        (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => {
            Some((challenge.to_string(), ChallengeMethod::S256))
        }
        (Some(_), Some("S256")) => {
            return Err(invalid("the code_challenge is not 43 base64url characters"));
        }
        (None, Some(_)) => return Err(invalid("code_challenge is missing")),
        (_, Some(_)) => return Err(invalid("only code_challenge_method=S256 is supported")),
        (Some(_), None) => return Err(invalid("code_challenge_method is missing (S256 required)")),
    };
    c.request.code_challenge = challenge;
    Ok(())
}

/// DPoP at the authorization endpoint. A client that must bind its tokens gets a code only:
/// a token or identity token sent through the front channel could not be bound (CVE-51).
/// `dpop_jkt` (RFC 9449 §10) is the RFC 7638 thumbprint (SHA-256, base64url) of the key the
/// code is bound to; it goes with a code only.
pub fn check_dpop(c: &mut Checking<'_>) -> Result<(), AuthorizeError> {
    let settings = &c.client.settings;
    let bound = settings.require_dpop || settings.tls_client_certificate_bound_access_tokens;
    if bound && c.request.response_type != ResponseType::CODE {
        return Err(c.fail(OAuthError::UnauthorizedClient(
            "this client's tokens are sender-constrained (DPoP or mutual TLS): it may use \
             response_type=code only"
                .into(),
        )));
    }
    let Some(jkt) = c.one("dpop_jkt")? else {
        return Ok(());
    };
    if !c.request.response_type.code {
        return Err(c.fail(OAuthError::InvalidRequest(
            "dpop_jkt binds a code; this response type has none".into(),
        )));
    }
    if !is_s256_challenge(jkt) {
        return Err(c.fail(OAuthError::InvalidRequest(
            "dpop_jkt is not a JWK SHA-256 thumbprint (43 base64url characters)".into(),
        )));
    }
    c.request.dpop_jkt = Some(jkt.to_string());
    Ok(())
}

/// `prompt` (OIDC Core §3.1.2.1): known values; `none` stands alone.
pub fn check_prompt(c: &mut Checking<'_>) -> Result<(), AuthorizeError> {
    let mut prompt = Vec::new();
    for p in c
        .one("prompt")?
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
                return Err(c.fail(OAuthError::InvalidRequest("unknown prompt value".into())));
            }
        });
    }
    if prompt.contains(&Prompt::None) && prompt.len() > 1 {
        return Err(c.fail(OAuthError::InvalidRequest(
            "prompt=none cannot be combined with other values".into(),
        )));
    }
    c.request.prompt = prompt;
    Ok(())
}

/// `max_age` (OIDC Core §3.1.2.1): a non-negative number of seconds.
pub fn read_max_age(c: &mut Checking<'_>) -> Result<(), AuthorizeError> {
    c.request.max_age = c
        .one("max_age")?
        .map(|m| {
            m.parse::<u64>().map_err(|_| {
                c.fail(OAuthError::InvalidRequest(
                    "max_age is not a non-negative integer".into(),
                ))
            })
        })
        .transpose()?;
    Ok(())
}

/// The `claims` parameter (OIDC Core §5.5) and the authentication context asked for.
pub fn read_claims_and_acr(c: &mut Checking<'_>) -> Result<(), AuthorizeError> {
    let claims = c
        .one("claims")?
        .map(parse_claims_parameter)
        .transpose()
        .map_err(|e| c.fail(e))?
        .unwrap_or_default();
    let acr_values = c.text("acr_values")?;
    c.request.acr = requested_acr(&claims, acr_values.as_deref(), &c.client.default_acr_values);
    // The provider to sign in at: `idp_hint`, or an `acr_values` entry `idp:NAME` (as Duende
    // IdentityServer reads it); not an authentication context class.
    let hinted = acr_values
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .find_map(|v| v.strip_prefix("idp:"))
        .map(str::to_string);
    c.request.acr.values.retain(|v| !v.starts_with("idp:"));
    c.request.idp_hint = c.text("idp_hint")?.or(hinted);
    c.request.acr_values = acr_values;
    c.request.claims = claims;
    Ok(())
}

/// `nonce`: REQUIRED when tokens come from the front channel (OIDC Core §3.2.2.1, §3.3.2.11).
pub fn check_nonce(c: &mut Checking<'_>) -> Result<(), AuthorizeError> {
    let nonce = c.text("nonce")?;
    if c.request.response_type.is_front_channel() && nonce.is_none() {
        return Err(c.fail(OAuthError::InvalidRequest(
            "nonce is required for the implicit and hybrid flows".into(),
        )));
    }
    c.request.nonce = nonce;
    Ok(())
}

/// The hints (OIDC Core §3.1.2.1) and RFC 8707 resources, read as sent.
pub fn read_hints_and_resources(c: &mut Checking<'_>) -> Result<(), AuthorizeError> {
    c.request.login_hint = c.text("login_hint")?;
    c.request.id_token_hint = c.text("id_token_hint")?;
    c.request.ui_locales = c.text("ui_locales")?;
    c.request.resources = c.params.all("resource").to_vec();
    // RFC 9396 §2: their form here; their types and schemas in `admit_request`.
    if let Some(text) = c.one("authorization_details")? {
        c.request.authorization_details =
            super::details::parse_authorization_details(text).map_err(|e| c.fail(e))?;
    }
    Ok(())
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

    #[test]
    fn the_redirect_uri_is_checked_first_and_errors_never_go_to_an_unverified_one() {
        let names: Vec<&str> = AUTHORIZATION_STEPS.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "redirect_uri",
                "state",
                "response_mode",
                "repeated_state",
                "response_type",
                "scope",
                "pkce",
                "dpop",
                "prompt",
                "max_age",
                "claims_and_acr",
                "nonce",
                "hints_and_resources",
            ]
        );
        // A list that left the redirect check out would show its errors on a page.
        let params = Form::parse(b"response_type=token+nope").unwrap();
        let mut checking = Checking {
            client: Client::default(),
            params: Cow::Owned(params),
            request: AuthorizationRequest::default(),
            repeated_state: false,
            redirect_verified: false,
        };
        assert!(matches!(
            check_response_type(&mut checking),
            Err(AuthorizeError::Page(OAuthError::UnsupportedResponseType(_)))
        ));
    }
}
