//! Signing keys encrypted at rest: each private key is sealed with AES-256-GCM under a
//! key-encryption key (KEK) the operator keeps outside the database, so that a dump of the
//! database holds no usable key. The key's `kid` is the additional authenticated data: a sealed
//! key moved to another row does not open.
//!
//! Stored form: `MARKER || fingerprint (8) || nonce (12) || ciphertext || tag (16)`. A clear
//! PKCS#8 document starts with an ASN.1 SEQUENCE (`0x30`), never with the marker, so both forms
//! are told apart; the fingerprint (the first bytes of SHA-256 of the KEK) names the KEK a key
//! was sealed under, so that the wrong one is reported as such.

use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use super::KeyError;
use crate::crypto::{base64url_decode, random_bytes, sha256};

/// What sealed material starts with.
const MARKER: &[u8] = b"tessera-sealed-v1:";
/// Bytes of the KEK's fingerprint in sealed material.
const FINGERPRINT_LEN: usize = 8;

/// A key-encryption key: 256 bits for AES-256-GCM.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    key: Arc<LessSafeKey>,
    fingerprint: [u8; FINGERPRINT_LEN],
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyEncryptionKey({})", self.fingerprint())
    }
}

impl PartialEq for KeyEncryptionKey {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl Eq for KeyEncryptionKey {}

impl KeyEncryptionKey {
    /// The KEK written as text: 32 bytes in base64 (standard or URL-safe, padded or not) or
    /// 64 hexadecimal digits, surrounding white space ignored.
    pub fn parse(text: &str) -> Result<KeyEncryptionKey, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| "is not hexadecimal".to_string())?
        } else {
            let normal: String = text
                .trim_end_matches('=')
                .chars()
                .map(|c| match c {
                    '+' => '-',
                    '/' => '_',
                    c => c,
                })
                .collect();
            base64url_decode(&normal).ok_or("is neither base64 nor 64 hexadecimal digits")?
        };
        if bytes.len() != 32 {
            return Err(format!(
                "holds {} bytes; a key-encryption key is 32 random bytes (e.g. `openssl rand -base64 32`)",
                bytes.len()
            ));
        }
        Self::from_bytes(&bytes)
    }

    /// The KEK of 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<KeyEncryptionKey, String> {
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| "is not a 256-bit key".to_string())?;
        let digest = sha256(bytes);
        let mut fingerprint = [0u8; FINGERPRINT_LEN];
        fingerprint.copy_from_slice(&digest[..FINGERPRINT_LEN]);
        Ok(KeyEncryptionKey {
            key: Arc::new(LessSafeKey::new(unbound)),
            fingerprint,
        })
    }

    /// The fingerprint, in hexadecimal: which KEK this is, without revealing it.
    pub fn fingerprint(&self) -> String {
        self.fingerprint
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Whether stored material is sealed.
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.starts_with(MARKER)
}

/// Seals the private key `der` of `kid` under `kek`.
pub fn seal(kek: &KeyEncryptionKey, kid: &str, der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let nonce_bytes = random_bytes(NONCE_LEN).map_err(|_| KeyError::Crypto("drawing a nonce"))?;
    let nonce = Nonce::try_assume_unique_for_key(&nonce_bytes)
        .map_err(|_| KeyError::Crypto("making a nonce"))?;
    let mut sealed = der.to_vec();
    kek.key
        .seal_in_place_append_tag(nonce, Aad::from(kid.as_bytes()), &mut sealed)
        .map_err(|_| KeyError::Crypto("sealing a signing key"))?;
    let mut out = Vec::with_capacity(MARKER.len() + FINGERPRINT_LEN + NONCE_LEN + sealed.len());
    out.extend_from_slice(MARKER);
    out.extend_from_slice(&kek.fingerprint);
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The private key of `kid` from its stored material: opened with `kek` when sealed, as it is
/// when clear. Sealed material without a KEK, under another KEK, or altered is an error that
/// says which.
pub fn unseal(
    kek: Option<&KeyEncryptionKey>,
    kid: &str,
    stored: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let Some(rest) = stored.strip_prefix(MARKER) else {
        return Ok(stored.to_vec());
    };
    let corrupt = |reason: String| KeyError::Corrupt {
        kid: kid.to_string(),
        reason,
    };
    let Some(kek) = kek else {
        return Err(corrupt(
            "it is encrypted; configure its key-encryption key (keys.encryption_key_file or TESSERA_KEYS__ENCRYPTION_KEY)".into(),
        ));
    };
    if rest.len() < FINGERPRINT_LEN + NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(corrupt("the encrypted key is truncated".into()));
    }
    let (fingerprint, rest) = rest.split_at(FINGERPRINT_LEN);
    if fingerprint != kek.fingerprint {
        let theirs: String = fingerprint.iter().map(|b| format!("{b:02x}")).collect();
        return Err(corrupt(format!(
            "it is encrypted under another key-encryption key ({theirs}, not {}); run `tessera keys reencrypt --from-key-file OLD`",
            kek.fingerprint()
        )));
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt("bad nonce".into()))?;
    let mut buffer = sealed.to_vec();
    let opened = kek
        .key
        .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buffer)
        .map_err(|_| {
            corrupt("the encrypted key does not open: altered, or moved from another key".into())
        })?;
    Ok(opened.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> KeyEncryptionKey {
        KeyEncryptionKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn sealed_keys_open_only_with_their_kek_and_kid() {
        let der = vec![0x30, 0x81, 0x87, 1, 2, 3];
        let sealed = seal(&kek(1), "kid-a", &der).unwrap();
        assert!(is_sealed(&sealed) && !is_sealed(&der));
        assert!(!sealed.windows(der.len()).any(|w| w == der.as_slice()));
        assert_eq!(unseal(Some(&kek(1)), "kid-a", &sealed).unwrap(), der);
        // Clear material stays readable, with or without a KEK.
        assert_eq!(unseal(None, "kid-a", &der).unwrap(), der);
        assert_eq!(unseal(Some(&kek(1)), "kid-a", &der).unwrap(), der);
        for (k, kid, why) in [
            (None, "kid-a", "configure"),
            (Some(kek(2)), "kid-a", "another key-encryption key"),
            (Some(kek(1)), "kid-b", "moved"),
        ] {
            let e = unseal(k.as_ref(), kid, &sealed).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(unseal(Some(&kek(1)), "kid-a", &altered).is_err());
        assert!(unseal(Some(&kek(1)), "kid-a", &sealed[..MARKER.len() + 10]).is_err());
        // Two seals of one key differ (a fresh nonce each).
        assert_ne!(sealed, seal(&kek(1), "kid-a", &der).unwrap());
    }

    #[test]
    fn keks_are_read_from_base64_or_hex_and_must_be_256_bits() {
        let hex = "00".repeat(32);
        let b64 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert_eq!(KeyEncryptionKey::parse(&hex).unwrap(), kek(0));
        assert_eq!(KeyEncryptionKey::parse(b64).unwrap(), kek(0));
        assert_eq!(
            KeyEncryptionKey::parse(&format!(" {b64}\n")).unwrap(),
            kek(0)
        );
        assert!(
            KeyEncryptionKey::parse("c2hvcnQ=")
                .unwrap_err()
                .contains("32 random bytes")
        );
        assert!(KeyEncryptionKey::parse("not base64 at all!").is_err());
        assert!(!format!("{:?}", kek(7)).contains("0707"));
    }
}
