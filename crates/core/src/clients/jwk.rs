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

/// Algorithms accepted for client assertions (SECURITY.md SEC-38: asymmetric only here,
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
    /// `sig` or absent.
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
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err("`use` must be `sig`".into());
        }
        if let Some(alg) = &self.alg
            && !self.fits(alg)
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
                if decoded(&self.x, "x")?.len() != 32 {
                    return Err("Ed25519 keys are 32 bytes".into());
                }
                Ok(())
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
        family && self.alg.as_deref().is_none_or(|a| a == alg)
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
        }
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
