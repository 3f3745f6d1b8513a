//! Single sign-on sessions, remembered consent, and the interaction records that carry an
//! authorization request through the login and consent pages. All live in the store, so any
//! instance can continue what another began.

use serde::{Deserialize, Serialize};

use crate::authorize::AuthorizationRequest;
use crate::clock::UnixTime;
use crate::crypto::{base64url, constant_time_eq, handle_digest, random_bytes, random_handle};
use crate::model::{Grant, Session};
use crate::protocol::OAuthError;
use crate::store::{GrantStore, SessionStore};

/// How long a session lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetimes {
    /// A session ends this many seconds after it was last used.
    pub idle: u64,
    /// ... and this many seconds after the sign-in, however often it is used.
    pub absolute: u64,
}

/// Seconds between writes of a session's `last_seen` (so that every request does not write).
const TOUCH_INTERVAL: i64 = 60;

fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}

fn random_id() -> Result<String, OAuthError> {
    random_handle().map_err(|_| OAuthError::ServerError)
}

/// What a session records besides its columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionData {
    /// Authentication methods (RFC 8176), e.g. `pwd`.
    pub amr: Vec<String>,
    /// The identity provider that authenticated the user (`local`).
    pub idp: String,
    /// The OP browser state of Session Management 1.0 §3: random, so that no one can compute
    /// it from what tokens reveal.
    #[serde(default)]
    pub browser_state: String,
}

/// Reads a session's data.
pub fn session_data(session: &Session) -> SessionData {
    serde_json::from_value(session.data.clone()).unwrap_or_default()
}

/// Starts a session after a sign-in and returns the cookie value (a fresh random value every
/// time: no session fixation) with the record.
pub async fn start_session(
    sessions: &dyn SessionStore,
    subject: &str,
    now: UnixTime,
    lifetimes: SessionLifetimes,
    data: &SessionData,
) -> Result<(String, Session), OAuthError> {
    let cookie = random_id()?;
    let mut data = data.clone();
    data.browser_state = random_id()?;
    let absolute = now.saturating_add(secs(lifetimes.absolute));
    let session = Session {
        id_digest: handle_digest(&cookie),
        sid: base64url(&random_bytes(16).map_err(|_| OAuthError::ServerError)?),
        subject: subject.to_string(),
        auth_time: now,
        created_at: now,
        last_seen: now,
        expires_at: now.saturating_add(secs(lifetimes.idle)).min(absolute),
        absolute_expires_at: absolute,
        data: serde_json::to_value(&data).map_err(|_| OAuthError::ServerError)?,
    };
    sessions.insert_session(&session).await?;
    Ok((cookie, session))
}

/// The same user signed in again in `old`'s browser (`prompt=login`, `max_age`, a step-up):
/// the session goes on under its `sid`, so that the clients signed in through it and the
/// grants bound to it stay with it (and a later sign-out reaches them all), with a new cookie
/// value (no fixation) and the new sign-in's time and methods. `None` when `old` has ended
/// meanwhile (a sign-out elsewhere): then it is not revived.
pub async fn renew_session(
    sessions: &dyn SessionStore,
    old: &Session,
    now: UnixTime,
    lifetimes: SessionLifetimes,
    data: &SessionData,
) -> Result<Option<(String, Session)>, OAuthError> {
    let cookie = random_id()?;
    let mut data = data.clone();
    data.browser_state = random_id()?;
    let absolute = now.saturating_add(secs(lifetimes.absolute));
    let session = Session {
        id_digest: handle_digest(&cookie),
        sid: old.sid.clone(),
        subject: old.subject.clone(),
        auth_time: now,
        created_at: old.created_at,
        last_seen: now,
        expires_at: now.saturating_add(secs(lifetimes.idle)).min(absolute),
        absolute_expires_at: absolute,
        data: serde_json::to_value(&data).map_err(|_| OAuthError::ServerError)?,
    };
    // One step: a sign-out at the same moment either ends the old session before (and this
    // finds nothing) or the renewed one after.
    if !sessions.renew_session(&old.id_digest, &session).await? {
        return Ok(None);
    }
    Ok(Some((cookie, session)))
}

