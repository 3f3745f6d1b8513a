//! Client-Initiated Backchannel Authentication (OpenID CIBA Core 1.0): a client names the user,
//! the user's device is told through the authentication-device channel (a JWT we sign, which
//! `jsonwebtoken` verifies with our JWKS), the user approves on our page (with their password)
//! or the deployment's app approves through the admin API, and the client polls (poll mode) or
//! is called (ping mode); every way a request can be wrong is refused as §13 and §11 say.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{OPERATORS, admin_token, call};
use crate::browser::{Browser, field};
use crate::signin::jwt_claims;
use crate::support::{TestServer, free_port};
use crate::tokens::post_form;

const GRANT: &str = "urn:openid:params:grant-type:ciba";
const POLL: (&str, &str) = ("bank-poll", "bank-poll-secret-bank-poll-secret-0001");
const PING: (&str, &str) = ("bank-ping", "bank-ping-secret-bank-ping-secret-0001");

/// What the channel and the ping endpoint received: (path, authorization, body).
type Received = Arc<Mutex<Vec<(String, String, String)>>>;

async fn start_receiver(port: u16) -> Received {
    let received: Received = Arc::default();
    let keep = |path: &'static str, received: Received| {
        move |headers: HeaderMap, body: String| {
            let received = received.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                received
                    .lock()
                    .unwrap()
                    .push((path.to_string(), auth, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }
    };
    let app = Router::new()
        .route("/channel", post(keep("/channel", received.clone())))
        .route("/ping", post(keep("/ping", received.clone())));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    received
}

async fn setup() -> (TestServer, Received, u16) {
    let port = free_port();
    let received = start_receiver(port).await;
    let config = format!(
        r#"
[ciba]
device_channel = "http://127.0.0.1:{port}/channel"

[outbound]
allow_http = true
allowed_networks = ["127.0.0.0/8"]

[[clients]]
client_id = "{}"
client_name = "Bank (poll)"
secrets = ["{}"]
grant_types = ["{GRANT}"]
allowed_scopes = ["openid", "profile"]

[[clients]]
client_id = "{}"
secrets = ["{}"]
grant_types = ["{GRANT}"]
allowed_scopes = ["openid"]
backchannel_token_delivery_mode = "ping"
backchannel_client_notification_endpoint = "http://127.0.0.1:{port}/ping"

[[clients]]
client_id = "web"
secrets = ["web-secret-web-secret-web-secret-00001"]
grant_types = ["client_credentials"]
allowed_scopes = ["openid"]
{OPERATORS}
[[users]]
username = "alice"
password = "alice-password"
claims = {{ name = "Alice Smith" }}

[[users]]
username = "carol"
password = "carol-password"
disabled = true
"#,
        POLL.0, POLL.1, PING.0, PING.1
    );
    (TestServer::start(&config).await, received, port)
}

async fn bc_authorize(
    server: &TestServer,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> (u16, Value) {
    let (status, body, _) = post_form(server, "/bc-authorize", Some(client), form).await;
    (status, body)
}

async fn poll(server: &TestServer, client: (&str, &str), auth_req_id: &str) -> (u16, Value) {
    let (status, body, _) = post_form(
        server,
        "/token",
        Some(client),
        &[("grant_type", GRANT), ("auth_req_id", auth_req_id)],
    )
    .await;
    (status, body)
}

async fn wait_for(received: &Received, path: &str, count: usize) -> Vec<(String, String)> {
    for _ in 0..100 {
        let got: Vec<(String, String)> = received
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, a, b)| (a.clone(), b.clone()))
            .collect();
        if got.len() >= count {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing arrived at {path}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_mode_the_device_is_told_and_the_user_approves_on_our_page() {
    let (server, received, port) = setup().await;
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["backchannel_authentication_endpoint"],
        json!(server.url("/bc-authorize"))
    );
    assert_eq!(
        discovery["backchannel_token_delivery_modes_supported"],
        json!(["poll", "ping"])
    );
    assert!(
        discovery["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(GRANT))
    );

    let (status, ack) = bc_authorize(
        &server,
        POLL,
        &[
            ("scope", "openid profile"),
            ("login_hint", "alice"),
            ("binding_message", "W4SCT"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(
        (ack["expires_in"].as_u64(), ack["interval"].as_u64()),
        (Some(300), Some(5))
    );
    let auth_req_id = ack["auth_req_id"].as_str().unwrap();

    // The device channel gets a JWT of ours, for it, naming the user and the request; no
    // credential of the client's and not the client's auth_req_id (CVE-60).
    let (_, jwt) = wait_for(&received, "/channel", 1).await.remove(0);
    let set: JwkSet =
        serde_json::from_value(server.get_json("/.well-known/jwks.json").await).unwrap();
    let header = decode_header(&jwt).unwrap();
    let mut validation = Validation::new(header.alg);
    let channel = format!("http://127.0.0.1:{port}/channel");
    validation.set_audience(&[channel.as_str()]);
    validation.set_issuer(&[&server.base]);
    let message = decode::<Value>(
        &jwt,
        &DecodingKey::from_jwk(set.find(header.kid.as_deref().unwrap()).unwrap()).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(message["binding_message"], "W4SCT");
    assert_eq!(message["client_name"], "Bank (poll)");
    assert!(!jwt.contains(auth_req_id) && !message.to_string().contains(POLL.1));
    let approval_uri = message["approval_uri"].as_str().unwrap().to_string();

    // §11: pending, then too fast.
    let (status, body) = poll(&server, POLL, auth_req_id).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let (status, body) = poll(&server, POLL, auth_req_id).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("slow_down")),
        "polled too fast"
    );

    // The user opens the page from their device: a wrong password does nothing.
    let browser = Browser::new(&server.base);
    let page = browser.open(&approval_uri).await;
    let html = page.page().to_string();
    assert!(
        html.contains("W4SCT") && html.contains("Bank (poll)"),
        "{html}"
    );
    let request = field(&html, "request");
    let submit = |password: &'static str, action: &'static str| {
        let http = browser.http.clone();
        let url = server.url("/ciba/approve");
        let request = request.clone();
        async move {
            http.post(url)
                .form(&[
                    ("request", request.as_str()),
                    ("password", password),
                    ("action", action),
                ])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(submit("wrong", "approve").await.contains("ciba-error"));
    assert!(
        submit("alice-password", "approve")
            .await
            .contains("ciba-outcome")
    );
    // Decided once: the page is gone.
    assert!(
        !browser
            .open(&approval_uri)
            .await
            .page()
            .contains("ciba-outcome")
    );

    server.monotonic.advance(Duration::from_secs(15));
    let (status, tokens) = poll(&server, POLL, auth_req_id).await;
    assert_eq!(status, 200, "{tokens}");
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(
        (id["aud"].as_str(), id["amr"].clone()),
        (Some(POLL.0), json!(["pwd"]))
    );
    // Once.
    server.monotonic.advance(Duration::from_secs(15));
    let (status, body) = poll(&server, POLL, auth_req_id).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_mode_the_admin_api_approves_and_the_client_is_called() {
    let (server, received, _) = setup().await;
    let (status, ack) = bc_authorize(
        &server,
        PING,
        &[
            ("scope", "openid"),
            ("login_hint", "alice"),
            ("client_notification_token", "notify-8a1c"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{ack}");
    let auth_req_id = ack["auth_req_id"].as_str().unwrap();
    let (_, jwt) = wait_for(&received, "/channel", 1).await.remove(0);
    let approval = jwt_claims(&jwt)["approval"].as_str().unwrap().to_string();
    let token = admin_token(&server, "ops", "tessera.admin.write").await;
    let path = format!("/admin/v1/ciba/{approval}");
    let (status, _, body) = call(
        &server,
        Method::POST,
        &path,
        Some(&token),
        Some(json!({"approve": true, "amr": ["hwk"]})),
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    // §10.2: the client is called with its token and the auth_req_id only.
    let (authorization, body) = wait_for(&received, "/ping", 1).await.remove(0);
    assert_eq!(authorization, "Bearer notify-8a1c");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"auth_req_id": auth_req_id})
    );
    let (status, tokens) = poll(&server, PING, auth_req_id).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["amr"],
        json!(["hwk"])
    );
    // Decided already: 404.
    let (status, _, _) = call(
        &server,
        Method::POST,
        &path,
        Some(&token),
        Some(json!({"approve": false})),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ciba_requests_wrong_in_one_way_each_are_refused() {
    let (server, received, _) = setup().await;
    let long = "x".repeat(65);
    type Case<'a> = (
        &'a str,
        (&'a str, &'a str),
        Vec<(&'a str, &'a str)>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "an unknown user",
            POLL,
            vec![("scope", "openid"), ("login_hint", "mallory")],
            400,
            "unknown_user_id",
        ),
        (
            "a disabled user",
            POLL,
            vec![("scope", "openid"), ("login_hint", "carol")],
            400,
            "unknown_user_id",
        ),
        (
            "two hints",
            POLL,
            vec![
                ("scope", "openid"),
                ("login_hint", "alice"),
                ("id_token_hint", "e30.e30."),
            ],
            400,
            "invalid_request",
        ),
        (
            "no hint",
            POLL,
            vec![("scope", "openid")],
            400,
            "invalid_request",
        ),
        (
            "login_hint_token",
            POLL,
            vec![("scope", "openid"), ("login_hint_token", "e30.e30.")],
            400,
            "invalid_request",
        ),
        (
            "a forged id_token_hint",
            POLL,
            vec![("scope", "openid"), ("id_token_hint", "e30.e30.")],
            400,
            "unknown_user_id",
        ),
        (
            "a long binding message",
            POLL,
            vec![
                ("scope", "openid"),
                ("login_hint", "alice"),
                ("binding_message", &long),
            ],
            400,
            "invalid_binding_message",
        ),
        (
            "a control character",
            POLL,
            vec![
                ("scope", "openid"),
                ("login_hint", "alice"),
                ("binding_message", "a\nb"),
            ],
            400,
            "invalid_binding_message",
        ),
        (
            "no openid",
            POLL,
            vec![("scope", "profile"), ("login_hint", "alice")],
            400,
            "invalid_scope",
        ),
        (
            "a scope not allowed",
            PING,
            vec![
                ("scope", "openid profile"),
                ("login_hint", "alice"),
                ("client_notification_token", "t"),
            ],
            400,
            "invalid_scope",
        ),
        (
            "ping without its token",
            PING,
            vec![("scope", "openid"), ("login_hint", "alice")],
            400,
            "invalid_request",
        ),
        (
            "too long an expiry",
            POLL,
            vec![
                ("scope", "openid"),
                ("login_hint", "alice"),
                ("requested_expiry", "9999"),
            ],
            400,
            "invalid_request",
        ),
        (
            "a client without the grant",
            ("web", "web-secret-web-secret-web-secret-00001"),
            vec![("scope", "openid"), ("login_hint", "alice")],
            400,
            "unauthorized_client",
        ),
        (
            "a wrong secret",
            ("bank-poll", "nope"),
            vec![("scope", "openid"), ("login_hint", "alice")],
            401,
            "invalid_client",
        ),
    ];
    for (why, client, form, status, error) in &cases {
        let (got, body) = bc_authorize(&server, *client, form).await;
        assert_eq!(
            (got, body["error"].as_str().unwrap_or("-")),
            (*status, *error),
            "{why}: {body}"
        );
    }
    assert!(
        received.lock().unwrap().is_empty(),
        "refused requests reach no device"
    );

    // Denied on the page: access_denied. Another client's auth_req_id: invalid_grant.
    let (_, ack) = bc_authorize(
        &server,
        POLL,
        &[("scope", "openid"), ("login_hint", "alice")],
    )
    .await;
    let id = ack["auth_req_id"].as_str().unwrap().to_string();
    let (_, jwt) = wait_for(&received, "/channel", 1).await.remove(0);
    let approval = jwt_claims(&jwt)["approval"].as_str().unwrap().to_string();
    let (status, body) = poll(&server, PING, &id).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let denied = server
        .http
        .post(server.url("/ciba/approve"))
        .form(&[("request", approval.as_str()), ("action", "deny")])
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 200);
    let (status, body) = poll(&server, POLL, &id).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("access_denied"))
    );

    // A request that asks for a level is not approved with a password alone.
    let (_, ack) = bc_authorize(
        &server,
        POLL,
        &[
            ("scope", "openid"),
            ("login_hint", "alice"),
            ("acr_values", "2"),
        ],
    )
    .await;
    assert!(ack["auth_req_id"].is_string(), "{ack}");
    let (_, jwt) = wait_for(&received, "/channel", 2).await.remove(1);
    let approval = jwt_claims(&jwt)["approval"].as_str().unwrap().to_string();
    let refused = server
        .http
        .post(server.url("/ciba/approve"))
        .form(&[
            ("request", approval.as_str()),
            ("password", "alice-password"),
            ("action", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("needs more than your password")
    );

    // Expired: expired_token.
    let (_, ack) = bc_authorize(
        &server,
        POLL,
        &[
            ("scope", "openid"),
            ("login_hint", "alice"),
            ("requested_expiry", "60"),
        ],
    )
    .await;
    assert_eq!(ack["expires_in"], json!(60));
    server.clock.advance(61);
    let (status, body) = poll(&server, POLL, ack["auth_req_id"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("expired_token"))
    );
}
