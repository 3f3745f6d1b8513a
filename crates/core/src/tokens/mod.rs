//! Signing keys, JWS, and the key ring that decides which key signs and which are published.

pub mod access_token;
pub mod hash;
pub mod id_token;
pub mod introspect;
pub mod jwe;
pub mod jws;
pub mod keyring;
pub mod keys;
pub mod manager;
pub mod revoke;
pub mod sealing;
pub mod verify;

pub use keyring::KeyRing;
pub use keys::{PublicJwk, SigningAlg, SigningKey};
pub use manager::{JWKS_CACHE_SECONDS, KeyPolicy, ensure_signing_keys, load_key_ring, rotate_keys};

/// Failures of key handling.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The algorithm name is not one we sign with.
    #[error("unsupported signing algorithm `{0}` (supported: ES256, RS256, PS256, ES384, EdDSA)")]
    UnsupportedAlgorithm(String),
    /// Stored key material could not be parsed.
    #[error("stored key {kid} could not be read: {reason}")]
    Corrupt {
        /// The key id.
        kid: String,
        /// What went wrong.
        reason: String,
    },
    /// Generating or using a key failed: the operation (the crypto library says no more).
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
    /// No key is active for the algorithm.
    #[error("no active signing key for {0}")]
    NoActiveKey(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
