//! The current key ring, shared by handlers and replaced when the key table changes.

use std::sync::{Arc, RwLock};

use tessera_core::Clock;
use tessera_core::store::KeyStore;
use tessera_core::tokens::keys::SigningAlg;
use tessera_core::tokens::{KeyPolicy, KeyRing, ensure_signing_keys, load_key_ring};

/// Holds the current [`KeyRing`].
#[derive(Debug)]
pub struct KeyCache {
    ring: RwLock<Arc<KeyRing>>,
}

impl KeyCache {
    /// A cache holding `ring`.
    pub fn new(ring: KeyRing) -> Self {
        Self {
            ring: RwLock::new(Arc::new(ring)),
        }
    }

    /// The ring in force.
    pub fn current(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the ring.
    pub fn replace(&self, ring: KeyRing) {
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
    }

    /// Re-reads the keys from the store (picks up rotations made by the CLI or other
    /// instances, activations that came due, and retirements).
    pub async fn refresh(
        &self,
        store: &dyn KeyStore,
        clock: &dyn Clock,
        policy: &KeyPolicy,
    ) -> Result<(), tessera_core::tokens::KeyError> {
        self.replace(load_key_ring(store, clock, policy).await?);
        Ok(())
    }
}

/// Creates first keys where needed and loads the ring.
pub async fn initial_key_cache(
    store: &dyn KeyStore,
    clock: &dyn Clock,
    policy: &KeyPolicy,
) -> Result<KeyCache, tessera_core::tokens::KeyError> {
    for created in ensure_signing_keys(store, clock, policy).await? {
        tracing::info!(kid = %created.kid, alg = %created.alg, "created signing key");
    }
    let sealed = tessera_core::tokens::manager::seal_clear_keys(store, policy).await?;
    if sealed > 0 {
        tracing::info!(
            sealed,
            "encrypted signing keys stored in clear under the key-encryption key"
        );
    }
    let ring = load_key_ring(store, clock, policy).await?;
    let default = policy
        .algorithms
        .first()
        .copied()
        .unwrap_or(SigningAlg::Es256);
    tracing::info!(
        published = ring.published().len(),
        default_alg = default.name(),
        "signing keys loaded"
    );
    Ok(KeyCache::new(ring))
}
