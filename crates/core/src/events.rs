//! Domain events: what happened, said once where it happens and delivered to every subscriber.
//! The log subscribes today; metrics and an audit trail subscribe the same way, without the
//! code that emits an event knowing about them.

use std::net::IpAddr;
use std::sync::Arc;

use crate::login::LoginMethod;
use crate::protocol::grant_type::GrantType;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The user signed out (RP-Initiated Logout).
    SignedOut,
    /// Another user signed in over it in the same browser.
    Replaced,
    /// The user's password was reset by a mailed link: every session of theirs ends.
    PasswordReset,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// The token endpoint issued tokens (RFC 6749 §5.1).
    TokensIssued {
        /// The grant redeemed.
        grant_type: GrantType,
        /// The client.
        client_id: &'a str,
    },
    /// A refresh token was used and replaced by its successor (RFC 9700 §4.14.2).
    RefreshRotated {
        /// The client.
        client_id: &'a str,
    },
    /// A token exchange issued a token for a user (RFC 8693): who asked, for whom, who acts
    /// (the client itself unless an actor token named another), and whether the token stands
    /// for the user without naming an actor (impersonation). An audit record (SEC-66).
    TokenExchanged {
        /// The client.
        client_id: &'a str,
        /// The user.
        subject: &'a str,
        /// The top-level actor of the new token's `act`.
        actor: Option<&'a str>,
        /// No actor was added.
        impersonation: bool,
    },
    /// A single-use handle (a code, a refresh token) was presented again: its family is
    /// revoked (RFC 6749 §4.1.2, RFC 9700 §4.14.2).
    ReplayDetected {
        /// What was replayed (its stored kind).
        kind: &'a str,
        /// The client it was issued to.
        client_id: &'a str,
        /// Who presented it.
        peer: Option<IpAddr>,
    },
    /// A user signed in.
    SignInSucceeded {
        /// The user.
        subject: &'a str,
        /// The method used.
        method: LoginMethod,
        /// The authentication context class the sign-in reached.
        acr: Option<&'a str>,
        /// The session.
        sid: &'a str,
    },
    /// A sign-in failed (wrong credentials; never which part).
    SignInFailed {
        /// The browser was known for the account it named (a device cookie).
        known_device: bool,
    },
    /// A second factor was refused: a wrong, reused or malformed code.
    FactorFailed {
        /// The user whose factor it was.
        subject: &'a str,
    },
    /// A factor was enrolled or removed on the account page.
    FactorChanged {
        /// The user.
        subject: &'a str,
        /// Its kind.
        kind: crate::model::FactorKind,
        /// Enrolled (true) or removed.
        enrolled: bool,
    },
    /// A client failed to authenticate (RFC 6749 §2.3, §5.2 `invalid_client`).
    ClientAuthenticationFailed {
        /// The client it claimed to be, unverified.
        claimed_client_id: Option<&'a str>,
        /// Why, as the client was told.
        reason: &'a str,
        /// Who presented the credentials.
        peer: Option<IpAddr>,
    },
    /// A user consented to a client's request (OIDC Core §3.1.2.4).
    ConsentGiven {
        /// The user.
        subject: &'a str,
        /// The client.
        client_id: &'a str,
        /// The consent is remembered for later requests.
        remembered: bool,
    },
    /// An operator changed what the server holds, through the admin API or the CLI.
    AdminChanged {
        /// Who: the admin API caller's client id, or `cli`.
        actor: &'a str,
        /// What was done: `client.create`, `user.disable`, ...
        action: &'static str,
        /// What it was done to: a client id, a user's subject, a key id.
        target: &'a str,
    },
    /// A session ended, with the clients that were signed in through it.
    SessionEnded {
        /// The session.
        sid: &'a str,
        /// How many clients it had.
        clients: usize,
        /// Why.
        why: SessionEnd,
    },
}

