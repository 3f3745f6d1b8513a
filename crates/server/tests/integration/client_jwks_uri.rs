//! `private_key_jwt` with the client's keys by reference (RFC 7591 §2 `jwks_uri`): read
//! through the outbound client, kept, read again when the client rotates (OIDC Core
//! §10.1.1), never on every request; and registered through `/register`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tessera_core::tokens::SigningAlg;

use crate::assertions::{claims, client_key, sign, token_with};
use crate::support::TestServer;

#[derive(Clone, Default)]
struct KeyServer {
    set: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

async fn jwks(State(k): State<KeyServer>) -> axum::Json<Value> {
    k.fetches.fetch_add(1, Ordering::SeqCst);
    axum::Json(k.set.lock().unwrap().clone())
}

async fn serve(keys: KeyServer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = format!("http://{}/jwks", listener.local_addr().unwrap());
    let app = Router::new().route("/jwks", get(jwks)).with_state(keys);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    at
}

#[tokio::test]
async fn a_clients_keys_by_reference_are_read_kept_and_read_again_when_it_rotates() {
    let keys = KeyServer::default();
    let uri = serve(keys.clone()).await;
    let a = client_key(SigningAlg::Es256, "key-a");
    let b = client_key(SigningAlg::Es256, "key-b");
    let c = client_key(SigningAlg::Es256, "key-c");
    *keys.set.lock().unwrap() = json!({"keys": [a.jwk]});
    let server = TestServer::start(&format!(
        r#"[outbound]
allow_http = true
allowed_networks = ["127.0.0.0/8"]

[registration]
open = true
token_endpoint_auth_methods = ["private_key_jwt"]
redirect_uri_schemes = ["https"]

[[api_scopes]]
name = "api1.read"

[[clients]]
client_id = "signer"
token_endpoint_auth_method = "private_key_jwt"
jwks_uri = "{uri}"
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
"#
    ))
    .await;
    let assertion = |key, kid| {
        sign(
            key,
            Algorithm::ES256,
            Some(kid),
            &claims(&server, json!({})),
        )
    };
    assert_eq!(token_with(&server, &assertion(&a, "key-a")).await.0, 200);
    assert_eq!(token_with(&server, &assertion(&a, "key-a")).await.0, 200);
    assert_eq!(
        keys.fetches.load(Ordering::SeqCst),
        1,
        "kept, not read per request"
    );

    // The client rotates to key B just after the read: read again at once (OIDC Core §10.1.1).
    *keys.set.lock().unwrap() = json!({"keys": [b.jwk]});
    assert_eq!(token_with(&server, &assertion(&b, "key-b")).await.0, 200);
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 2);
    let (status, body) = token_with(&server, &assertion(&a, "key-a")).await;
    assert_eq!(status, 401, "A left the set");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("kid names none of the client's registered keys"),
        "{body}"
    );
    // A flood of assertions with a key nobody published costs at most two reads in five
    // seconds: none more in this period, then one, and one early read after it.
    let before = keys.fetches.load(Ordering::SeqCst);
    for _ in 0..20 {
        assert_eq!(token_with(&server, &assertion(&c, "key-c")).await.0, 401);
    }
    assert_eq!(keys.fetches.load(Ordering::SeqCst), before);
    server.monotonic.advance(Duration::from_secs(6));
    for _ in 0..20 {
        assert_eq!(token_with(&server, &assertion(&c, "key-c")).await.0, 401);
    }
    assert_eq!(keys.fetches.load(Ordering::SeqCst), before + 2);

    // Registered through /register with keys by reference (no longer refused).
    let registered: Value = server
        .http
        .post(server.url("/register"))
        .json(
            &json!({"redirect_uris": ["https://rp.example/cb"], "jwks_uri": uri,
            "token_endpoint_auth_method": "private_key_jwt"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(registered["jwks_uri"], uri.as_str(), "{registered}");
    let both = server
        .http
        .post(server.url("/register"))
        .json(
            &json!({"redirect_uris": ["https://rp.example/cb"], "jwks_uri": uri,
            "jwks": {"keys": [b.jwk]}, "token_endpoint_auth_method": "private_key_jwt"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 400, "RFC 7591 §2: not both");
    server.stop().await;
}

/// RFC 8705 §2.2: a `self_signed_tls_client_auth` client may publish its keys at a
/// `jwks_uri`; its certificate's key is looked for there, kept, and never read per request.
#[tokio::test]
async fn a_self_signed_certificate_is_checked_against_keys_by_reference() {
    let keys = KeyServer::default();
    let uri = serve(keys.clone()).await;
    let s = crate::mtls::setup_extra(
        "Client-Cert",
        &format!(
            r#"
[outbound]
allow_http = true
allowed_networks = ["127.0.0.0/8"]

[[clients]]
client_id = "selfie-uri"
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
token_endpoint_auth_method = "self_signed_tls_client_auth"
tls_client_certificate_bound_access_tokens = true
jwks_uri = "{uri}"
"#
        ),
    )
    .await;
    *keys.set.lock().unwrap() = json!({"keys": [s.selfie_jwk]});
    let form = crate::mtls::machine("selfie-uri");
    let selfie = crate::mtls::tls_client(&s, Some(&s.selfie));
    for _ in 0..3 {
        let (status, body) = crate::mtls::token(&selfie, &s.tls_base, &form).await;
        assert_eq!(status, 200, "{body}");
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(
            crate::signin::jwt_claims(access)["cnf"]["x5t#S256"],
            json!(crate::mtls::thumbprint(&s.selfie.der))
        );
    }
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 1, "kept");
    // A certificate of the same name with another key is not the client's.
    let other = crate::mtls::tls_client(&s, Some(&s.other_self));
    let (status, body) = crate::mtls::token(&other, &s.tls_base, &form).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    // A key not in the kept set has the set read again once (the client may have rotated).
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 2);
    // Once it has rotated to the other key, the other certificate is the client's.
    *keys.set.lock().unwrap() = json!({"keys": [s.other_self_jwk]});
    s.server.monotonic.advance(Duration::from_secs(6));
    let (status, body) = crate::mtls::token(&other, &s.tls_base, &form).await;
    assert_eq!(status, 200, "{body}");
}
