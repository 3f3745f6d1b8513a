//! `/password/reset?token=...`, where a mailed link leads. GET shows the form for a new
//! password while the link is live, and spends nothing (mail scanners open links); POST takes
//! the token, the form's CSRF token and the new password twice, checks the password policy,
//! then uses the token up, sets the password and ends everything the user holds: every
//! session (with back-channel logout to its clients), refresh tokens, codes and other reset
//! links (SEC-61, SEC-63; CVE-45, CVE-46). The token names the user; no field of the form can.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tessera_core::crypto::handle_digest;
use tessera_core::events::SessionEnd;
use tessera_core::model::{GrantKind, User};
use tessera_core::password_policy::{MAX_BYTES, check_new_password};
use tessera_core::password_reset::{find_reset, take_reset};
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::form::Form;
use tessera_core::secret::Secret;
use tessera_core::users::Users;

use super::{browser_binding, mailer};
use crate::http::AppState;
use crate::http::ui::error::{Page, PageError, PageForm};
use crate::http::ui::flow::with_cookies;

/// What the reset form's CSRF token is bound to (with the token and the browser binding).
const RESET_PURPOSE: &str = "password-reset";

/// The form's CSRF token: bound to this link and this browser.
fn form_csrf(state: &AppState, token: &str, browser: &str) -> String {
    let bound = format!("{}.{browser}", handle_digest(token));
    state.cookie_mac.sign(RESET_PURPOSE, &bound)
}

/// The user a live reset `token` is for, while it still applies to them.
async fn live_reset(state: &AppState, token: &str) -> Result<Option<User>, OAuthError> {
    let now = state.clock.now();
    let Some(reset) = find_reset(state.store.as_ref(), token, now).await? else {
        return Ok(None);
    };
    let user = state.store.find_user_by_subject(&reset.subject).await?;
    Ok(user.filter(|u| reset.applies_to(u)))
}

/// `GET /password/reset?token=...`
pub async fn reset_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Page {
    mailer(&state)?;
    let query = Form::parse(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let token = query.one("token").ok().flatten().unwrap_or_default();
    let Some(user) = live_reset(&state, token).await? else {
        return Err(PageError::RESET_GONE);
    };
    let (browser, cookie) = browser_binding(&state, &headers)?;
    let csrf = form_csrf(&state, token, &browser);
    let page = render(&state, StatusCode::OK, (token, &csrf), &user, None);
    Ok(with_cookies(page, cookie))
}

/// The set-password form, or (without a token) the page saying it is done.
fn render(
    state: &AppState,
    status: StatusCode,
    (token, csrf): (&str, &str),
    user: &User,
    error: Option<&str>,
) -> Response {
    state.pages.render(
        status,
        "password_reset.html",
        minijinja::context! {
            token => (!token.is_empty()).then_some(token),
            csrf,
            username => user.username,
            error,
            done => token.is_empty(),
        },
    )
}

/// `POST /password/reset`
pub async fn reset_submit(State(state): State<AppState>, posted: PageForm) -> Page {
    mailer(&state)?;
    let field = |name: &str| posted.form.one(name).ok().flatten().unwrap_or_default();
    let (token, csrf) = (field("token"), field("csrf"));
    let Some(user) = live_reset(&state, token).await? else {
        return Err(PageError::RESET_GONE);
    };
    let browser = state.issued_browser_cookie(&posted.headers);
    let bound = browser.is_some_and(|b| {
        let expected = form_csrf(&state, token, b);
        tessera_core::crypto::constant_time_eq(expected.as_bytes(), csrf.as_bytes())
    });
    if !bound {
        return Err(PageError::RESET_FORGED);
    }
    let (new, again) = (field("new"), field("again"));
    if let Err(message) = check_choice(&state, &user, new, again) {
        let status = StatusCode::BAD_REQUEST;
        return Ok(render(&state, status, (token, csrf), &user, Some(&message)));
    }
    let hash = state.passwords.hash(new.to_string()).await?;
    // Used up only now, so that a typo does not cost the link; of concurrent uses, one wins.
    let now = state.clock.now();
    let Some(reset) = take_reset(state.store.as_ref(), token, now).await? else {
        return Err(PageError::RESET_GONE);
    };
    let user = state.store.find_user_by_subject(&reset.subject).await?;
    let Some(mut user) = user.filter(|u| reset.applies_to(u)) else {
        return Err(PageError::RESET_GONE);
    };
    Users::new(state.store.as_ref(), state.clock.as_ref())
        .set_password_hash(&mut user, Secret::new(hash))
        .await
        .map_err(|e| OAuthError::internal("resetting a password", e.to_string()))?;
    let ended = end_everything(&state, &user.subject).await?;
    tracing::info!(sessions = ended, "password reset by a mailed link");
    Ok(render(&state, StatusCode::OK, ("", ""), &user, None))
}

/// The new password, typed twice, by the password policy; else what to tell the user.
fn check_choice(state: &AppState, user: &User, new: &str, again: &str) -> Result<(), String> {
    if new.len() > MAX_BYTES {
        return Err(format!("Use at most {MAX_BYTES} bytes."));
    }
    if new != again {
        return Err("The new passwords differ.".into());
    }
    let claim = |name: &str| user.claims.get(name).and_then(|v| v.as_str());
    let context = [
        user.username.as_str(),
        claim("email").unwrap_or_default(),
        claim("name").unwrap_or_default(),
    ];
    let min_length = state.config.password_policy.min_length;
    check_new_password(new, min_length, &context).map_err(|why| {
        let why = why.to_string();
        let mut chars = why.chars();
        let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
        format!("{}{}.", first.unwrap_or_default(), chars.as_str())
    })
}

/// Ends every session of `subject` as a sign-out would (clients told on the back channel),
/// then deletes every grant they hold but remembered consent: refresh tokens (offline ones
/// too), access token records, codes and other reset links. Returns how many sessions ended.
async fn end_everything(state: &AppState, subject: &str) -> Result<usize, OAuthError> {
    let now = state.clock.now();
    let sessions = state.store.list_sessions_for_subject(subject, now).await?;
    let mut ended = 0;
    for session in sessions {
        let why = SessionEnd::PasswordReset;
        let logout = crate::http::ui::logout::end_browser_session(state, &session.id_digest, why);
        if logout.await?.is_some() {
            ended += 1;
        }
    }
    (state.store)
        .delete_subject_grants(subject, Some(GrantKind::Consent))
        .await?;
    Ok(ended)
}
