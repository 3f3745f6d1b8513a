//! Signing key material: generation, parsing, public JWKs and RFC 7638 thumbprints.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
    RsaKeyPair,
};
use serde::{Deserialize, Serialize};

use super::KeyError;
use crate::crypto::{base64url, sha256};

/// The JWS algorithms Tessera signs with (RFC 7518 §3.1). ES256 is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SigningAlg {
    /// ECDSA P-256 with SHA-256 (RFC 7518 §3.4).
    #[serde(rename = "ES256")]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys (RFC 7518 §3.3).
    #[serde(rename = "RS256")]
    Rs256,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256, 2048-bit keys (RFC 7518 §3.5).
    #[serde(rename = "PS256")]
    Ps256,
    /// ECDSA P-384 with SHA-384 (RFC 7518 §3.4).
    #[serde(rename = "ES384")]
    Es384,
    /// EdDSA with Ed25519 (RFC 8037 §3.1).
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigningAlg {
    /// Every supported algorithm.
    pub const ALL: [SigningAlg; 5] = [
        SigningAlg::Es256,
        SigningAlg::Rs256,
        SigningAlg::Ps256,
        SigningAlg::Es384,
        SigningAlg::EdDsa,
    ];

    /// The JWA name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
            Self::Es384 => "ES384",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The ECDSA signing algorithm of an EC `alg`.
    fn ecdsa(self) -> Option<&'static EcdsaSigningAlgorithm> {
        match self {
            Self::Es256 => Some(&ECDSA_P256_SHA256_FIXED_SIGNING),
            Self::Es384 => Some(&ECDSA_P384_SHA384_FIXED_SIGNING),
            _ => None,
        }
    }

    /// Parses a JWA name (exact, case-sensitive as in RFC 7518).
    pub fn parse(name: &str) -> Result<Self, KeyError> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| KeyError::UnsupportedAlgorithm(name.to_string()))
    }
}

/// A public key as published in JWKS (RFC 7517 §4, RFC 7518 §6). Public members only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Key type: `EC`, `RSA` or `OKP` (RFC 8037).
    pub kty: String,
    /// RFC 7517 §4.2.
    #[serde(rename = "use")]
    pub use_: String,
    /// RFC 7517 §4.4.
    pub alg: String,
    /// RFC 7517 §4.5: the RFC 7638 thumbprint.
    pub kid: String,
    /// EC curve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

enum KeyPairKind {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A parsed private key, ready to sign. Parsed once and kept: parsing per signature would
/// cost a large share of the token endpoint's throughput.
pub struct SigningKey {
    alg: SigningAlg,
    pair: KeyPairKind,
    jwk: PublicJwk,
    public_key: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.jwk.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new key pair and returns it with its PKCS#8 DER encoding for storage.
    pub fn generate(alg: SigningAlg) -> Result<(SigningKey, Vec<u8>), KeyError> {
        let der = match alg {
            SigningAlg::Es256 | SigningAlg::Es384 => {
                let curve = alg.ecdsa().ok_or(KeyError::Crypto("no such curve"))?;
                EcdsaKeyPair::generate(curve)
                    .and_then(|k| k.to_pkcs8v1())
                    .map_err(|_| KeyError::Crypto("generating an EC key"))?
                    .as_ref()
                    .to_vec()
            }
            SigningAlg::EdDsa => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .map_err(|_| KeyError::Crypto("generating an Ed25519 key"))?
                .as_ref()
                .to_vec(),
            SigningAlg::Rs256 | SigningAlg::Ps256 => {
                use aws_lc_rs::encoding::AsDer;
                let pair = RsaKeyPair::generate(KeySize::Rsa2048)
                    .map_err(|_| KeyError::Crypto("generating an RSA key"))?;
                let der = pair
                    .as_der()
                    .map_err(|_| KeyError::Crypto("encoding an RSA key"))?;
                der.as_ref().to_vec()
            }
        };
        let key =
            Self::from_pkcs8(alg, &der).map_err(|_| KeyError::Crypto("reading a generated key"))?;
        Ok((key, der))
    }