/// The live session a cookie names, its idle expiry moved forward (written at most once a
/// minute).
pub async fn load_session(
    sessions: &dyn SessionStore,
    cookie: &str,
    now: UnixTime,
    lifetimes: SessionLifetimes,
) -> Result<Option<Session>, OAuthError> {
    if cookie.is_empty() || cookie.len() > 256 {
        return Ok(None);
    }
    let Some(mut session) = sessions.find_session(&handle_digest(cookie), now).await? else {
        return Ok(None);
    };
    if now.saturating_sub(session.last_seen) >= TOUCH_INTERVAL {
        session.last_seen = now;
        session.expires_at = now
            .saturating_add(secs(lifetimes.idle))
            .min(session.absolute_expires_at);
        sessions.update_session(&session).await?;
    }
    Ok(Some(session))
}

/// The grant kind recording that a client got a response through a session: one row per
/// client and session, inserted atomically (concurrent sign-ins of several clients cannot
/// lose one), bound to the session so that it ends with it.
pub const SESSION_CLIENT: &str = "session_client";

/// Records that `client_id` got a response through `session`.
pub async fn add_session_client(
    grants: &dyn GrantStore,
    session: &Session,
    client_id: &str,
    now: UnixTime,
) -> Result<(), OAuthError> {
    let record = Grant {
        handle_digest: handle_digest(&format!(
            "{SESSION_CLIENT}:{}:{}:{client_id}",
            session.sid.len(),
            session.sid
        )),
        kind: SESSION_CLIENT.into(),
        client_id: client_id.to_string(),
        subject: Some(session.subject.clone()),
        session_id: Some(session.sid.clone()),
        family: None,
        data: serde_json::Value::Null,
        created_at: now,
        expires_at: session.absolute_expires_at,
        consumed_at: None,
    };
    match grants.insert_grant(&record).await {
        // Recorded before: nothing to do.
        Err(crate::store::StoreError::Conflict(_)) => Ok(()),
        other => Ok(other?),
    }
}

/// The clients that got a response through session `sid`.
pub async fn session_clients(
    grants: &dyn GrantStore,
    sid: &str,
) -> Result<Vec<String>, OAuthError> {
    Ok(grants.session_grant_clients(sid, SESSION_CLIENT).await?)
}

/// The OP browser state of Session Management 1.0 §3 for `session` (the value of the
/// script-readable cookie the check-session iframe compares against).
pub fn browser_state(session: &Session) -> String {
    session_data(session).browser_state
}

/// The `session_state` of an authorization response (Session Management 1.0 §3):
/// `base64url(SHA-256(client_id SP origin SP browser_state SP salt)) "." salt`, which the
/// check-session iframe recomputes in the browser.
pub fn session_state(
    client_id: &str,
    origin: &str,
    browser_state: &str,
) -> Result<String, OAuthError> {
    let salt = base64url(&random_bytes(8).map_err(|_| OAuthError::ServerError)?);
    let digest = handle_digest(&format!("{client_id} {origin} {browser_state} {salt}"));
    Ok(format!("{digest}.{salt}"))
}

/// The grant kind remembered consent is stored under.
pub const CONSENT: &str = "consent";

/// Remembered consent lasts this long.
pub const CONSENT_LIFETIME: i64 = 365 * 86_400;

fn consent_key(subject: &str, client_id: &str) -> String {
    // The two parts are length-prefixed so that no pair of values can collide.
    handle_digest(&format!(
        "{CONSENT}:{}:{subject}:{client_id}",
        subject.len()
    ))
}

/// What a user consented to for a client and asked to be remembered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedConsent {
    /// Scopes.
    pub scopes: Vec<String>,
    /// Claims asked for by name (OIDC Core §5.5) beyond what the scopes release.
    #[serde(default)]
    pub claims: Vec<String>,
}

