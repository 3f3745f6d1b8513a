//! Which keys sign and which are published, derived from the stored records and the time.
//!
//! For each algorithm, keys are ordered by activation. The newest key whose activation time has
//! passed signs. Keys not yet active are already published, so relying parties that cache JWKS
//! know them before the first token they sign. A superseded key stays published for the
//! retention period (at least the longest token lifetime) after its successor took over, then
//! it expires and is deleted.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{KeyError, PublicJwk, SigningAlg, SigningKey};
use crate::clock::UnixTime;
use crate::model::KeyRecord;

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Published, not yet signing.
    Upcoming,
    /// Published and signing.
    Active,
    /// Published, no longer signing, until the given time.
    Retiring {
        /// When it stops being published.
        until: UnixTime,
    },
    /// Past retention: no longer published, to be deleted.
    Expired,
}

impl KeyStatus {
    /// A short label for listings.
    pub fn label(self) -> &'static str {
        match self {
            Self::Upcoming => "upcoming",
            Self::Active => "active",
            Self::Retiring { .. } => "retiring",
            Self::Expired => "expired",
        }
    }
}

/// Classifies stored keys at `now`. Records of algorithms this version cannot parse are
/// classified like the others but neither sign nor appear in JWKS (see [`KeyRing::build`]).
pub fn classify(
    records: &[KeyRecord],
    now: UnixTime,
    retention: i64,
) -> Vec<(KeyRecord, KeyStatus)> {
    let mut by_alg: BTreeMap<&str, Vec<&KeyRecord>> = BTreeMap::new();
    for r in records {
        by_alg.entry(r.alg.as_str()).or_default().push(r);
    }
    let mut out = Vec::with_capacity(records.len());
    for (_, mut keys) in by_alg {
        keys.sort_by(|a, b| (a.activates_at, &a.kid).cmp(&(b.activates_at, &b.kid)));
        let active = keys.iter().rposition(|k| k.activates_at <= now);
        for (i, k) in keys.iter().enumerate() {
            let status = match active {
                Some(a) if i == a => KeyStatus::Active,
                Some(a) if i < a => {
                    // Superseded when the next key activated, which is in the past.
                    let until = keys[i + 1].activates_at.saturating_add(retention);
                    if until > now {
                        KeyStatus::Retiring { until }
                    } else {
                        KeyStatus::Expired
                    }
                }
                _ => KeyStatus::Upcoming,
            };
            out.push(((*k).clone(), status));
        }
    }
    out
}

/// The parsed signing keys and the JWKS document, computed once and shared.
#[derive(Debug)]
pub struct KeyRing {
    signing: BTreeMap<SigningAlg, Arc<SigningKey>>,
    /// Public keys by kid, for verifying our own tokens.
    verifying: BTreeMap<String, (SigningAlg, Vec<u8>)>,
    published: Vec<PublicJwk>,
    jwks_json: Arc<[u8]>,
}

impl KeyRing {
    /// Builds the ring from classified records. Fails if a stored key cannot be parsed: a
    /// server that silently drops a key would publish a JWKS that no longer verifies tokens.
    pub fn build(classified: &[(KeyRecord, KeyStatus)]) -> Result<KeyRing, KeyError> {
        let mut signing = BTreeMap::new();
        let mut verifying = BTreeMap::new();
        let mut published = Vec::new();
        for (record, status) in classified {
            if *status == KeyStatus::Expired {
                continue;
            }
            let Ok(alg) = SigningAlg::parse(&record.alg) else {
                continue;
            };
            let key =
                SigningKey::from_pkcs8(alg, record.private_pkcs8.expose()).map_err(|reason| {
                    KeyError::Corrupt {
                        kid: record.kid.clone(),
                        reason,
                    }
                })?;
            if key.kid() != record.kid {
                return Err(KeyError::Corrupt {
                    kid: record.kid.clone(),
                    reason: "the kid does not match the key's thumbprint".into(),
                });
            }
            published.push(key.public_jwk().clone());
            verifying.insert(
                key.kid().to_string(),
                (alg, key.public_key_bytes().to_vec()),
            );
            if *status == KeyStatus::Active {
                signing.insert(alg, Arc::new(key));
            }
        }
        let jwks = serde_json::json!({ "keys": published });
        let jwks_json: Arc<[u8]> = serde_json::to_vec(&jwks)
            .map_err(|_| KeyError::Crypto("encoding the JWKS"))?
            .into();
        Ok(KeyRing {
            signing,
            verifying,
            published,
            jwks_json,
        })
    }

