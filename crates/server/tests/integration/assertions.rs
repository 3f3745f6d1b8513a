//! `private_key_jwt` client authentication (RFC 7523, OIDC Core §9) with assertions signed by
//! a third-party library (`jsonwebtoken`).

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tessera_core::Clock as _;
use tessera_core::tokens::{SigningAlg, SigningKey};

use crate::support::TestServer;
use crate::tokens::post_form;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) struct ClientKey {
    pub(crate) jwk: Value,
    encoding: EncodingKey,
    /// The private key as PKCS#8 PEM, for clients in other languages.
    pub(crate) pem: String,
}

impl ClientKey {
    /// The private key, for signing with `jsonwebtoken`.
    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }
}

pub(crate) fn client_key(alg: SigningAlg, kid: &str) -> ClientKey {
    let (key, der) = SigningKey::generate(alg).unwrap();
    let mut jwk = serde_json::to_value(key.public_jwk()).unwrap();
    jwk["kid"] = json!(kid);
    jwk.as_object_mut().unwrap().remove("alg");
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    let encoding = match alg {
        SigningAlg::Es256 | SigningAlg::Es384 => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        SigningAlg::Rs256 | SigningAlg::Ps256 => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        SigningAlg::EdDsa => EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
    };
    ClientKey { jwk, encoding, pem }
}

pub(crate) fn inline_jwks(keys: &[&ClientKey]) -> String {
    let entries: Vec<String> = keys
        .iter()
        .map(|k| {
            let fields: Vec<String> = k
                .jwk
                .as_object()
                .unwrap()
                .iter()
                .map(|(n, v)| format!("{n} = {v}"))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        })
        .collect();
    format!("jwks = {{ keys = [ {} ] }}", entries.join(", "))
}

struct Setup {
    server: TestServer,
    ec: ClientKey,
    rsa: ClientKey,
}

async fn setup() -> Setup {
    let ec = client_key(SigningAlg::Es256, "ec-1");
    let rsa = client_key(SigningAlg::Rs256, "rsa-1");
    let config = format!(
        r#"
[[api_scopes]]
name = "api1.read"

[[clients]]
client_id = "signer"
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
token_endpoint_auth_method = "private_key_jwt"
{}
"#,
        inline_jwks(&[&ec, &rsa])
    );
    Setup {
        server: TestServer::start(&config).await,
        ec,
        rsa,
    }
}

