//! `GET`/`POST /end_session` (OpenID Connect RP-Initiated Logout 1.0): ends the browser's
//! session (after a CSRF-protected confirmation when the request cannot be tied to it),
//! notifies the clients signed in through it on the back channel and, on the signed-out page,
//! the front channel, then returns to a registered post-logout redirect URI.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tessera_core::crypto::{constant_time_eq, handle_digest};
use tessera_core::events::{Event, SessionEnd};
use tessera_core::logout::confirm::{
    After, LogoutConfirmation, after, ask_confirmation, confirmed_request, tied_to_session,
};
use tessera_core::logout::{EndSessionRequest, frontchannel_url, parse_end_session};
use tessera_core::model::{Client, Session};
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::form::Form;
use tessera_core::sessions::{PageRefusal, take_page_record};

use super::cookies::read_cookie;
use super::error::{Page, PageError, PageForm};
use super::flow::{see_other, with_cookies};
use super::pages::signed_out_csp;
use super::park::BrowserRequest;
use crate::http::AppState;

/// `GET` and `POST /end_session`. A POST is parked, then continued as a GET on our own site,
/// where the SameSite=Lax session cookie is sent (a POST from the client's site carries none).
pub async fn end_session(State(state): State<AppState>, request: BrowserRequest) -> Page {
    request
        .answer(async |form, headers| start(&state, &headers, &form).await)
        .await
}

async fn start(state: &AppState, headers: &HeaderMap, form: &Form) -> Result<Response, PageError> {
    let ring = state.keys.current();
    let request =
        parse_end_session(state.clients.as_ref(), &ring, &state.config.issuer, form).await?;
    // RP-Initiated Logout §2-3: values that failed their checks were dropped (no redirect to an
    // unregistered post_logout_redirect_uri); the operator sees why.
    for problem in &request.problems {
        tracing::info!(
            client_id = request
                .client
                .as_ref()
                .map_or("-", |c| c.client_id.as_str()),
            reason = problem,
            "end-session request: a value was ignored"
        );
    }
    let Some(session) = state.browser_session(headers).await? else {
        // Nothing to end: straight to the end.
        return Ok(signed_out(state, (vec![], None), after(&request), false));
    };
    if tied_to_session(&request, &session) {
        return sign_out(state, &session.id_digest, after(&request)).await;
    }
    confirm_page(state, headers, &request, &session).await
}

async fn confirm_page(
    state: &AppState,
    headers: &HeaderMap,
    request: &EndSessionRequest,
    session: &Session,
) -> Result<Response, PageError> {
    // The confirmation is bound to this browser: by its binding cookie, or a new one (a
    // browser from before bindings were MAC-ed has a value that no longer counts).
    let (browser, new_binding) = match state.issued_browser_cookie(headers) {
        Some(b) => (b.to_string(), None),
        None => {
            let b = state.cookie_mac.issue(super::cookies::BROWSER_PURPOSE)?;
            let set = state.cookies.set(state.cookies.browser, &b);
            (b, set)
        }
    };
    let now = state.clock.now();
    let browser = handle_digest(&browser);
    let handle = ask_confirmation(state.store.as_ref(), request, session, browser, now).await?;
    let username = (state.store.find_user_by_subject(&session.subject).await?).map(|u| u.username);
    let page = state.pages.render(
        StatusCode::OK,
        "logout.html",
        minijinja::context! {
            interaction => handle.id,
            csrf => handle.csrf,
            client_name => after(request).client_name,
            username,
            problems => request.problems,
        },
    );
    Ok(with_cookies(page, new_binding))
}

/// `POST /end_session/confirm`
pub async fn confirm(State(state): State<AppState>, posted: PageForm) -> Page {
    let (form, headers) = (&posted.form, &posted.headers);
    let field = |name: &str| form.one(name).ok().flatten().unwrap_or_default();
    let browser = read_cookie(headers, state.cookies.browser).unwrap_or_default();
    let (id, csrf, now) = (field("interaction"), field("csrf"), state.clock.now());
    let taken =
        take_page_record::<LogoutConfirmation>(state.store.as_ref(), id, csrf, browser, now)
            .await?;
    let confirmation = match taken {
        Ok(confirmation) => confirmation,
        Err(PageRefusal::Gone) => return Err(PageError::SIGN_OUT_EXPIRED),
        Err(PageRefusal::Forged) => return Err(PageError::SIGN_OUT_FORGED),
    };
    let sid = confirmation.sid.clone();
    let after = after(&confirmed_request(state.clients.as_ref(), confirmation).await?);
    if field("action") != "logout" {
        return Ok(state.pages.render(
            StatusCode::OK,
            "signed_out.html",
            minijinja::context! { signed_out => false },
        ));
    }
    match state.browser_session(headers).await? {
        // Only the session the user was asked about (not one started since in this browser).
        Some(session) if constant_time_eq(session.sid.as_bytes(), sid.as_bytes()) => {
            sign_out(&state, &session.id_digest, after).await
        }
        _ => Ok(signed_out(&state, (vec![], None), after, false)),
    }
}

