//! Wire formats, pinned with snapshots on the socket-less app: the JSON error bodies of the
//! token endpoint and the router (RFC 6749 §5.2), and a client_credentials token response with
//! its access token's header and claims (RFC 9068). A change shows up in review as a diff of
//! the snapshot.

use axum::http::Method;
use serde_json::{Map, Value, json};

use crate::harness::{TestApp, TestResponse};
use crate::signin::jwt_claims;
use crate::tokens::MACHINES;

/// Status, the headers a client reads, and the body.
fn shape(response: &TestResponse) -> Value {
    let mut headers = Map::new();
    for name in [
        "content-type",
        "cache-control",
        "pragma",
        "www-authenticate",
    ] {
        if let Some(value) = response.headers.get(name) {
            headers.insert(name.into(), json!(value.to_str().unwrap()));
        }
    }
    json!({
        "status": response.status.as_u16(),
        "headers": headers,
        "body": response.json(),
    })
}

#[tokio::test]
async fn error_bodies() {
    let app = TestApp::new(MACHINES).await;
    let machine = Some(("machine", "machine-secret"));
    let cc = ("grant_type", "client_credentials");
    let mut shapes = Map::new();
    let mut pin = |case: &str, response: TestResponse| {
        shapes.insert(case.into(), shape(&response));
    };
    pin(
        "invalid_request: no grant_type",
        app.post_form("/token", machine, &[]).await,
    );
    pin(
        "invalid_client: a wrong secret in Basic",
        app.client_credentials("machine", "wrong", &[]).await,
    );
    pin(
        "invalid_client: a wrong secret in the form",
        app.post_form(
            "/token",
            None,
            &[cc, ("client_id", "poster"), ("client_secret", "wrong")],
        )
        .await,
    );
    pin(
        "unsupported_grant_type",
        app.post_form("/token", machine, &[("grant_type", "urn:nope")])
            .await,
    );
    pin(
        "unauthorized_client: a grant the client is not registered for",
        app.client_credentials("web", "web-secret", &[]).await,
    );
    pin(
        "invalid_scope: a scope the client may not request",
        app.client_credentials("machine", "machine-secret", &[("scope", "api1.write")])
            .await,
    );
    pin(
        "invalid_target: an unknown resource",
        app.client_credentials("machine", "machine-secret", &[("resource", "urn:nope")])
            .await,
    );
    pin(
        "invalid_grant: an unknown code",
        app.post_form(
            "/token",
            Some(("web", "web-secret")),
            &[
                ("grant_type", "authorization_code"),
                ("code", "nope"),
                ("redirect_uri", "https://app.example/cb"),
            ],
        )
        .await,
    );
    pin("not_found", app.get("/nope").await);
    pin(
        "method_not_allowed",
        app.send(Method::DELETE, "/token", &[], None).await,
    );
    insta::assert_json_snapshot!("error_bodies", shapes);
}

/// The compact JWS's decoded header.
fn jws_header(token: &str) -> Value {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap()
}

/// Replaces the value of each of `names` present in `object` with `[name]`.
fn redact(object: &mut Value, names: &[&str]) {
    for name in names {
        if let Some(value) = object.get_mut(*name) {
            *value = json!(format!("[{name}]"));
        }
    }
}

#[tokio::test]
async fn client_credentials_access_token() {
    let app = TestApp::new(MACHINES).await;
    let response = app
        .client_credentials("machine", "machine-secret", &[("scope", "api1.read")])
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let mut body = response.json();
    let token = body["access_token"].as_str().unwrap().to_string();
    redact(&mut body, &["access_token"]);
    let mut header = jws_header(&token);
    // The key id is the thumbprint of a key made for this app.
    redact(&mut header, &["kid"]);
    let mut claims = jwt_claims(&token);
    // Times and the token id change with every token.
    redact(&mut claims, &["exp", "iat", "nbf", "jti"]);
    insta::assert_json_snapshot!(
        "client_credentials_access_token",
        json!({"response": body, "header": header, "claims": claims})
    );
}
