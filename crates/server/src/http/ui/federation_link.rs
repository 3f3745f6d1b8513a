//! Linking a first upstream sign-in to an existing account. Only where the provider's
//! `link_by_verified_email` is set and the upstream says the address is verified does a first
//! sign-in get here; even then the user must prove the local account (its password, counted
//! like a sign-in) before the link is made — or choose a separate, new account.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tessera_core::federation::UpstreamIdentity;
use tessera_core::federation::state::PendingLink;
use tessera_core::model::User;
use tessera_core::protocol::form::Form;
use tessera_core::protocol::paths;
use tessera_core::sessions::{
    Interaction, PageRefusal, find_page_record, same_browser, save_page_record, take_page_record,
};

use super::cookies::read_cookie;
use super::error::{Page, PageError, PageForm};
use super::flow::see_other;
use super::interaction::client_of;
use super::login::upstream_used;
use crate::http::AppState;

/// The one message for a wrong password here.
const WRONG: &str = "That password is not right.";

/// Asks the user to prove `local` before linking `identity` to it.
pub async fn ask(
    state: &AppState,
    interaction: Interaction,
    identity: UpstreamIdentity,
    local: &User,
) -> Page {
    let pending = PendingLink {
        interaction,
        identity,
        local_subject: local.subject.clone(),
        csrf: String::new(),
    };
    let handle = save_page_record(state.store.as_ref(), pending, state.clock.now()).await?;
    let base = state.config.issuer.trim_end_matches('/');
    Ok(see_other(&format!(
        "{base}{}?link={}",
        paths::FEDERATION_LINK,
        handle.id
    )))
}

fn render(
    state: &AppState,
    status: StatusCode,
    (id, pending): (&str, &PendingLink),
    error: Option<&str>,
) -> Response {
    let provider = state.upstreams.get(&pending.identity.provider).map_or_else(
        || pending.identity.provider.clone(),
        |u| u.provider.display_name.clone(),
    );
    state.pages.render(
        status,
        "federation_link.html",
        minijinja::context! {
            link => id,
            csrf => pending.csrf,
            provider,
            email => pending.identity.email,
            error,
        },
    )
}

/// `GET /federation/link?link=...`
pub async fn link_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Page {
    let form = Form::parse(query.unwrap_or_default().as_bytes()).map_err(|_| PageError::EXPIRED)?;
    let id = form.one("link").ok().flatten().ok_or(PageError::EXPIRED)?;
    let now = state.clock.now();
    let pending = find_page_record::<PendingLink>(state.store.as_ref(), id, now)
        .await?
        .ok_or(PageError::EXPIRED)?;
    let browser = read_cookie(&headers, state.cookies.browser).unwrap_or_default();
    if !same_browser(&pending, browser) {
        return Err(PageError::FORGED);
    }
    Ok(render(&state, StatusCode::OK, (id, &pending), None))
}

/// `POST /federation/link`: `action=link` with the local password, or `action=new`.
pub async fn link_submit(State(state): State<AppState>, posted: PageForm) -> Page {
    let field = |n: &str| posted.form.one(n).ok().flatten().unwrap_or_default();
    let browser = read_cookie(&posted.headers, state.cookies.browser).unwrap_or_default();
    let now = state.clock.now();
    let store = state.store.as_ref();
    let pending =
        match take_page_record::<PendingLink>(store, field("link"), field("csrf"), browser, now)
            .await?
        {
            Ok(p) => p,
            Err(PageRefusal::Gone) => return Err(PageError::EXPIRED),
            Err(PageRefusal::Forged) => return Err(PageError::FORGED),
        };
    let local = store.find_user_by_subject(&pending.local_subject).await?;
    let local = local.filter(|u| !u.disabled).ok_or(PageError::EXPIRED)?;
    let user = if field("action") == "new" {
        let up = state
            .upstreams
            .get(&pending.identity.provider)
            .ok_or(PageError::EXPIRED)?;
        let mut provider = up.provider.clone();
        provider.link_by_verified_email = false;
        let resolved = tessera_core::federation::account::resolve_account(
            store,
            state.clock.as_ref(),
            &provider,
            &pending.identity,
        )
        .await?;
        match resolved {
            tessera_core::federation::account::Resolution::Created(u)
            | tessera_core::federation::account::Resolution::Linked(u) => u,
            _ => return Err(PageError::EXPIRED),
        }
    } else {
        match proven(&state, &posted, &local, field("password")).await? {
            Ok(()) => {}
            Err(message) => return show_again(&state, pending, &message).await,
        }
        local
    };
    let mut interaction = pending.interaction;
    if user.subject == pending.local_subject {
        // Linked when the sign-in is complete: after every factor the account asks for.
        interaction.link = Some(pending.identity.clone());
    }
    let client = client_of(&state, &interaction).await?;
    let prior = super::federation::prior_of(&pending.identity, None);
    upstream_used(
        &state,
        &posted.headers,
        &client,
        interaction,
        (&user, prior),
    )
    .await
}

/// Whether `password` is `local`'s, throttled like the login page; the message to show if not.
async fn proven(
    state: &AppState,
    posted: &PageForm,
    local: &User,
    password: &str,
) -> Result<Result<(), String>, PageError> {
    let username = local.username.as_str();
    let attempt = match state
        .throttle
        .begin(username, posted.peer, None, state.clock.now_millis())
        .await?
    {
        Ok(a) => a,
        Err(wait) => {
            return Ok(Err(crate::http::ui::throttle::wait_message(wait)));
        }
    };
    let ok = !password.is_empty()
        && password.len() <= tessera_core::password_policy::MAX_BYTES
        && (state.passwords)
            .verify(password.to_string(), local.password_hash.expose().clone())
            .await?;
    if !ok {
        return Ok(Err(WRONG.to_string()));
    }
    state
        .throttle
        .succeeded(username, posted.peer, None, attempt)
        .await?;
    Ok(Ok(()))
}

async fn show_again(state: &AppState, pending: PendingLink, message: &str) -> Page {
    let handle = save_page_record(state.store.as_ref(), pending.clone(), state.clock.now()).await?;
    let mut shown = pending;
    shown.csrf = handle.csrf;
    Ok(render(
        state,
        StatusCode::OK,
        (&handle.id, &shown),
        Some(message),
    ))
}