    /// The key that signs with `alg` now.
    pub fn signing_key(&self, alg: SigningAlg) -> Result<&Arc<SigningKey>, KeyError> {
        self.signing
            .get(&alg)
            .ok_or(KeyError::NoActiveKey(alg.name()))
    }

    /// The published key with this kid: its algorithm and public key bytes.
    pub fn verifying_key(&self, kid: &str) -> Option<(SigningAlg, &[u8])> {
        self.verifying
            .get(kid)
            .map(|(alg, key)| (*alg, key.as_slice()))
    }

    /// The published public keys.
    pub fn published(&self) -> &[PublicJwk] {
        &self.published
    }

    /// The JWKS document (RFC 7517 §5), serialised once.
    pub fn jwks_json(&self) -> Arc<[u8]> {
        self.jwks_json.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn record(kid: &str, alg: &str, activates_at: i64) -> KeyRecord {
        KeyRecord {
            kid: kid.into(),
            alg: alg.into(),
            private_pkcs8: Secret::new(vec![]),
            created_at: 0,
            activates_at,
        }
    }

    fn statuses(records: &[KeyRecord], now: i64) -> Vec<(String, KeyStatus)> {
        classify(records, now, 100)
            .into_iter()
            .map(|(r, s)| (r.kid, s))
            .collect()
    }

    #[test]
    fn rotation_lifecycle() {
        let keys = [record("k1", "ES256", 0), record("k2", "ES256", 1_000)];
        // Before k2 activates: k1 signs, k2 is published ahead of use.
        assert_eq!(
            statuses(&keys, 500),
            [
                ("k1".into(), KeyStatus::Active),
                ("k2".into(), KeyStatus::Upcoming)
            ]
        );
        // k2 took over at 1000; k1 stays published for the retention period.
        assert_eq!(
            statuses(&keys, 1_050),
            [
                ("k1".into(), KeyStatus::Retiring { until: 1_100 }),
                ("k2".into(), KeyStatus::Active)
            ]
        );
        assert_eq!(statuses(&keys, 1_100)[0].1, KeyStatus::Expired);
    }

    #[test]
    fn algorithms_rotate_independently() {
        let keys = [
            record("e1", "ES256", 0),
            record("r1", "RS256", 0),
            record("e2", "ES256", 10),
        ];
        let s = statuses(&keys, 20);
        assert!(s.contains(&("r1".into(), KeyStatus::Active)));
        assert!(s.contains(&("e2".into(), KeyStatus::Active)));
        assert!(s.contains(&("e1".into(), KeyStatus::Retiring { until: 110 })));
    }

    #[test]
    fn ring_publishes_upcoming_and_signs_with_active() {
        let (k1, der1) = SigningKey::generate(SigningAlg::Es256).unwrap();
        let (k2, der2) = SigningKey::generate(SigningAlg::Es256).unwrap();
        let mk = |k: &SigningKey, der: Vec<u8>, at| KeyRecord {
            kid: k.kid().into(),
            alg: "ES256".into(),
            private_pkcs8: Secret::new(der),
            created_at: 0,
            activates_at: at,
        };
        let records = [mk(&k1, der1, 0), mk(&k2, der2, 1_000)];
        let ring = KeyRing::build(&classify(&records, 10, 100)).unwrap();
        assert_eq!(ring.signing_key(SigningAlg::Es256).unwrap().kid(), k1.kid());
        assert_eq!(ring.published().len(), 2);
        assert!(ring.signing_key(SigningAlg::Rs256).is_err());
        let jwks: serde_json::Value = serde_json::from_slice(&ring.jwks_json()).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn corrupt_key_fails_loudly() {
        let records = [record("bad", "ES256", 0)];
        assert!(matches!(
            KeyRing::build(&classify(&records, 10, 100)),
            Err(KeyError::Corrupt { .. })
        ));
    }
}
