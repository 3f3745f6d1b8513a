//! Dynamic client registration (RFC 7591, OIDC Registration 1.0) and the client configuration
//! endpoint (RFC 7592), driven by the `openidconnect` crate's registration client: an initial
//! access token from the admin API, the code flow with the registered client, the policy, and
//! hostile registrations.

use openidconnect::core::{
    CoreClient, CoreClientRegistrationRequest, CoreProviderMetadata, CoreResponseType,
};
use openidconnect::registration::EmptyAdditionalClientMetadata;
use openidconnect::{
    AccessToken, AuthenticationFlow, AuthorizationCode, CsrfToken, IssuerUrl, Nonce,
    PkceCodeChallenge, RedirectUrl, TokenResponse as _,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{OPERATORS, admin_token, call};
use crate::browser::Browser;
use crate::signin::PEOPLE;
use crate::support::{TestServer, oidc_http};

/// An initial access token from the admin API.
pub(crate) async fn initial_token(server: &TestServer) -> String {
    let admin = admin_token(server, "ops", "tessera.admin.write").await;
    let (status, _, body) = call(
        server,
        Method::POST,
        "/admin/v1/registration/tokens",
        Some(&admin),
        Some(json!({"expires_in": 600})),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["initial_access_token"].as_str().unwrap().to_string()
}

/// POSTs `body` to `/register` with `token`; the status and JSON answer.
pub(crate) async fn register(server: &TestServer, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = server
        .http
        .post(server.url("/register"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_client_registered_by_the_openidconnect_crate_signs_a_user_in() {
    let server = TestServer::start(&format!("{PEOPLE}{OPERATORS}")).await;
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(server.base.clone()).unwrap(),
        &oidc_http,
    )
    .await
    .unwrap();
    let endpoint = metadata.registration_endpoint().unwrap().clone();
    assert_eq!(endpoint.as_str(), server.url("/register"));
    let redirect = RedirectUrl::new("https://rp.example/cb".into()).unwrap();
    let request = CoreClientRegistrationRequest::new(
        vec![redirect.clone()],
        EmptyAdditionalClientMetadata::default(),
    );
    // Without an initial access token: refused (registration is not open by default).
    let refused = request.register_async(&endpoint, &oidc_http).await;
    assert!(refused.is_err());

    let token = initial_token(&server).await;
    let registered = request
        .clone()
        .set_initial_access_token(Some(AccessToken::new(token.clone())))
        .register_async(&endpoint, &oidc_http)
        .await
        .unwrap();
    let secret = registered.client_secret().cloned().unwrap();
    // The initial access token was good for one registration.
    let again = request
        .set_initial_access_token(Some(AccessToken::new(token)))
        .register_async(&endpoint, &oidc_http)
        .await;
    assert!(again.is_err());

    // The registered client runs the code flow.
    let client =
        CoreClient::from_provider_metadata(metadata, registered.client_id().clone(), Some(secret))
            .set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new(&server.base);
    let back = browser
        .authorize(url.as_str(), "alice", "alice-password")
        .await;
    let code = back.param("code").unwrap_or_else(|| panic!("{back:?}"));
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&oidc_http)
        .await
        .unwrap();
    let verifier = client.id_token_verifier();
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&verifier, &nonce)
        .unwrap();
    assert_eq!(
        claims.audiences()[0].as_str(),
        registered.client_id().as_str()
    );
    server.stop().await;
}

#[tokio::test]
async fn the_configuration_endpoint_reads_replaces_and_removes_with_the_registration_token() {
    let server = TestServer::start(&format!("{PEOPLE}{OPERATORS}")).await;
    let token = initial_token(&server).await;
    let body = json!({
        "redirect_uris": ["https://rp.example/cb"],
        "client_name": "RP",
        "scope": "openid profile",
        "logo_uri": "https://rp.example/logo.png",
    });
    let (status, registered) = register(&server, Some(&token), &body.to_string()).await;
    assert_eq!(status, 201, "{registered}");
    let client_id = registered["client_id"].as_str().unwrap();
    let rat = registered["registration_access_token"].as_str().unwrap();
    let uri = registered["registration_client_uri"].as_str().unwrap();
    assert_eq!(uri, server.url(&format!("/register/{client_id}")));
    assert_eq!(
        registered["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(registered["grant_types"], json!(["authorization_code"]));
    assert_eq!(registered["response_types"], json!(["code"]));
    assert_eq!(registered["client_secret_expires_at"], 0);
    assert!(
        registered.get("logo_uri").is_none(),
        "not understood, not registered"
    );

    let read = server.http.get(uri).bearer_auth(rat).send().await.unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["cache-control"], "no-store");
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["client_name"], "RP");
    assert_eq!(read["scope"], "openid profile");
    // Another client's token, or none: 401 with a Bearer challenge.
    for auth in [None, Some("not-the-token"), Some(token.as_str())] {
        let mut request = server.http.get(uri);
        if let Some(t) = auth {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }

    // Replace: the client id must be named; a wrong secret is refused.
    let mut update = body.clone();
    update["client_name"] = json!("RP renamed");
    let put = |value: Value| {
        let http = server.http.clone();
        let uri = uri.to_string();
        let rat = rat.to_string();
        async move {
            let response = http
                .put(uri)
                .bearer_auth(rat)
                .json(&value)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, answer) = put(update.clone()).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_client_metadata"))
    );
    update["client_id"] = json!(client_id);
    update["client_secret"] = json!("wrong");
    let (status, _) = put(update.clone()).await;
    assert_eq!(status, 400);
    update["client_secret"] = registered["client_secret"].clone();
    let (status, answer) = put(update).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["client_name"], "RP renamed");
    assert!(
        answer.get("client_secret").is_none(),
        "kept, not shown again"
    );

    // Remove: the token and the client are gone.
    let deleted = server
        .http
        .delete(uri)
        .bearer_auth(rat)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let read = server.http.get(uri).bearer_auth(rat).send().await.unwrap();
    assert_eq!(read.status(), 401);
    let secret = registered["client_secret"].as_str().unwrap();
    let (status, _) = crate::tokens::client_credentials(&server, client_id, secret, &[]).await;
    assert_eq!(status, 401);
    server.stop().await;
}

#[tokio::test]
async fn registrations_outside_the_policy_or_malformed_are_refused_and_nothing_is_kept() {
    let server = TestServer::start(&format!("{PEOPLE}{OPERATORS}")).await;
    // One initial access token for every attempt: a refused registration does not spend it.
    let token = initial_token(&server).await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"redirect_uris": ["https://rp.example/cb#frag"]}),
            "invalid_redirect_uri",
            "redirect_uris[0]",
        ),
        (
            json!({"redirect_uris": ["http://rp.example/cb"]}),
            "invalid_redirect_uri",
            "redirect_uris[0]",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
            "redirect_uris[0]",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
            "grant_types[0]",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "grant_types": ["implicit"], "response_types": ["id_token"]}),
            "invalid_client_metadata",
            "grant_types[0]",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "response_types": ["code id_token"]}),
            "invalid_client_metadata",
            "response_types[0]",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid tessera.admin.write"}),
            "invalid_client_metadata",
            "scope",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "client_secret_jwt"}),
            "invalid_client_metadata",
            "token_endpoint_auth_method",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "jwks_uri": "https://rp.example/jwks#keys"}),
            "invalid_client_metadata",
            "jwks_uri",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "subject_type": "pairwise"}),
            "invalid_client_metadata",
            "subject_type",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "initiate_login_uri": "http://rp.example/login"}),
            "invalid_client_metadata",
            "initiate_login_uri",
        ),
        (
            json!({"redirect_uris": ["https://rp.example/cb"], "software_statement": "e30.e30."}),
            "invalid_software_statement",
            "software_statement",
        ),
        (
            json!({"redirect_uris": "https://rp.example/cb"}),
            "invalid_client_metadata",
            "redirect_uris",
        ),
        (
            json!(["not", "an", "object"]),
            "invalid_client_metadata",
            "",
        ),
    ];
    for (body, error, field) in cases {
        let (status, answer) = register(&server, Some(&token), &body.to_string()).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some(error)),
            "{body}: {answer}"
        );
        assert!(
            answer["error_description"]
                .as_str()
                .unwrap()
                .contains(field),
            "{answer}"
        );
    }
    let (status, _) = register(&server, Some(&token), "{not json").await;
    assert_eq!(status, 400);
    let (status, _) = register(&server, Some("made-up"), "{}").await;
    assert_eq!(
        status, 401,
        "a token that is sent must be valid, even when open"
    );
    // Nothing refused was kept.
    let admin = admin_token(&server, "ops", "tessera.admin.read").await;
    let (_, _, listed) = call(
        &server,
        Method::GET,
        "/admin/v1/clients?limit=500",
        Some(&admin),
        None,
        None,
    )
    .await;
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["source"] == "config"),
        "{listed}"
    );
    // The initial access token was not spent by the refusals. A key set with encryption keys
    // beside the signing key (OIDC Registration §2) keeps the signing key and the encryption
    // key we can encrypt to, each with its use (an encryption key never verifies a signature:
    // `clients/jwk.rs`); one for an algorithm we do not offer is left out, not refused.
    let (key, _) =
        tessera_core::tokens::SigningKey::generate(tessera_core::tokens::SigningAlg::Es256)
            .unwrap();
    let sig = serde_json::to_value(key.public_jwk()).unwrap();
    let mut enc = sig.clone();
    enc["use"] = json!("enc");
    enc["kid"] = json!("enc-key");
    enc.as_object_mut().unwrap().remove("alg");
    let mut unusable = enc.clone();
    unusable["kid"] = json!("enc-key-kw");
    unusable["alg"] = json!("ECDH-ES+A128KW");
    let ok = json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [sig, enc, unusable]}});
    let (status, answer) = register(&server, Some(&token), &ok.to_string()).await;
    assert_eq!(status, 201, "{answer}");
    let uses: Vec<&Value> = answer["jwks"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["use"])
        .collect();
    assert_eq!(uses, [&json!("sig"), &json!("enc")], "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn open_registration_is_limited_per_address_counting_every_attempt() {
    let server = TestServer::start("[registration]\nopen = true\n").await;
    let ok =
        json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "none"});
    let bad = json!({"redirect_uris": ["javascript:x"]});
    let mut statuses = Vec::new();
    for i in 0..11 {
        let body = if i % 2 == 0 { &ok } else { &bad };
        statuses.push(register(&server, None, &body.to_string()).await.0);
    }
    assert_eq!(
        statuses,
        [201, 400, 201, 400, 201, 400, 201, 400, 201, 400, 429],
        "refused attempts count too"
    );
    // An initial access token is not limited, and an unusable Authorization header is refused,
    // never taken as none.
    let (status, _) = register(&server, Some(&"x".repeat(600)), &ok.to_string()).await;
    assert_eq!(status, 401);
    server.stop().await;
}
