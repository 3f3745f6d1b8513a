//! The authorization endpoint (OIDC Core §3.1.2) and the continuation shared by the login and
//! consent pages: decide the next step, then show a page, answer with an error, or issue the
//! code.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tessera_core::authorize::acr::{AcrCheck, LOGIN_METHODS_AMR, check_acr};
use tessera_core::authorize::{
    AuthorizationRequest, AuthorizationResponse, AuthorizeError, Consent, Decision, Prompt,
    SignedIn, decide, parse_authorization_request, response_location,
};
use tessera_core::grants::authorization_code::{CodeData, issue_code};
use tessera_core::grants::implicit::{FrontChannelUser, issue_front_channel};
use tessera_core::grants::scopes::user_audiences;
use tessera_core::model::{Client, Session};
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::form::Form;
use tessera_core::protocol::paths;
use tessera_core::protocol::token::TokenType;
use tessera_core::sessions::{
    Interaction, Step, add_session_client, browser_state, load_session, remembered_consent,
    save_interaction, session_data, session_state,
};
use tessera_core::tokens::id_token::id_token_hint_subject;
use tessera_core::userinfo::{claims_beyond_scopes, grantable_claims};

use super::cookies::{BROWSER_PURPOSE, read_cookie};
use crate::http::AppState;

/// `GET /authorize`: parameters in the query (OIDC Core §3.1.2.1).
pub async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match super::park::get_form(&state, query.as_deref()).await {
        Ok(form) => start(&state, &headers, &form).await,
        Err(e) => state.error_page(&e),
    }
}

/// `POST /authorize`: parameters form-encoded in the body (OIDC Core §3.1.2.1). A POST from
/// the client's site carries no SameSite=Lax cookies, so the request is parked and continues
/// as a GET on our own site (RFC 9110 §15.4.4: 303), where the session cookie is sent.
pub async fn authorize_post(
    State(state): State<AppState>,
    peer: Option<axum::Extension<crate::connections::PeerAddr>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let address = peer.map(|p| p.0.0.ip());
    match super::park::park_post(&state, (&headers, &uri, &body), address, paths::AUTHORIZE).await {
        super::park::Posted::Answered(response) => response,
        super::park::Posted::Continue(form) => start(&state, &headers, &form).await,
    }
}

async fn start(state: &AppState, headers: &HeaderMap, form: &Form) -> Response {
    let (client, request) = match parse_authorization_request(state.clients.as_ref(), form).await {
        Ok(parsed) => parsed,
        Err(AuthorizeError::Page(e)) => return state.error_page(&e),
        Err(AuthorizeError::Redirect {
            error,
            redirect_uri,
            response_mode,
            state: client_state,
        }) => {
            tracing::info!(
                client_id = form.one("client_id").ok().flatten().unwrap_or("-"),
                error = error.code(),
                reason = %error.description(),
                "authorization request refused"
            );
            return state.respond(AuthorizationResponse::error(
                redirect_uri,
                response_mode,
                &error,
                client_state,
                &state.config.issuer,
            ));
        }
    };
    if let Err(e) = user_audiences(
        &state.config.issuer,
        &state.config.resources,
        &request.scopes,
        &request.resources,
    ) {
        return state.redirect_error(&request, &e);
    }
    let mut request = request;
    // OIDC Core §5.5: claims asked for by name are considered when a scope the client may
    // have releases them (the consent page names them); others are ignored.
    let resources = &state.config.resources;
    for names in [&mut request.claims.userinfo, &mut request.claims.id_token] {
        *names = grantable_claims(names, &client.allowed_scopes, resources);
    }
    // §5.5.1.1: an essential acr no sign-in here can reach fails at once.
    if check_acr(&state.config.acr_levels, &request.acr, &best_sign_in()) == AcrCheck::Unmet {
        return state.redirect_error(
            &request,
            &OAuthError::UnmetAuthenticationRequirements(
                format!(
                    "no sign-in here reaches the essential acr requested; offered: {}",
                    state
                        .config
                        .acr_levels
                        .values()
                        .collect::<Vec<_>>()
                        .join(" ")
                )
                .into(),
            ),
        );
    }
    // The browser-binding cookie ties the pages of this request to this browser (CSRF).
    // Only a value this server issued counts (a cookie set by someone else is replaced).
    let (browser, mut cookies) = match state.issued_browser_cookie(headers) {
        Some(b) => (b.to_string(), vec![]),
        None => match state.cookie_mac.issue(BROWSER_PURPOSE) {
            Ok(b) => {
                let set = state.cookies.set(state.cookies.browser, &b);
                (b, set.into_iter().collect())
            }
            Err(e) => return state.error_page(&e),
        },
    };
    let session = match read_cookie(headers, state.cookies.session) {
        Some(cookie) => {
            match load_session(
                state.store.as_ref(),
                cookie,
                state.clock.now(),
                state.config.sessions,
            )
            .await
            {
                Ok(s) => s,
                Err(e) => return state.error_page(&e),
            }
        }
        None => None,
    };
    let interaction = Interaction {
        request,
        browser: tessera_core::crypto::handle_digest(&browser),
        csrf: String::new(),
        signed_in: false,
        consented: false,
        failures: 0,
        step: Step::Login,
        subject: None,
    };
    let response = proceed(state, &client, interaction, session).await;
    with_cookies(response, cookies.drain(..))
}

