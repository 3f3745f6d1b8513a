//! Key management on top of the key store: first keys, rotation, loading the ring.

use super::keyring::{KeyStatus, classify};
use super::sealing::{KeyEncryptionKey, is_sealed, seal, unseal};
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
    /// Seconds after which a key is replaced by a new one automatically; `None`: only when an
    /// operator rotates.
    pub rotate_every: Option<i64>,
    /// The key-encryption key private keys are stored under; `None`: stored in clear.
    pub encryption: Option<KeyEncryptionKey>,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self {
            algorithms: vec![SigningAlg::Es256, SigningAlg::Rs256],
            propagation: 3_600,
            retention: 86_400,
            rotate_every: None,
            encryption: None,
        }
    }
}

async fn create_key(
    store: &dyn KeyStore,
    policy: &KeyPolicy,
    alg: SigningAlg,
    created_at: i64,
    activates_at: i64,
) -> Result<KeyRecord, KeyError> {
    let (key, der) = SigningKey::generate(alg)?;
    let stored = match &policy.encryption {
        Some(kek) => seal(kek, key.kid(), &der)?,
        None => der,
    };
    let record = KeyRecord {
        kid: key.kid().to_string(),
        alg: alg.name().to_string(),
        private_pkcs8: Secret::new(stored),
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
            created.push(create_key(store, policy, *alg, now, now).await?);
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
        created.push(create_key(store, policy, *alg, now, activates_at).await?);
    }
    Ok(created)
}

/// Seconds after which a scheduled rotation that was claimed but not made is claimed again.
const ROTATION_RETRY: i64 = 600;

/// Rotates, for each configured algorithm, a newest key older than `rotate_every`, as
/// [`rotate_keys`] does: published now, signing after the propagation time. Of several instances
/// finding it due at once exactly one rotates: each claims the rotation of that key in the
/// shared store (`claims`, an insert-if-absent), and only the claim that was stored rotates.
pub async fn rotate_due_keys(
    store: &dyn KeyStore,
    claims: &dyn crate::store::SecretStore,
    clock: &dyn Clock,
    policy: &KeyPolicy,
) -> Result<Vec<KeyRecord>, KeyError> {
    let Some(every) = policy.rotate_every else {
        return Ok(Vec::new());
    };
    let now = clock.now();
    let keys = store.list_keys().await?;
    let mut created = Vec::new();
    for alg in &policy.algorithms {
        let Some(newest) = keys
            .iter()
            .filter(|k| k.alg == alg.name())
            .max_by_key(|k| (k.created_at, k.kid.clone()))
        else {
            continue;
        };
        if now.saturating_sub(newest.created_at) < every {
            continue;
        }
        let ours =
            crate::crypto::random_handle().map_err(|_| KeyError::Crypto("drawing random bytes"))?;
        // One claim per key and per ten minutes past due: a rotation that failed after its
        // claim (a crash, a store error) is tried again in the next ten minutes.
        let attempt = (now.saturating_sub(newest.created_at) - every) / ROTATION_RETRY;
        let claimed = claims
            .server_secret(
                &format!("key-rotation:{}:{attempt}", newest.kid),
                &Secret::new(ours.clone()),
                now,
            )
            .await?;
        if claimed.expose() == &ours {
            created.extend(rotate_keys(store, clock, policy, &[*alg], None).await?);
        }
    }
    Ok(created)
}

/// Seals every key stored in clear under the policy's KEK (none: nothing to do), so that a
/// KEK configured on an existing database protects the keys made before it. Returns how many
/// were sealed.
pub async fn seal_clear_keys(store: &dyn KeyStore, policy: &KeyPolicy) -> Result<usize, KeyError> {
    let Some(kek) = &policy.encryption else {
        return Ok(0);
    };
    let mut sealed = 0;
    for record in store.list_keys().await? {
        if !is_sealed(record.private_pkcs8.expose()) {
            let material = seal(kek, &record.kid, record.private_pkcs8.expose())?;
            if store.replace_key_material(&record.kid, &material).await? {
                sealed += 1;
            }
        }
    }
    Ok(sealed)
}

/// Stores every key under `new` (in clear when `None`), opening each with `new` or `old`:
/// changes the KEK (`tessera keys reencrypt`). Every key is opened before any is rewritten, so
/// a key that opens with neither leaves all as they were. Returns how many were rewritten.
pub async fn reencrypt_keys(
    store: &dyn KeyStore,
    old: Option<&KeyEncryptionKey>,
    new: Option<&KeyEncryptionKey>,
) -> Result<usize, KeyError> {
    let mut opened = Vec::new();
    for record in store.list_keys().await? {
        let stored = record.private_pkcs8.expose();
        let clear = unseal(new, &record.kid, stored).or_else(|e| match old {
            Some(old) => unseal(Some(old), &record.kid, stored),
            None => Err(e),
        })?;
        opened.push((record.kid, clear));
    }
    let mut rewritten = 0;
    for (kid, clear) in opened {
        let material = match new {
            Some(kek) => seal(kek, &kid, &clear)?,
            None => clear,
        };
        if store.replace_key_material(&kid, &material).await? {
            rewritten += 1;
        }
    }
    Ok(rewritten)
}

