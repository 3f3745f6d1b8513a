//! Passkeys and security keys (WebAuthn Level 3, through webauthn-rs): enrolled on the account
//! page, used alone to sign in (a discoverable credential with user verification: multi-factor
//! by itself), or after the password as the second factor. Each ceremony is a stored record:
//! its challenge, what it is for, bound to the browser that asked, single use, short-lived
//! (WebAuthn §13.4.3). The browser's part needs JavaScript (`/assets/passkey.js`): it asks for
//! the options, runs the ceremony, and posts the result in an ordinary form, so that the
//! server's answer is a normal navigation.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_core::crypto::{base64url, handle_digest, sha256};
use tessera_core::events::Event;
use tessera_core::model::{Factor, FactorData, FactorKind, GrantKind, User};
use tessera_core::protocol::OAuthError;
use tessera_core::sessions::{
    Interaction, PageRecord, PageRefusal, Step, find_page_record, save_page_record,
    take_page_record,
};
use tessera_core::store::GrantPayload;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use super::cookies::read_cookie;
use super::error::{Page, PageError, PageForm};
use super::interaction::client_of;
use crate::http::AppState;

/// How long a ceremony may take.
const CEREMONY_LIFETIME: i64 = 5 * 60;
/// Largest credential a browser may post.
const MAX_CREDENTIAL: usize = 16 * 1024;

/// The WebAuthn relying party of `issuer`: its host is the RP ID (WebAuthn §5.1.1), which must be
/// a domain name, not an IP address. `None` (passkeys not offered) otherwise.
pub fn relying_party(issuer: &str) -> Option<Webauthn> {
    let origin = Url::parse(issuer).ok()?;
    let host = origin.domain()?.to_string();
    WebauthnBuilder::new(&host, &origin)
        .ok()?
        .rp_name("Tessera")
        .build()
        .ok()
}

/// The WebAuthn user handle of `subject` (WebAuthn §5.4.3: opaque, no personal data): 16 bytes
/// of a digest of it.
fn user_handle(subject: &str) -> Uuid {
    let digest = sha256(format!("tessera webauthn user\n{subject}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// What a ceremony is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Purpose {
    /// Enrolment on the account page by the session `sid`'s user.
    Register { subject: String, sid: String },
    /// Sign-in with a passkey alone, for the interaction stored under `interaction`.
    SignIn { interaction: String },
    /// The second factor of the interaction stored under `interaction`.
    Factor { interaction: String },
}

/// A ceremony in progress.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
struct Ceremony {
    purpose: Purpose,
    /// The library's state (its challenge), serialised.
    state: serde_json::Value,
    browser: String,
    #[serde(default)]
    csrf: String,
}

impl std::fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ceremony")
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

impl GrantPayload for Ceremony {
    const KIND: GrantKind = GrantKind::PasskeyCeremony;
}

impl PageRecord for Ceremony {
    const LIFETIME: i64 = CEREMONY_LIFETIME;
    fn binding(&self) -> (&str, &str) {
        (&self.browser, &self.csrf)
    }
    fn set_csrf(&mut self, csrf: String) {
        self.csrf = csrf;
    }
    fn client_id(&self) -> &str {
        ""
    }
}

fn internal(what: &'static str, e: impl std::fmt::Display) -> OAuthError {
    OAuthError::internal(what, e.to_string())
}

fn json(status: StatusCode, value: serde_json::Value) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(value),
    )
        .into_response()
}

fn refused(why: &str) -> Response {
    tracing::info!(reason = why, "passkey ceremony refused");
    json(StatusCode::BAD_REQUEST, serde_json::json!({ "error": why }))
}

/// `POST /passkey/options`: starts a ceremony. `purpose=register` with the account page's CSRF
/// token; `signin` or `factor` with the login or factor page's interaction and CSRF token (the
/// interaction stays: the user may still use the password). Answers the options as JSON.
pub async fn options(State(state): State<AppState>, posted: PageForm) -> Response {
    let Some(webauthn) = state.webauthn.as_deref() else {
        return refused("passkeys are not offered on this server");
    };
    let field = |n: &str| posted.form.one(n).ok().flatten().unwrap_or_default();
    let browser_cookie = read_cookie(&posted.headers, state.cookies.browser).unwrap_or_default();
    let started = match field("purpose") {
        "register" => start_registration(&state, webauthn, &posted).await,
        "signin" | "factor" => start_authentication(&state, webauthn, &posted).await,
        _ => return refused("unknown purpose"),
    };
    let (purpose, state_json, options) = match started {
        Ok(Ok(started)) => started,
        Ok(Err(why)) => return refused(why),
        Err(e) => return crate::http::error::ApiError(e).into_response(),
    };
    let ceremony = Ceremony {
        purpose,
        state: state_json,
        browser: handle_digest(browser_cookie),
        csrf: String::new(),
    };
    match save_page_record(state.store.as_ref(), ceremony, state.clock.now()).await {
        Ok(handle) => json(
            StatusCode::OK,
            serde_json::json!({ "ceremony": handle.id, "csrf": handle.csrf, "options": options }),
        ),
        Err(e) => crate::http::error::ApiError(e).into_response(),
    }
}

