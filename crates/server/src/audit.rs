//! The audit log (`[audit] path`): security events and admin changes, one JSON object per line,
//! to its own file or to standard output. Each record says what happened (`event`), when
//! (`time`, seconds since the epoch), who (`subject`, `client_id`, `actor`) and from where
//! (`address`, the client's address after `[http] trusted_proxies`, and `request_id`, the
//! `X-Request-Id` of the request it happened in). Nothing secret is in an event, so nothing
//! secret is in a record.

use std::future::Future;
use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde_json::{Map, Value, json};
use tessera_core::Clock;
use tessera_core::events::{Event, SessionEnd, Subscriber};

use crate::config::AuditTarget;

/// Where the request being handled came from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The client's address.
    pub address: Option<IpAddr>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
}

tokio::task_local! {
    static ORIGIN: Origin;
}

/// Runs `work` (a request's handling) with its origin known to the records made meanwhile.
pub async fn within<F: Future>(origin: Origin, work: F) -> F::Output {
    ORIGIN.scope(origin, work).await
}

/// The origin of the request being handled on this task, if any.
fn current_origin() -> Origin {
    ORIGIN.try_with(Origin::clone).unwrap_or_default()
}

/// Appends a record per audited event.
pub struct AuditLog {
    out: Mutex<Box<dyn Write + Send>>,
    clock: Arc<dyn Clock>,
}

impl AuditLog {
    /// Opens `target`: a file is created if missing (readable by its owner only) and appended
    /// to.
    pub fn open(target: &AuditTarget, clock: Arc<dyn Clock>) -> anyhow::Result<AuditLog> {
        let out: Box<dyn Write + Send> = match target {
            AuditTarget::Stdout => Box::new(std::io::stdout()),
            AuditTarget::File(path) => {
                let mut options = std::fs::OpenOptions::new();
                options.create(true).append(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let file = options
                    .open(path)
                    .with_context(|| format!("cannot open the audit log {}", path.display()))?;
                Box::new(std::io::LineWriter::new(file))
            }
        };
        Ok(AuditLog {
            out: Mutex::new(out),
            clock,
        })
    }

    fn write(&self, record: &Value) {
        let Ok(mut line) = serde_json::to_vec(record) else {
            return;
        };
        line.push(b'\n');
        let written = match self.out.lock() {
            Ok(mut out) => out.write_all(&line).and_then(|()| out.flush()),
            Err(_) => Err(std::io::Error::other("the audit log's lock is poisoned")),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot write to the audit log");
        }
    }
}

impl Subscriber for AuditLog {
    fn on(&self, event: &Event<'_>) {
        let Some(mut record) = record(event) else {
            return;
        };
        let origin = current_origin();
        record.insert("time".into(), json!(self.clock.now()));
        if let Some(address) = origin.address {
            record.insert("address".into(), json!(address.to_string()));
        }
        if let Some(id) = origin.request_id {
            record.insert("request_id".into(), json!(id));
        }
        self.write(&Value::Object(record));
    }
}

/// The record of an audited event; `None` for the routine ones (tokens issued, refresh
/// rotation), which metrics count.
fn record(event: &Event<'_>) -> Option<Map<String, Value>> {
    let value = match *event {
        Event::TokensIssued { .. } | Event::RefreshRotated { .. } => return None,
        Event::TokenExchanged {
            client_id,
            subject,
            actor,
            impersonation,
        } => json!({"event": "token_exchanged", "client_id": client_id, "subject": subject,
            "actor": actor, "impersonation": impersonation}),
        Event::ReplayDetected {
            kind,
            client_id,
            peer,
        } => json!({"event": "replay_detected", "kind": kind, "client_id": client_id,
            "peer": peer.map(|p| p.to_string())}),
        Event::SignInSucceeded {
            subject,
            method,
            acr,
            sid,
        } => json!({"event": "sign_in", "outcome": "success", "subject": subject,
            "method": method.as_str(), "acr": acr, "sid": sid}),
        Event::SignInFailed { known_device } => {
            json!({"event": "sign_in", "outcome": "failure", "known_device": known_device})
        }
        Event::FactorFailed { subject } => {
            json!({"event": "factor", "outcome": "refused", "subject": subject})
        }
        Event::FactorChanged {
            subject,
            kind,
            enrolled,
        } => json!({"event": "factor", "outcome": if enrolled { "enrolled" } else { "removed" },
            "subject": subject, "kind": kind.as_str()}),
        Event::ClientAuthenticationFailed {
            claimed_client_id,
            reason,
            peer,
        } => json!({"event": "client_authentication_failed", "client_id": claimed_client_id,
            "reason": reason, "peer": peer.map(|p| p.to_string())}),
        Event::ConsentGiven {
            subject,
            client_id,
            remembered,
        } => json!({"event": "consent_given", "subject": subject, "client_id": client_id,
            "remembered": remembered}),
        Event::AdminChanged {
            actor,
            action,
            target,
        } => json!({"event": "admin_change", "actor": actor, "action": action, "target": target}),
        Event::SessionEnded { sid, clients, why } => {
            let why = match why {
                SessionEnd::SignedOut => "signed_out",
                SessionEnd::Replaced => "replaced",
                SessionEnd::PasswordReset => "password_reset",
            };
            json!({"event": "session_ended", "sid": sid, "clients": clients, "why": why})
        }
    };
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}
