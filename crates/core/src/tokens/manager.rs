//! Key management on top of the key store: first keys, rotation, loading the ring.

use super::keyring::{KeyStatus, classify};
use super::{KeyError, KeyRing, SigningAlg, SigningKey};
use crate::clock::Clock;
use crate::model::KeyRecord;
use crate::secret::Secret;
use crate::store::KeyStore;

/// Seconds relying parties may cache the JWKS (its `Cache-Control: max-age`). A new key must be
/// published at least this long, plus the servers' key refresh interval, before it signs.
pub const JWKS_CACHE_SECONDS: u64 = 300;

/// How keys are created and retired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPolicy {
    /// The algorithms to keep a signing key for; the first is the default.
    pub algorithms: Vec<SigningAlg>,
    /// Seconds a rotated key is published before it signs.
    pub propagation: i64,
    /// Seconds a superseded key stays published (≥ the longest token lifetime).
    pub retention: i64,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self {
            algorithms: vec![SigningAlg::Es256, SigningAlg::Rs256],
            propagation: 3_600,
            retention: 86_400,
        }
    }
}

async fn create_key(
    store: &dyn KeyStore,
    alg: SigningAlg,
    created_at: i64,
    activates_at: i64,
) -> Result<KeyRecord, KeyError> {
    let (key, der) = SigningKey::generate(alg)?;
    let record = KeyRecord {
        kid: key.kid().to_string(),
        alg: alg.name().to_string(),
        private_pkcs8: Secret::new(der),
        created_at,
        activates_at,
    };
    store.insert_key(&record).await?;
    Ok(record)
}

/// Creates a key, active at once, for every configured algorithm that has none. Returns the
/// keys it created (none on every start after the first).
pub async fn ensure_signing_keys(
    store: &dyn KeyStore,
    clock: &dyn Clock,
    policy: &KeyPolicy,
) -> Result<Vec<KeyRecord>, KeyError> {
    let existing = store.list_keys().await?;
    let now = clock.now();
    let mut created = Vec::new();
    for alg in &policy.algorithms {
        if !existing.iter().any(|k| k.alg == alg.name()) {
            created.push(create_key(store, *alg, now, now).await?);
        }
    }
    Ok(created)
}

/// Creates a new key for each of `algs`. It is published at once and signs after
/// `activate_in` seconds (the policy's propagation time when `None`).
pub async fn rotate_keys(
    store: &dyn KeyStore,
    clock: &dyn Clock,
    policy: &KeyPolicy,
    algs: &[SigningAlg],
    activate_in: Option<i64>,
) -> Result<Vec<KeyRecord>, KeyError> {
    let now = clock.now();
    let activates_at = now.saturating_add(activate_in.unwrap_or(policy.propagation).max(0));
    let mut created = Vec::new();
    for alg in algs {
        created.push(create_key(store, *alg, now, activates_at).await?);
    }
    Ok(created)
}

/// Loads the key ring as of now, deleting keys past retention.
pub async fn load_key_ring(
    store: &dyn KeyStore,
    clock: &dyn Clock,
    policy: &KeyPolicy,
) -> Result<KeyRing, KeyError> {
    let classified = classify(&store.list_keys().await?, clock.now(), policy.retention);
    for (record, status) in &classified {
        if *status == KeyStatus::Expired {
            store.delete_key(&record.kid).await?;
        }
    }
    let ring = KeyRing::build(&classified)?;
    for alg in &policy.algorithms {
        ring.signing_key(*alg)?;
    }
    Ok(ring)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn first_start_creates_keys_once() {
        let store = MemoryStore::new();
        let clock = FixedClock::new(1_000);
        let policy = KeyPolicy::default();
        let created = ensure_signing_keys(&store, &clock, &policy).await.unwrap();
        assert_eq!(created.len(), 2);
        assert!(created.iter().all(|k| k.activates_at == 1_000));
        assert!(
            ensure_signing_keys(&store, &clock, &policy)
                .await
                .unwrap()
                .is_empty()
        );
        let ring = load_key_ring(&store, &clock, &policy).await.unwrap();
        assert_eq!(ring.published().len(), 2);
    }

    #[tokio::test]
    async fn rotated_key_is_published_before_it_signs_and_old_one_retires() {
        let store = MemoryStore::new();
        let clock = FixedClock::new(1_000);
        let policy = KeyPolicy {
            algorithms: vec![SigningAlg::Es256],
            propagation: 600,
            retention: 300,
        };
        let first = ensure_signing_keys(&store, &clock, &policy).await.unwrap();
        let new = rotate_keys(&store, &clock, &policy, &[SigningAlg::Es256], None)
            .await
            .unwrap();
        let ring = load_key_ring(&store, &clock, &policy).await.unwrap();
        let kids: Vec<&str> = ring.published().iter().map(|k| k.kid.as_str()).collect();
        assert!(kids.contains(&new[0].kid.as_str()));
        assert_eq!(
            ring.signing_key(SigningAlg::Es256).unwrap().kid(),
            first[0].kid
        );

        clock.advance(600);
        let ring = load_key_ring(&store, &clock, &policy).await.unwrap();
        assert_eq!(
            ring.signing_key(SigningAlg::Es256).unwrap().kid(),
            new[0].kid
        );
        assert_eq!(ring.published().len(), 2, "old key kept for its tokens");

        clock.advance(300);
        let ring = load_key_ring(&store, &clock, &policy).await.unwrap();
        assert_eq!(ring.published().len(), 1);
        assert_eq!(
            store.list_keys().await.unwrap().len(),
            1,
            "expired key deleted"
        );
    }
}
