//! The login page: local accounts with Argon2id passwords. One message for every failure, a
//! dummy hash for unknown users so that timing tells nothing, attempts slowed down per account
//! and per address, and a fresh session on success.

use std::net::IpAddr;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tessera_core::authorize::flow::ask_second_factor;
use tessera_core::crypto::handle_digest;
use tessera_core::events::{Event, SessionEnd};
use tessera_core::login::{Authenticated, LoginMethod, PriorSignIn};
use tessera_core::model::{Client, Session, User, check_username};
use tessera_core::protocol::OAuthError;
use tessera_core::sessions::{
    Interaction, SessionData, Step, new_session, page_record_write, renewed_session,
};
use tessera_core::store::{BatchWrite, WriteBatch};

use super::cookies::{BROWSER_PURPOSE, read_cookie};
use super::error::{Page, PageError, PageForm};
use super::flow::{answer, cancelled, proceed, with_cookies};
use super::interaction::{page_interaction, submitted_interaction};
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
) -> Result<Response, PageError> {
    let page = page_interaction(&state, &headers, query.as_deref(), Step::Login).await?;
    // A request that names its provider skips the choice (`idp_hint`, `acr_values=idp:NAME`).
    if let Some(started) = super::federation::hinted(&state, &page.interaction).await {
        return started;
    }
    let username = page.interaction.request.login_hint.as_deref();
    let client_name = page.client.client_name.as_deref();
    let (id, interaction) = (&page.id, &page.interaction);
    let shown = (client_name, username.unwrap_or_default());
    Ok(render(&state, StatusCode::OK, id, interaction, shown, None))
}

fn render(
    state: &AppState,
    status: StatusCode,
    id: &str,
    interaction: &Interaction,
    (client_name, username): (Option<&str>, &str),
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
            providers => super::federation::buttons(state),
            passkeys => state.webauthn.is_some(),
            forgot => state.mailer.is_some(),
        },
    )
}

/// `POST /login`
pub async fn login_submit(State(state): State<AppState>, posted: PageForm) -> Page {
    let (interaction, client, batch) = submitted_interaction(&state, &posted, Step::Login).await?;
    let (form, headers) = (&posted.form, &posted.headers);
    if form.one("action").ok().flatten() == Some("cancel") {
        return cancelled(&state, &interaction, batch).await;
    }
    if let Some(provider) = form.one("provider").ok().flatten() {
        state.commit(&batch).await?;
        return super::federation::chosen(&state, interaction, provider).await;
    }
    let interaction = (interaction, batch);
    let address: Option<IpAddr> = posted.peer;
    let username = form.one("username").ok().flatten().unwrap_or_default();
    let password = form.one("password").ok().flatten().unwrap_or_default();
    let shown = (&client, username);
    // Empty fields, and names no account can have (1-255 characters), fail at once: no hash,
    // and nothing counted or kept for them.
    if username.is_empty() || password.is_empty() || check_username(username).is_err() {
        return show_again(&state, interaction, shown, StatusCode::OK, WRONG).await;
    }
    let device = known_device(&state, headers, username);
    let attempt = match state
        .throttle
        .begin(username, address, device, state.clock.now_millis())
        .await?
    {
        Ok(attempt) => attempt,
        Err(wait) => {
            let message = crate::http::ui::throttle::wait_message(wait);
            let status = StatusCode::TOO_MANY_REQUESTS;
            return show_again(&state, interaction, shown, status, &message).await;
        }
    };
    let Some(user) = check_password(&state, username, password).await? else {
        state.events.emit(Event::SignInFailed {
            known_device: device.is_some(),
        });
        let (mut interaction, batch) = interaction;
        interaction.failures = interaction.failures.saturating_add(1);
        let interaction = (interaction, batch);
        return show_again(&state, interaction, shown, StatusCode::OK, WRONG).await;
    };
    (state.throttle)
        .succeeded(username, address, device, attempt)
        .await?;
    let method = LoginMethod::Password;
    factor_used(&state, headers, &client, interaction, (&user, method)).await
}

/// Re-shows the login form under a new interaction id, stored with `batch` (which takes the
/// old one).
async fn show_again(
    state: &AppState,
    (interaction, mut batch): (Interaction, WriteBatch),
    (client, username): (&Client, &str),
    status: StatusCode,
    message: &str,
) -> Result<Response, PageError> {
    let (handle, write) = page_record_write(interaction.clone(), batch.now())?;
    batch.push(write);
    state.commit(&batch).await?;
    let mut shown = interaction;
    shown.csrf = handle.csrf;
    // A name too long to be one is not shown back.
    let username = if username.len() > 255 { "" } else { username };
    let client_name = client.client_name.as_deref();
    Ok(render(
        state,
        status,
        &handle.id,
        &shown,
        (client_name, username),
        Some(message),
    ))
}