type Started = Result<(Purpose, serde_json::Value, serde_json::Value), &'static str>;

async fn start_registration(
    state: &AppState,
    webauthn: &Webauthn,
    posted: &PageForm,
) -> Result<Started, OAuthError> {
    let Ok(account) = super::account::posted_account(state, posted).await else {
        return Ok(Err("not signed in, or the form's token is wrong"));
    };
    if !account.recent {
        return Ok(Err("sign in again to add a passkey"));
    }
    let user = &account.user;
    let existing: Vec<_> = state
        .store
        .list_factors(&user.subject)
        .await?
        .iter()
        .filter_map(passkey_of)
        .map(|p| p.cred_id().clone())
        .collect();
    let display = user
        .claims
        .get("name")
        .and_then(|v| v.as_str())
        .unwrap_or(&user.username);
    let (options, registration) = webauthn
        .start_passkey_registration(
            user_handle(&user.subject),
            &user.username,
            display,
            Some(existing),
        )
        .map_err(|e| internal("starting a passkey registration", e))?;
    // A discoverable credential, so that it signs in without a username (WebAuthn §5.4.6).
    let mut options = to_json(&options)?;
    options["publicKey"]["authenticatorSelection"]["residentKey"] = "required".into();
    options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = true.into();
    let purpose = Purpose::Register {
        subject: user.subject.clone(),
        sid: account.session.sid.clone(),
    };
    Ok(Ok((purpose, to_json(&registration)?, options)))
}

async fn start_authentication(
    state: &AppState,
    webauthn: &Webauthn,
    posted: &PageForm,
) -> Result<Started, OAuthError> {
    let field = |n: &str| posted.form.one(n).ok().flatten().unwrap_or_default();
    let id = field("interaction");
    let Some(interaction) = page_interaction(state, posted, id).await? else {
        return Ok(Err("the sign-in page has expired"));
    };
    let factor = field("purpose") == "factor";
    if factor != (interaction.step == Step::Factor) {
        return Ok(Err("the sign-in page has expired"));
    }
    if !factor {
        let (options, auth) = webauthn
            .start_discoverable_authentication()
            .map_err(|e| internal("starting a passkey sign-in", e))?;
        let purpose = Purpose::SignIn {
            interaction: id.to_string(),
        };
        return Ok(Ok((purpose, to_json(&auth)?, to_json(&options)?)));
    }
    let subject = interaction.subject.as_deref().unwrap_or_default();
    let passkeys: Vec<Passkey> = state
        .store
        .list_factors(subject)
        .await?
        .iter()
        .filter_map(passkey_of)
        .collect();
    if passkeys.is_empty() {
        return Ok(Err("this account has no passkey"));
    }
    let (options, auth) = webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(|e| internal("starting a passkey check", e))?;
    let purpose = Purpose::Factor {
        interaction: id.to_string(),
    };
    Ok(Ok((purpose, to_json(&auth)?, to_json(&options)?)))
}

fn to_json(value: &impl Serialize) -> Result<serde_json::Value, OAuthError> {
    serde_json::to_value(value).map_err(|e| internal("keeping a ceremony", e))
}

/// The live interaction `id` of this browser, with its CSRF token checked (not taken).
async fn page_interaction(
    state: &AppState,
    posted: &PageForm,
    id: &str,
) -> Result<Option<Interaction>, OAuthError> {
    let now = state.clock.now();
    let Some(interaction) = find_page_record::<Interaction>(state.store.as_ref(), id, now).await?
    else {
        return Ok(None);
    };
    let browser = read_cookie(&posted.headers, state.cookies.browser).unwrap_or_default();
    let csrf = posted.form.one("csrf").ok().flatten().unwrap_or_default();
    let ok = tessera_core::sessions::same_browser(&interaction, browser)
        && tessera_core::crypto::constant_time_eq(csrf.as_bytes(), interaction.csrf.as_bytes());
    Ok(ok.then_some(interaction))
}

