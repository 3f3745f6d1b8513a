//! An upstream's ID token, validated as OIDC Core §3.1.3.7 asks of a relying party: the
//! signature by one of the upstream's published keys with an algorithm of a fixed allow-list
//! (never `none`, never HMAC: the client secret is not a signing key we accept), `iss` exactly
//! the configured issuer, `aud` this client and no one else, `azp` this client if present,
//! `exp` in the future, `iat` not far from now, and the `nonce` of this very request.

use serde_json::{Map, Value};

use super::FederationError;
use crate::clients::jwk::{ASSERTION_ALGS, ClientJwk};
use crate::clock::UnixTime;
use crate::tokens::verify::parse_compact;

/// Leeway for clocks that differ, in seconds.
const LEEWAY: i64 = 60;
/// An ID token issued longer ago than this is refused (§3.1.3.7 item 10).
const MAX_AGE: i64 = 10 * 60;

/// What the token must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The upstream's issuer.
    pub issuer: &'a str,
    /// Our client id there.
    pub client_id: &'a str,
    /// The nonce sent with the request.
    pub nonce: &'a str,
    /// Now.
    pub now: UnixTime,
}

/// What validation needs to know about the token before trusting it: the key it names.
pub fn key_id(token: &str) -> Option<String> {
    parse_compact(token)?.header.kid
}

fn refused(why: impl Into<String>) -> FederationError {
    FederationError::Refused(why.into())
}

/// Validates `token` with the upstream's `keys`; its claims when it passes.
pub fn validate_id_token(
    token: &str,
    keys: &[ClientJwk],
    expected: &Expected<'_>,
) -> Result<Map<String, Value>, FederationError> {
    let jws = parse_compact(token).ok_or_else(|| refused("the ID token is not a compact JWS"))?;
    let header = &jws.header;
    if header.crit.is_some() {
        return Err(refused("the ID token has critical header parameters"));
    }
    if !ASSERTION_ALGS.contains(&header.alg.as_str()) {
        return Err(refused(format!(
            "the ID token is signed with `{}`, which is not accepted (only {})",
            header.alg,
            ASSERTION_ALGS.join(", ")
        )));
    }
    let verified = keys
        .iter()
        .filter(|k| header.kid.is_none() || k.kid == header.kid)
        .any(|k| k.verify(&header.alg, jws.signing_input, &jws.signature));
    if !verified {
        return Err(refused(
            "the ID token's signature does not verify with the provider's keys",
        ));
    }
    let claims = jws.unverified_claims;
    check_claims(&claims, expected)?;
    Ok(claims)
}

fn check_claims(claims: &Map<String, Value>, e: &Expected<'_>) -> Result<(), FederationError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    if text("iss") != Some(e.issuer) {
        return Err(refused(format!(
            "the ID token's issuer is {:?}, not {}",
            text("iss").unwrap_or("missing"),
            e.issuer
        )));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !audiences.contains(&e.client_id) {
        return Err(refused("the ID token is not for this client (aud)"));
    }
    if audiences.iter().any(|a| *a != e.client_id) {
        return Err(refused("the ID token is also for other audiences"));
    }
    if let Some(azp) = claims.get("azp")
        && azp.as_str() != Some(e.client_id)
    {
        return Err(refused("the ID token's azp is another client"));
    }
    let exp = number("exp").ok_or_else(|| refused("the ID token has no exp"))?;
    if exp + LEEWAY <= e.now {
        return Err(refused("the ID token has expired"));
    }
    let iat = number("iat").ok_or_else(|| refused("the ID token has no iat"))?;
    if iat > e.now + LEEWAY || iat + MAX_AGE < e.now {
        return Err(refused("the ID token's iat is too far from now"));
    }
    let nonce_ok = text("nonce")
        .is_some_and(|n| crate::crypto::constant_time_eq(n.as_bytes(), e.nonce.as_bytes()));
    if !nonce_ok {
        return Err(refused("the ID token's nonce is not the one sent"));
    }
    if text("sub").is_none_or(str::is_empty) {
        return Err(refused("the ID token has no sub"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::base64url;
    use crate::tokens::{SigningAlg, SigningKey};
    use serde_json::json;

    fn sign(key: &SigningKey, alg: &str, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
        let input = format!(
            "{}.{}",
            base64url(header.to_string().as_bytes()),
            base64url(claims.to_string().as_bytes())
        );
        let sig = key.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", base64url(&sig))
    }

    #[test]
    fn every_check_of_oidc_core_3_1_3_7() {
        let (key, _) = SigningKey::generate(SigningAlg::Rs256).unwrap();
        let mut jwk =
            ClientJwk::from_json(&serde_json::to_value(key.public_jwk()).unwrap()).unwrap();
        jwk.kid = Some("k1".into());
        let now = 1_700_000_000;
        let good = json!({"iss": "https://up.example", "aud": "tessera", "sub": "u1",
            "exp": now + 300, "iat": now, "nonce": "n1"});
        let expected = Expected {
            issuer: "https://up.example",
            client_id: "tessera",
            nonce: "n1",
            now,
        };
        let keys = [jwk];
        assert!(validate_id_token(&sign(&key, "RS256", "k1", &good), &keys, &expected).is_ok());
        let with = |k: &str, v: Value| {
            let mut c = good.clone();
            c[k] = v;
            sign(&key, "RS256", "k1", &c)
        };
        for (what, token) in [
            ("issuer", with("iss", json!("https://evil.example"))),
            ("audience", with("aud", json!("other"))),
            ("extra audience", with("aud", json!(["tessera", "other"]))),
            ("azp", with("azp", json!("other"))),
            ("expired", with("exp", json!(now - 120))),
            ("iat in the future", with("iat", json!(now + 600))),
            ("iat long ago", with("iat", json!(now - 3600))),
            ("nonce", with("nonce", json!("n2"))),
            ("no sub", with("sub", json!(""))),
            ("unknown kid", sign(&key, "RS256", "k2", &good)),
            ("HMAC", sign(&key, "HS256", "k1", &good)),
            ("none", {
                let t = sign(&key, "none", "k1", &good);
                format!("{}.", t.rsplit_once('.').unwrap().0)
            }),
        ] {
            let e = validate_id_token(&token, &keys, &expected);
            assert!(
                matches!(e, Err(FederationError::Refused(_))),
                "{what}: {e:?}"
            );
        }
        let mut tampered = sign(&key, "RS256", "k1", &good);
        tampered.push('A');
        assert!(validate_id_token(&tampered, &keys, &expected).is_err());
    }
}
