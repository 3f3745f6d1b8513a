//! Sign-in through an external identity provider: the login page's button (or `idp_hint`,
//! `acr_values=idp:NAME`) sends the browser to the upstream with `state`, `nonce` and PKCE
//! (RFC 9700 §2.1.1, OIDC Core §3.1.2.1); the upstream sends it back to
//! `ISSUER/federation/NAME/callback` (a contract), where the answer is checked — RFC 9207 `iss`
//! (mix-up), the code redeemed, the ID token validated (OIDC Core §3.1.3.7), user info read —
//! and the local account found, made, or linked after the user proves it. Every failure is a
//! page that says what went wrong and a log line with the reason, never a 500.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Map, Value};
use tessera_core::federation::account::{Resolution, resolve_account};
use tessera_core::federation::id_token::{Expected, key_id, validate_id_token};
use tessera_core::federation::state::{FederationState, StateRefusal, take_state};
use tessera_core::federation::{
    Endpoints, FederationError, Protocol, UpstreamIdentity, identity_from_claims,
};
use tessera_core::login::{PriorSignIn, UpstreamSession};
use tessera_core::protocol::form::Form;
use tessera_core::protocol::pkce::s256_challenge;
use tessera_core::sessions::{Interaction, random_id, save_page_record};

use super::cookies::read_cookie;
use super::error::{Page, PageError};
use super::flow::see_other;
use super::interaction::client_of;
use super::login::upstream_used;
use crate::federation::Upstream;
use crate::http::AppState;

/// The path of a provider's callback (the redirect URI registered at the upstream).
pub fn callback_path(name: &str) -> String {
    format!("/federation/{name}/callback")
}

impl AppState {
    /// The redirect URI to register at the upstream `name`.
    pub fn federation_callback(&self, name: &str) -> String {
        let base = self.config.issuer.trim_end_matches('/');
        format!("{base}{}", callback_path(name))
    }
}

/// The page for a sign-in at an upstream that failed: what happened, in words for the user;
/// the detail goes to the log.
pub fn upstream_failed(up: &Upstream, error: &FederationError) -> PageError {
    tracing::info!(provider = %up.provider.name, reason = %error, "upstream sign-in refused");
    let name = &up.provider.display_name;
    let detail = match error {
        FederationError::Unavailable(_) => {
            format!(
                "{name} could not be reached or answered in a way we cannot use. Try again later."
            )
        }
        FederationError::Refused(_) => {
            format!(
                "{name}'s answer did not pass our checks, so it cannot sign you in. Try again; if it keeps happening, tell your administrator."
            )
        }
        FederationError::Declined(code) => format!("{name} did not sign you in ({code})."),
    };
    PageError::Upstream(detail)
}

/// Starts a sign-in at `up` for `interaction`.
pub async fn start(state: &AppState, up: &Upstream, interaction: Interaction) -> Page {
    let endpoints = state
        .upstreams
        .endpoints(up)
        .await
        .map_err(|e| upstream_failed(up, &e))?;
    let p = &up.provider;
    let (nonce, verifier) = (random_id()?, random_id()?);
    let login_hint = interaction.request.login_hint.clone();
    let reauthenticate = interaction
        .request
        .prompt
        .contains(&tessera_core::authorize::request::Prompt::Login);
    let record = FederationState {
        provider: p.name.clone(),
        interaction,
        nonce: nonce.clone(),
        verifier: verifier.clone(),
        csrf: String::new(),
    };
    let handle = save_page_record(state.store.as_ref(), record, state.clock.now()).await?;
    let redirect_uri = state.federation_callback(&p.name);
    let challenge = s256_challenge(&verifier);
    let scope = p.scopes.join(" ");
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &p.client_id),
        ("redirect_uri", &redirect_uri),
        ("state", &handle.id),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    if !scope.is_empty() {
        params.push(("scope", &scope));
    }
    if p.protocol == Protocol::Oidc {
        params.push(("nonce", &nonce));
        if let Some(hint) = &login_hint {
            params.push(("login_hint", hint));
        }
        if reauthenticate {
            params.push(("prompt", "login"));
        }
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let separator = if endpoints.authorization.contains('?') {
        '&'
    } else {
        '?'
    };
    tracing::info!(provider = %p.name, "sending the user to an upstream provider");
    Ok(see_other(&format!(
        "{}{separator}{query}",
        endpoints.authorization
    )))
}