    /// Parses a stored PKCS#8 DER private key.
    pub fn from_pkcs8(alg: SigningAlg, der: &[u8]) -> Result<SigningKey, String> {
        let (pair, mut jwk, public_key) = match alg {
            SigningAlg::Es256 | SigningAlg::Es384 => {
                let (curve, crv, size) = match alg {
                    SigningAlg::Es384 => (&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
                    _ => (&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
                };
                let pair = EcdsaKeyPair::from_pkcs8(curve, der)
                    .map_err(|e| format!("not a {crv} PKCS#8 key: {e}"))?;
                // Uncompressed SEC1 point: 0x04 || X || Y, each of the curve's size.
                let point = pair.public_key().as_ref();
                if point.len() != 1 + 2 * size || point[0] != 4 {
                    return Err("unexpected EC public key encoding".into());
                }
                let jwk = PublicJwk {
                    kty: "EC".into(),
                    use_: "sig".into(),
                    alg: alg.name().into(),
                    kid: String::new(),
                    crv: Some(crv.into()),
                    x: Some(base64url(&point[1..=size])),
                    y: Some(base64url(&point[size + 1..])),
                    n: None,
                    e: None,
                };
                let public_key = point.to_vec();
                (KeyPairKind::Ec(pair), jwk, public_key)
            }
            SigningAlg::EdDsa => {
                let pair = Ed25519KeyPair::from_pkcs8(der)
                    .map_err(|e| format!("not an Ed25519 PKCS#8 key: {e}"))?;
                let public_key = pair.public_key().as_ref().to_vec();
                // RFC 8037 §2: an OKP key, its public key in `x`.
                let jwk = PublicJwk {
                    kty: "OKP".into(),
                    use_: "sig".into(),
                    alg: alg.name().into(),
                    kid: String::new(),
                    crv: Some("Ed25519".into()),
                    x: Some(base64url(&public_key)),
                    y: None,
                    n: None,
                    e: None,
                };
                (KeyPairKind::Ed(pair), jwk, public_key)
            }
            SigningAlg::Rs256 | SigningAlg::Ps256 => {
                let pair = RsaKeyPair::from_pkcs8(der)
                    .map_err(|e| format!("not an RSA PKCS#8 key: {e}"))?;
                // RFC 7518 §3.3: a key of 2048 bits or larger MUST be used.
                if pair.public_modulus_len() < 256 {
                    return Err("RSA keys must be at least 2048 bits".into());
                }
                let public = pair.public_key();
                let jwk = PublicJwk {
                    kty: "RSA".into(),
                    use_: "sig".into(),
                    alg: alg.name().into(),
                    kid: String::new(),
                    crv: None,
                    x: None,
                    y: None,
                    n: Some(base64url(
                        public.modulus().big_endian_without_leading_zero(),
                    )),
                    e: Some(base64url(
                        public.exponent().big_endian_without_leading_zero(),
                    )),
                };
                let public_key = public.as_ref().to_vec();
                (KeyPairKind::Rsa(pair), jwk, public_key)
            }
        };
        jwk.kid = thumbprint(&jwk);
        Ok(SigningKey {
            alg,
            pair,
            jwk,
            public_key,
        })
    }

    /// The algorithm.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.jwk.kid
    }

    /// The public key as a JWK.
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.jwk
    }

    /// The public key in the form aws-lc-rs verifies with: the uncompressed SEC1 point for EC,
    /// the RFC 8017 `RSAPublicKey` DER for RSA.
    pub fn public_key_bytes(&self) -> &[u8] {
        &self.public_key
    }

    /// Signs `message` (the JWS signing input) and returns the JWS signature bytes:
    /// R || S for ES256 and ES384 (RFC 7518 §3.4), the PKCS#1 v1.5 signature for RS256, the
    /// PSS signature for PS256 (§3.5), the Ed25519 signature for EdDSA (RFC 8037 §3.1).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match &self.pair {
            KeyPairKind::Ec(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Crypto("signing with an EC key")),
            KeyPairKind::Rsa(pair) => {
                let padding = if self.alg == SigningAlg::Ps256 {
                    &RSA_PSS_SHA256
                } else {
                    &RSA_PKCS1_SHA256
                };
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(padding, &rng, message, &mut sig)
                    .map_err(|_| KeyError::Crypto("signing with an RSA key"))?;
                Ok(sig)
            }
            KeyPairKind::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace.
pub fn thumbprint(jwk: &PublicJwk) -> String {
    let canonical = match jwk.kty.as_str() {
        // RFC 7638 §3.2: EC requires crv, kty, x, y.
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk.crv.as_deref().unwrap_or_default(),
            jwk.x.as_deref().unwrap_or_default(),
            jwk.y.as_deref().unwrap_or_default()
        ),
        // RFC 8037 §2: OKP requires crv, kty, x.
        "OKP" => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            jwk.crv.as_deref().unwrap_or_default(),
            jwk.x.as_deref().unwrap_or_default()
        ),
        // RFC 7638 §3.2: RSA requires e, kty, n.
        _ => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk.e.as_deref().unwrap_or_default(),
            jwk.n.as_deref().unwrap_or_default()
        ),
    };
    base64url(&sha256(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1 example key and its thumbprint.
        let jwk = PublicJwk {
            kty: "RSA".into(),
            use_: "sig".into(),
            alg: "RS256".into(),
            kid: String::new(),
            crv: None,
            x: None,
            y: None,
            n: Some("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into()),
            e: Some("AQAB".into()),
        };
        assert_eq!(
            thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn generated_keys_roundtrip_through_pkcs8() {
        for alg in SigningAlg::ALL {
            let (key, der) = SigningKey::generate(alg).unwrap();
            let again = SigningKey::from_pkcs8(alg, &der).unwrap();
            assert_eq!(key.public_jwk(), again.public_jwk());
            assert_eq!(key.kid().len(), 43);
            let sig = key.sign(b"message").unwrap();
            let expected = match alg {
                SigningAlg::Es256 | SigningAlg::EdDsa => 64,
                SigningAlg::Es384 => 96,
                SigningAlg::Rs256 | SigningAlg::Ps256 => 256,
            };
            assert_eq!(sig.len(), expected, "{alg:?}");
        }
    }

    #[test]
    fn wrong_algorithm_for_key_is_refused() {
        let (_, der) = SigningKey::generate(SigningAlg::Es256).unwrap();
        assert!(SigningKey::from_pkcs8(SigningAlg::Rs256, &der).is_err());
        assert!(SigningKey::from_pkcs8(SigningAlg::Es384, &der).is_err());
        assert!(SigningKey::from_pkcs8(SigningAlg::EdDsa, &der).is_err());
        assert!(SigningKey::from_pkcs8(SigningAlg::Es256, b"garbage").is_err());
    }

    #[test]
    fn algorithm_names_parse_exactly() {
        assert_eq!(SigningAlg::parse("ES256").unwrap(), SigningAlg::Es256);
        assert!(SigningAlg::parse("es256").is_err());
        assert!(SigningAlg::parse("none").is_err());
        assert!(SigningAlg::parse("HS256").is_err());
    }
}