/// What a device cookie is issued for: one account (OWASP device cookies).
fn device_purpose(username: &str) -> String {
    format!("device:{}", username.to_lowercase())
}

/// How long a browser stays known for an account after a sign-in there.
const DEVICE_COOKIE_LIFETIME: u64 = 180 * 86_400;

/// The digest of this browser's device cookie, when it is one the server issued for
/// `username`.
fn known_device(state: &AppState, headers: &HeaderMap, username: &str) -> Option<[u8; 32]> {
    read_cookie(headers, state.cookies.device)
        .filter(|value| state.cookie_mac.verify(&device_purpose(username), value))
        .map(|value| tessera_core::crypto::sha256(value.as_bytes()))
}

/// After `user` proved `method`. A first factor begins the sign-in afresh, and the
/// second-factor page follows when the user has enrolled one: no session exists until every
/// factor asked for was given. Otherwise the sign-in is complete (`signed_in`). What follows
/// is stored with `batch` (which takes the submitted form, if any) in one commit.
pub(super) async fn factor_used(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    (mut interaction, batch): (Interaction, WriteBatch),
    (user, method): (&User, LoginMethod),
) -> Result<Response, PageError> {
    if !method.is_second_factor() {
        // A new first factor starts the sign-in afresh.
        interaction.methods.clear();
        interaction.prior = None;
        interaction.link = None;
        interaction.subject = Some(user.subject.clone());
    }
    continue_sign_in(state, headers, client, (interaction, batch), (user, method)).await
}

/// After a sign-in at an upstream provider (`prior`: its `amr`, `acr`, provider and session)
/// for the local account `user`: as after a first factor.
pub(super) async fn upstream_used(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    mut interaction: Interaction,
    (user, prior): (&User, PriorSignIn),
) -> Result<Response, PageError> {
    interaction.methods.clear();
    interaction.prior = Some(prior);
    interaction.subject = Some(user.subject.clone());
    let batch = WriteBatch::new(state.clock.now());
    let method = LoginMethod::Upstream;
    continue_sign_in(state, headers, client, (interaction, batch), (user, method)).await
}

async fn continue_sign_in(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    (mut interaction, mut batch): (Interaction, WriteBatch),
    (user, method): (&User, LoginMethod),
) -> Result<Response, PageError> {
    interaction.methods.push(method);
    if !method.is_second_factor() {
        let ring = state.keys.current();
        let resources = state.resources.current();
        let ctx = state.flow_context((&ring, &resources));
        if let Some(next) = ask_second_factor(&ctx, &interaction, &mut batch).await? {
            state.commit(&batch).await?;
            tracing::info!(method = ?method, "first factor accepted; asking for a second");
            return Ok(answer(state, &interaction.request, next));
        }
    }
    signed_in(state, headers, client, (interaction, batch), (user, method)).await
}

/// After a complete sign-in, the last factor `method`: the browser's session (a new cookie
/// value every time, SEC-52), a new browser binding for the rest of the interaction, a device
/// cookie for this account, and the interaction carries on. The session, the form taken and
/// what the interaction leads to (the code, or the next page) are stored in one commit.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    (mut interaction, mut batch): (Interaction, WriteBatch),
    (user, method): (&User, LoginMethod),
) -> Result<Response, PageError> {
    let levels = &state.config.acr_levels;
    let authenticated = Authenticated::by(interaction.prior.as_ref(), &interaction.methods, levels);
    let step_up = interaction.prior.as_ref().and_then(|p| p.sid.as_deref());
    let Some((cookie, session)) =
        open_session(state, headers, (user, &authenticated, step_up), &mut batch).await?
    else {
        // The session a step-up was for has ended meanwhile: it is not revived.
        return Err(PageError::EXPIRED);
    };
    let browser = state.cookie_mac.issue(BROWSER_PURPOSE)?;
    let device = state.cookie_mac.issue(&device_purpose(&user.username))?;
    interaction.browser = handle_digest(&browser);
    let link = interaction.link.take();
    let pending = (interaction, Some(session.clone()));
    let response = proceed(state, client, pending, batch).await?;
    if let Some(identity) = link {
        // Every factor the account asks for was given: the upstream account is linked now.
        tessera_core::federation::account::link(
            state.store.as_ref(),
            state.clock.as_ref(),
            user,
            &identity,
        )
        .await?;
        tracing::info!(provider = %identity.provider, "upstream identity linked to an existing account");
    }
    state.events.emit(Event::SignInSucceeded {
        subject: &user.subject,
        method,
        acr: authenticated.acr.as_deref(),
        sid: &session.sid,
    });
    let c = &state.cookies;
    Ok(with_cookies(
        response,
        [
            c.set(c.session, &cookie),
            c.set(c.browser, &browser),
            c.set_lasting(c.device, &device, DEVICE_COOKIE_LIFETIME),
        ]
        .into_iter()
        .flatten(),
    ))
}

