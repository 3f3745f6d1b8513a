//! The account page (`/account`): a signed-in user changes their password, enrols and removes
//! second factors, and sees and ends their sessions. It is a page of the sign-in pages' kind:
//! the same look, headers and session cookie; forms carry a CSRF token bound to the session;
//! nothing needs JavaScript. Without a session it begins a sign-in that ends back here.
//! Changes to factors need a recent sign-in (NIST SP 800-63B §6.1.2.1: a new authenticator is
//! bound in a session authenticated recently), else the user is asked to sign in again.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use tessera_core::authorize::AuthorizationRequest;
use tessera_core::authorize::request::Prompt;
use tessera_core::crypto::handle_digest;
use tessera_core::events::SessionEnd;
use tessera_core::model::{Factor, Session, User};
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::form::Form;
use tessera_core::protocol::paths;
use tessera_core::sessions::{Flow, Interaction, save_page_record};

use super::cookies::BROWSER_PURPOSE;
use super::error::{Page, PageError, PageForm};
use super::flow::{see_other, with_cookies};
use crate::http::AppState;

pub mod access;
pub mod factors;
pub mod password;

/// How recent a sign-in must be for changes to factors.
const RECENT_SIGN_IN: i64 = 5 * 60;
/// What the account forms' CSRF tokens are bound to (with the session's `sid`).
const CSRF_PURPOSE: &str = "account-form";

/// The signed-in user of the account page.
pub struct Account {
    /// Their session in this browser.
    pub session: Session,
    /// The user.
    pub user: User,
    /// The CSRF token of the page's forms.
    pub csrf: String,
    /// They signed in recently enough to change factors.
    pub recent: bool,
}

impl AppState {
    /// The account of the browser's live session, if any, for an active user.
    async fn account(&self, headers: &HeaderMap) -> Result<Option<Account>, OAuthError> {
        let Some(session) = self.browser_session(headers).await? else {
            return Ok(None);
        };
        let user = self.store.find_user_by_subject(&session.subject).await?;
        let Some(user) = user.filter(|u| !u.disabled) else {
            return Ok(None);
        };
        let csrf = self.cookie_mac.sign(CSRF_PURPOSE, &session.sid);
        let recent = self.clock.now().saturating_sub(session.auth_time) <= RECENT_SIGN_IN;
        Ok(Some(Account {
            session,
            user,
            csrf,
            recent,
        }))
    }

    /// The account page's address.
    pub fn account_url(&self, query: &str) -> String {
        let base = self.config.issuer.trim_end_matches('/');
        format!("{base}{}{query}", paths::ACCOUNT)
    }
}

/// The account of a posted account form: signed in, and the form's CSRF token is the
/// session's. With `recent`, a sign-in older than [`RECENT_SIGN_IN`] is refused: the caller
/// sends the user to sign in again.
pub async fn posted_account(state: &AppState, posted: &PageForm) -> Result<Account, PageError> {
    let account = state
        .account(&posted.headers)
        .await?
        .ok_or(PageError::ACCOUNT_SIGNED_OUT)?;
    let csrf = posted.form.one("csrf").ok().flatten().unwrap_or_default();
    if !state
        .cookie_mac
        .check(CSRF_PURPOSE, &account.session.sid, csrf)
    {
        return Err(PageError::ACCOUNT_FORGED);
    }
    Ok(account)
}

/// `GET /account`
pub async fn account_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Page {
    let Some(account) = state.account(&headers).await? else {
        return start_sign_in(&state, &headers, false).await;
    };
    let form = Form::parse(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let notice = form.one("done").ok().flatten().and_then(notice_of);
    render(&state, StatusCode::OK, &account, notice, None).await
}

/// `GET /account/signin`: sign in again (for changes that need a recent sign-in).
pub async fn account_sign_in(State(state): State<AppState>, headers: HeaderMap) -> Page {
    start_sign_in(&state, &headers, true).await
}

/// What a finished change says, by the name its redirect carries (never text from the URL).
fn notice_of(done: &str) -> Option<&'static str> {
    Some(match done {
        "password" => "Your password was changed.",
        "totp" => "Your authenticator app is set up.",
        "passkey" => "Your passkey is added.",
        "removed" => "The factor was removed.",
        "session" => "The session was ended.",
        "revoked" => "The application's access was revoked.",
        "unlinked" => "The link was removed.",
        _ => return None,
    })
}

