//! The second-factor page: after a password when the user has enrolled a second factor, and
//! for a step-up when a request asks for a higher `acr` than the session's sign-in reached. It
//! takes a code from an authenticator app (RFC 6238) or a recovery code, each accepted once,
//! with attempts slowed down per account and per address as passwords are.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tessera_core::events::Event;
use tessera_core::factors::recovery::looks_like_recovery_code;
use tessera_core::login::LoginMethod;
use tessera_core::login::second_factor::{
    offered_methods, recovery_hashes, use_recovery_code, use_totp,
};
use tessera_core::model::{Client, User};
use tessera_core::protocol::OAuthError;
use tessera_core::sessions::{Interaction, Step, page_record_write};
use tessera_core::store::WriteBatch;

use super::error::{Page, PageError, PageForm};
use super::flow::cancelled;
use super::interaction::{page_interaction, submitted_interaction};
use super::login::factor_used;
use crate::http::AppState;

/// The one message for a wrong, used or malformed code.
const WRONG: &str = "That code is not right, or it was used already.";
/// Longest code considered.
const MAX_CODE: usize = 64;

/// `GET /login/factor?interaction=...`
pub async fn factor_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let page = page_interaction(&state, &headers, query.as_deref(), Step::Factor).await?;
    let client_name = page.client.client_name.as_deref();
    render(
        &state,
        StatusCode::OK,
        (&page.id, &page.interaction),
        client_name,
        None,
    )
    .await
}

async fn render(
    state: &AppState,
    status: StatusCode,
    (id, interaction): (&str, &Interaction),
    client_name: Option<&str>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let subject = interaction.subject.as_deref().ok_or(PageError::EXPIRED)?;
    let offered = offered_methods(&state.store.list_factors(subject).await?);
    Ok(state.pages.render(
        status,
        "factor.html",
        minijinja::context! {
            interaction => id,
            csrf => interaction.csrf,
            client_name,
            totp => offered.contains(&LoginMethod::Totp),
            recovery => offered.contains(&LoginMethod::RecoveryCode),
            passkey => state.webauthn.is_some() && offered.contains(&LoginMethod::PasskeyAsSecondFactor),
            error,
        },
    ))
}

/// `POST /login/factor`
pub async fn factor_submit(State(state): State<AppState>, posted: PageForm) -> Page {
    let (interaction, client, batch) = submitted_interaction(&state, &posted, Step::Factor).await?;
    let form = &posted.form;
    if form.one("action").ok().flatten() == Some("cancel") {
        return cancelled(&state, &interaction, batch).await;
    }
    let user = interaction_user(&state, &interaction).await?;
    let interaction = (interaction, batch);
    let code = form.one("code").ok().flatten().unwrap_or_default().trim();
    if code.is_empty() || code.len() > MAX_CODE {
        return show_again(&state, interaction, &client, StatusCode::OK, WRONG).await;
    }
    // Counted like passwords, under a name no username can have.
    let key = format!("\u{0}factor:{}", user.subject);
    let attempt = match state
        .throttle
        .begin(&key, posted.peer, None, state.clock.now_millis())
        .await?
    {
        Ok(attempt) => attempt,
        Err(wait) => {
            let message = crate::http::ui::throttle::wait_message(wait);
            let status = StatusCode::TOO_MANY_REQUESTS;
            return show_again(&state, interaction, &client, status, &message).await;
        }
    };
    let Some(method) = use_code(&state, &user.subject, code).await? else {
        state.events.emit(Event::FactorFailed {
            subject: &user.subject,
        });
        let (mut interaction, batch) = interaction;
        interaction.failures = interaction.failures.saturating_add(1);
        let interaction = (interaction, batch);
        return show_again(&state, interaction, &client, StatusCode::OK, WRONG).await;
    };
    (state.throttle)
        .succeeded(&key, posted.peer, None, attempt)
        .await?;
    let headers = &posted.headers;
    factor_used(&state, headers, &client, interaction, (&user, method)).await
}

/// The active user the interaction is for.
async fn interaction_user(state: &AppState, interaction: &Interaction) -> Result<User, PageError> {
    let subject = interaction.subject.as_deref().ok_or(PageError::EXPIRED)?;
    match state.store.find_user_by_subject(subject).await? {
        Some(user) if !user.disabled => Ok(user),
        _ => Err(PageError::EXPIRED),
    }
}

/// Uses `code` as one of `subject`'s factors: six digits are an authenticator app's code, the
/// shape of a recovery code one of those (checked where passwords are, a hash per stored
/// code). The method it proved, or `None`.
async fn use_code(
    state: &AppState,
    subject: &str,
    code: &str,
) -> Result<Option<LoginMethod>, OAuthError> {
    let now = state.clock.now();
    let store = state.store.as_ref();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(use_totp(store, subject, code, now)
            .await?
            .then_some(LoginMethod::Totp));
    }
    if !looks_like_recovery_code(code) {
        return Ok(None);
    }
    let hashes = recovery_hashes(store, subject).await?;
    if hashes.is_empty() {
        return Ok(None);
    }
    let found = state
        .passwords
        .find_recovery_code(hashes.clone(), code.to_string())
        .await?;
    let Some(hash) = found.and_then(|i| hashes.get(i)) else {
        return Ok(None);
    };
    Ok(use_recovery_code(store, subject, hash, now)
        .await?
        .then_some(LoginMethod::RecoveryCode))
}

/// Shows the form again under a new interaction id, stored with `batch` (which takes the old
/// one).
async fn show_again(
    state: &AppState,
    (interaction, mut batch): (Interaction, WriteBatch),
    client: &Client,
    status: StatusCode,
    message: &str,
) -> Result<Response, PageError> {
    let (handle, write) = page_record_write(interaction.clone(), batch.now())?;
    batch.push(write);
    state.commit(&batch).await?;
    let mut shown = interaction;
    shown.csrf = handle.csrf;
    let client_name = client.client_name.as_deref();
    render(
        state,
        status,
        (&handle.id, &shown),
        client_name,
        Some(message),
    )
    .await
}
