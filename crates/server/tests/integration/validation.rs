//! The `validation` crate and the example API against a real Tessera: a token from the
//! `oauth2` crate is accepted; expired, tampered, wrong-audience, wrong-issuer, `alg: none`,
//! HS256-with-the-public-key, unknown-kid and ID-token-typed tokens are refused.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse as _, TokenUrl};
use serde_json::{Value, json};
use tessera_core::Clock as _;
use tessera_core::tokens::jws::sign_compact;
use tessera_core::tokens::{SigningAlg, SigningKey};
use tessera_validation::{TokenValidator, ValidationConfig};

use crate::support::{TestServer, oidc_http};
use crate::tokens::{MACHINES, client_credentials, post_form};

struct Api {
    base: String,
    http: reqwest::Client,
}

async fn start_api(issuer: &str, tune: impl FnOnce(ValidationConfig) -> ValidationConfig) -> Api {
    let config = tune(
        ValidationConfig::new(issuer, "urn:api1").with_introspection("urn:api1", "api1-secret"),
    );
    let app = protected_api::router(Arc::new(TokenValidator::new(config).unwrap()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Api {
        base,
        http: reqwest::Client::new(),
    }
}

impl Api {
    async fn call(&self, token: Option<&str>) -> (u16, Value, String) {
        let mut request = self.http.get(format!("{}/api/protected", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            challenge,
        )
    }
}

async fn oauth2_token(server: &TestServer) -> String {
    let client = BasicClient::new(ClientId::new("machine".into()))
        .set_client_secret(ClientSecret::new("machine-secret".into()))
        .set_auth_type(AuthType::BasicAuth)
        .set_token_uri(TokenUrl::new(server.url("/token")).unwrap());
    client
        .exchange_client_credentials()
        .add_scope(Scope::new("api1.read".into()))
        .request_async(&oidc_http)
        .await
        .unwrap()
        .access_token()
        .secret()
        .clone()
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[tokio::test]
async fn jwt_from_oauth2_crate_is_accepted_and_forgeries_are_refused() {
    let server = TestServer::start(MACHINES).await;
    let api = start_api(&server.base, |c| c).await;

    let token = oauth2_token(&server).await;
    let (status, body, _) = api.call(Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["sub"].as_str(), body["scope"].as_str()),
        (Some("machine"), Some("api1.read"))
    );

    let ring = server.running.state.keys.current();
    let key = ring.signing_key(SigningAlg::Es256).unwrap();
    let now = server.clock.now();
    let good = json!({
        "iss": server.base, "sub": "machine", "aud": "urn:api1", "client_id": "machine",
        "scope": "api1.read", "exp": now + 300, "iat": now, "nbf": now, "jti": "x"
    });
    let with = |patch: Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let stranger = SigningKey::generate(SigningAlg::Es256).unwrap().0;
    let parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let kid = key.kid().to_string();
    let hs256 = {
        let input = format!(
            "{}.{}",
            b64(&json!({"alg": "HS256", "typ": "at+jwt", "kid": kid})),
            b64(&good)
        );
        let jwk = serde_json::to_string(key.public_jwk()).unwrap();
        let hmac = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, jwk.as_bytes()),
            input.as_bytes(),
        );
        format!(
            "{input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hmac.as_ref())
        )
    };
    let refused = [
        (
            "expired",
            sign_compact(key, "at+jwt", &with(json!({"exp": now - 120}))).unwrap(),
        ),
        (
            "not yet valid",
            sign_compact(key, "at+jwt", &with(json!({"nbf": now + 600}))).unwrap(),
        ),
        (
            "tampered",
            format!(
                "{}.{}.{}",
                parts[0],
                b64(&with(json!({"sub": "admin"}))),
                parts[2]
            ),
        ),
        (
            "wrong audience",
            sign_compact(key, "at+jwt", &with(json!({"aud": "urn:api2"}))).unwrap(),
        ),
        (
            "wrong issuer",
            sign_compact(key, "at+jwt", &with(json!({"iss": "https://evil.example"}))).unwrap(),
        ),
        ("ID token typ", sign_compact(key, "JWT", &good).unwrap()),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "at+jwt", "kid": kid})),
                b64(&good)
            ),
        ),
        ("HS256 keyed with the public key", hs256),
        (
            "unknown kid",
            sign_compact(&stranger, "at+jwt", &good).unwrap(),
        ),
        ("garbage", "a.b.c".into()),
        ("critical extension", {
            let h = b64(
                &json!({"alg": "ES256", "typ": "at+jwt", "kid": kid, "crit": ["exp"], "exp": 1}),
            );
            let input = format!("{h}.{}", b64(&good));
            let sig = key.sign(input.as_bytes()).unwrap();
            format!(
                "{input}.{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
            )
        }),
    ];
    for (what, forged) in refused {
        let (status, body, challenge) = api.call(Some(&forged)).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{what}: {challenge}"
        );
    }
    // Missing scope: 403 insufficient_scope.
    let (status, _, challenge) = api
        .call(Some(
            &sign_compact(key, "at+jwt", &with(json!({"scope": "api1.write"}))).unwrap(),
        ))
        .await;
    assert_eq!(status, 403);
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("scope=\"api1.read\""),
        "{challenge}"
    );
    // No token: a challenge without an error code (RFC 6750 §3.1); malformed: 400.
    let (status, _, challenge) = api.call(None).await;
    assert_eq!(status, 401);
    assert!(!challenge.contains("error="), "{challenge}");
    let response = api
        .http
        .get(format!("{}/api/protected", api.base))
        .header("authorization", "Bearer a b")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    server.stop().await;
}