/// Why a key was not retired.
#[derive(Debug, thiserror::Error)]
pub enum RetireError {
    /// No key has that id.
    #[error("there is no signing key `{0}`")]
    NotFound(String),
    /// It is the key its algorithm signs with now.
    #[error(
        "key `{0}` signs now; rotate first (a new key for its algorithm, active at once after a compromise), then retire this one"
    )]
    Signing(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Retires key `kid` at once: it leaves the published key set, so nothing it signed verifies
/// any more (after a compromise, or to drop a key made by mistake). The key its algorithm
/// signs with now is refused, as the server would have none: rotate first. Returns the key's
/// algorithm.
pub async fn retire_key(
    store: &dyn KeyStore,
    clock: &dyn Clock,
    policy: &KeyPolicy,
    kid: &str,
) -> Result<String, RetireError> {
    let classified = classify(&store.list_keys().await?, clock.now(), policy.retention);
    let Some((record, status)) = classified.iter().find(|(k, _)| k.kid == kid) else {
        return Err(RetireError::NotFound(kid.to_string()));
    };
    if *status == KeyStatus::Active {
        return Err(RetireError::Signing(kid.to_string()));
    }
    if !store.delete_key(kid).await? {
        return Err(RetireError::NotFound(kid.to_string()));
    }
    Ok(record.alg.clone())
}

/// Loads the key ring as of now, deleting keys past retention.
pub async fn load_key_ring(
    store: &dyn KeyStore,
    clock: &dyn Clock,
    policy: &KeyPolicy,
) -> Result<KeyRing, KeyError> {
    let mut classified = classify(&store.list_keys().await?, clock.now(), policy.retention);
    for (record, status) in &mut classified {
        if *status == KeyStatus::Expired {
            store.delete_key(&record.kid).await?;
        }
        let clear = unseal(
            policy.encryption.as_ref(),
            &record.kid,
            record.private_pkcs8.expose(),
        )?;
        record.private_pkcs8 = Secret::new(clear);
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
    async fn a_due_key_is_rotated_once_however_many_instances_find_it_due() {
        let store = MemoryStore::new();
        let clock = FixedClock::new(1_000);
        let policy = KeyPolicy {
            algorithms: vec![SigningAlg::Es256],
            rotate_every: Some(10_000),
            ..KeyPolicy::default()
        };
        ensure_signing_keys(&store, &clock, &policy).await.unwrap();
        assert!(
            rotate_due_keys(&store, &store, &clock, &policy)
                .await
                .unwrap()
                .is_empty()
        );
        clock.advance(10_000);
        // Three instances find the key due at once: one rotates.
        let (a, b, c) = tokio::join!(
            rotate_due_keys(&store, &store, &clock, &policy),
            rotate_due_keys(&store, &store, &clock, &policy),
            rotate_due_keys(&store, &store, &clock, &policy),
        );
        let made: usize = [a, b, c].into_iter().map(|r| r.unwrap().len()).sum();
        assert_eq!(made, 1);
        let keys = store.list_keys().await.unwrap();
        assert_eq!(keys.len(), 2);
        let newest = keys.iter().max_by_key(|k| k.created_at).unwrap();
        assert_eq!(newest.activates_at, clock.now() + policy.propagation);
        // The new key is not due yet; without rotate_every nothing ever is.
        assert!(
            rotate_due_keys(&store, &store, &clock, &policy)
                .await
                .unwrap()
                .is_empty()
        );
        let manual = KeyPolicy {
            rotate_every: None,
            ..policy
        };
        clock.advance(100_000);
        assert!(
            rotate_due_keys(&store, &store, &clock, &manual)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_rotation_claimed_but_not_made_is_tried_again_later() {
        use crate::store::SecretStore as _;
        let store = MemoryStore::new();
        let clock = FixedClock::new(1_000);
        let policy = KeyPolicy {
            algorithms: vec![SigningAlg::Es256],
            rotate_every: Some(10_000),
            ..KeyPolicy::default()
        };
        let first = ensure_signing_keys(&store, &clock, &policy).await.unwrap();
        clock.advance(10_000);
        // An instance claimed this rotation and died before making the key.
        let claim = format!("key-rotation:{}:0", first[0].kid);
        store
            .server_secret(&claim, &Secret::new("gone".into()), clock.now())
            .await
            .unwrap();
        assert!(
            rotate_due_keys(&store, &store, &clock, &policy)
                .await
                .unwrap()
                .is_empty()
        );
        clock.advance(ROTATION_RETRY);
        assert_eq!(
            rotate_due_keys(&store, &store, &clock, &policy)
                .await
                .unwrap()
                .len(),
            1
        );
    }

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
            rotate_every: None,
            encryption: None,
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

    #[tokio::test]
    async fn the_signing_key_is_not_retired_others_are_at_once() {
        let store = MemoryStore::new();
        let clock = FixedClock::new(1_000);
        let policy = KeyPolicy {
            algorithms: vec![SigningAlg::Es256],
            ..KeyPolicy::default()
        };
        let first = ensure_signing_keys(&store, &clock, &policy).await.unwrap();
        let first = first[0].kid.clone();
        let refused = retire_key(&store, &clock, &policy, &first).await;
        assert!(
            matches!(refused, Err(RetireError::Signing(_))),
            "{refused:?}"
        );
        assert!(matches!(
            retire_key(&store, &clock, &policy, "nope").await,
            Err(RetireError::NotFound(_))
        ));
        // After a compromise: a new key signs at once (a second later: of two keys activated
        // in the same second, the order of their ids decides), and the old one is retired.
        clock.advance(1);
        let new = rotate_keys(&store, &clock, &policy, &[SigningAlg::Es256], Some(0))
            .await
            .unwrap();
        let alg = retire_key(&store, &clock, &policy, &first).await.unwrap();
        assert_eq!(alg, "ES256");
        let left: Vec<String> = store
            .list_keys()
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.kid)
            .collect();
        assert_eq!(left, [new[0].kid.clone()]);
        load_key_ring(&store, &clock, &policy).await.unwrap();
    }
}