/// The session for `user`'s sign-in in this browser, written by `batch`. A session of the
/// same user goes on under its `sid` (its clients and grants stay with it; if it ends before
/// the batch commits, the batch is refused and nothing is revived); another user's session is
/// ended at once, as a sign-out would end it, its clients told by back-channel logout, so that
/// nothing of it is orphaned.
async fn open_session(
    state: &AppState,
    headers: &HeaderMap,
    (user, authenticated, step_up): (&User, &Authenticated, Option<&str>),
    batch: &mut WriteBatch,
) -> Result<Option<(String, Session)>, OAuthError> {
    let (now, lifetimes) = (batch.now(), state.config.sessions);
    let data = SessionData {
        amr: authenticated.amr.clone(),
        idp: authenticated.idp.clone(),
        browser_state: String::new(),
        upstream: authenticated.upstream.clone(),
    };
    let old = state.browser_session(headers).await?;
    let renew = |old: &Session, batch: &mut WriteBatch| {
        let (cookie, renewed) = renewed_session(old, now, lifetimes, &data)?;
        batch.push(BatchWrite::RenewSession {
            old_digest: old.id_digest.clone(),
            renewed: renewed.clone(),
        });
        Ok::<_, OAuthError>(Some((cookie, renewed)))
    };
    if let Some(sid) = step_up {
        // A step-up adds to this browser's live session `sid` only, never to another.
        return match old.filter(|o| o.sid == sid && o.subject == user.subject) {
            Some(old) => renew(&old, batch),
            None => Ok(None),
        };
    }
    match old {
        Some(old) if old.subject == user.subject => return renew(&old, batch),
        Some(old) => end_replaced_session(state, &old).await?,
        None => {}
    }
    let (cookie, session) = new_session(&user.subject, now, lifetimes, &data)?;
    batch.push(BatchWrite::InsertSession(session.clone()));
    Ok(Some((cookie, session)))
}

/// Ends the session another user signs in over, with what belongs to it and back-channel
/// logout to its clients (in the background).
async fn end_replaced_session(state: &AppState, old: &Session) -> Result<(), OAuthError> {
    super::logout::end_browser_session(state, &old.id_digest, SessionEnd::Replaced).await?;
    Ok(())
}

/// The active user with this username and password, or `None`. Unknown and disabled users
/// cost one hash verification like everyone else; hashing runs on the password threads
/// ([`crate::hashing`]), so a login flood cannot starve the token endpoint.
pub(crate) async fn check_password(
    state: &AppState,
    username: &str,
    password: &str,
) -> Result<Option<User>, OAuthError> {
    if username.is_empty() || password.is_empty() || password.len() > MAX_PASSWORD {
        return Ok(None);
    }
    let user = state.store.find_user_by_username(username).await?;
    // An account without a password (made by an upstream sign-in) costs a hash like an unknown
    // one, so that timing does not tell that it exists; it never matches.
    let usable = user
        .as_ref()
        .map(|u| u.password_hash.expose().clone())
        .filter(|h| tessera_core::passwords::is_argon2_hash(h));
    let hash = match &usable {
        Some(h) => h.clone(),
        None => state.dummy_password_hash().await?,
    };
    // The hash is always computed: then whether the account could match at all.
    let matches = state.passwords.verify(password.to_string(), hash).await? && usable.is_some();
    // A configured password being checked at start: neither the old one nor the new one yet.
    let pending = |u: &User| {
        state
            .pending_passwords
            .read()
            .map_or(true, |p| p.contains(&u.subject))
    };
    Ok(user.filter(|u| matches && !u.disabled && !pending(u)))
}
