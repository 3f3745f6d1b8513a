//! Public keys that clients register (inline JWKS) for `private_key_jwt`, parsed strictly:
//! public members only, key type bound to algorithm, RSA at least 2048 bits.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256,
    RsaPublicKeyComponents, UnparsedPublicKey,
};
use serde::{Deserialize, Serialize};

use crate::crypto::base64url_decode;

/// Members that only private keys have (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Algorithms accepted for client assertions (SECURITY-STATUS.md SEC-38: asymmetric only here,
/// `none` and HS* never).
pub const ASSERTION_ALGS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];

/// A client's public key as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientJwk {
    /// `RSA`, `EC` or `OKP`.
    pub kty: String,
    /// Key id, used to pick the key named by an assertion's header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Algorithm the key is restricted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// `sig`, `enc` (a key to encrypt to, never one to verify with) or absent.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// EC / OKP curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x / OKP public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

fn decoded(field: &Option<String>, name: &str) -> Result<Vec<u8>, String> {
    field
        .as_deref()
        .and_then(base64url_decode)
        .ok_or_else(|| format!("`{name}` is missing or not base64url"))
}

/// RFC 8032 §5.1.3: a public key is the canonical encoding of a point on the curve. A point of
/// small order (the identity, an all-zero `x`, the other torsion points) lets a constant
/// signature verify for every message under lax verifiers, and a non-canonical encoding is
/// another spelling of a key: both are refused at registration.
fn check_ed25519_point(bytes: [u8; 32]) -> Result<(), String> {
    let compressed = curve25519_dalek::edwards::CompressedEdwardsY(bytes);
    let point = compressed
        .decompress()
        .ok_or("the Ed25519 key `x` is not a point on the curve")?;
    if point.is_small_order() {
        return Err(
            "the Ed25519 key `x` is a point of small order, which is never a real key".into(),
        );
    }
    if point.compress() != compressed {
        return Err("the Ed25519 key `x` is not canonically encoded (RFC 8032 §5.1.3)".into());
    }
    Ok(())
}

