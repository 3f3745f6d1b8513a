//! An upstream that misbehaves, one way at a time: every answer that fails a check of OIDC
//! Core §3.1.3.7, RFC 9207 or RFC 6749 is refused with a page that says the provider could not
//! sign the user in, a log line with the reason, and no account; a replayed `state` and a
//! provider that is down are refused the same way. The upstream here is a small server of the
//! test's own whose answers are made wrong on purpose (a real provider will not make them).

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_core::clock::Clock as _;
use tessera_core::crypto::base64url;
use tessera_core::tokens::{SigningAlg, SigningKey};

use crate::browser::{Browser, Landing};
use crate::federation::login_page;
use crate::support::{TestServer, free_port};

/// What the mock gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Issuer,
    Audience,
    Nonce,
    Expired,
    Signature,
    AlgNone,
    MixUp,
    NoIss,
    CodeRefused,
    Declined,
}

struct Mock {
    issuer: String,
    now: std::sync::atomic::AtomicI64,
    fault: Mutex<Fault>,
    key: SigningKey,
    other_key: SigningKey,
}

type Shared = Arc<Mock>;

fn sign(key: &SigningKey, alg: &str, claims: &Value) -> String {
    let header = json!({"alg": alg, "kid": key.kid(), "typ": "JWT"});
    let input = format!(
        "{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes())
    );
    if alg == "none" {
        return format!("{input}.");
    }
    format!(
        "{input}.{}",
        base64url(&key.sign(input.as_bytes()).unwrap())
    )
}

