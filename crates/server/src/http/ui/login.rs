//! The login page: local accounts with Argon2id passwords. One message for every failure, a
//! dummy hash for unknown users so that timing tells nothing, attempts slowed down per account
//! and per address, and a fresh session on success.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use tessera_core::crypto::handle_digest;
use tessera_core::model::User;
use tessera_core::protocol::OAuthError;
use tessera_core::sessions::{Interaction, SessionData, Step, save_interaction, start_session};

use super::cookies::read_cookie;
use super::flow::{proceed, with_cookies};
use super::interaction::{PageInteraction, page_interaction, submitted_interaction};
use crate::connections::PeerAddr;
use crate::http::AppState;

/// The one message for a wrong username or password (SEC: no account enumeration).
const WRONG: &str = "The username or password is incorrect.";
/// Longest password considered; longer ones fail without hashing.
const MAX_PASSWORD: usize = 1024;

/// `GET /login?interaction=...`
pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match page_interaction(&state, &headers, query.as_deref(), Step::Login).await {
        Ok(PageInteraction {
            id,
            interaction,
            client,
        }) => {
            let username = interaction.request.login_hint.clone().unwrap_or_default();
            render(
                &state,
                StatusCode::OK,
                &id,
                &interaction,
                client.client_name.as_deref(),
                &username,
                None,
            )
        }
        Err(response) => response,
    }
}

fn render(
    state: &AppState,
    status: StatusCode,
    id: &str,
    interaction: &Interaction,
    client_name: Option<&str>,
    username: &str,
    error: Option<&str>,
) -> Response {
    state.pages.render(
        status,
        "login.html",
        minijinja::context! {
            interaction => id,
            csrf => interaction.csrf,
            client_name,
            username,
            error,
        },
    )
}

/// `POST /login`
pub async fn login_submit(
    State(state): State<AppState>,
    peer: Option<axum::Extension<PeerAddr>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (form, interaction, client) =
        match submitted_interaction(&state, &headers, &uri, &body, Step::Login).await {
            Ok(taken) => taken,
            Err(response) => return response,
        };
    if form.one("action").ok().flatten() == Some("cancel") {
        return state.redirect_error(
            &interaction.request,
            &OAuthError::AccessDenied("the user cancelled the sign-in".into()),
        );
    }
    let address: Option<IpAddr> = peer.map(|p| p.0.0.ip());
    let username = form.one("username").ok().flatten().unwrap_or_default();
    let password = form.one("password").ok().flatten().unwrap_or_default();
    let client_name = client.client_name.clone();
    // Re-shows the form under a new interaction id (the old one was used up).
    let again = |interaction: Interaction, status: StatusCode, message: String| {
        let state = state.clone();
        let username = username.to_string();
        let client_name = client_name.clone();
        async move {
            match save_interaction(state.store.as_ref(), interaction.clone(), state.clock.now())
                .await
            {
                Ok(handle) => {
                    let mut shown = interaction;
                    shown.csrf = handle.csrf;
                    render(
                        &state,
                        status,
                        &handle.id,
                        &shown,
                        client_name.as_deref(),
                        &username,
                        Some(&message),
                    )
                }
                Err(e) => state.error_page(&e),
            }
        }
    };
    // An empty field fails at once, without a hash and without counting as a guess.
    if username.is_empty() || password.is_empty() {
        return again(interaction, StatusCode::OK, WRONG.to_string()).await;
    }
    if let Err(wait) = state.throttle.begin(username, address) {
        let message = format!(
            "Too many failed attempts. Try again in {} seconds.",
            wait.as_secs().max(1)
        );
        return again(interaction, StatusCode::TOO_MANY_REQUESTS, message).await;
    }
    let user = match check_password(&state, username, password).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            tracing::info!(outcome = "failed", "sign-in attempt");
            let mut interaction = interaction;
            interaction.failures = interaction.failures.saturating_add(1);
            return again(interaction, StatusCode::OK, WRONG.to_string()).await;
        }
        Err(e) => return state.error_page(&e),
    };
    state.throttle.succeeded(username, address);
    // A fresh session (and session id) on every sign-in; the old one ends (no fixation).
    if let Some(old) = read_cookie(&headers, state.cookies.session)
        && let Err(e) = state.store.delete_session(&handle_digest(old)).await
    {
        return state.error_page(&e.into());
    }
    let data = SessionData {
        amr: vec!["pwd".into()],
        idp: "local".into(),
        browser_state: String::new(),
    };
    let now = state.clock.now();
    let (cookie, session) = match start_session(
        state.store.as_ref(),
        &user.subject,
        now,
        state.config.sessions,
        &data,
    )
    .await
    {
        Ok(started) => started,
        Err(e) => return state.error_page(&e),
    };
    tracing::info!(outcome = "signed_in", sid = %session.sid, "sign-in attempt");
    let mut interaction = interaction;
    interaction.signed_in = true;
    interaction.subject = Some(user.subject.clone());
    let response = proceed(&state, &client, interaction, Some(session)).await;
    with_cookies(response, state.cookies.set(state.cookies.session, &cookie))
}

/// The active user with this username and password, or `None`. Unknown and disabled users
/// cost one hash verification like everyone else; hashing runs on the password threads
/// ([`crate::hashing`]), so a login flood cannot starve the token endpoint.
async fn check_password(
    state: &AppState,
    username: &str,
    password: &str,
) -> Result<Option<User>, OAuthError> {
    if username.is_empty() || password.is_empty() || password.len() > MAX_PASSWORD {
        return Ok(None);
    }
    let user = state.store.find_user_by_username(username).await?;
    let hash = match &user {
        Some(u) => u.password_hash.expose().clone(),
        None => state.dummy_password_hash().await?,
    };
    let matches = state.passwords.verify(password.to_string(), hash).await?;
    Ok(user.filter(|u| matches && !u.disabled))
}
