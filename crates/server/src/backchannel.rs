//! Back-channel logout delivery (OpenID Connect Back-Channel Logout 1.0 §2.5): a signed logout
//! token POSTed to each signed-in client's `backchannel_logout_uri`, from a background task so
//! that a slow or absent client never holds up the sign-out, with retries, through the
//! hardened outbound client ([`crate::outbound`]: https, public addresses, no redirects, a
//! timeout). Failures are logged and counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tessera_core::logout::issue_logout_token;
use tessera_core::model::{Client, Session};
use tessera_core::tokens::KeyRing;
use tokio::task::JoinHandle;

use crate::outbound::{Outbound, OutboundError, OutboundPolicy};

/// Attempts per client, with the waits between them.
const RETRY_WAITS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(4)];

/// The sender and its counters.
pub struct Backchannel {
    http: Outbound,
    /// Logout tokens a client accepted.
    pub delivered: AtomicU64,
    /// Logout tokens that could not be delivered after every attempt.
    pub failed: AtomicU64,
}

impl Backchannel {
    /// A sender under `policy`. Its client follows no redirects (§2.5: the token goes to the
    /// registered URI only).
    pub fn new(policy: OutboundPolicy) -> anyhow::Result<Arc<Backchannel>> {
        let http = Outbound::new(policy)?;
        Ok(Arc::new(Backchannel {
            http,
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }))
    }

    /// Sends a logout token for `session` to every client in `clients` that registered a
    /// back-channel URI, signed with the algorithm of the client's identity tokens
    /// (Back-Channel Logout 1.0 §2.4, OIDC Registration §2). Returns the delivery tasks
    /// (callers that must wait, like the CLI, await them; the server does not).
    pub fn notify(
        self: &Arc<Self>,
        issuer: &str,
        ring: &KeyRing,
        session: &Session,
        clients: &[Client],
        now: i64,
    ) -> Vec<JoinHandle<bool>> {
        let mut tasks = Vec::new();
        for client in clients {
            let Some(uri) = client.logout.backchannel_logout_uri.clone() else {
                continue;
            };
            let Ok(key) = ring.signing_key(client.id_token_signed_response_alg) else {
                tracing::error!(client_id = %client.client_id, "no signing key for its logout tokens");
                continue;
            };
            let token = match issue_logout_token(
                issuer,
                &client.client_id,
                &session.subject,
                &session.sid,
                now,
                key,
            ) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(error = %e, "could not sign a logout token");
                    continue;
                }
            };
            let sender = self.clone();
            let client_id = client.client_id.clone();
            tasks.push(tokio::spawn(async move {
                sender.deliver(&client_id, &uri, &token).await
            }));
        }
        tasks
    }

    async fn deliver(&self, client_id: &str, uri: &str, token: &str) -> bool {
        let mut last_error = String::new();
        for attempt in 0..=RETRY_WAITS.len() {
            if attempt > 0 {
                tokio::time::sleep(RETRY_WAITS[attempt - 1]).await;
            }
            let sent = self.http.post_form(uri, &[("logout_token", token)]).await;
            match sent {
                // §2.8: 200 OK (204 is also taken as success).
                Ok(r) if r.status.is_success() => {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                    crate::metrics::outbound("backchannel_logout", true);
                    tracing::info!(client_id, attempt, "back-channel logout delivered");
                    return true;
                }
                // §2.8: a 4xx means the client refused this token; sending it again (with the
                // same jti) cannot help.
                // A redirect is not followed (the token goes to the registered URI only).
                Ok(r) if r.status.is_client_error() || r.status.is_redirection() => {
                    last_error = format!("refused with status {}", r.status.as_u16());
                    break;
                }
                Ok(r) => last_error = format!("status {}", r.status.as_u16()),
                // The address or URL is not allowed: trying again cannot change that.
                Err(
                    e @ (OutboundError::Forbidden(_)
                    | OutboundError::NotHttps
                    | OutboundError::BadUrl
                    | OutboundError::TooLarge),
                ) => {
                    last_error = e.to_string();
                    break;
                }
                Err(e) => last_error = e.to_string(),
            }
        }
        let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
        crate::metrics::outbound("backchannel_logout", false);
        tracing::warn!(
            client_id,
            error = %last_error,
            failed_total = failed,
            "back-channel logout could not be delivered"
        );
        false
    }
}