/// Receives every event.
pub trait Subscriber: Send + Sync {
    /// Called for each event, in the order they happen.
    fn on(&self, event: &Event<'_>);
}

/// Where events are emitted: it hands each to every subscriber.
#[derive(Clone, Default)]
pub struct Events {
    subscribers: Vec<Arc<dyn Subscriber>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Events({} subscribers)", self.subscribers.len())
    }
}

impl Events {
    /// Events delivered to `subscribers`, in their order.
    pub fn new(subscribers: Vec<Arc<dyn Subscriber>>) -> Events {
        Events { subscribers }
    }

    /// Events written to the log.
    pub fn logged() -> Events {
        Events::new(vec![Arc::new(LogSubscriber)])
    }

    /// Adds a subscriber.
    pub fn subscribe(&mut self, subscriber: Arc<dyn Subscriber>) {
        self.subscribers.push(subscriber);
    }

    /// Delivers `event` to every subscriber.
    pub fn emit(&self, event: Event<'_>) {
        for s in &self.subscribers {
            s.on(&event);
        }
    }
}

/// Writes events to the log, one line each, inside the request's span (which adds the path and
/// the request id). Nothing secret is in an event.
#[derive(Debug, Default)]
pub struct LogSubscriber;

impl Subscriber for LogSubscriber {
    fn on(&self, event: &Event<'_>) {
        match *event {
            Event::TokensIssued {
                grant_type,
                client_id,
            } => tracing::debug!(%grant_type, client_id, "tokens issued"),
            Event::RefreshRotated { client_id } => {
                tracing::debug!(client_id, "refresh token rotated");
            }
            Event::TokenExchanged {
                client_id,
                subject,
                actor,
                impersonation,
            } => tracing::info!(client_id, subject, actor, impersonation, "token exchanged"),
            Event::ReplayDetected {
                kind,
                client_id,
                peer,
            } => {
                let peer = peer.map(tracing::field::display);
                tracing::warn!(
                    kind,
                    client_id,
                    peer,
                    "replay detected: the family is revoked"
                );
            }
            Event::SignInSucceeded {
                method, acr, sid, ..
            } => tracing::info!(outcome = "signed_in", ?method, acr, sid, "sign-in attempt"),
            Event::SignInFailed { known_device } => {
                tracing::info!(outcome = "failed", known_device, "sign-in attempt");
            }
            Event::FactorFailed { .. } => {
                tracing::info!(outcome = "failed", "second factor refused");
            }
            Event::FactorChanged { kind, enrolled, .. } => {
                tracing::info!(kind = kind.as_str(), enrolled, "factor changed");
            }
            // The refusal's own line ("request refused") carries the reason already.
            Event::ClientAuthenticationFailed { .. } => {}
            Event::ConsentGiven {
                client_id,
                remembered,
                ..
            } => tracing::info!(client_id, remembered, "consent given"),
            Event::AdminChanged {
                actor,
                action,
                target,
            } => tracing::info!(actor, action, target, "admin change"),
            Event::SessionEnded { sid, clients, why } => match why {
                SessionEnd::SignedOut => tracing::info!(sid, clients, "signed out"),
                SessionEnd::Replaced => tracing::info!(
                    sid,
                    clients,
                    "ended the session another user signed in over"
                ),
                SessionEnd::PasswordReset => {
                    tracing::info!(sid, clients, "ended by a password reset");
                }
            },
        }
    }
}

/// Keeps what it receives, as text; for tests.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct Recorder(pub std::sync::Mutex<Vec<String>>);

#[cfg(any(test, feature = "testing"))]
impl Recorder {
    /// What was received so far.
    pub fn seen(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

#[cfg(any(test, feature = "testing"))]
impl Subscriber for Recorder {
    fn on(&self, event: &Event<'_>) {
        if let Ok(mut seen) = self.0.lock() {
            seen.push(format!("{event:?}"));
        }
    }
}