/// `GET /federation/{name}/callback`
pub async fn callback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Page {
    let form = Form::parse(query.unwrap_or_default().as_bytes())
        .map_err(|_| PageError::UPSTREAM_EXPIRED)?;
    let one = |n: &str| form.one(n).ok().flatten();
    let browser = read_cookie(&headers, state.cookies.browser).unwrap_or_default();
    let now = state.clock.now();
    let record = match take_state(
        state.store.as_ref(),
        (one("state").unwrap_or_default(), &name),
        browser,
        now,
    )
    .await?
    {
        Ok(record) => record,
        Err(StateRefusal::Gone) => return Err(PageError::UPSTREAM_EXPIRED),
        Err(StateRefusal::OtherBrowser) => return Err(PageError::FORGED),
    };
    let up = state
        .upstreams
        .get(&name)
        .ok_or(PageError::UPSTREAM_EXPIRED)?;
    let identity = match upstream_identity(&state, &up, &form, &record).await {
        Ok(identity) => identity,
        Err(e) => return Err(upstream_failed(&up, &e)),
    };
    sign_in(&state, &headers, &up, record.interaction, identity).await
}

/// The identity the callback's answer proves, after every check.
async fn upstream_identity(
    state: &AppState,
    up: &Upstream,
    form: &Form,
    record: &FederationState,
) -> Result<(UpstreamIdentity, Option<String>), FederationError> {
    let one = |n: &str| form.one(n).ok().flatten();
    if let Some(error) = one("error") {
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        return Err(FederationError::Declined(code));
    }
    let endpoints = state.upstreams.endpoints(up).await?;
    check_iss(up, &endpoints, one("iss"))?;
    let code =
        one("code").ok_or_else(|| FederationError::Refused("no code in the answer".into()))?;
    let redirect_uri = state.federation_callback(&up.provider.name);
    let tokens = state
        .upstreams
        .exchange(
            up,
            &endpoints,
            (code, &record.verifier, &redirect_uri),
            state.clock.now(),
        )
        .await?;
    let mut claims = match up.provider.protocol {
        Protocol::Oidc => {
            let id_token = tokens
                .id_token
                .as_deref()
                .ok_or_else(|| FederationError::Refused("no ID token".into()))?;
            id_token_claims(state, up, &endpoints, id_token, &record.nonce).await?
        }
        Protocol::Oauth2 => Map::new(),
    };
    if up.provider.use_userinfo
        && let Some(url) = &endpoints.userinfo
    {
        let info = state.upstreams.userinfo(url, &tokens.access_token).await?;
        merge_userinfo(&mut claims, info, up.provider.protocol)?;
    }
    let identity = identity_from_claims(&up.provider, &claims)
        .ok_or_else(|| FederationError::Refused("the answer names no subject".into()))?;
    Ok((identity, tokens.id_token))
}

/// RFC 9207 §2.4: an `iss` in the response must be the provider's; a provider that says it
/// sends one must have sent it.
fn check_iss(
    up: &Upstream,
    endpoints: &Endpoints,
    iss: Option<&str>,
) -> Result<(), FederationError> {
    match (iss, up.provider.issuer.as_deref()) {
        (Some(iss), Some(expected)) if iss != expected => Err(FederationError::Refused(format!(
            "the response's iss {iss:?} is not the provider's issuer (mix-up)"
        ))),
        (None, _) if endpoints.iss_parameter => Err(FederationError::Refused(
            "the provider sends iss in responses, and this one has none".into(),
        )),
        _ => Ok(()),
    }
}