/// The passkey a stored factor holds.
fn passkey_of(factor: &Factor) -> Option<Passkey> {
    match &factor.data {
        FactorData::Passkey { credential } => serde_json::from_value(credential.clone()).ok(),
        _ => None,
    }
}

/// `POST /passkey/finish`: the browser's answer to a ceremony, in a form (`ceremony`, `csrf`,
/// `credential` as JSON). Enrolment ends on the account page; a sign-in goes on as after any
/// other factor.
pub async fn finish(State(state): State<AppState>, posted: PageForm) -> Page {
    let webauthn = state.webauthn.as_deref().ok_or(PageError::EXPIRED)?;
    let field = |n: &str| posted.form.one(n).ok().flatten().unwrap_or_default();
    let browser = read_cookie(&posted.headers, state.cookies.browser).unwrap_or_default();
    let now = state.clock.now();
    let taken = take_page_record::<Ceremony>(
        state.store.as_ref(),
        field("ceremony"),
        field("csrf"),
        browser,
        now,
    )
    .await?;
    let ceremony = match taken {
        Ok(c) => c,
        Err(PageRefusal::Gone) => return Err(PageError::EXPIRED),
        Err(PageRefusal::Forged) => return Err(PageError::FORGED),
    };
    let credential = field("credential");
    if credential.is_empty() || credential.len() > MAX_CREDENTIAL {
        return Err(PageError::PASSKEY_FAILED);
    }
    match ceremony.purpose.clone() {
        Purpose::Register { subject, sid } => {
            register(&state, webauthn, &ceremony, (&subject, &sid), credential).await
        }
        Purpose::SignIn { interaction } => {
            sign_in(
                &state,
                webauthn,
                &posted.headers,
                &ceremony,
                (&interaction, credential),
            )
            .await
        }
        Purpose::Factor { interaction } => {
            second_factor(
                &state,
                webauthn,
                &posted.headers,
                &ceremony,
                (&interaction, credential),
            )
            .await
        }
    }
}

async fn register(
    state: &AppState,
    webauthn: &Webauthn,
    ceremony: &Ceremony,
    (subject, sid): (&str, &str),
    credential: &str,
) -> Page {
    let registration: PasskeyRegistration = serde_json::from_value(ceremony.state.clone())
        .map_err(|e| internal("reading a ceremony", e))?;
    let Ok(answer) = serde_json::from_str::<RegisterPublicKeyCredential>(credential) else {
        return Err(PageError::PASSKEY_FAILED);
    };
    let passkey = match webauthn.finish_passkey_registration(&answer, &registration) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(reason = %e, "passkey registration refused");
            return Err(PageError::PASSKEY_FAILED);
        }
    };
    let factor = Factor {
        id: base64url(passkey.cred_id().as_ref()),
        subject: subject.to_string(),
        label: "Passkey".into(),
        data: FactorData::Passkey {
            credential: to_json(&passkey)?,
        },
        version: 0,
        created_at: state.clock.now(),
        last_used_at: None,
    };
    match state.store.insert_factor(&factor).await {
        Ok(()) => {}
        // WebAuthn §7.1 step 26: a credential registered already is refused.
        Err(tessera_core::store::StoreError::Conflict(_)) => return Err(PageError::PASSKEY_FAILED),
        Err(e) => return Err(OAuthError::from(e).into()),
    }
    state.events.emit(Event::FactorChanged {
        subject,
        kind: FactorKind::Passkey,
        enrolled: true,
    });
    tracing::info!(sid, "passkey enrolled");
    Ok(super::flow::see_other(&state.account_url("?done=passkey")))
}

/// Takes the interaction the ceremony was for (once: the same page cannot also be submitted).
async fn take_interaction(state: &AppState, id: &str) -> Result<Interaction, PageError> {
    let now = state.clock.now();
    let store = state.store.as_ref();
    let interaction = find_page_record::<Interaction>(store, id, now)
        .await?
        .ok_or(PageError::EXPIRED)?;
    store
        .consume_grant(&handle_digest(id), GrantKind::Interaction, now)
        .await?
        .ok_or(PageError::EXPIRED)?;
    Ok(interaction)
}

