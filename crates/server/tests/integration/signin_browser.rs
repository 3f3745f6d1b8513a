//! A real browser signs in: headless Chromium (Debian's, driven through ChromeDriver) fills in
//! the login and consent pages and lands on the client's redirect_uri with a code; with
//! form_post, our page's script posts the response to the client.

use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use axum::routing::get;

use crate::signin::{VERIFIER, authorize_url, redeem};
use crate::support::{TestServer, eventually, free_port};
use crate::webdriver::Chromium;

/// What the client's redirect_uri received: the query of a GET or the body of a POST.
type Received = Arc<Mutex<Vec<String>>>;

/// A relying party's callback endpoint on a loopback port.
async fn callback_server(port: u16) -> Received {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/cb",
            get(
                |State(r): State<Received>, RawQuery(q): RawQuery| async move {
                    r.lock().unwrap().push(q.unwrap_or_default());
                    "signed in"
                },
            )
            .post(|State(r): State<Received>, body: String| async move {
                r.lock().unwrap().push(body);
                "signed in"
            }),
        )
        .route("/rp", get(rp_page))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    received
}

/// A client page that asks the OP's check-session iframe about `ss` (Session Management 1.0
/// §3.1) and shows the answer in `#result`.
async fn rp_page(RawQuery(q): RawQuery) -> axum::response::Html<String> {
    let q = q.unwrap_or_default();
    let get = |name: &str| param(&q, name).unwrap_or_default();
    let (op, message) = (get("op"), format!("{} {}", get("client"), get("ss")));
    axum::response::Html(format!(
        r#"<!doctype html><html><body><div id="result">pending</div>
<iframe id="op" src="{op}/check_session"></iframe>
<script>
window.addEventListener("message", function (e) {{
  if (e.origin === "{op}") document.getElementById("result").textContent = e.data;
}});
document.getElementById("op").addEventListener("load", function () {{
  document.getElementById("op").contentWindow.postMessage({message:?}, "{op}");
}});
</script></body></html>"#
    ))
}

/// What the check-session iframe answered on the client's page.
async fn iframe_answer(browser: &Chromium) -> &'static str {
    for _ in 0..100 {
        let html = browser.source().await;
        for word in ["unchanged", "changed", "error"] {
            if html.contains(&format!("<div id=\"result\">{word}</div>")) {
                return word;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "the check-session iframe did not answer: {}",
        browser.source().await
    );
}

fn param(received: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(received.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn chromium_signs_in_through_the_login_and_consent_pages() {
    let port = free_port();
    let received = callback_server(port).await;
    let redirect = format!("http://127.0.0.1:{port}/cb");
    let server = TestServer::start(&format!(
        r#"
[[clients]]
client_id = "browser-app"
client_name = "Browser App"
secrets = ["browser-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["{redirect}"]
allowed_scopes = ["openid", "profile"]

[[users]]
username = "alice"
password = "alice-password"
claims = {{ name = "Alice Smith" }}
"#
    ))
    .await;
    let browser = Chromium::start().await;
    browser
        .goto(&authorize_url(
            &server,
            "browser-app",
            &redirect,
            "&scope=openid+profile&state=chromium-state&nonce=n",
        ))
        .await;
    browser.wait_for_url("/login").await;
    assert!(browser.source().await.contains("Browser App"));
    browser.type_into("#username", "alice").await;
    browser.type_into("#password", "alice-password").await;
    browser.click("button[value=login]").await;
    browser.wait_for_url("/consent").await;
    assert!(browser.source().await.contains("Your profile"));
    browser.click("button[value=allow]").await;
    browser.wait_for_url("/cb?").await;
    let got = received
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("a callback");
    assert_eq!(param(&got, "state").as_deref(), Some("chromium-state"));
    assert_eq!(param(&got, "iss").as_deref(), Some(server.base.as_str()));
    let code = param(&got, "code").unwrap();
    let (status, tokens) = redeem(
        &server,
        ("browser-app", "browser-secret"),
        &redirect,
        &code,
        Some(VERIFIER),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].is_string());

    // Signed in already: form_post goes straight to the auto-submitting page, whose script
    // (allowed by its Content-Security-Policy) posts the response to the client.
    browser
        .goto(&authorize_url(
            &server,
            "browser-app",
            &redirect,
            "&scope=openid+profile&state=second&response_mode=form_post",
        ))
        .await;
    eventually("the form_post response to arrive", || {
        let received = received.clone();
        async move { received.lock().unwrap().len() == 2 }
    })
    .await;
    let posted = received.lock().unwrap()[1].clone();
    assert_eq!(param(&posted, "state").as_deref(), Some("second"));
    assert!(param(&posted, "code").is_some_and(|c| c.len() >= 43));

    // Session Management 1.0: the client's page asks the check-session iframe.
    let session_state = param(&got, "session_state").expect("session_state in the response");
    let rp = |ss: &str| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("op", &server.base)
            .append_pair("client", "browser-app")
            .append_pair("ss", ss)
            .finish();
        format!("http://127.0.0.1:{port}/rp?{query}")
    };
    browser.goto(&rp(&session_state)).await;
    assert_eq!(iframe_answer(&browser).await, "unchanged");
    // Signing out changes the browser state: the iframe now says "changed".
    let id_token = tokens["id_token"].as_str().unwrap();
    browser
        .goto(&server.url(&format!("/end_session?id_token_hint={id_token}")))
        .await;
    browser.wait_for_url("/end_session").await;
    assert!(browser.source().await.contains("You are signed out"));
    browser.goto(&rp(&session_state)).await;
    assert_eq!(iframe_answer(&browser).await, "changed");
    browser.quit().await;
}