async fn discovery(State(m): State<Shared>) -> Json<Value> {
    Json(json!({
        "issuer": m.issuer,
        "authorization_endpoint": format!("{}/authorize", m.issuer),
        "token_endpoint": format!("{}/token", m.issuer),
        "jwks_uri": format!("{}/jwks", m.issuer),
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks(State(m): State<Shared>) -> Json<Value> {
    Json(json!({"keys": [m.key.public_jwk()]}))
}

/// Signs in at once: back to the redirect URI with the nonce as the code.
async fn authorize(
    State(m): State<Shared>,
    Query(q): Query<Vec<(String, String)>>,
) -> impl IntoResponse {
    let get = |n: &str| {
        q.iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let fault = *m.fault.lock().unwrap();
    let mut params = vec![("state", get("state"))];
    match fault {
        Fault::Declined => params.push(("error", "access_denied".into())),
        _ => params.push(("code", get("nonce"))),
    }
    match fault {
        Fault::MixUp => params.push(("iss", "https://evil.example".into())),
        Fault::NoIss => {}
        _ => params.push(("iss", m.issuer.clone())),
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    Redirect::to(&format!("{}?{query}", get("redirect_uri")))
}

async fn token(State(m): State<Shared>, body: String) -> impl IntoResponse {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let nonce = form
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let fault = *m.fault.lock().unwrap();
    if fault == Fault::CodeRefused {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        );
    }
    // The downstream's test clock: the tokens' times are the ones it checks against.
    let now = m.now.load(std::sync::atomic::Ordering::SeqCst);
    let mut claims = json!({"iss": m.issuer, "aud": "tessera", "sub": "mock-user",
        "iat": now, "exp": now + 300, "nonce": nonce});
    match fault {
        Fault::Issuer => claims["iss"] = json!("https://evil.example"),
        Fault::Audience => claims["aud"] = json!("someone-else"),
        Fault::Nonce => claims["nonce"] = json!("not-the-nonce"),
        Fault::Expired => {
            claims["iat"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
        }
        _ => {}
    }
    let id_token = match fault {
        Fault::Signature => sign(&m.other_key, "RS256", &claims),
        Fault::AlgNone => sign(&m.key, "none", &claims),
        _ => sign(&m.key, "RS256", &claims),
    };
    (
        axum::http::StatusCode::OK,
        Json(json!({"access_token": "at", "token_type": "Bearer", "id_token": id_token})),
    )
}

async fn start_mock() -> Shared {
    let listener = tokio::net::TcpListener::bind("127.0.0.4:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let mock = Arc::new(Mock {
        issuer,
        now: std::sync::atomic::AtomicI64::new(0),
        fault: Mutex::new(Fault::None),
        key: SigningKey::generate(SigningAlg::Rs256).unwrap().0,
        other_key: SigningKey::generate(SigningAlg::Rs256).unwrap().0,
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(mock.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    mock
}

fn downstream(mock: &str, down_port: u16) -> String {
    format!(
        r#"
[[clients]]
client_id = "rp"
secrets = ["rp-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://rp.example/cb"]
allowed_scopes = ["openid", "email"]
require_consent = false

[outbound]
allow_http = true
allowed_networks = ["127.0.0.0/8"]

[[identity_providers]]
name = "mock"
type = "oidc"
issuer = "{mock}"
client_id = "tessera"
client_secret = "s"
use_userinfo = false

[[identity_providers]]
name = "down"
display_name = "Down Provider"
type = "oidc"
issuer = "http://127.0.0.1:{down_port}"
client_id = "tessera"
client_secret = "s"
"#
    )
}

/// Signs in through the mock; where the downstream's callback lands, and the callback URL.
async fn attempt(down: &TestServer, mock: &Mock) -> (Landing, String) {
    let browser = Browser::new(&down.base);
    let page = login_page(down, &browser, "").await;
    let sent = browser
        .submit(page.page(), "/login", &[("provider", "mock")])
        .await;
    let back = browser.at(&mock.issuer).open(sent.client().as_str()).await;
    let callback = back.client().to_string();
    (browser.open(&callback).await, callback)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec59_every_bad_upstream_answer_is_refused_with_a_clear_page() {
    let mock = start_mock().await;
    let down = TestServer::start(&downstream(&mock.issuer, free_port())).await;
    mock.now
        .store(down.clock.now(), std::sync::atomic::Ordering::SeqCst);
    // A good answer first: the mock is right when nothing is made wrong.
    let (landing, callback) = attempt(&down, &mock).await;
    assert!(landing.param("code").is_some(), "{landing:?}");
    cve37_the_callback_is_single_use(&down, &callback).await;

    for (fault, shown) in [
        (Fault::Issuer, "did not pass our checks"),
        (Fault::Audience, "did not pass our checks"),
        (Fault::Nonce, "did not pass our checks"),
        (Fault::Expired, "did not pass our checks"),
        (Fault::Signature, "did not pass our checks"),
        (Fault::AlgNone, "did not pass our checks"),
        (Fault::MixUp, "did not pass our checks"),
        (Fault::NoIss, "did not pass our checks"),
        (Fault::CodeRefused, "did not pass our checks"),
        (Fault::Declined, "did not sign you in (access_denied)"),
    ] {
        *mock.fault.lock().unwrap() = fault;
        let (landing, _) = attempt(&down, &mock).await;
        let Landing::Page { status, html, .. } = &landing else {
            panic!("{fault:?}: signed in anyway: {landing:?}");
        };
        assert_eq!(status.as_u16(), 502, "{fault:?}");
        assert!(html.contains(shown), "{fault:?}: {html}");
    }
    // No account was made by any refused answer: one for the good sign-in only.
    let users = down.running.state.store.list_users().await.unwrap();
    assert_eq!(
        users
            .iter()
            .filter(|u| u.username.starts_with("mock:"))
            .count(),
        1
    );
}

/// CVE-37: the upstream callback, once used, is refused in another browser and in the same.
async fn cve37_the_callback_is_single_use(down: &TestServer, callback: &str) {
    let replayed = Browser::new(&down.base).open(callback).await;
    assert_eq!(replayed.status_code(), 400);
    assert!(
        replayed.page().contains("This sign-in has expired"),
        "{}",
        replayed.page()
    );
    assert!(
        !Browser::new(&down.base)
            .cookies()
            .iter()
            .any(|(n, _)| n.contains("session"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cve37_a_callback_from_another_browser_is_refused() {
    let mock = start_mock().await;
    let down = TestServer::start(&downstream(&mock.issuer, free_port())).await;
    mock.now
        .store(down.clock.now(), std::sync::atomic::Ordering::SeqCst);
    let a = Browser::new(&down.base);
    let page = login_page(&down, &a, "").await;
    let sent = a
        .submit(page.page(), "/login", &[("provider", "mock")])
        .await;
    let back = a.at(&mock.issuer).open(sent.client().as_str()).await;
    let callback = back.client().to_string();
    // The attacker's browser brings the victim's callback: refused, and nothing is signed in.
    let b = Browser::new(&down.base);
    let stolen = b.open(&callback).await;
    assert_eq!(stolen.status_code(), 403, "{stolen:?}");
    assert!(!b.cookies().iter().any(|(n, _)| n.contains("session")));
    // The browser that left completes it once; a second time is refused.
    assert!(a.open(&callback).await.param("code").is_some());
    assert_eq!(a.open(&callback).await.status_code(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_is_down_gets_a_page_not_a_500() {
    let mock = start_mock().await;
    let down = TestServer::start(&downstream(&mock.issuer, free_port())).await;
    mock.now
        .store(down.clock.now(), std::sync::atomic::Ordering::SeqCst);
    let browser = Browser::new(&down.base);
    let page = login_page(&down, &browser, "").await;
    let sent = browser
        .submit(page.page(), "/login", &[("provider", "down")])
        .await;
    let Landing::Page { status, html, .. } = &sent else {
        panic!("{sent:?}")
    };
    assert_eq!(status.as_u16(), 502);
    assert!(
        html.contains("Down Provider could not be reached"),
        "{html}"
    );
}
