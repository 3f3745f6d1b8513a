//! `GET`/`POST /end_session` (OpenID Connect RP-Initiated Logout 1.0): ends the browser's
//! session (after a CSRF-protected confirmation when the request cannot be tied to it),
//! notifies the clients signed in through it on the back channel and, on the signed-out page,
//! the front channel, then returns to a registered post-logout redirect URI.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tessera_core::crypto::{constant_time_eq, handle_digest, random_handle};
use tessera_core::logout::{EndSessionRequest, end_session, frontchannel_url, parse_end_session};
use tessera_core::model::{Grant, Session};
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::OrServerError as _;
use tessera_core::protocol::form::Form;
use tessera_core::protocol::paths;
use tessera_core::sessions::load_session;
use tessera_core::store::ClientStore as _;

use super::cookies::read_cookie;
use super::flow::{see_other, with_cookies};
use super::pages::signed_out_csp;
use crate::http::AppState;
use crate::http::form::read_form;

/// The grant kind of a pending sign-out confirmation.
const CONFIRMATION: &str = "logout_confirmation";
/// How long the confirmation page may stay open.
const CONFIRMATION_LIFETIME: i64 = 10 * 60;

/// What a confirmation carries to its form submission.
#[derive(Serialize, Deserialize)]
struct Pending {
    browser: String,
    csrf: String,
    sid: String,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// Where the user goes after signing out.
struct After {
    client_name: Option<String>,
    redirect: Option<String>,
}

/// `GET /end_session`
pub async fn end_session_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match super::park::get_form(&state, query.as_deref()).await {
        Ok(form) => start(&state, &headers, &form).await,
        Err(e) => state.error_page(&e),
    }
}

/// `POST /end_session`: parked, then continued as a GET on our own site, where the
/// SameSite=Lax session cookie is sent (a POST from the client's site carries none).
pub async fn end_session_post(
    State(state): State<AppState>,
    peer: Option<axum::Extension<crate::connections::PeerAddr>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let address = peer.map(|p| p.0.0.ip());
    match super::park::park_post(&state, (&headers, &uri, &body), address, paths::END_SESSION).await
    {
        super::park::Posted::Answered(response) => response,
        super::park::Posted::Continue(form) => start(&state, &headers, &form).await,
    }
}

async fn current_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, OAuthError> {
    match read_cookie(headers, state.cookies.session) {
        Some(cookie) => {
            load_session(
                state.store.as_ref(),
                cookie,
                state.clock.now(),
                state.config.sessions,
            )
            .await
        }
        None => Ok(None),
    }
}

async fn start(state: &AppState, headers: &HeaderMap, form: &Form) -> Response {
    let ring = state.keys.current();
    let request =
        match parse_end_session(state.clients.as_ref(), &ring, &state.config.issuer, form).await {
            Ok(r) => r,
            Err(e) => return state.error_page(&e),
        };
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
    let session = match current_session(state, headers).await {
        Ok(s) => s,
        Err(e) => return state.error_page(&e),
    };
    let after = after(&request);
    let Some(session) = session else {
        // Nothing to end: straight to the end.
        return signed_out(state, vec![], after, false);
    };
    // Tied to this session: a hint of ours from it (or, without sid, for its user), in a
    // request that passed every check; anything doubtful is confirmed by the user first.
    let tied = request.problems.is_empty()
        && request.hint.as_ref().is_some_and(|h| match &h.sid {
            Some(sid) => constant_time_eq(sid.as_bytes(), session.sid.as_bytes()),
            None => h.sub == session.subject,
        });
    if tied {
        return sign_out(state, &session.id_digest, after).await;
    }
    confirm_page(state, headers, &request, &session).await
}

fn after(request: &EndSessionRequest) -> After {
    // RP-Initiated Logout §3: state is echoed to the post-logout redirect URI.
    let redirect = request
        .post_logout_redirect_uri
        .as_ref()
        .map(|uri| match &request.state {
            None => uri.clone(),
            Some(s) => {
                let separator = if uri.contains('?') { '&' } else { '?' };
                let state = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("state", s)
                    .finish();
                format!("{uri}{separator}{state}")
            }
        });
    After {
        client_name: request
            .client
            .as_ref()
            .map(|c| c.client_name.clone().unwrap_or_else(|| c.client_id.clone())),
        redirect,
    }
}