#[tokio::test]
async fn reference_tokens_are_introspected_and_revocation_applies() {
    let server = TestServer::start(MACHINES).await;
    let api = start_api(&server.base, |mut c| {
        c.introspection_cache = Duration::ZERO;
        c
    })
    .await;
    let token = client_credentials(&server, "ref", "ref-secret", &[])
        .await
        .1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body, _) = api.call(Some(&token)).await;
    assert_eq!((status, body["client_id"].as_str()), (200, Some("ref")));
    let (status, _, _) = post_form(
        &server,
        "/revoke",
        Some(("ref", "ref-secret")),
        &[("token", &token)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(api.call(Some(&token)).await.0, 401, "revoked");
    assert_eq!(api.call(Some("unknown-reference-token")).await.0, 401);
    server.stop().await;
}

/// What local JWT validation can and cannot see: a revoked JWT stays valid for an API that
/// checks it locally until it expires; an API that opts into the revocation check (which asks
/// introspection, cached) refuses it.
#[tokio::test]
async fn a_revoked_jwt_is_refused_by_an_api_that_checks_revocation() {
    let server = TestServer::start(MACHINES).await;
    let local = start_api(&server.base, |c| c).await;
    let checking = start_api(&server.base, |mut c| {
        c.introspection_cache = Duration::ZERO;
        c.with_jwt_revocation_check()
    })
    .await;
    let token = oauth2_token(&server).await;
    assert_eq!(local.call(Some(&token)).await.0, 200);
    assert_eq!(checking.call(Some(&token)).await.0, 200);
    let (status, _, _) = post_form(
        &server,
        "/revoke",
        Some(("machine", "machine-secret")),
        &[("token", &token)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        local.call(Some(&token)).await.0,
        200,
        "local checks cannot see it"
    );
    let (status, body, challenge) = checking.call(Some(&token)).await;
    assert_eq!(status, 401, "{body}");
    assert!(challenge.contains("invalid_token"), "{challenge}");
    // The check needs introspection credentials.
    let refused = TokenValidator::new(
        ValidationConfig::new(&server.base, "urn:api1").with_jwt_revocation_check(),
    );
    assert!(refused.is_err());
    server.stop().await;
}

/// A token signed by a key the API has not seen yet makes it refetch the JWKS.
#[tokio::test]
async fn unknown_kid_refetches_the_jwks() {
    let server = TestServer::start(MACHINES).await;
    let api = start_api(&server.base, |mut c| {
        c.jwks_refetch_interval = Duration::ZERO;
        c
    })
    .await;
    assert_eq!(api.call(Some(&oauth2_token(&server).await)).await.0, 200);
    // Rotate with immediate activation (as after a key compromise) and reload the ring.
    let state = &server.running.state;
    tessera_core::tokens::rotate_keys(
        state.store.as_ref(),
        server.clock.as_ref(),
        &state.config.keys,
        &[SigningAlg::Es256],
        Some(0),
    )
    .await
    .unwrap();
    server.clock.advance(1);
    state
        .keys
        .refresh(
            state.store.as_ref(),
            server.clock.as_ref(),
            &state.config.keys,
        )
        .await
        .unwrap();
    let fresh = oauth2_token(&server).await;
    assert_eq!(api.call(Some(&fresh)).await.0, 200, "new kid fetched");
    server.stop().await;
}
