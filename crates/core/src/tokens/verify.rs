//! Verification of JWS tokens that Tessera itself signed (access tokens presented to
//! introspection and revocation). Strict: size-bounded before decoding, exactly three parts, a
//! fixed algorithm allow-list, the key chosen by our own published kid, never by the token.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256,
    RSA_PSS_2048_8192_SHA256, UnparsedPublicKey,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{KeyRing, SigningAlg};
use crate::crypto::base64url_decode;

/// Compact serialisations longer than this are refused before any decoding (SECURITY-STATUS.md SEC-41).
pub const MAX_COMPACT_JWS: usize = 64 * 1024;

/// The protected header members we read (RFC 7515 §4.1).
#[derive(Debug, Deserialize)]
pub struct Header {
    /// `alg`.
    pub alg: String,
    /// `kid`.
    pub kid: Option<String>,
    /// `typ`.
    pub typ: Option<String>,
    /// `crit`: any value makes the token refused, since we understand no extension.
    pub crit: Option<Value>,
    /// `jwk`: the public key a DPoP proof is signed with (RFC 9449 §4.2); other tokens' keys
    /// are never taken from their header.
    #[serde(default)]
    pub jwk: Option<Value>,
}

/// A compact JWS split and decoded, not yet verified: size-bounded before decoding, exactly
/// three parts, a JSON header and a JSON object payload.
#[derive(Debug)]
pub struct UnverifiedJws<'t> {
    /// The protected header.
    pub header: Header,
    /// The payload, not yet trusted.
    pub unverified_claims: Map<String, Value>,
    /// `header.payload` as sent, the input of the signature.
    pub signing_input: &'t [u8],
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// Splits and decodes `token`; `None` for anything that is not a well-formed compact JWS.
pub fn parse_compact(token: &str) -> Option<UnverifiedJws<'_>> {
    if token.len() > MAX_COMPACT_JWS || !looks_like_jws(token) {
        return None;
    }
    let mut parts = token.split('.');
    let (h64, p64, s64) = (parts.next()?, parts.next()?, parts.next()?);
    let header: Header = serde_json::from_slice(&base64url_decode(h64)?).ok()?;
    let unverified_claims = match serde_json::from_slice(&base64url_decode(p64)?).ok()? {
        Value::Object(claims) => claims,
        _ => return None,
    };
    Some(UnverifiedJws {
        header,
        unverified_claims,
        signing_input: &token.as_bytes()[..h64.len() + 1 + p64.len()],
        signature: base64url_decode(s64)?,
    })
}

/// Whether `token` has the shape of a compact JWS (three base64url parts).
pub fn looks_like_jws(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Verifies `token` against our published keys and returns its claims. `typ` is compared
/// case-insensitively, with or without the `application/` prefix (RFC 7515 §4.1.9). Returns
/// `None` for anything that is not a token we signed; the caller checks the claims.
pub fn verify_own_jws(
    token: &str,
    ring: &KeyRing,
    expected_typ: &str,
) -> Option<Map<String, Value>> {
    let jws = parse_compact(token)?;
    let header = &jws.header;
    // RFC 7515 §4.1.11: we understand no critical extensions.
    if header.crit.is_some() {
        return None;
    }
    let typ = header.typ.as_deref()?.to_ascii_lowercase();
    if typ.strip_prefix("application/").unwrap_or(&typ) != expected_typ {
        return None;
    }
    let alg = SigningAlg::parse(&header.alg).ok()?;
    let (key_alg, public_key) = ring.verifying_key(header.kid.as_deref()?)?;
    if key_alg != alg {
        return None;
    }
    let verified = match alg {
        SigningAlg::Es256 => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_key)
            .verify(jws.signing_input, &jws.signature),
        SigningAlg::Rs256 => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
            .verify(jws.signing_input, &jws.signature),
        SigningAlg::Ps256 => UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, public_key)
            .verify(jws.signing_input, &jws.signature),
        SigningAlg::Es384 => UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, public_key)
            .verify(jws.signing_input, &jws.signature),
        SigningAlg::EdDsa => {
            UnparsedPublicKey::new(&ED25519, public_key).verify(jws.signing_input, &jws.signature)
        }
    };
    verified.ok()?;
    Some(jws.unverified_claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::base64url;
    use crate::model::KeyRecord;
    use crate::secret::Secret;
    use crate::tokens::SigningKey;
    use crate::tokens::jws::sign_compact;
    use crate::tokens::keyring::classify;

    fn ring() -> (KeyRing, std::sync::Arc<SigningKey>) {
        let records: Vec<KeyRecord> = SigningAlg::ALL
            .iter()
            .map(|alg| {
                let (key, der) = SigningKey::generate(*alg).unwrap();
                KeyRecord {
                    kid: key.kid().into(),
                    alg: alg.name().into(),
                    private_pkcs8: Secret::new(der),
                    created_at: 0,
                    activates_at: 0,
                }
            })
            .collect();
        let ring = KeyRing::build(&classify(&records, 10, 100)).unwrap();
        let key = ring.signing_key(SigningAlg::Es256).unwrap().clone();
        (ring, key)
    }

    #[test]
    fn verifies_own_tokens_for_both_algorithms() {
        let (ring, _) = ring();
        for alg in SigningAlg::ALL {
            let key = ring.signing_key(alg).unwrap();
            let token = sign_compact(key, "at+jwt", &serde_json::json!({"sub": "x"})).unwrap();
            assert_eq!(verify_own_jws(&token, &ring, "at+jwt").unwrap()["sub"], "x");
            assert!(
                verify_own_jws(&token, &ring, "logout+jwt").is_none(),
                "typ is checked"
            );
        }
    }

    #[test]
    fn refuses_forgeries() {
        let (ring, key) = ring();
        let token = sign_compact(&key, "at+jwt", &serde_json::json!({"sub": "x"})).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let header = |h: &str| base64url(h.as_bytes());
        let kid = key.kid();
        let cases = [
            // alg none, no signature
            format!(
                "{}.{}.",
                header(&format!(r#"{{"alg":"none","kid":"{kid}","typ":"at+jwt"}}"#)),
                parts[1]
            ),
            // HS256 "signed" with the public key bytes
            format!(
                "{}.{}.{}",
                header(&format!(
                    r#"{{"alg":"HS256","kid":"{kid}","typ":"at+jwt"}}"#
                )),
                parts[1],
                parts[2]
            ),
            // alg of the other family for this kid
            format!(
                "{}.{}.{}",
                header(&format!(
                    r#"{{"alg":"RS256","kid":"{kid}","typ":"at+jwt"}}"#
                )),
                parts[1],
                parts[2]
            ),
            // unknown kid
            format!(
                "{}.{}.{}",
                header(r#"{"alg":"ES256","kid":"other","typ":"at+jwt"}"#),
                parts[1],
                parts[2]
            ),
            // critical extension
            format!(
                "{}.{}.{}",
                header(&format!(
                    r#"{{"alg":"ES256","kid":"{kid}","typ":"at+jwt","crit":["x"]}}"#
                )),
                parts[1],
                parts[2]
            ),
            // changed payload
            format!(
                "{}.{}.{}",
                parts[0],
                base64url(br#"{"sub":"admin"}"#),
                parts[2]
            ),
            // four parts, garbage, oversized
            format!("{token}.x"),
            "a.b.c".into(),
            format!("{}.{}.{}", parts[0], "A".repeat(MAX_COMPACT_JWS), parts[2]),
        ];
        for forged in cases {
            assert!(
                verify_own_jws(&forged, &ring, "at+jwt").is_none(),
                "{}",
                &forged[..forged.len().min(120)]
            );
        }
    }
}
