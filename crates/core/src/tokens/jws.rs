//! Compact JWS serialisation (RFC 7515 §7.1), built from a parsed key without re-parsing it.

use serde::Serialize;

use super::{KeyError, SigningKey};
use crate::crypto::base64url;

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    kid: &'a str,
    typ: &'a str,
}

/// Signs `claims` as a compact JWS with header `{alg, kid, typ}`.
pub fn sign_compact<C: Serialize>(
    key: &SigningKey,
    typ: &str,
    claims: &C,
) -> Result<String, KeyError> {
    let header = Header {
        alg: key.alg().name(),
        kid: key.kid(),
        typ,
    };
    let header_json =
        serde_json::to_vec(&header).map_err(|_| KeyError::Crypto("encoding a JWS header"))?;
    let claims_json =
        serde_json::to_vec(claims).map_err(|_| KeyError::Crypto("encoding JWT claims"))?;
    let mut out = base64url(&header_json);
    out.push('.');
    out.push_str(&base64url(&claims_json));
    let signature = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&base64url(&signature));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::SigningAlg;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, jwk::Jwk};

    /// A third-party JOSE library verifies what we sign, with the JWK we publish.
    #[test]
    fn jsonwebtoken_verifies_our_signatures() {
        for (alg, theirs) in [
            (SigningAlg::Es256, Algorithm::ES256),
            (SigningAlg::Rs256, Algorithm::RS256),
            (SigningAlg::Ps256, Algorithm::PS256),
            (SigningAlg::Es384, Algorithm::ES384),
            (SigningAlg::EdDsa, Algorithm::EdDSA),
        ] {
            let (key, _) = SigningKey::generate(alg).unwrap();
            let claims = serde_json::json!({"sub": "alice", "aud": "web", "exp": 4_000_000_000u64});
            let token = sign_compact(&key, "JWT", &claims).unwrap();
            let jwk: Jwk =
                serde_json::from_value(serde_json::to_value(key.public_jwk()).unwrap()).unwrap();
            let mut validation = Validation::new(theirs);
            validation.set_audience(&["web"]);
            let decoded = decode::<serde_json::Value>(
                &token,
                &DecodingKey::from_jwk(&jwk).unwrap(),
                &validation,
            )
            .unwrap();
            assert_eq!(decoded.claims["sub"], "alice");
            assert_eq!(decoded.header.kid.as_deref(), Some(key.kid()));
        }
    }
}