async fn confirm_page(
    state: &AppState,
    headers: &HeaderMap,
    request: &EndSessionRequest,
    session: &Session,
) -> Response {
    // The confirmation is bound to this browser: by its binding cookie, or a new one (a
    // browser from before bindings were MAC-ed has a value that no longer counts).
    let (browser, new_binding) = match state.issued_browser_cookie(headers) {
        Some(b) => (b.to_string(), None),
        None => match state.cookie_mac.issue(super::cookies::BROWSER_PURPOSE) {
            Ok(b) => {
                let set = state.cookies.set(state.cookies.browser, &b);
                (b, set)
            }
            Err(e) => return state.error_page(&e),
        },
    };
    let (id, csrf) = match (
        random_handle().or_server_error("drawing random bytes"),
        random_handle().or_server_error("drawing random bytes"),
    ) {
        (Ok(id), Ok(csrf)) => (id, csrf),
        (Err(e), _) | (_, Err(e)) => return state.error_page(&e),
    };
    let pending = Pending {
        browser: handle_digest(&browser),
        csrf: csrf.clone(),
        sid: session.sid.clone(),
        client_id: request.client.as_ref().map(|c| c.client_id.clone()),
        post_logout_redirect_uri: request.post_logout_redirect_uri.clone(),
        state: request.state.clone(),
    };
    let now = state.clock.now();
    let record = Grant {
        handle_digest: handle_digest(&id),
        kind: CONFIRMATION.into(),
        client_id: pending.client_id.clone().unwrap_or_default(),
        subject: Some(session.subject.clone()),
        session_id: Some(session.sid.clone()),
        family: None,
        data: serde_json::to_value(&pending).unwrap_or_default(),
        created_at: now,
        expires_at: now + CONFIRMATION_LIFETIME,
        consumed_at: None,
    };
    if let Err(e) = state.store.insert_grant(&record).await {
        return state.error_page(&e.into());
    }
    let username = match state.store.find_user_by_subject(&session.subject).await {
        Ok(u) => u.map(|u| u.username),
        Err(e) => return state.error_page(&e.into()),
    };
    let page = state.pages.render(
        StatusCode::OK,
        "logout.html",
        minijinja::context! {
            interaction => id,
            csrf,
            client_name => after(request).client_name,
            username,
            problems => request.problems,
        },
    );
    with_cookies(page, new_binding)
}

/// `POST /end_session/confirm`
pub async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let form = match read_form(&headers, &uri, &body) {
        Ok(f) => f,
        Err(e) => return state.error_page(&e),
    };
    let field = |name: &str| form.one(name).ok().flatten().unwrap_or_default();
    let refused = |status: StatusCode, title: &str| {
        state.pages.error(
            status,
            title,
            "Go back to the application and sign out again.",
            "",
        )
    };
    let now = state.clock.now();
    let digest = handle_digest(field("interaction"));
    let pending = match state.store.find_grant(&digest).await {
        Ok(Some(g)) if g.kind == CONFIRMATION && g.consumed_at.is_none() && g.expires_at > now => {
            match serde_json::from_value::<Pending>(g.data) {
                Ok(p) => p,
                Err(e) => {
                    return state
                        .error_page(&OAuthError::internal("reading a sign-out confirmation", e));
                }
            }
        }
        Ok(_) => return refused(StatusCode::BAD_REQUEST, "This sign-out page has expired"),
        Err(e) => return state.error_page(&e.into()),
    };
    let browser = read_cookie(&headers, state.cookies.browser).unwrap_or_default();
    let genuine = constant_time_eq(field("csrf").as_bytes(), pending.csrf.as_bytes())
        && constant_time_eq(
            handle_digest(browser).as_bytes(),
            pending.browser.as_bytes(),
        );
    if !genuine {
        return refused(StatusCode::FORBIDDEN, "This form cannot be accepted");
    }
    match state.store.consume_grant(&digest, CONFIRMATION, now).await {
        Ok(Some(_)) => {}
        Ok(None) => return refused(StatusCode::BAD_REQUEST, "This sign-out page has expired"),
        Err(e) => return state.error_page(&e.into()),
    }
    let client = match &pending.client_id {
        Some(id) => state
            .clients
            .find_client(id)
            .await
            .ok()
            .flatten()
            .filter(|c| c.enabled),
        None => None,
    };
    let request = EndSessionRequest {
        // A redirect only to a client that still exists.
        post_logout_redirect_uri: pending
            .post_logout_redirect_uri
            .filter(|_| client.is_some()),
        client,
        state: pending.state,
        ..EndSessionRequest::default()
    };
    let after = after(&request);
    if field("action") != "logout" {
        return state.pages.render(
            StatusCode::OK,
            "signed_out.html",
            minijinja::context! { signed_out => false },
        );
    }
    match current_session(&state, &headers).await {
        // Only the session the user was asked about (not one started since in this browser).
        Ok(Some(session)) if constant_time_eq(session.sid.as_bytes(), pending.sid.as_bytes()) => {
            sign_out(&state, &session.id_digest, after).await
        }
        Ok(_) => signed_out(&state, vec![], after, false),
        Err(e) => state.error_page(&e),
    }
}

/// Ends the session, starts the back-channel notifications and shows the signed-out page.
async fn sign_out(state: &AppState, id_digest: &str, after: After) -> Response {
    let ended = match end_session(
        state.store.as_ref(),
        state.store.as_ref(),
        state.clients.as_ref(),
        id_digest,
    )
    .await
    {
        Ok(ended) => ended,
        Err(e) => return state.error_page(&e),
    };
    // Already ended elsewhere (another tab, the CLI): its clients were notified then.
    let Some((session, clients)) = ended else {
        return signed_out(state, vec![], after, false);
    };
    tracing::info!(sid = %session.sid, clients = clients.len(), "signed out");
    let ring = state.keys.current();
    // Delivered in the background: the page does not wait for the clients.
    drop(state.backchannel.notify(
        &state.config.issuer,
        &ring,
        &session,
        &clients,
        state.clock.now(),
    ));
    let frames: Vec<String> = clients
        .iter()
        .filter_map(|c| frontchannel_url(c, &state.config.issuer, &session.sid))
        .collect();
    // A session really ended here: the next person on this browser starts afresh.
    signed_out(state, frames, after, true)
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
    frames: Vec<String>,
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
    let response = match (&after.redirect, frames.is_empty()) {
        (Some(redirect), true) => see_other(redirect),
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
                },
                signed_out_csp(&origins),
            )
        }
    };
    with_cookies(response, clear.into_iter().flatten())
}
