//! Clients' key sets by reference (RFC 7591 §2 `jwks_uri`): fetched through the hardened
//! outbound client (public addresses, https, no redirects, bounded size and time; SEC-56),
//! kept for five minutes, fetched again when an assertion is signed with a key not in the kept
//! set (a client's rotation, OIDC Core §10.1.1), but at most twice in a few seconds per URL
//! (a client that rotates just after a read is served at once) so that a caller cannot make
//! the server fetch on every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tessera_core::clients::RemoteKeys;
use tessera_core::clients::jwk::ClientJwk;

use crate::clock::MonotonicClock;
use crate::outbound::{Outbound, OutboundPolicy};

/// How long a fetched set is used.
const KEEP: Duration = Duration::from_secs(300);
/// A set is fetched again at most this often, even when asked for a fresh one; but once right
/// after a read (a client that rotated its key just after it).
const MIN_REFETCH: Duration = Duration::from_secs(5);
/// Sets kept at most; beyond it the oldest is dropped.
const MAX_SETS: usize = 1_000;

/// A set, when it was read, and whether that read was the early one a period allows.
type Kept = (Arc<Vec<ClientJwk>>, std::time::Instant, bool);

/// The fetcher and its memory.
pub struct RemoteClientKeys {
    http: Outbound,
    clock: Arc<dyn MonotonicClock>,
    kept: Mutex<HashMap<String, Kept>>,
}

impl RemoteClientKeys {
    /// A fetcher under `policy`.
    pub fn new(
        policy: OutboundPolicy,
        clock: Arc<dyn MonotonicClock>,
    ) -> anyhow::Result<RemoteClientKeys> {
        Ok(RemoteClientKeys {
            http: Outbound::new(policy)?,
            clock,
            kept: Mutex::new(HashMap::new()),
        })
    }

    async fn fetch(&self, uri: &str) -> Result<Vec<ClientJwk>, String> {
        let fetched = self
            .http
            .get_json(uri, None)
            .await
            .map_err(|e| e.to_string())?;
        if !fetched.status.is_success() {
            return Err(format!("it answered {}", fetched.status.as_u16()));
        }
        let set: serde_json::Value =
            serde_json::from_slice(&fetched.body).map_err(|_| "it is not JSON".to_string())?;
        let keys = set
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or("it is not a JWK Set")?;
        // Signing keys only (encryption keys may share the set); a key that does not read is
        // left out, as another party's key set may hold kinds this server does not use.
        let usable: Vec<ClientJwk> = keys
            .iter()
            .filter(|k| k.get("use").and_then(serde_json::Value::as_str) != Some("enc"))
            .filter_map(|k| ClientJwk::from_json(k).ok())
            .collect();
        if usable.is_empty() {
            return Err("it holds no usable signing key".into());
        }
        Ok(usable)
    }
}

#[async_trait]
impl RemoteKeys for RemoteClientKeys {
    async fn keys(&self, uri: &str, fresh: bool) -> Result<Vec<ClientJwk>, String> {
        let now = self.clock.now();
        let kept = self
            .kept
            .lock()
            .map_err(|_| "the key memory is poisoned".to_string())?
            .get(uri)
            .cloned();
        let mut early = false;
        if let Some((keys, at, was_early)) = &kept {
            let age = now.saturating_duration_since(*at);
            early = age < MIN_REFETCH;
            if (!fresh && age < KEEP) || (early && *was_early) {
                return Ok(keys.as_ref().clone());
            }
        }
        let keys = match self.fetch(uri).await {
            Ok(keys) => Arc::new(keys),
            // A set kept before still serves while the client's server is unreachable.
            Err(why) => {
                tracing::warn!(%why, "cannot read a client's jwks_uri");
                return kept.map(|(keys, ..)| keys.as_ref().clone()).ok_or(why);
            }
        };
        let mut memory = self
            .kept
            .lock()
            .map_err(|_| "the key memory is poisoned".to_string())?;
        if memory.len() >= MAX_SETS && !memory.contains_key(uri) {
            let oldest = memory
                .iter()
                .min_by_key(|(_, (_, at, _))| *at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                memory.remove(&oldest);
            }
        }
        memory.insert(uri.to_string(), (keys.clone(), now, early));
        Ok(keys.as_ref().clone())
    }
}
