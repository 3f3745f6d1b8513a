//! The server on PostgreSQL: the same endpoints, and two instances on one database sharing
//! signing keys (what a load-balanced deployment relies on).

use tessera_core::Clock as _;

use crate::support::{TestServer, postgres_url};

#[tokio::test]
async fn server_runs_on_postgres() {
    let url = postgres_url().await;
    let server = TestServer::start_on(&url, "").await;
    let doc = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(doc["issuer"], server.base.as_str());
    let jwks = server.get_json("/.well-known/jwks.json").await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn two_instances_on_one_database_publish_the_same_keys() {
    let url = postgres_url().await;
    // Start both at once: the first-start key creation and migrations race on purpose.
    let (a, b) = tokio::join!(
        TestServer::start_on(&url, ""),
        TestServer::start_on(&url, "")
    );
    // Each test server has its own fixed clock, read when it was made: two made across a
    // second boundary would disagree for ever on which key is active. One deployment's
    // instances share the time.
    let now = a.clock.now().max(b.clock.now());
    a.clock.set(now);
    b.clock.set(now);
    let ka = a.get_json("/.well-known/jwks.json").await;
    let kb = b.get_json("/.well-known/jwks.json").await;
    let signing = |s: &TestServer| {
        s.running
            .state
            .keys
            .current()
            .signing_key(tessera_core::tokens::keys::SigningAlg::Es256)
            .unwrap()
            .kid()
            .to_string()
    };
    // If both created a first key, they agree on one (the newest, ties broken by kid) as soon
    // as each has re-read the key table, and both publish every key either created.
    crate::support::eventually("both instances to sign with the same key", || async {
        signing(&a) == signing(&b)
            && a.get_json("/.well-known/jwks.json").await
                == b.get_json("/.well-known/jwks.json").await
    })
    .await;
    assert!(
        !ka["keys"].as_array().unwrap().is_empty() && !kb["keys"].as_array().unwrap().is_empty()
    );
    a.stop().await;
    b.stop().await;
}

/// A reference token revoked through one instance is inactive at once on another instance
/// sharing the database: there is no per-instance cache of token state.
#[tokio::test]
async fn revoked_reference_token_is_inactive_on_every_instance() {
    use crate::tokens::{MACHINES, client_credentials, post_form};

    let url = postgres_url().await;
    let issuer = "https://id.example.com";
    let a = TestServer::start_instance(&url, Some(issuer), MACHINES).await;
    let b = TestServer::start_instance(&url, Some(issuer), MACHINES).await;
    let token = client_credentials(&a, "ref", "ref-secret", &[]).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(active_on(&b, &token).await, "issued at A, valid at B");
    let (status, _, _) = post_form(
        &b,
        "/revoke",
        Some(("ref", "ref-secret")),
        &[("token", &token)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        !active_on(&a, &token).await,
        "revoked at B, inactive at A at once"
    );
    assert!(!active_on(&b, &token).await);
    a.stop().await;
    b.stop().await;
}

async fn active_on(server: &TestServer, token: &str) -> bool {
    let (status, body, _) = crate::tokens::post_form(
        server,
        "/introspect",
        Some(("urn:api1", "api1-secret")),
        &[("token", token)],
    )
    .await;
    assert_eq!(status, 200);
    body["active"].as_bool().unwrap()
}

/// SEC-37 / REL-06(c): a client assertion's jti used at one instance is refused at another.
#[tokio::test]
async fn assertion_replay_is_refused_across_instances() {
    use crate::assertions::{claims, client_key, inline_jwks, sign, token_with};
    use tessera_core::tokens::SigningAlg;
    let key = client_key(SigningAlg::Es256, "k1");
    let config = format!(
        "[[api_scopes]]\nname = \"api1.read\"\n[[clients]]\nclient_id = \"signer\"\ngrant_types = [\"client_credentials\"]\nallowed_scopes = [\"api1.read\"]\ntoken_endpoint_auth_method = \"private_key_jwt\"\n{}\n",
        inline_jwks(&[&key])
    );
    let url = postgres_url().await;
    let issuer = "https://id.example.com";
    let a = TestServer::start_instance(&url, Some(issuer), &config).await;
    let b = TestServer::start_instance(&url, Some(issuer), &config).await;
    let assertion = sign(
        &key,
        jsonwebtoken::Algorithm::ES256,
        Some("k1"),
        &claims(&a, serde_json::json!({"aud": issuer})),
    );
    assert_eq!(token_with(&a, &assertion).await.0, 200);
    let (status, body) = token_with(&b, &assertion).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    a.stop().await;
    b.stop().await;
}