/// Begins a sign-in that ends on the account page (`again`: even with a session, as
/// `prompt=login`).
async fn start_sign_in(state: &AppState, headers: &HeaderMap, again: bool) -> Page {
    let request = AuthorizationRequest {
        redirect_uri: state.account_url(""),
        scopes: vec!["openid".into()],
        prompt: if again { vec![Prompt::Login] } else { vec![] },
        ..AuthorizationRequest::default()
    };
    let (browser, cookie) = match state.issued_browser_cookie(headers) {
        Some(b) => (b.to_string(), None),
        None => {
            let b = state.cookie_mac.issue(BROWSER_PURPOSE)?;
            let set = state.cookies.set(state.cookies.browser, &b);
            (b, set)
        }
    };
    let interaction = Interaction::new(Flow::Account, request, handle_digest(&browser));
    let now = state.clock.now();
    let handle = save_page_record(state.store.as_ref(), interaction, now).await?;
    let base = state.config.issuer.trim_end_matches('/');
    let login = format!("{base}{}?interaction={}", paths::LOGIN, handle.id);
    Ok(with_cookies(see_other(&login), cookie))
}

/// A factor as the page lists it.
#[derive(Serialize)]
struct FactorRow {
    id: String,
    kind: &'static str,
    label: String,
    added: String,
    last_used: Option<String>,
    left: Option<usize>,
}

/// A session as the page lists it.
#[derive(Serialize)]
struct SessionRow {
    sid: String,
    started: String,
    last_seen: String,
    current: bool,
}

/// A time as the page shows it (HTTP-date form, UTC).
pub(crate) fn shown_time(t: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(t).unwrap_or(0));
    httpdate::fmt_http_date(at)
}

fn factor_row(f: &Factor) -> FactorRow {
    let left = match &f.data {
        tessera_core::model::FactorData::RecoveryCodes { hashes } => Some(hashes.len()),
        tessera_core::model::FactorData::Totp { .. }
        | tessera_core::model::FactorData::Passkey { .. } => None,
    };
    FactorRow {
        id: f.id.clone(),
        kind: f.kind().as_str(),
        label: f.label.clone(),
        added: shown_time(f.created_at),
        last_used: f.last_used_at.map(shown_time),
        left,
    }
}

/// Renders the account page, with a notice or an error.
pub(crate) async fn render(
    state: &AppState,
    status: StatusCode,
    account: &Account,
    notice: Option<&str>,
    error: Option<&str>,
) -> Page {
    let now = state.clock.now();
    let subject = &account.user.subject;
    let factors = state.store.list_factors(subject).await?;
    let sessions = state.store.list_sessions_for_subject(subject, now).await?;
    let sessions: Vec<SessionRow> = sessions
        .iter()
        .map(|s| SessionRow {
            sid: s.sid.clone(),
            started: shown_time(s.created_at),
            last_seen: shown_time(s.last_seen),
            current: s.sid == account.session.sid,
        })
        .collect();
    let rows: Vec<FactorRow> = factors.iter().map(factor_row).collect();
    let (consents, links) = access::rows(state, account).await?;
    let has_totp = factors.iter().any(|f| f.kind().as_str() == "totp");
    Ok(state.pages.render(
        status,
        "account.html",
        minijinja::context! {
            csrf => account.csrf,
            username => account.user.username,
            name => account.user.claims.get("name").and_then(|v| v.as_str()),
            recent => account.recent,
            factors => rows,
            has_totp,
            passkeys => state.webauthn.is_some(),
            sessions,
            consents,
            links,
            notice,
            error,
        },
    ))
}

/// `POST /account/sessions/end`: ends one of the user's own sessions (with back-channel
/// logout to its clients, as a sign-out would).
pub async fn end_own_session(State(state): State<AppState>, posted: PageForm) -> Page {
    let account = posted_account(&state, &posted).await?;
    let sid = posted.form.one("sid").ok().flatten().unwrap_or_default();
    let now = state.clock.now();
    let sessions = (state.store)
        .list_sessions_for_subject(&account.user.subject, now)
        .await?;
    let Some(session) = sessions.into_iter().find(|s| s.sid == sid) else {
        let error = "That session has ended already.";
        return render(&state, StatusCode::OK, &account, None, Some(error)).await;
    };
    super::logout::end_browser_session(&state, &session.id_digest, SessionEnd::SignedOut).await?;
    Ok(see_other(&state.account_url("?done=session")))
}

/// Where a change that needs a recent sign-in sends a user whose sign-in is older.
pub fn sign_in_again(state: &AppState) -> Response {
    let base = state.config.issuer.trim_end_matches('/');
    see_other(&format!("{base}{}", paths::ACCOUNT_SIGN_IN))
}
