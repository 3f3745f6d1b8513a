//! Introspection (RFC 7662, RFC 9701 JWT responses) and revocation (RFC 7009) of reference and
//! JWT access tokens.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use serde_json::Value;

use crate::harness::TestApp;
use crate::support::TestServer;
use crate::tokens::{MACHINES, client_credentials, introspect, post_form};

#[tokio::test]
async fn reference_tokens_introspect_and_revoke() {
    let server = TestServer::start(MACHINES).await;
    let (status, body) = client_credentials(&server, "ref", "ref-secret", &[]).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        token.matches('.').count(),
        0,
        "a reference token is an opaque handle"
    );
    assert!(token.len() >= 43, "at least 256 bits");

    // The API it is for sees it active, with its claims.
    let seen = introspect(&server, ("urn:api1", "api1-secret"), &token).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["client_id"], "ref");
    assert_eq!(seen["scope"], "api1.read");
    assert_eq!(seen["aud"], "urn:api1");
    assert_eq!(seen["iss"], server.base.as_str());
    // Another API, and another client, see nothing.
    assert_eq!(
        introspect(&server, ("urn:api2", "api2-secret"), &token).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        introspect(&server, ("machine", "machine-secret"), &token).await["active"],
        false
    );
    // The client that owns it may introspect it.
    assert_eq!(
        introspect(&server, ("ref", "ref-secret"), &token).await["active"],
        true
    );
    // A wrong API secret is an authentication failure, not an inactive token.
    let (status, body, _) = post_form(
        &server,
        "/introspect",
        Some(("urn:api1", "nope")),
        &[("token", &token)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // Another client's revocation: 200, and the token stays active (RFC 7009 §2.1).
    let (status, _, _) = post_form(
        &server,
        "/revoke",
        Some(("machine", "machine-secret")),
        &[("token", &token)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        introspect(&server, ("urn:api1", "api1-secret"), &token).await["active"],
        true
    );
    // The owner's revocation takes effect at once.
    let (status, _, headers) = post_form(
        &server,
        "/revoke",
        Some(("ref", "ref-secret")),
        &[("token", &token), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        introspect(&server, ("urn:api1", "api1-secret"), &token).await["active"],
        false
    );
    // Unknown tokens: 200 at revocation, inactive at introspection.
    assert_eq!(
        post_form(
            &server,
            "/revoke",
            Some(("ref", "ref-secret")),
            &[("token", "unknown")]
        )
        .await
        .0,
        200
    );
    assert_eq!(
        introspect(&server, ("urn:api1", "api1-secret"), "unknown").await["active"],
        false
    );
    server.stop().await;
}

#[tokio::test]
async fn expired_reference_token_is_inactive() {
    let app = TestApp::new(MACHINES).await;
    let token = app
        .client_credentials("ref", "ref-secret", &[])
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    app.clock.advance(299);
    assert_eq!(
        app.introspect(("urn:api1", "api1-secret"), &token).await["active"],
        true
    );
    app.clock.advance(1);
    assert_eq!(
        app.introspect(("urn:api1", "api1-secret"), &token).await["active"],
        false
    );
}

#[tokio::test]
async fn jwt_access_tokens_introspect_and_are_revoked_by_their_client_only() {
    let server = TestServer::start(MACHINES).await;
    let token = client_credentials(
        &server,
        "machine",
        "machine-secret",
        &[("scope", "api1.read")],
    )
    .await
    .1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let seen = introspect(&server, ("urn:api1", "api1-secret"), &token).await;
    assert_eq!(
        (seen["active"].as_bool(), seen["sub"].as_str()),
        (Some(true), Some("machine"))
    );
    assert_eq!(
        introspect(&server, ("urn:api2", "api2-secret"), &token).await["active"],
        false
    );
    // A tampered JWT is inactive, never an error.
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        introspect(&server, ("urn:api1", "api1-secret"), &tampered).await["active"],
        false
    );
    // Another client presenting it learns nothing and changes nothing: 200 like any unknown
    // token (RFC 7009 §2.2).
    let (status, _, _) = post_form(
        &server,
        "/revoke",
        Some(("ref", "ref-secret")),
        &[("token", &token)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        introspect(&server, ("urn:api1", "api1-secret"), &token).await["active"],
        true
    );
    // Its own client revokes it (RFC 7009 §2.1): a deny-list entry until it expires.
    let (status, _, _) = post_form(
        &server,
        "/revoke",
        Some(("machine", "machine-secret")),
        &[("token", &token)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        introspect(&server, ("urn:api1", "api1-secret"), &token).await["active"],
        false
    );
    // A live one, expired: inactive.
    let fresh = client_credentials(
        &server,
        "machine",
        "machine-secret",
        &[("scope", "api1.read")],
    )
    .await
    .1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        introspect(&server, ("urn:api1", "api1-secret"), &fresh).await["active"],
        true
    );
    server.clock.advance(3_600);
    assert_eq!(
        introspect(&server, ("urn:api1", "api1-secret"), &fresh).await["active"],
        false
    );
    server.stop().await;
}

/// RFC 9701: a caller that asks for `application/token-introspection+jwt` gets a signed JWT
/// whose `token_introspection` member holds the RFC 7662 answer.
#[tokio::test]
async fn jwt_introspection_response() {
    let server = TestServer::start(MACHINES).await;
    let token = client_credentials(&server, "ref", "ref-secret", &[])
        .await
        .1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let response = server
        .http
        .post(server.url("/introspect"))
        .basic_auth("urn%3Aapi1", Some("api1-secret"))
        .header("accept", "application/token-introspection+jwt")
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/token-introspection+jwt"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let jwt = response.text().await.unwrap();
    let header = decode_header(&jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("token-introspection+jwt"));
    let set: JwkSet =
        serde_json::from_value(server.get_json("/.well-known/jwks.json").await).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&["urn:api1"]);
    validation.set_issuer(&[&server.base]);
    validation.set_required_spec_claims(&["iss", "aud", "iat"]);
    validation.validate_exp = false;
    let claims = decode::<Value>(
        &jwt,
        &DecodingKey::from_jwk(set.find(header.kid.as_deref().unwrap()).unwrap()).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["token_introspection"]["active"], true);
    assert_eq!(claims["token_introspection"]["client_id"], "ref");
    assert!(
        claims.get("sub").is_none() && claims.get("exp").is_none(),
        "token claims stay nested"
    );
    server.stop().await;
}

/// SEC-35 (RFC 7662 §4): a client guessing tokens is slowed down. Past its budget of inactive
/// answers in a minute it gets 429 with `Retry-After`, even for a real token; other callers
/// are not affected, and active answers never count. APIs are not limited: they pass on
/// whatever tokens their callers send, and a limit would let those callers block them.
#[tokio::test]
async fn sec35_token_scanning_is_rate_limited_per_client() {
    let app = TestApp::new(&format!(
        "[introspection]\nmax_inactive_per_minute = 5\n{MACHINES}"
    ))
    .await;
    let body = app
        .client_credentials("ref", "ref-secret", &[])
        .await
        .json();
    let real = body["access_token"].as_str().unwrap().to_string();
    let client = ("ref", "ref-secret");
    // Active answers do not use the budget.
    for _ in 0..10 {
        assert_eq!(app.introspect(client, &real).await["active"], true);
    }
    for i in 0..5 {
        let answer = app.introspect(client, &format!("guessed-token-{i}")).await;
        assert_eq!(answer["active"], false);
    }
    let response = app
        .post_form("/introspect", Some(client), &[("token", real.as_str())])
        .await;
    let (status, body, headers) = (response.status, response.json(), &response.headers);
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // No credentials at all: refused, and nothing is looked up.
    let response = app
        .post_form("/introspect", None, &[("token", real.as_str())])
        .await;
    let (status, body) = (response.status.as_u16(), response.json());
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Another client still introspects, and an API is never limited.
    let answer = app
        .introspect(("machine", "machine-secret"), "guessed-token-x")
        .await;
    assert_eq!(answer["active"], false);
    for i in 0..20 {
        let guess = format!("relayed-token-{i}");
        let answer = app.introspect(("urn:api1", "api1-secret"), &guess).await;
        assert_eq!(answer["active"], false);
    }
    assert_eq!(
        app.introspect(("urn:api1", "api1-secret"), &real).await["active"],
        true
    );
    // A minute after the client's first inactive answer, its budget is back.
    app.clock.advance(60);
    assert_eq!(app.introspect(client, &real).await["active"], true);
}
