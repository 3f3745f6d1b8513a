//! The authorization endpoint (OIDC Core §3.1.2) and the continuation shared by the login and
//! consent pages. The protocol is core's (`authorize::steps`, `authorize::flow`); this module
//! reads the browser (cookies, session) and turns core's next step into HTTP: a page, an
//! error for the client, or the authorization response.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_core::authorize::flow::{FlowContext, Next, admit_request};
use tessera_core::authorize::{
    AuthorizationRequest, AuthorizationResponse, AuthorizeError, parse_authorization_request,
    response_location,
};
use tessera_core::model::{Client, Session};
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::form::Form;
use tessera_core::protocol::paths;
use tessera_core::sessions::{Flow, Interaction, Step, load_session};
use tessera_core::store::{Committed, WriteBatch};
use tessera_core::tokens::KeyRing;

use super::cookies::{BROWSER_PURPOSE, read_cookie};
use super::error::{Page, PageError};
use super::park::BrowserRequest;
use crate::http::AppState;

/// `GET` and `POST /authorize` (OIDC Core §3.1.2.1): parameters in the query or form-encoded
/// in the body. A POST from the client's site carries no SameSite=Lax cookies, so the request
/// is parked and continues as a GET on our own site (RFC 9110 §15.4.4: 303), where the session
/// cookie is sent (`park`).
pub async fn authorize(State(state): State<AppState>, request: BrowserRequest) -> Page {
    request
        .answer(async |form, headers| start(&state, &headers, &form).await)
        .await
}

