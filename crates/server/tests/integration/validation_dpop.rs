//! The `validation` crate with DPoP-bound tokens (RFC 9449 §7): the example API accepts a
//! bound token, JWT or reference, only with the DPoP scheme and a fresh proof of its key for
//! this request; as a bearer token, with another key's proof, a replayed proof or one for
//! another URL it answers 401 `invalid_token` with a DPoP challenge (SEC-30, CVE-24).

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};
use tessera_core::Clock as _;
use tessera_core::crypto::sha256;
use tessera_core::tokens::{SigningAlg, SigningKey};
use tessera_validation::{TokenValidator, ValidationConfig};

use crate::support::TestServer;
use crate::tokens::{MACHINES, form_encode};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A DPoP proof by `key` for `htm` `htu`, with `extra` claims.
pub fn proof(key: &SigningKey, htm: &str, htu: &str, iat: i64, extra: Value) -> String {
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk()});
    let mut claims = json!({"htm": htm, "htu": htu, "iat": iat, "jti": b64(&tessera_core::crypto::random_bytes(12).unwrap())});
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    format!("{input}.{}", b64(&key.sign(input.as_bytes()).unwrap()))
}

/// The protected example API, told its own URL for the proofs' `htu`.
async fn start_api(issuer: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = ValidationConfig::new(issuer, "urn:api1")
        .with_introspection("urn:api1", "api1-secret")
        .with_public_url(&base);
    let app = protected_api::router(Arc::new(TokenValidator::new(config).unwrap()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// A token of `client` bound to `key`.
async fn bound_token(server: &TestServer, client: (&str, &str), key: &SigningKey) -> String {
    let now = server.clock.now();
    let response = server
        .http
        .post(server.url("/token"))
        .basic_auth(form_encode(client.0), Some(form_encode(client.1)))
        .header(
            "dpop",
            proof(key, "POST", &server.url("/token"), now, json!({})),
        )
        .form(&[("grant_type", "client_credentials"), ("scope", "api1.read")])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// `(status, WWW-Authenticate)` of a call with `authorization` and `dpop` headers.
async fn call(
    http: &reqwest::Client,
    url: &str,
    authorization: &str,
    dpop: &[String],
) -> (u16, String) {
    let mut request = http.get(url).header("authorization", authorization);
    for p in dpop {
        request = request.header("dpop", p);
    }
    let response = request.send().await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (response.status().as_u16(), challenge)
}

#[tokio::test]
async fn sec30_the_validation_crate_accepts_a_bound_token_only_with_a_proof_of_its_key() {
    let server = TestServer::start(MACHINES).await;
    let api = start_api(&server.base).await;
    let url = format!("{api}/api/protected");
    let http = reqwest::Client::new();
    let key = SigningKey::generate(SigningAlg::Es256).unwrap().0;
    let other = SigningKey::generate(SigningAlg::Es256).unwrap().0;
    for client in [("machine", "machine-secret"), ("ref", "ref-secret")] {
        let token = bound_token(&server, client, &key).await;
        let ath = json!({"ath": b64(&sha256(token.as_bytes()))});
        let now = server.clock.now();
        let good = proof(&key, "GET", &url, now, ath.clone());
        let dpop = format!("DPoP {token}");
        assert_eq!(
            call(&http, &url, &dpop, std::slice::from_ref(&good))
                .await
                .0,
            200,
            "{client:?}"
        );
        let refused = [
            ("replayed", dpop.clone(), vec![good]),
            ("as bearer", format!("Bearer {token}"), vec![]),
            ("no proof", dpop.clone(), vec![]),
            (
                "other key",
                dpop.clone(),
                vec![proof(&other, "GET", &url, now, ath.clone())],
            ),
            (
                "no ath",
                dpop.clone(),
                vec![proof(&key, "GET", &url, now, json!({}))],
            ),
            (
                "wrong htm",
                dpop.clone(),
                vec![proof(&key, "POST", &url, now, ath.clone())],
            ),
            (
                "other url",
                dpop.clone(),
                vec![proof(
                    &key,
                    "GET",
                    &format!("{api}/api/other"),
                    now,
                    ath.clone(),
                )],
            ),
            (
                "stale",
                dpop.clone(),
                vec![proof(&key, "GET", &url, now - 600, ath.clone())],
            ),
            (
                "two proofs",
                dpop.clone(),
                vec![
                    proof(&key, "GET", &url, now, ath.clone()),
                    proof(&key, "GET", &url, now, ath.clone()),
                ],
            ),
        ];
        for (case, authorization, proofs) in refused {
            let (status, challenge) = call(&http, &url, &authorization, &proofs).await;
            assert_eq!(status, 401, "{client:?} {case}");
            assert!(
                challenge.contains("DPoP algs=\"ES256"),
                "{case}: {challenge}"
            );
            assert!(challenge.contains("invalid_token"), "{case}: {challenge}");
        }
    }
    // An unbound token is no DPoP token.
    let (_, body) = crate::tokens::client_credentials(
        &server,
        "machine",
        "machine-secret",
        &[("scope", "api1.read")],
    )
    .await;
    let unbound = body["access_token"].as_str().unwrap();
    let (status, _) = call(&http, &url, &format!("Bearer {unbound}"), &[]).await;
    assert_eq!(status, 200);
    let (status, _) = call(&http, &url, &format!("DPoP {unbound}"), &[]).await;
    assert_eq!(status, 401);
    server.stop().await;
}
