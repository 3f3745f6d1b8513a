//! JSON Web Encryption (RFC 7516) of what Tessera sends clients that registered an encryption
//! key: ID tokens and UserInfo responses (OIDC Core §10.2), compact serialisation only, and
//! encryption only (nothing Tessera receives is ever decrypted: CVE-61).
//!
//! Key management (RFC 7518 §4): `RSA-OAEP-256` (§4.3, RSA-OAEP with SHA-256 and MGF1-SHA-256)
//! or `ECDH-ES` on P-256 in direct key agreement mode (§4.6, an ephemeral key and the Concat
//! KDF of §4.6.2). Content encryption: `A256GCM` (§5.3). The primitives are aws-lc-rs's; this
//! module only composes them as RFC 7516 §5.1 orders.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use serde_json::{Map, Value, json};

use crate::clients::jwk::ClientJwk;
use crate::crypto::{base64url, base64url_decode};

/// The key management algorithms supported.
pub const JWE_ALGS: &[&str] = &["RSA-OAEP-256", "ECDH-ES"];
/// The content encryption algorithms supported.
pub const JWE_ENCS: &[&str] = &["A256GCM"];

/// Why a JWE could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    /// The algorithm pair is not supported.
    #[error("unsupported JWE algorithms {0} / {1}")]
    Unsupported(String, String),
    /// The client's key does not fit the algorithm or cannot be used.
    #[error("the client's encryption key cannot be used: {0}")]
    Key(&'static str),
    /// A primitive failed.
    #[error("encryption failed")]
    Crypto,
}

/// Whether `key` is a key to encrypt to with `alg` (its `use` is `enc` or unset, its type
/// fits, and its `alg`, if set, is `alg`).
pub fn encrypts_with(key: &ClientJwk, alg: &str) -> bool {
    let family = match alg {
        "RSA-OAEP-256" => key.kty == "RSA",
        "ECDH-ES" => key.kty == "EC" && key.crv.as_deref() == Some("P-256"),
        _ => false,
    };
    family
        && key.use_.as_deref().is_none_or(|u| u == "enc")
        && key.alg.as_deref().is_none_or(|a| a == alg)
}

/// Encrypts `plaintext` to `recipient` as a compact JWE (RFC 7516 §7.1) with `alg` and `enc`;
/// `cty` is `JWT` for a nested (signed, then encrypted) token.
pub fn encrypt_compact(
    plaintext: &[u8],
    recipient: &ClientJwk,
    (alg, enc): (&str, &str),
    cty: Option<&str>,
) -> Result<String, JweError> {
    if !JWE_ENCS.contains(&enc) || !encrypts_with(recipient, alg) {
        return Err(JweError::Unsupported(alg.into(), enc.into()));
    }
    let mut header = Map::new();
    header.insert("alg".into(), json!(alg));
    header.insert("enc".into(), json!(enc));
    if let Some(kid) = &recipient.kid {
        header.insert("kid".into(), json!(kid));
    }
    if let Some(cty) = cty {
        header.insert("cty".into(), json!(cty));
    }
    // §5.1 steps 1-6: the content encryption key, and its encryption (empty for ECDH-ES).
    let (cek, encrypted_key) = match alg {
        "RSA-OAEP-256" => {
            let cek = random::<32>()?;
            (cek, rsa_oaep_256(recipient, &cek)?)
        }
        _ => {
            let (cek, epk) = ecdh_es(recipient, enc)?;
            header.insert("epk".into(), epk);
            (cek, Vec::new())
        }
    };
    // §5.1 steps 11-15: the protected header is the AAD; A256GCM with a 96-bit IV.
    let protected = base64url(Value::Object(header).to_string().as_bytes());
    let iv = random::<12>()?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &cek).map_err(|_| JweError::Crypto)?);
    let mut ciphertext = plaintext.to_vec();
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(protected.as_bytes()),
            &mut ciphertext,
        )
        .map_err(|_| JweError::Crypto)?;
    Ok([
        protected,
        base64url(&encrypted_key),
        base64url(&iv),
        base64url(&ciphertext),
        base64url(tag.as_ref()),
    ]
    .join("."))
}