async fn start(state: &AppState, headers: &HeaderMap, form: &Form) -> Result<Response, PageError> {
    let parsed = parse_authorization_request(state.clients.as_ref(), &state.resolver(), form).await;
    let (client, request) = match parsed {
        Ok(parsed) => parsed,
        Err(AuthorizeError::Page(e)) => return Err(e.into()),
        Err(AuthorizeError::Redirect {
            error,
            redirect_uri,
            response_mode,
            state: client_state,
            signing,
        }) => {
            tracing::info!(
                client_id = form.one("client_id").ok().flatten().unwrap_or("-"),
                error = error.code(),
                reason = %error.description(),
                "authorization request refused"
            );
            return Ok(state.respond(
                AuthorizationResponse::error(
                    redirect_uri,
                    response_mode,
                    &error,
                    client_state,
                    &state.config.issuer,
                )
                .signed_with(signing.map(|s| *s)),
            ));
        }
    };
    if let Some(e) = tessera_core::profile::request_violation(state.config.profile, &request) {
        // Answered unsigned: signing it is what the profile refuses.
        let mut plain = request.clone();
        plain.response_mode = plain.response_mode.delivery();
        plain.response_alg = None;
        return Ok(state.redirect_error(&plain, &e));
    }
    let ring = state.keys.current();
    let request = match admit_request(
        &state.flow_context((&ring, &state.resources.current())),
        &client,
        request.clone(),
    ) {
        Ok(admitted) => admitted,
        Err(e) => return Ok(state.redirect_error(&request, &e)),
    };
    // The browser-binding cookie ties the pages of this request to this browser (CSRF).
    // Only a value this server issued counts (a cookie set by someone else is replaced).
    let (browser, cookies) = match state.issued_browser_cookie(headers) {
        Some(b) => (b.to_string(), None),
        None => {
            let b = state.cookie_mac.issue(BROWSER_PURPOSE)?;
            let set = state.cookies.set(state.cookies.browser, &b);
            (b, set)
        }
    };
    let session = state.browser_session(headers).await?;
    let browser = tessera_core::crypto::handle_digest(&browser);
    let interaction = Interaction::new(Flow::Authorize, request, browser);
    let batch = WriteBatch::new(state.clock.now());
    let response = proceed(state, &client, (interaction, session), batch).await?;
    Ok(with_cookies(response, cookies))
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

/// Decides what `interaction` needs next with the browser's `session` (core's
/// `authorize::flow::proceed`), commits `batch` (what led here, such as the form taken and
/// the session opened) with what that decision stores, and answers with it.
pub async fn proceed(
    state: &AppState,
    client: &Client,
    (interaction, session): (Interaction, Option<Session>),
    mut batch: WriteBatch,
) -> Result<Response, PageError> {
    if interaction.flow == Flow::Account {
        // A sign-in to the account page ends there (the session is open by now).
        state.commit(&batch).await?;
        return Ok(see_other(&state.account_url("")));
    }
    let request = interaction.request.clone();
    let device = (interaction.flow == Flow::Device).then(|| interaction.clone());
    let ring = state.keys.current();
    let next = tessera_core::authorize::flow::proceed(
        &state.flow_context((&ring, &state.resources.current())),
        client,
        (interaction, session),
        &mut batch,
    )
    .await?;
    match (device, next) {
        // RFC 8628 §3.3: the decision is recorded for the device; the user stays here.
        (Some(device), Next::Refuse(e)) => super::device::deny(state, &device, &e, batch).await,
        (Some(_), Next::Approved) => {
            state.commit(&batch).await?;
            let name = client.client_name.as_deref().unwrap_or(&client.client_id);
            Ok(super::device::outcome_page(state, name, true))
        }
        (_, next) => {
            state.commit(&batch).await?;
            Ok(answer(state, &request, next))
        }
    }
}

/// Answers with core's next step for `request`: the page it waits on, an error for the client,
/// or the authorization response.
pub fn answer(state: &AppState, request: &AuthorizationRequest, next: Next) -> Response {
    match next {
        Next::Refuse(e) => state.redirect_error(request, &e),
        Next::Interact { step, handle } => {
            let page = match step {
                Step::Login => paths::LOGIN,
                Step::Factor => paths::LOGIN_FACTOR,
                Step::Consent => paths::CONSENT,
            };
            let base = state.config.issuer.trim_end_matches('/');
            see_other(&format!("{base}{page}?interaction={}", handle.id))
        }
        // Only a device's interaction is approved, and `proceed` answers it.
        Next::Approved => state.error_page(&OAuthError::internal(
            "answering an authorization request",
            "an approval outside the device flow",
        )),
        Next::Respond(issued) => {
            let response = state.respond(
                AuthorizationResponse::success(
                    request.redirect_uri.clone(),
                    request.response_mode,
                    issued.params,
                    request.state.clone(),
                    &state.config.issuer,
                )
                .signed_with(request.response_signing()),
            );
            let cookie =
                (state.cookies).set_browser_state(&issued.browser_state, issued.session_lifetime);
            with_cookies(response, cookie)
        }
    }
}

/// The user cancelled the sign-in of `interaction` (`batch` takes its form): the client
/// hears `access_denied` (RFC 6749 §4.1.2.1; a device at its next poll, RFC 8628 §3.5); a
/// sign-in to the account page just says so.
pub async fn cancelled(state: &AppState, interaction: &Interaction, batch: WriteBatch) -> Page {
    let cancelled = OAuthError::AccessDenied("the user cancelled the sign-in".into());
    if interaction.flow == Flow::Device {
        return super::device::deny(state, interaction, &cancelled, batch).await;
    }
    state.commit(&batch).await?;
    if interaction.flow == Flow::Account {
        return Err(PageError::ACCOUNT_CANCELLED);
    }
    Ok(state.redirect_error(&interaction.request, &cancelled))
}

/// A 303 See Other to `location`.
pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

impl AppState {
    /// Writes what a page's answer stores, in one transaction. A batch refused (its form
    /// taken already by another submission, or its session ended meanwhile) stored nothing:
    /// the page has expired.
    pub async fn commit(&self, batch: &WriteBatch) -> Result<(), PageError> {
        match self.store.commit(batch).await? {
            Committed::All => Ok(()),
            Committed::Refused(at) => {
                let reason = batch.writes().get(at).map_or("-", |w| w.refusal());
                tracing::info!(reason, "a page's answer was not stored");
                Err(PageError::EXPIRED)
            }
        }
    }

    /// The live session of the browser's session cookie, if any.
    pub async fn browser_session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Session>, OAuthError> {
        let Some(cookie) = read_cookie(headers, self.cookies.session) else {
            return Ok(None);
        };
        let (now, lifetimes) = (self.clock.now(), self.config.sessions);
        load_session(self.store.as_ref(), cookie, now, lifetimes).await
    }

    /// What the authorization flow needs, with the key ring and resources in force.
    pub fn flow_context<'a>(
        &'a self,
        live: (&'a KeyRing, &'a tessera_core::model::Resources),
    ) -> FlowContext<'a> {
        FlowContext {
            tokens: self.token_context(live, None),
            users: self.store.as_ref(),
            factors: self.store.as_ref(),
            acr_levels: &self.config.acr_levels,
        }
    }

    /// The browser-binding cookie of the request, if the server issued it.
    pub fn issued_browser_cookie<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        read_cookie(headers, self.cookies.browser)
            .filter(|value| self.cookie_mac.verify(BROWSER_PURPOSE, value))
    }

    /// Sends an authorization response to the client: a redirect, or for form_post an
    /// auto-submitting form (OAuth 2.0 Form Post Response Mode §2).
    pub fn respond(&self, response: AuthorizationResponse) -> Response {
        let response = match super::jarm::sign_response(self, response) {
            Ok(response) => response,
            Err(e) => return self.error_page(&e),
        };
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
        self.respond(
            AuthorizationResponse::error(
                request.redirect_uri.clone(),
                request.response_mode,
                error,
                request.state.clone(),
                &self.config.issuer,
            )
            .signed_with(request.response_signing()),
        )
    }
}