pub(crate) fn claims(server: &TestServer, overrides: Value) -> Value {
    let now = server.clock.now();
    let mut c = json!({
        "iss": "signer",
        "sub": "signer",
        "aud": server.url("/token"),
        "exp": now + 120,
        "iat": now,
        "jti": tessera_core::crypto::random_handle().unwrap(),
    });
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() && k != "exp_null" {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

pub(crate) fn sign(key: &ClientKey, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    encode(&header, claims, &key.encoding).unwrap()
}

pub(crate) async fn token_with(server: &TestServer, assertion: &str) -> (u16, Value) {
    let (status, body, _) = post_form(
        server,
        "/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ],
    )
    .await;
    (status, body)
}

#[tokio::test]
async fn valid_assertions_authenticate() {
    let s = setup().await;
    for (key, alg, kid) in [
        (&s.ec, Algorithm::ES256, Some("ec-1")),
        (&s.ec, Algorithm::ES256, None),
        (&s.rsa, Algorithm::RS256, Some("rsa-1")),
        (&s.rsa, Algorithm::PS256, Some("rsa-1")),
    ] {
        let assertion = sign(key, alg, kid, &claims(&s.server, json!({})));
        let (status, body) = token_with(&s.server, &assertion).await;
        assert_eq!(status, 200, "{alg:?} {kid:?}: {body}");
    }
    // aud may be the issuer instead of the token endpoint.
    let assertion = sign(
        &s.ec,
        Algorithm::ES256,
        Some("ec-1"),
        &claims(&s.server, json!({"aud": s.server.base})),
    );
    assert_eq!(token_with(&s.server, &assertion).await.0, 200);
    s.server.stop().await;
}

/// What client libraries send: authlib signs `private_key_jwt` assertions for an hour, pyoidc
/// and the OpenID Foundation's tools for ten minutes; both are accepted by default, and the
/// cap is configurable (`[client_authentication] max_assertion_lifetime`). An `aud` array of
/// our own URLs is accepted.
#[tokio::test]
async fn assertion_lifetimes_of_real_libraries_are_accepted_and_the_cap_is_configurable() {
    let s = setup().await;
    let now = s.server.clock.now();
    for (what, overrides) in [
        ("authlib: one hour", json!({"exp": now + 3600})),
        ("pyoidc: ten minutes", json!({"exp": now + 600})),
        (
            "aud array of our issuer and token endpoint",
            json!({"aud": [s.server.base, s.server.url("/token")]}),
        ),
    ] {
        let assertion = sign(&s.ec, Algorithm::ES256, None, &claims(&s.server, overrides));
        let (status, body) = token_with(&s.server, &assertion).await;
        assert_eq!(status, 200, "{what}: {body}");
    }
    s.server.stop().await;

    let ec = client_key(SigningAlg::Es256, "ec-1");
    let config = format!(
        r#"
[client_authentication]
max_assertion_lifetime = 300

[[api_scopes]]
name = "api1.read"

[[clients]]
client_id = "signer"
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
token_endpoint_auth_method = "private_key_jwt"
{}
"#,
        inline_jwks(&[&ec])
    );
    let server = TestServer::start(&config).await;
    let now = server.clock.now();
    let long = sign(
        &ec,
        Algorithm::ES256,
        None,
        &claims(&server, json!({"exp": now + 3600})),
    );
    let (status, body) = token_with(&server, &long).await;
    assert_eq!(status, 401, "{body}");
    let why = body["error_description"].as_str().unwrap();
    assert!(
        why.contains("300 s") && why.contains("max_assertion_lifetime"),
        "{why}"
    );
    let short = sign(
        &ec,
        Algorithm::ES256,
        None,
        &claims(&server, json!({"exp": now + 300})),
    );
    assert_eq!(token_with(&server, &short).await.0, 200);
    server.stop().await;
}

/// SEC-37, CVE-18: a jti is single-use.
#[tokio::test]
async fn replayed_assertion_is_refused() {
    let s = setup().await;
    let assertion = sign(
        &s.ec,
        Algorithm::ES256,
        Some("ec-1"),
        &claims(&s.server, json!({})),
    );
    assert_eq!(token_with(&s.server, &assertion).await.0, 200);
    let (status, body) = token_with(&s.server, &assertion).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    s.server.stop().await;
}

/// base64url of a JSON value, for JWS parts built by hand.
fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// Every assertion of `cases` gets 401 `invalid_client`.
async fn assert_all_refused(server: &TestServer, cases: &[(impl AsRef<str>, String)]) {
    for (what, assertion) in cases {
        let (status, body) = token_with(server, assertion).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{}: {body}",
            what.as_ref()
        );
    }
}

#[tokio::test]
async fn bad_assertions_are_refused() {
    let s = setup().await;
    let now = s.server.clock.now();
    let other = client_key(SigningAlg::Es256, "ec-1");
    let mut cases: Vec<(&str, String)> = vec![
        (
            "signed by an unregistered key",
            sign(
                &other,
                Algorithm::ES256,
                Some("ec-1"),
                &claims(&s.server, json!({})),
            ),
        ),
        (
            "unknown kid",
            sign(
                &s.ec,
                Algorithm::ES256,
                Some("nope"),
                &claims(&s.server, json!({})),
            ),
        ),
        (
            "iss differs from sub",
            sign(
                &s.ec,
                Algorithm::ES256,
                None,
                &claims(&s.server, json!({"sub": "someone"})),
            ),
        ),
        (
            "unknown client",
            sign(
                &s.ec,
                Algorithm::ES256,
                None,
                &claims(&s.server, json!({"iss": "ghost", "sub": "ghost"})),
            ),
        ),
        (
            "wrong audience",
            sign(
                &s.ec,
                Algorithm::ES256,
                None,
                &claims(&s.server, json!({"aud": "https://elsewhere.example"})),
            ),
        ),
        (
            "no exp",
            sign(
                &s.ec,
                Algorithm::ES256,
                None,
                &claims(&s.server, json!({"exp": null})),
            ),
        ),
        (
            "exp as a string (CVE-32)",
            sign(
                &s.ec,
                Algorithm::ES256,
                None,
                &claims(&s.server, json!({"exp": (now + 120).to_string()})),
            ),
        ),
        (
            "nbf as a string",
            sign(
                &s.ec,
                Algorithm::ES256,
                None,
                &claims(&s.server, json!({"nbf": "0"})),
            ),
        ),
        (
            "expired",
            sign(
                &s.ec,
                Algorithm::ES256,
                None,
                &claims(&s.server, json!({"exp": now - 120})),
            ),
        ),
        (
            "exp two hours ahead (the default cap is one hour)",
            sign(
                &s.ec,
                Algorithm::ES256,
                None,
                &claims(&s.server, json!({"exp": now + 7200})),
            ),
        ),
        (
            "aud array naming another party (draft-ietf-oauth-rfc7523bis)",
            sign(
                &s.ec,
                Algorithm::ES256,
                None,
                &claims(
                    &s.server,
                    json!({"aud": [s.server.base, "https://other-as.example"]}),
                ),
            ),
        ),
        (
            "no jti",
            sign(
                &s.ec,
                Algorithm::ES256,
                None,
                &claims(&s.server, json!({"jti": null})),
            ),
        ),
    ];
    // alg none and HS256 keyed with the public key (CVE-26), built by hand.
    let payload = b64(&claims(&s.server, json!({})));
    cases.push((
        "alg none",
        format!("{}.{payload}.", b64(&json!({"alg": "none"}))),
    ));
    let hs = sign_hs256_with(
        &s.ec.jwk.to_string(),
        &format!("{}.{payload}", b64(&json!({"alg": "HS256", "kid": "ec-1"}))),
    );
    cases.push(("HS256 with the public key", hs));
    cases.push(("garbage", "not.a.jwt".into()));
    assert_all_refused(&s.server, &cases).await;
    // A client registered for private_key_jwt cannot fall back to no authentication.
    let (status, _, _) = post_form(
        &s.server,
        "/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "signer"),
        ],
    )
    .await;
    assert_eq!(status, 401);
    s.server.stop().await;
}