async fn sign_in(
    state: &AppState,
    webauthn: &Webauthn,
    headers: &HeaderMap,
    ceremony: &Ceremony,
    (interaction_id, credential): (&str, &str),
) -> Page {
    let auth: DiscoverableAuthentication = serde_json::from_value(ceremony.state.clone())
        .map_err(|e| internal("reading a ceremony", e))?;
    let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(credential) else {
        return Err(PageError::PASSKEY_FAILED);
    };
    let Ok((handle, cred_id)) = webauthn.identify_discoverable_authentication(&answer) else {
        return Err(PageError::PASSKEY_FAILED);
    };
    let factor = state.store.find_factor(&base64url(cred_id)).await?;
    let Some((factor, passkey)) = factor.and_then(|f| passkey_of(&f).map(|p| (f, p))) else {
        tracing::info!("a passkey sign-in named an unknown credential");
        return Err(PageError::PASSKEY_FAILED);
    };
    // The user handle the authenticator returned is the one this account's credentials carry.
    if handle != user_handle(&factor.subject) {
        return Err(PageError::PASSKEY_FAILED);
    }
    let result = webauthn.finish_discoverable_authentication_v2(&answer, auth, &passkey);
    let Ok(result) = result else {
        return Err(PageError::PASSKEY_FAILED);
    };
    let user = active_user(state, &factor.subject).await?;
    count_use(state, factor, passkey, &result).await?;
    let interaction = take_interaction(state, interaction_id).await?;
    let method = tessera_core::login::LoginMethod::Passkey;
    passkey_used(state, headers, interaction, (&user, method)).await
}

async fn second_factor(
    state: &AppState,
    webauthn: &Webauthn,
    headers: &HeaderMap,
    ceremony: &Ceremony,
    (interaction_id, credential): (&str, &str),
) -> Page {
    let auth: PasskeyAuthentication = serde_json::from_value(ceremony.state.clone())
        .map_err(|e| internal("reading a ceremony", e))?;
    let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(credential) else {
        return Err(PageError::PASSKEY_FAILED);
    };
    let interaction = take_interaction(state, interaction_id).await?;
    let subject = interaction.subject.clone().ok_or(PageError::EXPIRED)?;
    let result = match webauthn.finish_passkey_authentication(&answer, &auth) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(reason = %e, "passkey check refused");
            return Err(PageError::PASSKEY_FAILED);
        }
    };
    let factor = state
        .store
        .find_factor(&base64url(result.cred_id().as_ref()))
        .await?;
    let Some((factor, passkey)) = factor
        .filter(|f| f.subject == subject)
        .and_then(|f| passkey_of(&f).map(|p| (f, p)))
    else {
        return Err(PageError::PASSKEY_FAILED);
    };
    let user = active_user(state, &subject).await?;
    count_use(state, factor, passkey, &result).await?;
    let method = tessera_core::login::LoginMethod::PasskeyAsSecondFactor;
    passkey_used(state, headers, interaction, (&user, method)).await
}

/// After a passkey of `user` was accepted for `interaction` (taken already): the sign-in goes
/// on as after any factor.
async fn passkey_used(
    state: &AppState,
    headers: &HeaderMap,
    interaction: Interaction,
    (user, method): (&User, tessera_core::login::LoginMethod),
) -> Page {
    let client = client_of(state, &interaction).await?;
    let batch = tessera_core::store::WriteBatch::new(state.clock.now());
    super::login::factor_used(
        state,
        headers,
        &client,
        (interaction, batch),
        (user, method),
    )
    .await
}

async fn active_user(state: &AppState, subject: &str) -> Result<User, PageError> {
    match state.store.find_user_by_subject(subject).await? {
        Some(u) if !u.disabled => Ok(u),
        _ => Err(PageError::PASSKEY_FAILED),
    }
}

/// Records the use: the signature counter moves on (WebAuthn §7.2 step 22; a counter that did
/// not grow where the authenticator keeps one was refused by the library as a possible clone).
async fn count_use(
    state: &AppState,
    mut factor: Factor,
    mut passkey: Passkey,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<(), PageError> {
    passkey.update_credential(result);
    factor.data = FactorData::Passkey {
        credential: to_json(&passkey)?,
    };
    factor.last_used_at = Some(state.clock.now());
    if !state.store.update_factor(&factor).await? {
        // Used at the same moment elsewhere: one of the two uses is refused.
        return Err(PageError::PASSKEY_FAILED);
    }
    Ok(())
}

/// `GET /assets/passkey.js`
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../templates/passkey.js"),
    )
        .into_response()
}