/// Adds `Set-Cookie` headers.
pub fn with_cookies(
    mut response: Response,
    cookies: impl IntoIterator<Item = HeaderValue>,
) -> Response {
    for c in cookies {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// Decides what `interaction` needs next with the browser's `session`, and does it.
pub async fn proceed(
    state: &AppState,
    client: &Client,
    interaction: Interaction,
    session: Option<Session>,
) -> Response {
    match try_proceed(state, client, interaction, session).await {
        Ok(response) => response,
        Err(e) => state.error_page(&e),
    }
}

async fn try_proceed(
    state: &AppState,
    client: &Client,
    interaction: Interaction,
    session: Option<Session>,
) -> Result<Response, OAuthError> {
    let now = state.clock.now();
    let request = &interaction.request;
    // A session whose user was disabled or deleted no longer signs anyone in.
    let session = match session {
        Some(s) => state
            .store
            .find_user_by_subject(&s.subject)
            .await?
            .filter(|u| !u.disabled)
            .map(|_| s),
        None => None,
    };
    let hint_subject = match &request.id_token_hint {
        None => None,
        Some(hint) => {
            let ring = state.keys.current();
            match id_token_hint_subject(hint, &ring, &state.config.issuer, &client.client_id, now) {
                Some(sub) => Some(sub),
                // SEC-44, CVE-25: a hint that fails its checks signs nobody in; without
                // interaction the answer is login_required.
                None if request.prompt.contains(&Prompt::None) => {
                    return Ok(state.redirect_error(
                        request,
                        &OAuthError::LoginRequired("the id_token_hint is not valid".into()),
                    ));
                }
                None => {
                    return Ok(state.redirect_error(
                        request,
                        &OAuthError::InvalidRequest("the id_token_hint is not valid".into()),
                    ));
                }
            }
        }
    };
    let consented = match &session {
        Some(s) if client.require_consent => {
            remembered_consent(state.store.as_ref(), &s.subject, &client.client_id, now)
                .await?
                .covers(&request.scopes, &named_claims(state, request))
        }
        _ => false,
    };
    // A sign-in or consent during this interaction counts only for the user it was for.
    let same_user = |s: &Session| interaction.subject.as_deref() == Some(s.subject.as_str());
    let acr = match &session {
        Some(s) => check_acr(&state.config.acr_levels, &request.acr, &session_data(s).amr),
        None => AcrCheck::Met(None),
    };
    let signed_in = session.as_ref().map(|s| SignedIn {
        subject: &s.subject,
        auth_time: s.auth_time,
        fresh: interaction.signed_in && same_user(s),
        acr: &acr,
    });
    let consent_given = interaction.consented && session.as_ref().is_some_and(same_user);
    let decision = decide(
        request,
        client,
        signed_in,
        hint_subject.as_deref(),
        Consent {
            covered: consented || consent_given,
            fresh: consent_given,
        },
        now,
    );
    match decision {
        Decision::Fail(e) => Ok(state.redirect_error(request, &e)),
        Decision::Login => show(state, interaction, Step::Login, None).await,
        Decision::Consent => {
            let subject = session.as_ref().map(|s| s.subject.clone());
            show(state, interaction, Step::Consent, subject).await
        }
        Decision::Issue => match (session, acr) {
            (Some(session), AcrCheck::Met(acr)) => {
                issue(state, client, request, session, acr).await
            }
            _ => Err(OAuthError::internal(
                "issuing an authorization response",
                "the decision to issue came without a session at the required level",
            )),
        },
    }
}

/// Stores the interaction and sends the browser to the page of `step` (RFC 9110 §15.4.4:
/// 303); the consent page is for `subject`.
async fn show(
    state: &AppState,
    mut interaction: Interaction,
    step: Step,
    subject: Option<String>,
) -> Result<Response, OAuthError> {
    let page = match step {
        Step::Login => paths::LOGIN,
        Step::Consent => paths::CONSENT,
    };
    interaction.step = step;
    if step == Step::Consent {
        interaction.subject = subject;
    }
    let handle = save_interaction(state.store.as_ref(), interaction, state.clock.now()).await?;
    let base = state.config.issuer.trim_end_matches('/');
    Ok(see_other(&format!(
        "{base}{page}?interaction={}",
        handle.id
    )))
}

/// A 303 See Other to `location`.
pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The claims a request asks for by name beyond what its scopes release: the consent page
/// names them, and remembered consent must cover them.
pub fn named_claims(state: &AppState, request: &AuthorizationRequest) -> Vec<String> {
    claims_beyond_scopes(
        request
            .claims
            .userinfo
            .iter()
            .chain(&request.claims.id_token),
        &request.scopes,
        &state.config.resources,
    )
}

/// The methods the best sign-in here uses: what a fresh sign-in could reach.
fn best_sign_in() -> Vec<String> {
    LOGIN_METHODS_AMR.iter().map(|m| m.to_string()).collect()
}

/// Issues the code (RFC 6749 §4.1.2) for the session's user and answers the client; `acr` is
/// the authentication context class its tokens carry.
async fn issue(
    state: &AppState,
    client: &Client,
    request: &AuthorizationRequest,
    session: Session,
    acr: Option<String>,
) -> Result<Response, OAuthError> {
    let audiences = user_audiences(
        &state.config.issuer,
        &state.config.resources,
        &request.scopes,
        &request.resources,
    )?;
    let session_info = session_data(&session);
    let (code_challenge, code_challenge_method) = match &request.code_challenge {
        Some((c, m)) => (Some(c.clone()), *m),
        None => (None, tessera_core::protocol::pkce::ChallengeMethod::S256),
    };
    let data = CodeData {
        redirect_uri: request.redirect_uri.clone(),
        redirect_uri_presented: request.redirect_uri_presented,
        scopes: request.scopes.clone(),
        audiences,
        code_challenge,
        code_challenge_method,
        claims: request.claims.clone(),
        nonce: request.nonce.clone(),
        auth_time: session.auth_time,
        amr: session_info.amr,
        acr,
        acr_in_id_token: request.acr.requested,
        idp: session_info.idp,
        sid: Some(session.sid.clone()),
    };
    let ring = state.keys.current();
    let ctx = state.token_context(&ring);
    let mut params: Vec<(&'static str, String)> = Vec::new();
    let rt = request.response_type;
    let code = if rt.code {
        Some(issue_code(&ctx, client, &session.subject, &data).await?)
    } else {
        None
    };
    if rt.is_front_channel() {
        // SEC-26: the user behind the session is still active (checked in try_proceed).
        let user = state
            .store
            .find_user_by_subject(&session.subject)
            .await?
            .ok_or_else(|| {
                OAuthError::internal("issuing front-channel tokens", "the user is gone")
            })?;
        let tokens = issue_front_channel(
            &ctx,
            client,
            request,
            data.audiences.clone(),
            &FrontChannelUser {
                user: &user,
                sign_in: data.sign_in(),
                acr_in_id_token: data.acr_in_id_token,
            },
            code.as_deref(),
        )
        .await?;
        if let Some(access) = tokens.access {
            // RFC 6749 §4.2.2
            params.push(("access_token", access.token));
            params.push(("token_type", TokenType::Bearer.as_str().into()));
            params.push(("expires_in", access.expires_in.to_string()));
            params.push(("scope", access.scope));
        }
        if let Some(id_token) = tokens.id_token {
            params.push(("id_token", id_token));
        }
    }
    if let Some(code) = code {
        params.insert(0, ("code", code));
    }
    // Session Management 1.0 §3: the client watches this value through the check-session
    // iframe.
    let opbs = browser_state(&session);
    if let Ok(uri) = url::Url::parse(&request.redirect_uri) {
        let origin = uri.origin().ascii_serialization();
        params.push((
            "session_state",
            session_state(&client.client_id, &origin, &opbs)?,
        ));
    }
    add_session_client(
        state.store.as_ref(),
        &session,
        &client.client_id,
        state.clock.now(),
    )
    .await?;
    let response = state.respond(AuthorizationResponse::success(
        request.redirect_uri.clone(),
        request.response_mode,
        params,
        request.state.clone(),
        &state.config.issuer,
    ));
    let lifetime = session.absolute_expires_at - state.clock.now();
    Ok(with_cookies(
        response,
        state.cookies.set_browser_state(&opbs, lifetime),
    ))
}

impl AppState {
    /// The browser-binding cookie of the request, if the server issued it.
    pub fn issued_browser_cookie<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        read_cookie(headers, self.cookies.browser)
            .filter(|value| self.cookie_mac.verify(BROWSER_PURPOSE, value))
    }

    /// Sends an authorization response to the client: a redirect, or for form_post an
    /// auto-submitting form (OAuth 2.0 Form Post Response Mode §2).
    pub fn respond(&self, response: AuthorizationResponse) -> Response {
        match response.response_mode {
            tessera_core::authorize::ResponseMode::FormPost => self.pages.render(
                StatusCode::OK,
                "form_post.html",
                minijinja::context! {
                    redirect_uri => response.redirect_uri,
                    params => response.params,
                },
            ),
            _ => see_other(&response_location(&response)),
        }
    }

    /// Sends `error` back to the client of `request` (OIDC Core §3.1.2.6).
    pub fn redirect_error(&self, request: &AuthorizationRequest, error: &OAuthError) -> Response {
        tracing::info!(
            client_id = %request.client_id,
            error = error.code(),
            reason = %error.description(),
            "authorization request refused"
        );
        self.respond(AuthorizationResponse::error(
            request.redirect_uri.clone(),
            request.response_mode,
            error,
            request.state.clone(),
            &self.config.issuer,
        ))
    }

    /// An error page for the user; nothing is redirected (RFC 6749 §4.1.2.1).
    pub fn error_page(&self, error: &OAuthError) -> Response {
        let status = crate::http::error::status_of(error);
        match error {
            OAuthError::ServerError(cause) => {
                tracing::error!(%cause, "an interactive request failed with server_error");
            }
            OAuthError::TemporarilyUnavailable { description, cause } => {
                tracing::warn!(
                    reason = %description,
                    cause = cause.as_ref().map(tracing::field::display),
                    "an interactive request failed: temporarily unavailable"
                );
            }
            _ => tracing::info!(
                error = error.code(),
                reason = %error.description(),
                "request refused with an error page"
            ),
        }
        let (status, title) = match status {
            StatusCode::SERVICE_UNAVAILABLE => (status, "Try again shortly"),
            s if s.is_server_error() => (s, "Something went wrong"),
            _ => (
                StatusCode::BAD_REQUEST,
                "This sign-in request cannot be completed",
            ),
        };
        self.pages
            .error(status, title, error.description(), error.code())
    }
}