impl ClientJwk {
    /// Parses one key from JSON, refusing private members.
    pub fn from_json(value: &serde_json::Value) -> Result<ClientJwk, String> {
        let object = value.as_object().ok_or("a JWK must be a JSON object")?;
        if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| object.contains_key(**m)) {
            return Err(format!(
                "holds the private member `{member}`: register public keys only"
            ));
        }
        let jwk: ClientJwk =
            serde_json::from_value(value.clone()).map_err(|e| format!("is not a JWK: {e}"))?;
        jwk.check()?;
        Ok(jwk)
    }

    /// Checks the key's members for its type.
    pub fn check(&self) -> Result<(), String> {
        if self
            .use_
            .as_deref()
            .is_some_and(|u| u != "sig" && u != "enc")
        {
            return Err("`use` must be `sig` or `enc`".into());
        }
        if let Some(alg) = &self.alg
            && !self.fits(alg)
            && !crate::tokens::jwe::encrypts_with(self, alg)
        {
            return Err(format!("`alg` {alg} does not fit this key"));
        }
        match self.kty.as_str() {
            "RSA" => {
                let n = decoded(&self.n, "n")?;
                decoded(&self.e, "e")?;
                let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
                if bits < 2048 {
                    return Err("RSA keys must be at least 2048 bits".into());
                }
                Ok(())
            }
            "EC" if self.crv.as_deref() == Some("P-256") => {
                if decoded(&self.x, "x")?.len() != 32 || decoded(&self.y, "y")?.len() != 32 {
                    return Err("P-256 coordinates must be 32 bytes".into());
                }
                Ok(())
            }
            "OKP" if self.crv.as_deref() == Some("Ed25519") => {
                let x = decoded(&self.x, "x")?;
                let bytes: [u8; 32] = x
                    .as_slice()
                    .try_into()
                    .map_err(|_| "Ed25519 keys are 32 bytes")?;
                check_ed25519_point(bytes)
            }
            other => Err(format!(
                "unsupported key `{other}` (use RSA, EC P-256 or OKP Ed25519)"
            )),
        }
    }

    /// Whether this key can verify `alg` (SEC-38: key type bound to algorithm).
    pub fn fits(&self, alg: &str) -> bool {
        let family = match alg {
            "RS256" | "PS256" => self.kty == "RSA",
            "ES256" => self.kty == "EC" && self.crv.as_deref() == Some("P-256"),
            "EdDSA" => self.kty == "OKP" && self.crv.as_deref() == Some("Ed25519"),
            _ => false,
        };
        // A key for encryption never verifies a signature (RFC 7517 §4.2).
        family
            && self.alg.as_deref().is_none_or(|a| a == alg)
            && self.use_.as_deref().is_none_or(|u| u == "sig")
    }

    /// The RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order
    /// (§3.2; RFC 8037 §2 for OKP), base64url.
    pub fn thumbprint(&self) -> String {
        let member = |v: &Option<String>| v.clone().unwrap_or_default();
        let canonical = match self.kty.as_str() {
            "RSA" => serde_json::json!({"e": member(&self.e), "kty": "RSA", "n": member(&self.n)}),
            "EC" => serde_json::json!({
                "crv": member(&self.crv), "kty": "EC", "x": member(&self.x), "y": member(&self.y)
            }),
            _ => {
                serde_json::json!({"crv": member(&self.crv), "kty": self.kty, "x": member(&self.x)})
            }
        };
        // serde_json's map keeps keys sorted and writes no whitespace: RFC 7638's form.
        crate::crypto::base64url(&crate::crypto::sha256(canonical.to_string().as_bytes()))
    }

    /// Verifies `signature` over `message` with this key under `alg`.
    pub fn verify(&self, alg: &str, message: &[u8], signature: &[u8]) -> bool {
        if !self.fits(alg) {
            return false;
        }
        let ok = match alg {
            "RS256" | "PS256" => {
                let (Ok(n), Ok(e)) = (decoded(&self.n, "n"), decoded(&self.e, "e")) else {
                    return false;
                };
                let params = if alg == "RS256" {
                    &RSA_PKCS1_2048_8192_SHA256
                } else {
                    &RSA_PSS_2048_8192_SHA256
                };
                RsaPublicKeyComponents { n: &n, e: &e }.verify(params, message, signature)
            }
            "ES256" => {
                let (Ok(x), Ok(y)) = (decoded(&self.x, "x"), decoded(&self.y, "y")) else {
                    return false;
                };
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(message, signature)
            }
            "EdDSA" => {
                let Ok(x) = decoded(&self.x, "x") else {
                    return false;
                };
                UnparsedPublicKey::new(&ED25519, x).verify(message, signature)
            }
            _ => return false,
        };
        ok.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{SigningAlg, SigningKey};
    use serde_json::json;

    #[test]
    fn our_own_public_keys_parse_and_verify() {
        for (alg, name) in [(SigningAlg::Es256, "ES256"), (SigningAlg::Rs256, "RS256")] {
            let (key, _) = SigningKey::generate(alg).unwrap();
            let jwk =
                ClientJwk::from_json(&serde_json::to_value(key.public_jwk()).unwrap()).unwrap();
            let sig = key.sign(b"msg").unwrap();
            assert!(jwk.verify(name, b"msg", &sig));
            assert!(!jwk.verify(name, b"other", &sig));
            assert!(!jwk.verify("HS256", b"msg", &sig), "never HMAC");
            assert!(!jwk.verify(
                if name == "ES256" { "RS256" } else { "ES256" },
                b"msg",
                &sig
            ));
            // The same key marked for encryption verifies nothing (RFC 7517 §4.2).
            let mut enc = serde_json::to_value(key.public_jwk()).unwrap();
            enc["use"] = json!("enc");
            enc.as_object_mut().unwrap().remove("alg");
            let enc = ClientJwk::from_json(&enc).unwrap();
            assert!(!enc.verify(name, b"msg", &sig), "{name}: an enc key");
        }
    }

    /// Small-order Ed25519 points let a constant signature verify under lax verifiers; they and
    /// non-canonical encodings are refused at registration (RFC 8032 §5.1.3).
    #[test]
    fn ed25519_small_order_and_non_canonical_points_are_refused() {
        use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
        let okp = |bytes: &[u8]| {
            ClientJwk::from_json(&json!({
                "kty": "OKP", "crv": "Ed25519", "x": crate::crypto::base64url(bytes)
            }))
        };
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        okp(pair.public_key().as_ref()).unwrap();
        let mut identity = [0u8; 32];
        identity[0] = 1;
        // y = -1 (order 2), y = 0 (order 4), y = p + 1 (the identity, spelt differently).
        let mut minus_one = [0xff; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        let mut p_plus_one = [0xff; 32];
        p_plus_one[0] = 0xee;
        p_plus_one[31] = 0x7f;
        for (what, bytes) in [
            ("identity", identity),
            ("all zero", [0u8; 32]),
            ("order 2", minus_one),
            ("identity, non-canonical", p_plus_one),
        ] {
            let refused = okp(&bytes).unwrap_err();
            assert!(refused.contains("Ed25519"), "{what}: {refused}");
        }
        // Non-canonical without being small: y + p for a y < 19 that is on the curve.
        let non_canonical = (0u8..19).find_map(|y| {
            let mut bytes = [0u8; 32];
            bytes[0] = y;
            let point = curve25519_dalek::edwards::CompressedEdwardsY(bytes).decompress()?;
            if point.is_small_order() {
                return None;
            }
            // y + p, p = 2^255 - 19.
            let mut plus_p = [0xffu8; 32];
            plus_p[31] = 0x7f;
            let (low, carry) = y.overflowing_add(0xed);
            plus_p[0] = low;
            (!carry).then_some(plus_p)
        });
        let bytes = non_canonical.unwrap();
        assert!(okp(&bytes).unwrap_err().contains("canonical"));
        assert!(okp(&[1u8; 31]).unwrap_err().contains("32 bytes"));
    }

    #[test]
    fn refused_keys() {
        let (key, _) = SigningKey::generate(SigningAlg::Es256).unwrap();
        let mut with_d = serde_json::to_value(key.public_jwk()).unwrap();
        with_d["d"] = json!("AAAA");
        assert!(
            ClientJwk::from_json(&with_d)
                .unwrap_err()
                .contains("private")
        );
        assert!(ClientJwk::from_json(&json!({"kty": "oct", "k": "AAAA"})).is_err());
        assert!(
            ClientJwk::from_json(&json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}))
                .unwrap_err()
                .contains("2048")
        );
        assert!(
            ClientJwk::from_json(&json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}))
                .is_err()
        );
        let mut wrong_alg = serde_json::to_value(key.public_jwk()).unwrap();
        wrong_alg["alg"] = json!("RS256");
        assert!(ClientJwk::from_json(&wrong_alg).is_err());
        assert!(ClientJwk::from_json(&json!("text")).is_err());
    }
}