async fn id_token_claims(
    state: &AppState,
    up: &Upstream,
    endpoints: &Endpoints,
    id_token: &str,
    nonce: &str,
) -> Result<Map<String, Value>, FederationError> {
    let jwks_uri = endpoints.jwks_uri.as_deref().ok_or_else(|| {
        FederationError::Unavailable("its discovery document has no jwks_uri".into())
    })?;
    let kid = key_id(id_token);
    let keys = state.upstreams.keys(up, jwks_uri, kid.as_deref()).await?;
    let p = &up.provider;
    let expected = Expected {
        issuer: p.issuer.as_deref().unwrap_or_default(),
        client_id: &p.client_id,
        nonce,
        now: state.clock.now(),
    };
    validate_id_token(id_token, &keys, &expected)
}

/// Adds user info to the ID token's claims: for OIDC its `sub` must be the ID token's (OIDC
/// Core §5.3.2), and the ID token's own claims stay.
fn merge_userinfo(
    claims: &mut Map<String, Value>,
    info: Map<String, Value>,
    protocol: Protocol,
) -> Result<(), FederationError> {
    if protocol == Protocol::Oidc && info.get("sub") != claims.get("sub") {
        return Err(FederationError::Refused(
            "the user info is about another subject than the ID token".into(),
        ));
    }
    for (k, v) in info {
        claims.entry(k).or_insert(v);
    }
    Ok(())
}

/// Signs in the account of `identity`, or asks the user to prove the account it would link
/// to.
async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    up: &Upstream,
    interaction: Interaction,
    (identity, id_token): (UpstreamIdentity, Option<String>),
) -> Page {
    let resolution = resolve_account(
        state.store.as_ref(),
        state.clock.as_ref(),
        &up.provider,
        &identity,
    )
    .await?;
    let user = match resolution {
        Resolution::Linked(user) | Resolution::Created(user) => user,
        Resolution::Disabled => return Err(PageError::ACCOUNT_DISABLED),
        Resolution::ProveLink(local) => {
            return super::federation_link::ask(state, interaction, identity, &local).await;
        }
    };
    let client = client_of(state, &interaction).await?;
    let prior = prior_of(&identity, id_token);
    upstream_used(state, headers, &client, interaction, (&user, prior)).await
}

/// The upstream sign-in as ours continues from it.
pub fn prior_of(identity: &UpstreamIdentity, id_token: Option<String>) -> PriorSignIn {
    PriorSignIn {
        amr: identity.amr.clone(),
        idp: identity.provider.clone(),
        acr: identity.acr.clone(),
        upstream: Some(UpstreamSession {
            provider: identity.provider.clone(),
            sub: identity.subject.clone(),
            sid: identity.sid.clone(),
            id_token,
        }),
        sid: None,
    }
}

/// Sends the browser straight to the provider a request names (`idp_hint`, or `acr_values`
/// with `idp:NAME`), skipping the choice on the login page; `None` when it names none that is
/// enabled.
pub async fn hinted(state: &AppState, interaction: &Interaction) -> Option<Page> {
    let name = interaction.request.idp_hint.as_deref()?;
    let up = state.upstreams.get(name)?;
    Some(start(state, &up, interaction.clone()).await)
}

/// The login page's buttons: the enabled providers' names and labels.
pub fn buttons(state: &AppState) -> Vec<(String, String)> {
    state
        .upstreams
        .enabled()
        .map(|p| (p.name.clone(), p.display_name.clone()))
        .collect()
}

/// Where a login form's provider button goes.
pub async fn chosen(state: &AppState, interaction: Interaction, name: &str) -> Page {
    match state.upstreams.get(name) {
        Some(up) => start(state, &up, interaction).await,
        None => Err(PageError::UPSTREAM_EXPIRED),
    }
}