impl RememberedConsent {
    /// Whether it covers every one of `scopes` and `claims`.
    pub fn covers(&self, scopes: &[String], claims: &[String]) -> bool {
        scopes.iter().all(|s| self.scopes.contains(s))
            && claims.iter().all(|c| self.claims.contains(c))
    }
}

/// Stored consent, as written now or (a list of scopes) before claims were remembered.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredConsent {
    Current(RememberedConsent),
    Scopes(Vec<String>),
}

/// What `subject` has consented to for `client_id` and asked to be remembered.
pub async fn remembered_consent(
    grants: &dyn GrantStore,
    subject: &str,
    client_id: &str,
    now: UnixTime,
) -> Result<RememberedConsent, OAuthError> {
    let stored = grants
        .find_grant(&consent_key(subject, client_id))
        .await?
        .filter(|g| g.kind == CONSENT && g.expires_at > now)
        .and_then(|g| serde_json::from_value::<StoredConsent>(g.data).ok());
    Ok(match stored {
        Some(StoredConsent::Current(c)) => c,
        Some(StoredConsent::Scopes(scopes)) => RememberedConsent {
            scopes,
            claims: vec![],
        },
        None => RememberedConsent::default(),
    })
}

/// Remembers consent to `scopes` and `claims` (added to what was remembered before).
pub async fn remember_consent(
    grants: &dyn GrantStore,
    subject: &str,
    client_id: &str,
    (scopes, claims): (&[String], &[String]),
    now: UnixTime,
) -> Result<(), OAuthError> {
    let key = consent_key(subject, client_id);
    let mut all = remembered_consent(grants, subject, client_id, now).await?;
    for s in scopes {
        if !all.scopes.contains(s) {
            all.scopes.push(s.clone());
        }
    }
    for c in claims {
        if !all.claims.contains(c) {
            all.claims.push(c.clone());
        }
    }
    grants.delete_grant(&key).await?;
    let record = Grant {
        handle_digest: key,
        kind: CONSENT.into(),
        client_id: client_id.to_string(),
        subject: Some(subject.to_string()),
        session_id: None,
        family: None,
        data: serde_json::to_value(&all).map_err(|_| OAuthError::ServerError)?,
        created_at: now,
        expires_at: now.saturating_add(CONSENT_LIFETIME),
        consumed_at: None,
    };
    match grants.insert_grant(&record).await {
        // Another instance remembered the same consent at the same moment.
        Err(crate::store::StoreError::Conflict(_)) => Ok(()),
        other => Ok(other?),
    }
}

/// The grant kind interactions are stored under.
pub const INTERACTION: &str = "interaction";

/// How long a user has to complete the login and consent pages.
pub const INTERACTION_LIFETIME: i64 = 15 * 60;

/// An authorization request waiting for the user, with what has happened so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// The checked request.
    pub request: AuthorizationRequest,
    /// Digest of the browser-binding cookie of the browser that made the request.
    pub browser: String,
    /// The CSRF token its forms carry (useless without the browser-binding cookie).
    pub csrf: String,
    /// The user signed in during this interaction (meets prompt=login and max_age).
    #[serde(default)]
    pub signed_in: bool,
    /// The user consented during this interaction (meets prompt=consent).
    #[serde(default)]
    pub consented: bool,
    /// Failed sign-in attempts during this interaction.
    #[serde(default)]
    pub failures: u32,
    /// The page it is waiting on.
    #[serde(default)]
    pub step: Step,
    /// The user it is for: who signed in during it, or whom the consent page was shown to.
    #[serde(default)]
    pub subject: Option<String>,
}

/// The page an interaction waits on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// The login page.
    #[default]
    Login,
    /// The consent page.
    Consent,
}

/// A stored interaction: its id (in the page URL and forms) and CSRF token.
#[derive(Clone, PartialEq, Eq)]
pub struct InteractionHandle {
    /// The id.
    pub id: String,
    /// The CSRF token for its forms.
    pub csrf: String,
}