fn random<const N: usize>() -> Result<[u8; N], JweError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| JweError::Crypto)?;
    Ok(bytes)
}

/// RFC 7518 §4.3: the CEK encrypted with RSA-OAEP (SHA-256, MGF1 with SHA-256).
fn rsa_oaep_256(recipient: &ClientJwk, cek: &[u8]) -> Result<Vec<u8>, JweError> {
    let member = |v: &Option<String>| v.as_deref().and_then(base64url_decode);
    let (n, e) = member(&recipient.n)
        .zip(member(&recipient.e))
        .ok_or(JweError::Key("an RSA key needs n and e"))?;
    let public = PublicEncryptingKey::from_der(&rsa_spki(&n, &e))
        .map_err(|_| JweError::Key("the RSA key is not acceptable"))?;
    let oaep = OaepPublicEncryptingKey::new(public).map_err(|_| JweError::Crypto)?;
    let mut out = vec![0u8; oaep.ciphertext_size()];
    let written = oaep
        .encrypt(&OAEP_SHA256_MGF1SHA256, cek, &mut out, None)
        .map_err(|_| JweError::Crypto)?
        .len();
    out.truncate(written);
    Ok(out)
}

/// RFC 7518 §4.6 in direct key agreement mode: an ephemeral P-256 key (sent as `epk`), the
/// shared secret with the recipient's key, and from it the CEK by the Concat KDF, whose
/// AlgorithmID is `enc` and whose PartyUInfo and PartyVInfo are empty (no `apu`, `apv`).
fn ecdh_es(recipient: &ClientJwk, enc: &str) -> Result<([u8; 32], Value), JweError> {
    let member = |v: &Option<String>| v.as_deref().and_then(base64url_decode);
    let (x, y) = member(&recipient.x)
        .zip(member(&recipient.y))
        .filter(|(x, y)| x.len() == 32 && y.len() == 32)
        .ok_or(JweError::Key("a P-256 key needs 32-byte x and y"))?;
    let mut point = vec![4u8];
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let ephemeral = EphemeralPrivateKey::generate(&ECDH_P256, &SystemRandom::new())
        .map_err(|_| JweError::Crypto)?;
    let public = ephemeral
        .compute_public_key()
        .map_err(|_| JweError::Crypto)?;
    let epk_point = public.as_ref();
    let epk = json!({
        "kty": "EC",
        "crv": "P-256",
        "x": base64url(&epk_point[1..33]),
        "y": base64url(&epk_point[33..65]),
    });
    // aws-lc-rs refuses a point that is not on the curve (the invalid-curve attack).
    let cek = agree_ephemeral(
        ephemeral,
        UnparsedPublicKey::new(&ECDH_P256, point),
        JweError::Key("the P-256 key is not a point on the curve"),
        |z| Ok(concat_kdf::<32>(z, enc.as_bytes(), b"", b"")),
    )?;
    Ok((cek, epk))
}

/// RFC 7518 §4.6.2, NIST SP 800-56A §5.8.1 with SHA-256: `N` bytes of key from the shared
/// secret `z`, OtherInfo = AlgorithmID || PartyUInfo || PartyVInfo (each with its 32-bit
/// length) || SuppPubInfo (the key length in bits).
pub fn concat_kdf<const N: usize>(z: &[u8], algorithm: &[u8], apu: &[u8], apv: &[u8]) -> [u8; N] {
    let mut other = Vec::new();
    for part in [algorithm, apu, apv] {
        other.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        other.extend_from_slice(part);
    }
    other.extend_from_slice(&u32::try_from(N * 8).unwrap_or(u32::MAX).to_be_bytes());
    let mut out = [0u8; N];
    for (round, chunk) in out.chunks_mut(32).enumerate() {
        let mut input = u32::try_from(round + 1)
            .unwrap_or(u32::MAX)
            .to_be_bytes()
            .to_vec();
        input.extend_from_slice(z);
        input.extend_from_slice(&other);
        let digest = crate::crypto::sha256(&input);
        chunk.copy_from_slice(&digest[..chunk.len()]);
    }
    out
}

