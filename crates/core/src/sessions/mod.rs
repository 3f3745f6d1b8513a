//! Single sign-on sessions, remembered consent, and the interaction records that carry an
//! authorization request through the login and consent pages. All live in the store, so any
//! instance can continue what another began.

mod consent;
mod interaction;

pub use consent::{
    CONSENT_LIFETIME, RememberedConsent, remember_consent, remembered_consent, remembered_consents,
};
pub use interaction::{
    DeviceInteraction, Flow, INTERACTION_LIFETIME, Interaction, PageHandle, PageRecord,
    PageRefusal, Step, check_page_record, find_page_record, page_record_write, same_browser,
    save_page_record, take_page_record,
};

use crate::protocol::OrServerError as _;
use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::{base64url, handle_digest, random_bytes, random_handle};
use crate::model::{Grant, GrantKind, Session};
use crate::protocol::OAuthError;
use crate::store::{BatchWrite, GrantPayload, GrantStore, SessionStore};

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

pub fn random_id() -> Result<String, OAuthError> {
    random_handle().or_server_error("drawing random bytes")
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
    /// The upstream provider's session the sign-in came from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<crate::login::UpstreamSession>,
}

/// Reads a session's data; unreadable data is a server error with its cause, never a sign-in
/// with no methods.
pub fn session_data(session: &Session) -> Result<SessionData, OAuthError> {
    SessionData::deserialize(&session.data).or_server_error("reading a session's data")
}

/// A session record for a sign-in at `now`, under a new cookie value (returned with it) and a
/// new OP browser state; `sid` and `created_at` are the caller's.
fn signed_in_record(
    (sid, subject, created_at): (String, &str, UnixTime),
    now: UnixTime,
    lifetimes: SessionLifetimes,
    data: &SessionData,
) -> Result<(String, Session), OAuthError> {
    let cookie = random_id()?;
    let mut data = data.clone();
    data.browser_state = random_id()?;
    let absolute = now.saturating_add(crate::clock::seconds(lifetimes.absolute));
    let session = Session {
        id_digest: handle_digest(&cookie),
        sid,
        subject: subject.to_string(),
        auth_time: now,
        created_at,
        last_seen: now,
        expires_at: now
            .saturating_add(crate::clock::seconds(lifetimes.idle))
            .min(absolute),
        absolute_expires_at: absolute,
        data: serde_json::to_value(&data).or_server_error("encoding a stored record")?,
    };
    Ok((cookie, session))
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
    let (cookie, session) = new_session(subject, now, lifetimes, data)?;
    sessions.insert_session(&session).await?;
    Ok((cookie, session))
}

/// A new session after a sign-in at `now`, not stored yet: its cookie value (fresh random,
/// no fixation) and record, under a new `sid`.
pub fn new_session(
    subject: &str,
    now: UnixTime,
    lifetimes: SessionLifetimes,
    data: &SessionData,
) -> Result<(String, Session), OAuthError> {
    let sid = base64url(&random_bytes(16).or_server_error("drawing random bytes")?);
    signed_in_record((sid, subject, now), now, lifetimes, data)
}

/// `old` renewed for a sign-in of its user at `now` (see [`renew_session`]), not stored yet:
/// the new cookie value and record, under `old`'s `sid`.
pub fn renewed_session(
    old: &Session,
    now: UnixTime,
    lifetimes: SessionLifetimes,
    data: &SessionData,
) -> Result<(String, Session), OAuthError> {
    let kept = (old.sid.clone(), old.subject.as_str(), old.created_at);
    signed_in_record(kept, now, lifetimes, data)
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
    let (cookie, session) = renewed_session(old, now, lifetimes, data)?;
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
            .saturating_add(crate::clock::seconds(lifetimes.idle))
            .min(session.absolute_expires_at);
        sessions.update_session(&session).await?;
    }
    Ok(Some(session))
}

/// The record that a client got a response through a session: one row per client and
/// session, inserted atomically (concurrent sign-ins of several clients cannot lose one),
/// bound to the session so that it ends with it. It carries nothing besides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClient;

impl GrantPayload for SessionClient {
    const KIND: GrantKind = GrantKind::SessionClient;
}

/// Records that `client_id` got a response through `session`.
pub async fn add_session_client(
    grants: &dyn GrantStore,
    session: &Session,
    client_id: &str,
    now: UnixTime,
) -> Result<(), OAuthError> {
    match grants
        .insert_grant(&session_client_record(session, client_id, now)?)
        .await
    {
        // Recorded before: nothing to do.
        Err(crate::store::StoreError::Conflict(_)) => Ok(()),
        other => Ok(other?),
    }
}

/// The record that `client_id` got a response through `session`, as a batch's write (kept
/// once: a record stored before stays).
pub fn session_client_write(
    session: &Session,
    client_id: &str,
    now: UnixTime,
) -> Result<BatchWrite, OAuthError> {
    Ok(BatchWrite::InsertOnce(session_client_record(
        session, client_id, now,
    )?))
}

fn session_client_record(
    session: &Session,
    client_id: &str,
    now: UnixTime,
) -> Result<Grant, OAuthError> {
    // The kind's name is part of the key of every record stored so far.
    let key = handle_digest(&format!(
        "{}:{}:{}:{client_id}",
        SessionClient::KIND.as_str(),
        session.sid.len(),
        session.sid
    ));
    Ok(Grant {
        subject: Some(session.subject.clone()),
        session_id: Some(session.sid.clone()),
        ..Grant::new(
            key,
            client_id,
            &SessionClient,
            now,
            session.absolute_expires_at,
        )?
    })
}

/// The clients that got a response through session `sid`.
pub async fn session_clients(
    grants: &dyn GrantStore,
    sid: &str,
) -> Result<Vec<String>, OAuthError> {
    Ok(grants
        .session_grant_clients(sid, SessionClient::KIND)
        .await?)
}

/// The OP browser state of Session Management 1.0 §3 for `session` (the value of the
/// script-readable cookie the check-session iframe compares against).
pub fn browser_state(session: &Session) -> Result<String, OAuthError> {
    Ok(session_data(session)?.browser_state)
}

/// The `session_state` of an authorization response (Session Management 1.0 §3):
/// `base64url(SHA-256(client_id SP origin SP browser_state SP salt)) "." salt`, which the
/// check-session iframe recomputes in the browser.
pub fn session_state(
    client_id: &str,
    origin: &str,
    browser_state: &str,
) -> Result<String, OAuthError> {
    let salt = base64url(&random_bytes(8).or_server_error("drawing random bytes")?);
    let digest = handle_digest(&format!("{client_id} {origin} {browser_state} {salt}"));
    Ok(format!("{digest}.{salt}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

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
