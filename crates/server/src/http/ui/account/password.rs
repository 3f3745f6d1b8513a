//! Changing one's password on the account page: the current password first (counted against
//! the account like a sign-in), the new one twice and by the password policy. Every other
//! session of the user ends: whoever knew the old password is signed out.

use axum::extract::State;
use axum::http::StatusCode;
use tessera_core::events::SessionEnd;
use tessera_core::password_policy::check_new_password;
use tessera_core::secret::Secret;
use tessera_core::users::Users;

use super::{posted_account, render};
use crate::http::AppState;
use crate::http::ui::error::{Page, PageForm};
use crate::http::ui::flow::see_other;

/// `POST /account/password`
pub async fn change_password(State(state): State<AppState>, posted: PageForm) -> Page {
    let account = posted_account(&state, &posted).await?;
    let field = |name: &str| posted.form.one(name).ok().flatten().unwrap_or_default();
    let (current, new, again) = (field("current"), field("new"), field("again"));
    let refuse = async |message: &str| {
        render(
            &state,
            StatusCode::BAD_REQUEST,
            &account,
            None,
            Some(message),
        )
        .await
    };
    let user = &account.user;
    let username = user.username.as_str();
    let attempt = match state
        .throttle
        .begin(username, posted.peer, None, state.clock.now_millis())
        .await?
    {
        Ok(attempt) => attempt,
        Err(wait) => {
            let message = crate::http::ui::throttle::wait_message(wait);
            return refuse(&message).await;
        }
    };
    let matches = !current.is_empty()
        && current.len() <= tessera_core::password_policy::MAX_BYTES
        && (state.passwords)
            .verify(current.to_string(), user.password_hash.expose().clone())
            .await?;
    if !matches {
        return refuse("The current password is not right.").await;
    }
    state
        .throttle
        .succeeded(username, posted.peer, None, attempt)
        .await?;
    if new != again {
        return refuse("The new passwords differ.").await;
    }
    let email = user.claims.get("email").and_then(|v| v.as_str());
    let name = user.claims.get("name").and_then(|v| v.as_str());
    let context = [
        username,
        email.unwrap_or_default(),
        name.unwrap_or_default(),
    ];
    let min_length = state.config.password_policy.min_length;
    if let Err(why) = check_new_password(new, min_length, &context) {
        let message = format!("{}.", capitalized(&why.to_string()));
        return refuse(&message).await;
    }
    let hash = state.passwords.hash(new.to_string()).await?;
    let mut user = account.user.clone();
    Users::new(state.store.as_ref(), state.clock.as_ref())
        .set_password_hash(&mut user, Secret::new(hash))
        .await
        .map_err(|e| {
            tessera_core::protocol::OAuthError::internal("changing a password", e.to_string())
        })?;
    let now = state.clock.now();
    for session in (state.store)
        .list_sessions_for_subject(&user.subject, now)
        .await?
    {
        if session.sid != account.session.sid {
            let ended = SessionEnd::SignedOut;
            super::super::logout::end_browser_session(&state, &session.id_digest, ended).await?;
        }
    }
    tracing::info!("password changed on the account page");
    Ok(see_other(&state.account_url("?done=password")))
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