impl std::fmt::Debug for InteractionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InteractionHandle(..)")
    }
}

/// Stores `interaction` under a new id with a new CSRF token.
pub async fn save_interaction(
    grants: &dyn GrantStore,
    mut interaction: Interaction,
    now: UnixTime,
) -> Result<InteractionHandle, OAuthError> {
    let handle = InteractionHandle {
        id: random_id()?,
        csrf: random_id()?,
    };
    interaction.csrf = handle.csrf.clone();
    let record = Grant {
        handle_digest: handle_digest(&handle.id),
        kind: INTERACTION.into(),
        client_id: interaction.request.client_id.clone(),
        subject: None,
        session_id: None,
        family: None,
        data: serde_json::to_value(&interaction).map_err(|_| OAuthError::ServerError)?,
        created_at: now,
        expires_at: now.saturating_add(INTERACTION_LIFETIME),
        consumed_at: None,
    };
    grants.insert_grant(&record).await?;
    Ok(handle)
}

/// Whether `browser_cookie` is the browser that started `interaction`.
pub fn same_browser(interaction: &Interaction, browser_cookie: &str) -> bool {
    constant_time_eq(
        handle_digest(browser_cookie).as_bytes(),
        interaction.browser.as_bytes(),
    )
}

/// Reads an interaction for display.
pub async fn find_interaction(
    grants: &dyn GrantStore,
    id: &str,
    now: UnixTime,
) -> Result<Option<Interaction>, OAuthError> {
    if id.is_empty() || id.len() > 256 {
        return Ok(None);
    }
    Ok(grants
        .find_grant(&handle_digest(id))
        .await?
        .filter(|g| g.kind == INTERACTION && g.consumed_at.is_none() && g.expires_at > now)
        .and_then(|g| serde_json::from_value(g.data).ok()))
}

/// Why a form submission was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteractionRefusal {
    /// Unknown, expired or already submitted.
    Gone,
    /// The CSRF token or the browser does not match.
    Forged,
}

