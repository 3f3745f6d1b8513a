//! The user-code page (RFC 8628 §3.3): the user types the code their device shows, signs in
//! (or is signed in already), sees which application and what it asks for, and decides.
//! Wrong codes are limited per address and overall (§5.1), since a code has few bits.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tessera_core::authorize::flow::admit_request;
use tessera_core::crypto::handle_digest;
use tessera_core::device::{self, Decision, Entered, pending_by_digest, user_code};
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::form::Form;
use tessera_core::sessions::{Flow, Interaction};
use tessera_core::store::{ClientStore as _, WriteBatch};

use super::cookies::BROWSER_PURPOSE;
use super::error::{Page, PageError, PageForm};
use super::flow::{proceed, with_cookies};
use crate::http::AppState;
use crate::http::window_limit::{Exceeded, WindowLimit};

/// Wrong codes one address (an IPv6 /64) may enter per window.
pub const GUESSES_PER_ADDRESS: u32 = 10;
/// Wrong codes this instance takes per window from everyone: with a thousand devices waiting,
/// a day of guessing at this rate finds one of them with a chance of about 1 in 600.
pub const GUESSES_OVERALL: u32 = 300;
const GUESS_WINDOW: Duration = Duration::from_secs(600);

/// The limit on wrong user codes.
pub fn guess_limit() -> WindowLimit {
    WindowLimit::new(GUESSES_PER_ADDRESS, GUESSES_OVERALL, GUESS_WINDOW)
}

/// The purpose of the entry form's CSRF token: the browser cookie, signed for this form.
const CSRF_PURPOSE: &str = "device-form";

/// `GET /device`, optionally with `user_code` (`verification_uri_complete`, §3.3.1): the form,
/// filled in; the user still submits it.
pub async fn device_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Page {
    let form = Form::parse(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let typed = form.one("user_code").ok().flatten().unwrap_or_default();
    let shown = user_code::normalize(typed).map(|c| user_code::display(&c));
    let (browser, cookie) = match state.issued_browser_cookie(&headers) {
        Some(b) => (b.to_string(), None),
        None => {
            let b = state.cookie_mac.issue(BROWSER_PURPOSE)?;
            let set = state.cookies.set(state.cookies.browser, &b);
            (b, set)
        }
    };
    let page = entry_page(&state, StatusCode::OK, &browser, shown.as_deref(), None);
    Ok(with_cookies(page, cookie))
}

fn entry_page(
    state: &AppState,
    status: StatusCode,
    browser: &str,
    user_code: Option<&str>,
    error: Option<&str>,
) -> Response {
    state.pages.render(
        status,
        "device.html",
        minijinja::context! {
            csrf => state.cookie_mac.sign(CSRF_PURPOSE, browser),
            user_code => user_code.unwrap_or_default(),
            error,
        },
    )
}

/// `POST /device`: the code entered. A code that names a pending authorization starts the
/// sign-in for it; any other counts against the limit.
pub async fn device_submit(State(state): State<AppState>, posted: PageForm) -> Page {
    let field = |name: &str| posted.form.one(name).ok().flatten().unwrap_or_default();
    let Some(browser) = state.issued_browser_cookie(&posted.headers) else {
        return Err(PageError::FORGED);
    };
    if !state.cookie_mac.check(CSRF_PURPOSE, browser, field("csrf")) {
        return Err(PageError::FORGED);
    }
    let now = state.monotonic.now();
    let limit = &state.user_code_guesses;
    if let Err(why) = limit.allows(posted.peer, now) {
        let reason = match why {
            Exceeded::Address => "this address entered too many wrong codes",
            Exceeded::Overall => "too many wrong codes were entered on this instance",
        };
        tracing::info!(reason, answer = "page", "user code refused");
        let error = "Too many wrong codes were entered. Wait a few minutes and try again.";
        let page = entry_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            browser,
            None,
            Some(error),
        );
        return Ok(page);
    }
    let typed = field("user_code");
    let store = state.store.as_ref();
    let pending = match device::enter_user_code(store, typed, state.clock.now()).await? {
        Entered::Pending(pending) => pending,
        Entered::TooOften => {
            tracing::info!(
                reason = "the user code was entered too often",
                answer = "page",
                "user code refused"
            );
            let error = "This code was entered too many times. Start again on your device.";
            let status = StatusCode::TOO_MANY_REQUESTS;
            return Ok(entry_page(&state, status, browser, None, Some(error)));
        }
        Entered::Unknown => {
            let _ = limit.admit(posted.peer, now);
            tracing::info!(
                reason = "no pending device authorization has this user code",
                answer = "page",
                "user code refused"
            );
            let error =
                "That code is not valid or has expired. Check the code shown on your device.";
            return Ok(entry_page(
                &state,
                StatusCode::BAD_REQUEST,
                browser,
                None,
                Some(error),
            ));
        }
    };
    let client = match state.clients.find_client(&pending.grant.client_id).await? {
        Some(c) if c.enabled => c,
        _ => return Err(PageError::EXPIRED),
    };
    let interaction = pending.interaction(handle_digest(browser), typed);
    let ring = state.keys.current();
    let mut batch = WriteBatch::new(state.clock.now());
    match admit_request(
        &state.flow_context((&ring, &state.resources.current())),
        &client,
        interaction.request.clone(),
    ) {
        Ok(request) => {
            let session = state.browser_session(&posted.headers).await?;
            let interaction = Interaction {
                request,
                ..interaction
            };
            proceed(&state, &client, (interaction, session), batch).await
        }
        Err(e) => {
            batch.push(pending.decide(Decision::Denied)?);
            refuse_device(&state, &client_name(&client), &e, &batch).await
        }
    }
}

fn client_name(client: &tessera_core::model::Client) -> String {
    client
        .client_name
        .clone()
        .unwrap_or_else(|| client.client_id.clone())
}

/// The page at the end of a device's sign-in: connected, or not.
pub fn outcome_page(state: &AppState, client_name: &str, approved: bool) -> Response {
    state.pages.render(
        StatusCode::OK,
        "device.html",
        minijinja::context! {
            outcome => if approved { "approved" } else { "denied" },
            client_name,
        },
    )
}

/// Commits `batch` (which records the refusal) and shows the user why the device was not
/// connected.
async fn refuse_device(
    state: &AppState,
    client_name: &str,
    error: &OAuthError,
    batch: &WriteBatch,
) -> Page {
    state.commit(batch).await?;
    tracing::info!(
        client_id = client_name,
        error = error.code(),
        reason = %error.description(),
        "device authorization refused"
    );
    Ok(outcome_page(state, client_name, false))
}

/// The device of `interaction` is refused (the user denied or cancelled, or the sign-in cannot
/// meet what the client requires): the refusal is recorded with `batch` (whatever led here,
/// such as the form taken), so that the device hears `access_denied` at its next poll.
pub async fn deny(
    state: &AppState,
    interaction: &Interaction,
    error: &OAuthError,
    mut batch: WriteBatch,
) -> Page {
    debug_assert_eq!(interaction.flow, Flow::Device);
    let digest = interaction.device.as_ref().map(|d| d.digest.as_str());
    let store = state.store.as_ref();
    let pending = match digest {
        Some(d) => pending_by_digest(store, d, state.clock.now()).await?,
        None => None,
    };
    if let Some(pending) = pending {
        batch.push(pending.decide(Decision::Denied)?);
    }
    let client = state
        .clients
        .find_client(&interaction.request.client_id)
        .await?;
    let name = client
        .as_ref()
        .map_or_else(|| interaction.request.client_id.clone(), client_name);
    refuse_device(state, &name, error, &batch).await
}