fn sign_hs256_with(secret: &str, signing_input: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
    )
}

const HMAC_SECRET: &str = "a-shared-secret-of-more-than-32-characters";

/// client_secret_jwt (OIDC Core §9): HMAC with the client secret, from the configuration.
#[tokio::test]
async fn client_secret_jwt_assertions() {
    let server = TestServer::start(&format!(
        r#"
[[api_scopes]]
name = "api1.read"

[[clients]]
client_id = "hmac"
secrets = ["{HMAC_SECRET}"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
token_endpoint_auth_method = "client_secret_jwt"
"#
    ))
    .await;
    let now = server.clock.now();
    let claims = |jti: &str| json!({"iss": "hmac", "sub": "hmac", "aud": server.url("/token"), "exp": now + 60, "iat": now, "jti": jti});
    let hs = |alg: Algorithm, secret: &str, c: &Value| {
        encode(
            &Header::new(alg),
            c,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let (status, body) =
        token_with(&server, &hs(Algorithm::HS256, HMAC_SECRET, &claims("one"))).await;
    assert_eq!(status, 200, "{body}");
    // RFC 7518 §3.2: HS512 needs a key of at least 64 bytes; this secret has 42.
    let (status, _) = token_with(&server, &hs(Algorithm::HS512, HMAC_SECRET, &claims("two"))).await;
    assert_eq!(status, 401);
    let replay = hs(Algorithm::HS256, HMAC_SECRET, &claims("one"));
    assert_eq!(token_with(&server, &replay).await.0, 401, "jti reused");
    let wrong = hs(
        Algorithm::HS256,
        "another-secret-that-is-long-enough-123",
        &claims("three"),
    );
    assert_eq!(token_with(&server, &wrong).await.0, 401, "wrong secret");
    // An asymmetric assertion for an HMAC client is refused even if it verifies elsewhere.
    let stranger = client_key(SigningAlg::Es256, "x");
    assert_eq!(
        token_with(
            &server,
            &sign(&stranger, Algorithm::ES256, None, &claims("four"))
        )
        .await
        .0,
        401
    );
    // The same secret via Basic: the client is registered for client_secret_jwt only.
    let (status, _, _) = post_form(
        &server,
        "/token",
        Some(("hmac", HMAC_SECRET)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 401);
    server.stop().await;
}

/// REL-13: a client clock up to 60 s off is accepted on `iat`, `nbf` and `exp`; 61 s is
/// refused, and the description says which claim and why (only after the signature verified).
#[tokio::test]
async fn rel13_clock_skew_of_59_s_is_accepted_and_61_s_refused_with_the_reason() {
    let s = setup().await;
    let now = s.server.clock.now();
    let cases = [
        ("iat", now + 59, None),
        ("iat", now + 61, Some("`iat` is more than 60 s ahead")),
        ("nbf", now + 59, None),
        ("nbf", now + 61, Some("`nbf` is more than 60 s ahead")),
        ("exp", now - 59, None),
        ("exp", now - 61, Some("`exp` is more than 60 s in the past")),
    ];
    for (claim, value, refusal) in cases {
        let assertion = sign(
            &s.ec,
            Algorithm::ES256,
            Some("ec-1"),
            &claims(&s.server, json!({ claim: value })),
        );
        let (status, body) = token_with(&s.server, &assertion).await;
        match refusal {
            None => assert_eq!(status, 200, "{claim} = now {:+}: {body}", value - now),
            Some(reason) => {
                assert_eq!(
                    (status, body["error"].as_str()),
                    (401, Some("invalid_client"))
                );
                let description = body["error_description"].as_str().unwrap();
                assert!(description.contains(reason), "{claim}: {description}");
                assert!(description.contains("clock"), "{description}");
            }
        }
    }
}

/// A compact JWS with a hand-written header, signed ES256 by `key` (jsonwebtoken signs).
fn sign_with_header(key: &ClientKey, header: Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(&header), b64(claims));
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key.encoding, Algorithm::ES256).unwrap();
    format!("{input}.{signature}")
}

/// SEC-39, CVE-27: a key carried in the token (`jwk`, `x5c`, `jku`, `x5u`) is never trusted;
/// CVE-30: `crit` is refused even on a correctly signed assertion; SEC-40, CVE-32: `iat`, `nbf`
/// and `exp` that are strings or null are refused, never read as absent.
#[tokio::test]
async fn sec39_sec40_embedded_keys_crit_and_mistyped_dates_are_refused() {
    let s = setup().await;
    let now = s.server.clock.now();
    let attacker = client_key(SigningAlg::Es256, "attacker");
    let valid = || claims(&s.server, json!({}));
    let mut cases: Vec<(String, String)> = vec![];
    for (member, value) in [
        ("jwk", attacker.jwk.clone()),
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("x5c", json!(["MIIBszCCAVmgAwIBAgIUQ"])),
    ] {
        for kid in [None, Some("ec-1")] {
            let mut header = json!({"alg": "ES256", "typ": "JWT", member: value.clone()});
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            cases.push((
                format!("attacker's key in `{member}`, kid {kid:?}"),
                sign_with_header(&attacker, header, &valid()),
            ));
        }
    }
    cases.push((
        "crit on a valid signature (CVE-30)".into(),
        sign_with_header(
            &s.ec,
            json!({"alg": "ES256", "kid": "ec-1", "crit": ["x-unknown"], "x-unknown": 1}),
            &valid(),
        ),
    ));
    for (claim, value) in [
        ("iat", json!(now.to_string())),
        ("iat", Value::Null),
        ("nbf", json!("99999999999")),
        ("nbf", Value::Null),
        ("exp", Value::Null),
        ("exp", json!([now + 60])),
    ] {
        let mut c = valid();
        c[claim] = value.clone();
        cases.push((
            format!("{claim} = {value}"),
            sign(&s.ec, Algorithm::ES256, Some("ec-1"), &c),
        ));
    }
    assert_all_refused(&s.server, &cases).await;
    // The same assertion, well formed, is accepted: the refusals above are for the header and
    // the claim types alone. RFC 7519 §2: a NumericDate may have a fraction.
    let mut fractional = valid();
    fractional["exp"] = json!((now + 60) as f64 + 0.5);
    fractional["iat"] = json!(now as f64 - 0.25);
    let (status, body) = token_with(
        &s.server,
        &sign(&s.ec, Algorithm::ES256, Some("ec-1"), &fractional),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
