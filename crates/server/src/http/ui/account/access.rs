//! What the user has allowed on the account page: the applications they consented to (and
//! remembered), and their links to accounts at external identity providers. Revoking an
//! application's access ends the consent and every grant the user holds for it (refresh and
//! access tokens); removing a link means the upstream account no longer signs in here.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use tessera_core::sessions::remembered_consents;

use super::{Account, posted_account, render, shown_time, sign_in_again};
use crate::http::AppState;
use crate::http::ui::error::{Page, PageForm};
use crate::http::ui::flow::see_other;

/// An application as the page lists it.
#[derive(Serialize)]
pub(super) struct ConsentRow {
    client_id: String,
    name: String,
    scopes: String,
}

/// A link as the page lists it.
#[derive(Serialize)]
pub(super) struct LinkRow {
    provider: String,
    upstream_subject: String,
    email: Option<String>,
    linked: String,
}

/// The applications and links of `account`, for the page.
pub(super) async fn rows(
    state: &AppState,
    account: &Account,
) -> Result<(Vec<ConsentRow>, Vec<LinkRow>), tessera_core::protocol::OAuthError> {
    let subject = &account.user.subject;
    let now = state.clock.now();
    let mut consents = Vec::new();
    for (client_id, consent) in remembered_consents(state.store.as_ref(), subject, now).await? {
        let client = state.store.find_client(&client_id).await?;
        let name = client
            .and_then(|c| c.client_name)
            .unwrap_or_else(|| client_id.clone());
        consents.push(ConsentRow {
            client_id,
            name,
            scopes: consent.scopes.join(" "),
        });
    }
    let links = (state.store.list_links(subject).await?)
        .into_iter()
        .map(|l| LinkRow {
            provider: l.provider,
            upstream_subject: l.upstream_subject,
            email: l.email,
            linked: shown_time(l.created_at),
        })
        .collect();
    Ok((consents, links))
}

/// `POST /account/consents/revoke`: forgets the consent to `client_id` and ends what the user
/// holds for it.
pub async fn revoke_consent(State(state): State<AppState>, posted: PageForm) -> Page {
    let account = posted_account(&state, &posted).await?;
    let client_id = posted
        .form
        .one("client_id")
        .ok()
        .flatten()
        .unwrap_or_default();
    let subject = &account.user.subject;
    let ended = (state.store)
        .delete_subject_client_grants(subject, client_id)
        .await?;
    if ended == 0 {
        let error = "That application had no access any more.";
        return render(&state, StatusCode::OK, &account, None, Some(error)).await;
    }
    tracing::info!(
        client_id,
        grants = ended,
        "the user revoked an application's access"
    );
    Ok(see_other(&state.account_url("?done=revoked")))
}

/// `POST /account/links/remove`: unlinks an upstream account (a recent sign-in needed).
pub async fn remove_link(State(state): State<AppState>, posted: PageForm) -> Page {
    let account = posted_account(&state, &posted).await?;
    if !account.recent {
        return Ok(sign_in_again(&state));
    }
    let field = |n: &str| posted.form.one(n).ok().flatten().unwrap_or_default();
    let (provider, upstream) = (field("provider"), field("upstream_subject"));
    let subject = &account.user.subject;
    let mine = (state.store.list_links(subject).await?)
        .into_iter()
        .any(|l| l.provider == provider && l.upstream_subject == upstream);
    if !mine || !state.store.delete_link(provider, upstream).await? {
        let error = "That link was removed already.";
        return render(&state, StatusCode::OK, &account, None, Some(error)).await;
    }
    tracing::info!(provider, "the user removed a link to an upstream account");
    Ok(see_other(&state.account_url("?done=unlinked")))
}