/// Ends the session under `id_digest` with what belongs to it, tells the event subscribers,
/// and starts back-channel logout to its clients (delivered in the background: nobody waits
/// for the clients). `None` when it had ended already (another tab, the CLI): its clients were
/// told then.
pub(crate) async fn end_browser_session(
    state: &AppState,
    id_digest: &str,
    why: SessionEnd,
) -> Result<Option<(Session, Vec<Client>)>, OAuthError> {
    let stores = (state.store.as_ref(), state.store.as_ref());
    let ended =
        tessera_core::logout::end_session(stores.0, stores.1, state.clients.as_ref(), id_digest)
            .await?;
    let Some((session, clients)) = ended else {
        return Ok(None);
    };
    state.events.emit(Event::SessionEnded {
        sid: &session.sid,
        clients: clients.len(),
        why,
    });
    let ring = state.keys.current();
    let now = state.clock.now();
    let issuer = &state.config.issuer;
    drop(
        state
            .backchannel
            .notify(issuer, &ring, &session, &clients, now),
    );
    Ok(Some((session, clients)))
}

/// Ends the session, starts the back-channel notifications and shows the signed-out page.
async fn sign_out(state: &AppState, id_digest: &str, after: After) -> Result<Response, PageError> {
    let Some((session, clients)) =
        end_browser_session(state, id_digest, SessionEnd::SignedOut).await?
    else {
        return Ok(signed_out(state, (vec![], None), after, false));
    };
    let frames: Vec<String> = clients
        .iter()
        .filter_map(|c| frontchannel_url(c, &state.config.issuer, &session.sid))
        .collect();
    let upstream = upstream_logout(state, &session).await;
    // A session really ended here: the next person on this browser starts afresh.
    Ok(signed_out(state, (frames, upstream), after, true))
}

/// Where to sign out at the upstream provider the session came from, when its configuration
/// asks for it (`upstream_logout`) and it has an end-session endpoint (OpenID Connect
/// RP-Initiated Logout 1.0 §2, with the upstream's ID token as `id_token_hint`): the provider's
/// name and the URL, offered as a link on the signed-out page.
async fn upstream_logout(state: &AppState, session: &Session) -> Option<(String, String)> {
    let upstream = tessera_core::sessions::session_data(session)
        .ok()?
        .upstream?;
    let up = state.upstreams.get(&upstream.provider)?;
    if !up.provider.upstream_logout {
        return None;
    }
    let endpoint = state.upstreams.endpoints(&up).await.ok()?.end_session?;
    let mut url = url::Url::parse(&endpoint).ok()?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("client_id", &up.provider.client_id);
        if let Some(hint) = &upstream.id_token {
            query.append_pair("id_token_hint", hint);
        }
    }
    Some((up.provider.display_name.clone(), url.to_string()))
}

fn origin(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    Some(url.origin().ascii_serialization())
}

/// The signed-out page (or, with nothing to load in frames, straight back to the client). The
/// session and browser-state cookies are always cleared, so that the check-session iframe
/// sees the change even when the session had already ended. When this request ended a
/// session (`forget_browser`), so is the browser binding of interactions: the next person on
/// this browser starts with new ids throughout (CVE-09) and cannot be linked to the previous
/// one by it. Otherwise it stays, so that a link to /end_session from anywhere cannot break a
/// sign-in in progress.
fn signed_out(
    state: &AppState,
    (frames, upstream): (Vec<String>, Option<(String, String)>),
    after: After,
    forget_browser: bool,
) -> Response {
    let clear = [
        state.cookies.clear(state.cookies.session),
        state.cookies.clear(state.cookies.browser_state),
        forget_browser
            .then(|| state.cookies.clear(state.cookies.browser))
            .flatten(),
    ];
    // The page stays when it has frames to load or an upstream sign-out to offer.
    let page_needed = !frames.is_empty() || upstream.is_some();
    let response = match (&after.redirect, page_needed) {
        (Some(redirect), false) => see_other(redirect),
        _ => {
            let origins: Vec<String> = frames.iter().filter_map(|f| origin(f)).collect();
            state.pages.render_with_csp(
                StatusCode::OK,
                "signed_out.html",
                minijinja::context! {
                    signed_out => true,
                    frames,
                    redirect => after.redirect,
                    client_name => after.client_name,
                    upstream,
                },
                signed_out_csp(&origins),
            )
        }
    };
    with_cookies(response, clear.into_iter().flatten())
}