/// Takes an interaction for a form submission: exactly once (a second submission of the same
/// form is refused), from the browser that started it, with its CSRF token.
pub async fn take_interaction(
    grants: &dyn GrantStore,
    id: &str,
    csrf: &str,
    browser_cookie: &str,
    now: UnixTime,
) -> Result<Result<Interaction, InteractionRefusal>, OAuthError> {
    let Some(interaction) = find_interaction(grants, id, now).await? else {
        return Ok(Err(InteractionRefusal::Gone));
    };
    let csrf_ok = constant_time_eq(csrf.as_bytes(), interaction.csrf.as_bytes());
    let browser_ok = same_browser(&interaction, browser_cookie);
    if !(csrf_ok && browser_ok) {
        return Ok(Err(InteractionRefusal::Forged));
    }
    if grants
        .consume_grant(&handle_digest(id), INTERACTION, now)
        .await?
        .is_none()
    {
        return Ok(Err(InteractionRefusal::Gone));
    }
    Ok(Ok(interaction))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::ResponseMode;
    use crate::store::MemoryStore;

    fn interaction(browser: &str) -> Interaction {
        Interaction {
            request: AuthorizationRequest {
                client_id: "web".into(),
                redirect_uri: "https://app.example/cb".into(),
                redirect_uri_presented: true,
                response_mode: ResponseMode::Query,
                response_type: crate::authorize::ResponseType::CODE,
                scopes: vec!["openid".into()],
                state: None,
                nonce: None,
                code_challenge: None,
                prompt: vec![],
                max_age: None,
                login_hint: None,
                id_token_hint: None,
                ui_locales: None,
                acr_values: None,
                acr: Default::default(),
                resources: vec![],
                claims: Default::default(),
            },
            browser: handle_digest(browser),
            csrf: String::new(),
            signed_in: false,
            consented: false,
            failures: 0,
            step: Step::Login,
            subject: None,
        }
    }

    #[tokio::test]
    async fn interactions_are_taken_once_by_their_browser() {
        let store = MemoryStore::new();
        let h = save_interaction(&store, interaction("b1"), 100)
            .await
            .unwrap();
        assert!(
            find_interaction(&store, &h.id, 101)
                .await
                .unwrap()
                .is_some()
        );
        let take = |csrf: &str, browser: &str| {
            let (id, csrf, browser) = (h.id.clone(), csrf.to_string(), browser.to_string());
            let store = &store;
            async move {
                take_interaction(store, &id, &csrf, &browser, 102)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(take("wrong", "b1").await, Err(InteractionRefusal::Forged));
        assert_eq!(take(&h.csrf, "b2").await, Err(InteractionRefusal::Forged));
        assert!(take(&h.csrf, "b1").await.is_ok());
        assert_eq!(take(&h.csrf, "b1").await, Err(InteractionRefusal::Gone));
        let late = save_interaction(&store, interaction("b1"), 100)
            .await
            .unwrap();
        assert!(
            find_interaction(&store, &late.id, 100 + INTERACTION_LIFETIME)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn consent_is_remembered_and_merged() {
        let store = MemoryStore::new();
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            remembered_consent(&store, "u", "c", 0).await.unwrap(),
            RememberedConsent::default()
        );
        remember_consent(&store, "u", "c", (&s(&["openid"]), &[]), 0)
            .await
            .unwrap();
        remember_consent(&store, "u", "c", (&s(&["profile"]), &s(&["email"])), 1)
            .await
            .unwrap();
        let remembered = remembered_consent(&store, "u", "c", 2).await.unwrap();
        assert_eq!(remembered.scopes, s(&["openid", "profile"]));
        assert!(remembered.covers(&s(&["openid"]), &s(&["email"])));
        assert!(!remembered.covers(&s(&["openid"]), &s(&["phone_number"])));
        assert!(!remembered.covers(&s(&["phone"]), &[]));
        assert_eq!(
            remembered_consent(&store, "u", "other", 2).await.unwrap(),
            RememberedConsent::default()
        );
    }

    #[tokio::test]
    async fn a_renewed_session_keeps_its_sid_under_a_new_cookie() {
        let store = MemoryStore::new();
        let life = SessionLifetimes {
            idle: 100,
            absolute: 150,
        };
        let (cookie, old) = start_session(&store, "u", 1_000, life, &SessionData::default())
            .await
            .unwrap();
        let (renewed, session) = renew_session(&store, &old, 1_050, life, &SessionData::default())
            .await
            .unwrap()
            .unwrap();
        assert_ne!(renewed, cookie);
        assert_eq!(session.sid, old.sid);
        assert_eq!(session.auth_time, 1_050);
        assert!(
            load_session(&store, &cookie, 1_051, life)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            load_session(&store, &renewed, 1_051, life)
                .await
                .unwrap()
                .is_some()
        );
        // Ended meanwhile: not revived.
        assert!(
            renew_session(&store, &old, 1_060, life, &SessionData::default())
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn sessions_start_fresh_and_slide() {
        let store = MemoryStore::new();
        let life = SessionLifetimes {
            idle: 100,
            absolute: 150,
        };
        let (cookie, s) = start_session(&store, "u", 1_000, life, &SessionData::default())
            .await
            .unwrap();
        let (cookie2, s2) = start_session(&store, "u", 1_000, life, &SessionData::default())
            .await
            .unwrap();
        assert_ne!(cookie, cookie2);
        assert_ne!(s.sid, s2.sid);
        assert_eq!(s.expires_at, 1_100);
        let later = load_session(&store, &cookie, 1_090, life)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            later.expires_at, 1_150,
            "slides, capped by the absolute end"
        );
        assert!(
            load_session(&store, &cookie, 1_150, life)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            load_session(&store, "nope", 1_010, life)
                .await
                .unwrap()
                .is_none()
        );
    }
}