/// The DER SubjectPublicKeyInfo (RFC 5280 §4.1, RFC 8017 A.1.1) of an RSA key.
fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn len(n: usize) -> Vec<u8> {
        match n {
            0..=127 => vec![n as u8],
            _ => {
                let bytes: Vec<u8> = n
                    .to_be_bytes()
                    .into_iter()
                    .skip_while(|b| *b == 0)
                    .collect();
                std::iter::once(0x80 | bytes.len() as u8)
                    .chain(bytes)
                    .collect()
            }
        }
    }
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend(len(content.len()));
        out.extend_from_slice(content);
        out
    }
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        let mut content = Vec::new();
        if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
            content.push(0);
        }
        content.extend(trimmed);
        tlv(0x02, &content)
    }
    // rsaEncryption (1.2.840.113549.1.1.1) with NULL parameters.
    const ALGORITHM: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let rsa_key = tlv(0x30, &[integer(n), integer(e)].concat());
    let mut bits = vec![0u8];
    bits.extend(rsa_key);
    tlv(0x30, &[ALGORITHM.to_vec(), tlv(0x03, &bits)].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_kdf_matches_rfc_7518_appendix_c() {
        // RFC 7518 Appendix C: ECDH-ES with A128GCM, apu "Alice", apv "Bob". Z from the
        // appendix's keys (Alice's ephemeral d, Bob's public key), through aws-lc-rs.
        let d = base64url_decode("0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo").unwrap();
        let bob = [
            vec![4u8],
            base64url_decode("weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ").unwrap(),
            base64url_decode("e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck").unwrap(),
        ]
        .concat();
        let alice = aws_lc_rs::agreement::PrivateKey::from_private_key(&ECDH_P256, &d).unwrap();
        let key =
            aws_lc_rs::agreement::agree(&alice, UnparsedPublicKey::new(&ECDH_P256, bob), (), |z| {
                Ok(concat_kdf::<16>(z, b"A128GCM", b"Alice", b"Bob"))
            })
            .unwrap();
        assert_eq!(base64url(&key), "VqqN6vgjbSBcIijNcacQGg");
    }

    #[test]
    fn keys_are_used_only_for_their_algorithm_and_use() {
        let ec = ClientJwk::from_json(&json!({
            "kty": "EC", "crv": "P-256", "use": "enc",
            "x": "weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ",
            "y": "e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck",
        }))
        .unwrap();
        assert!(encrypts_with(&ec, "ECDH-ES"));
        assert!(!encrypts_with(&ec, "RSA-OAEP-256"));
        assert!(!encrypts_with(&ec, "RSA1_5"));
        let jwe =
            encrypt_compact(b"{\"sub\":\"alice\"}", &ec, ("ECDH-ES", "A256GCM"), None).unwrap();
        let parts: Vec<&str> = jwe.split('.').collect();
        assert_eq!(parts.len(), 5);
        assert!(
            parts[1].is_empty(),
            "direct key agreement: no encrypted key"
        );
        let header: Value = serde_json::from_slice(&base64url_decode(parts[0]).unwrap()).unwrap();
        assert_eq!(
            (header["alg"].as_str(), header["enc"].as_str()),
            (Some("ECDH-ES"), Some("A256GCM"))
        );
        assert_eq!(header["epk"]["crv"], "P-256");
        assert!(encrypt_compact(b"x", &ec, ("ECDH-ES", "A128CBC-HS256"), None).is_err());
        // An off-curve point is refused, never used.
        let mut off = ec.clone();
        off.y = Some(base64url(&[1u8; 32]));
        assert_eq!(
            encrypt_compact(b"x", &off, ("ECDH-ES", "A256GCM"), None),
            Err(JweError::Key("the P-256 key is not a point on the curve"))
        );
    }
}
