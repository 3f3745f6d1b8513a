use serde_json::{Value, json};

use super::*;
use crate::tokens::{SigningAlg, SigningKey};

const NOW: UnixTime = 1_700_000_000;
const URL: &str = "https://id.example/token";

fn key(alg: SigningAlg) -> SigningKey {
    SigningKey::generate(alg).unwrap().0
}

/// A proof signed by `key` with `header` members over `claims` (the jwk is the key's unless the
/// header names one).
pub(crate) fn proof(key: &SigningKey, header: Value, claims: Value) -> String {
    let mut h = json!({"typ": "dpop+jwt", "alg": key.public_jwk().alg, "jwk": key.public_jwk()});
    for (k, v) in header.as_object().unwrap() {
        h[k] = v.clone();
    }
    let input = format!(
        "{}.{}",
        base64url(h.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes())
    );
    let signature = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", base64url(&signature))
}

fn claims() -> Value {
    json!({"jti": "j-1", "htm": "POST", "htu": URL, "iat": NOW})
}

fn expected() -> Expected<'static> {
    Expected {
        method: "POST",
        url: URL,
        access_token: None,
        nonces: &[],
        now: NOW,
    }
}

fn check(proof: &str, expected: &Expected<'_>) -> Result<Option<Proof>, OAuthError> {
    check_proof(&[proof.to_string()], expected)
}

fn refusal(proof: &str, expected: &Expected<'_>) -> String {
    match check(proof, expected) {
        Err(OAuthError::InvalidDpopProof(why)) => why.into_owned(),
        other => panic!("expected invalid_dpop_proof, got {other:?}"),
    }
}

#[test]
fn a_good_proof_gives_its_key_thumbprint() {
    for alg in [SigningAlg::Es256, SigningAlg::Rs256] {
        let k = key(alg);
        let checked = check(&proof(&k, json!({}), claims()), &expected())
            .unwrap()
            .unwrap();
        // RFC 7638: the same thumbprint the key publishes as its kid.
        assert_eq!(checked.jkt, k.public_jwk().kid);
        assert_eq!((checked.jti.as_str(), checked.iat), ("j-1", NOW));
    }
    assert_eq!(check_proof(&[], &expected()).unwrap(), None, "no proof");
}

#[test]
fn htu_is_compared_normalised_without_query_and_fragment() {
    let k = key(SigningAlg::Es256);
    for htu in [
        "https://ID.example/token",
        "https://id.example:443/token",
        "https://id.example/token?x=1",
        "https://id.example/token#f",
    ] {
        let mut c = claims();
        c["htu"] = json!(htu);
        assert!(
            check(&proof(&k, json!({}), c), &expected()).is_ok(),
            "{htu}"
        );
    }
    for htu in [
        "https://id.example/revoke",
        "http://id.example/token",
        "https://id.example:8443/token",
        "https://other.example/token",
        "/token",
        "",
    ] {
        let mut c = claims();
        c["htu"] = json!(htu);
        assert!(
            refusal(&proof(&k, json!({}), c), &expected()).contains("htu"),
            "{htu}"
        );
    }
}

#[test]
fn every_step_of_rfc9449_4_3_refuses() {
    let k = key(SigningAlg::Es256);
    let good = proof(&k, json!({}), claims());
    let two = check_proof(&[good.clone(), good.clone()], &expected());
    assert!(matches!(two, Err(OAuthError::InvalidDpopProof(_))));
    let with = |name: &str, value: Value| {
        let mut c = claims();
        c[name] = value;
        proof(&k, json!({}), c)
    };
    let without = |name: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(name);
        proof(&k, json!({}), c)
    };
    let other = key(SigningAlg::Es256);
    let mut private = serde_json::to_value(k.public_jwk()).unwrap();
    private["d"] = json!("AAAA");
    let cases: Vec<(&str, String)> = vec![
        ("not a JWS", "not.a-jws".into()),
        ("oversized", format!("{good}{}", "A".repeat(MAX_PROOF))),
        ("typ", proof(&k, json!({"typ": "JWT"}), claims())),
        ("no typ", proof(&k, json!({"typ": null}), claims())),
        ("alg none", proof(&k, json!({"alg": "none"}), claims())),
        ("alg HS256", proof(&k, json!({"alg": "HS256"}), claims())),
        (
            "alg of another key type",
            proof(&k, json!({"alg": "RS256"}), claims()),
        ),
        ("crit", proof(&k, json!({"crit": ["x"]}), claims())),
        ("no jwk", proof(&k, json!({"jwk": null}), claims())),
        ("private jwk", proof(&k, json!({"jwk": private}), claims())),
        (
            "another key's jwk",
            proof(&k, json!({"jwk": other.public_jwk()}), claims()),
        ),
        ("no jti", without("jti")),
        ("empty jti", with("jti", json!(""))),
        ("long jti", with("jti", json!("j".repeat(300)))),
        ("no htm", without("htm")),
        ("htm GET", with("htm", json!("GET"))),
        ("htm lowercase", with("htm", json!("post"))),
        ("no htu", without("htu")),
        ("no iat", without("iat")),
        ("string iat", with("iat", json!(NOW.to_string()))),
        ("stale iat", with("iat", json!(NOW - PROOF_WINDOW - 1))),
        ("future iat", with("iat", json!(NOW + PROOF_WINDOW + 1))),
    ];
    for (what, p) in cases {
        assert!(
            matches!(check(&p, &expected()), Err(OAuthError::InvalidDpopProof(_))),
            "{what}"
        );
    }
    // A signature over other claims, and a tampered payload.
    let (head, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let forged = format!(
        "{head}.{}.{sig}",
        base64url(with("jti", json!("j-2")).as_bytes())
    );
    assert!(check(&forged, &expected()).is_err());
}

#[test]
fn ath_binds_the_proof_to_the_access_token() {
    let k = key(SigningAlg::Es256);
    let token = "the-access-token";
    let at = Expected {
        access_token: Some(token),
        ..expected()
    };
    let mut c = claims();
    c["ath"] = json!(base64url(&sha256(token.as_bytes())));
    assert!(check(&proof(&k, json!({}), c.clone()), &at).is_ok());
    assert!(refusal(&proof(&k, json!({}), claims()), &at).contains("ath"));
    c["ath"] = json!(base64url(&sha256(b"another-token")));
    assert!(refusal(&proof(&k, json!({}), c), &at).contains("ath"));
}

#[test]
fn a_required_nonce_is_asked_for_with_use_dpop_nonce() {
    let k = key(SigningAlg::Es256);
    let nonces = ["n-1".to_string(), "n-2".to_string()];
    let with_nonce = Expected {
        nonces: &nonces,
        ..expected()
    };
    match check(&proof(&k, json!({}), claims()), &with_nonce) {
        Err(OAuthError::UseDpopNonce { nonce, .. }) => assert_eq!(nonce, "n-1"),
        other => panic!("{other:?}"),
    }
    let mut c = claims();
    c["nonce"] = json!("n-0");
    assert!(matches!(
        check(&proof(&k, json!({}), c.clone()), &with_nonce),
        Err(OAuthError::UseDpopNonce { .. })
    ));
    c["nonce"] = json!("n-1");
    assert!(check(&proof(&k, json!({}), c), &with_nonce).is_ok());
}
