//! Forgotten passwords, when `[smtp]` is configured: `/password/forgot` takes a username or an
//! address and mails a reset link to the account's stored, verified address; the link leads to
//! `/password/reset` ([`reset`]), where the new password is set once.
//!
//! The answer never tells whether an account exists (OWASP Forgot Password Cheat Sheet): the
//! page is the same whatever was typed, and so is the work done before it is sent (the
//! lookup); the token is stored and the mail sent in the background. The link is built from
//! the configured issuer only, never from `Host`, `Forwarded` or `X-Forwarded-*` (SEC-63,
//! OIDC Core §16.2; CVE-44). Mails are limited per account, per address and per client
//! ([`limit`]). One log line per request says what happened, without the token or the address.

pub mod limit;
pub mod reset;

use std::net::IpAddr;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use tessera_core::model::User;
use tessera_core::password_reset::reset_address;
use tessera_core::password_reset::{MAX_NAME, RESET_LIFETIME, find_reset_account, issue_reset};
use tessera_core::protocol::paths;
use tracing::Instrument as _;

use super::cookies::BROWSER_PURPOSE;
use super::error::{Page, PageError, PageForm};
use super::flow::with_cookies;
use crate::http::AppState;
use crate::mail::Mailer;

/// What the forgot-password form's CSRF token is bound to (with the browser binding).
const FORGOT_PURPOSE: &str = "password-forgot";
/// The one answer to every request for a link.
const SENT: &str = "If an account with a verified address matches, we sent a link to it.";

/// The relay, or the not-offered page.
fn mailer(state: &AppState) -> Result<&std::sync::Arc<Mailer>, PageError> {
    state.mailer.as_ref().ok_or(PageError::RESET_UNAVAILABLE)
}

/// The browser's binding cookie, or a new one with its `Set-Cookie`.
pub(super) fn browser_binding(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(String, Option<HeaderValue>), PageError> {
    if let Some(browser) = state.issued_browser_cookie(headers) {
        return Ok((browser.to_string(), None));
    }
    let browser = state.cookie_mac.issue(BROWSER_PURPOSE)?;
    let set = state.cookies.set(state.cookies.browser, &browser);
    Ok((browser, set))
}

/// `GET /password/forgot`
pub async fn forgot_page(State(state): State<AppState>, headers: HeaderMap) -> Page {
    mailer(&state)?;
    let (browser, cookie) = browser_binding(&state, &headers)?;
    let csrf = state.cookie_mac.sign(FORGOT_PURPOSE, &browser);
    let page = render(&state, StatusCode::OK, Some(&csrf), None);
    Ok(with_cookies(page, cookie))
}

/// The forgot-password page: the form (with `csrf`), or the one answer (without).
fn render(
    state: &AppState,
    status: StatusCode,
    csrf: Option<&str>,
    error: Option<&str>,
) -> Response {
    let minutes = RESET_LIFETIME / 60;
    state.pages.render(
        status,
        "password_forgot.html",
        minijinja::context! { csrf, error, sent => csrf.is_none().then_some(SENT), minutes },
    )
}

/// `POST /password/forgot`: the same page whatever the name matches.
pub async fn forgot_submit(State(state): State<AppState>, posted: PageForm) -> Page {
    mailer(&state)?;
    let field = |name: &str| posted.form.one(name).ok().flatten().unwrap_or_default();
    let browser = state.issued_browser_cookie(&posted.headers);
    let csrf = field("csrf");
    if !browser.is_some_and(|b| state.cookie_mac.check(FORGOT_PURPOSE, b, csrf)) {
        return Err(PageError::RESET_FORGED);
    }
    let name = field("name").trim();
    if name.is_empty() || name.len() > MAX_NAME {
        let error = "Enter your username or e-mail address.";
        return Ok(render(
            &state,
            StatusCode::BAD_REQUEST,
            Some(csrf),
            Some(error),
        ));
    }
    match find_reset_account(state.store.as_ref(), name).await? {
        Some(user) => request_mail(&state, user, posted.peer),
        None => tracing::info!(
            outcome = "no such verified account",
            "password reset asked for"
        ),
    }
    Ok(render(&state, StatusCode::OK, None, None))
}

/// Counts the mail against the limits and, when within them, sends it in the background.
fn request_mail(state: &AppState, user: User, peer: Option<IpAddr>) {
    // A configured password still being checked at start cannot be replaced yet.
    let pending = |u: &User| {
        state
            .pending_passwords
            .read()
            .map_or(true, |p| p.contains(&u.subject))
    };
    let Some(address) = reset_address(&user).filter(|_| !pending(&user)) else {
        tracing::info!(
            outcome = "no such verified account",
            "password reset asked for"
        );
        return;
    };
    let now = state.monotonic.now();
    if !state.reset_limit.allow(&user.subject, address, peer, now) {
        tracing::info!(outcome = "throttled", "password reset asked for");
        return;
    }
    let (state, address) = (state.clone(), address.to_string());
    let span = tracing::Span::current();
    tokio::spawn(
        async move {
            match mail_link(&state, &user, &address).await {
                Ok(()) => tracing::info!(outcome = "sent", "password reset asked for"),
                Err(e) => tracing::warn!(
                    outcome = "not sent",
                    error = %e,
                    "password reset asked for; the mail could not be sent"
                ),
            }
        }
        .instrument(span),
    );
}

/// Why a reset mail did not go out.
#[derive(Debug, thiserror::Error)]
enum NotSent {
    #[error("storing the reset token failed: {0}")]
    Store(tessera_core::protocol::OAuthError),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
}

/// Stores a reset token for `user` and mails its link to `address`. The link starts with the
/// configured issuer, whatever the request's headers said (CVE-44).
async fn mail_link(state: &AppState, user: &User, address: &str) -> Result<(), NotSent> {
    let Some(mailer) = &state.mailer else {
        return Ok(());
    };
    let now = state.clock.now();
    let token = issue_reset(state.store.as_ref(), user, now)
        .await
        .map_err(NotSent::Store)?;
    let issuer = state.config.issuer.trim_end_matches('/');
    let link = format!("{issuer}{}?token={token}", paths::PASSWORD_RESET);
    let minutes = RESET_LIFETIME / 60;
    let body = format!(
        "Hello {username},\n\n\
         someone asked to reset the password of your account at {issuer}.\n\
         To choose a new password, open this link within {minutes} minutes:\n\n\
         {link}\n\n\
         The link works once. If you did not ask for it, ignore this mail: your password stays\n\
         as it is.\n",
        username = user.username,
    );
    mailer.send(address, "Reset your password", body).await?;
    Ok(())
}
