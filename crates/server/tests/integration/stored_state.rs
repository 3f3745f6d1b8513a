//! What Tessera keeps and what it reflects. SEC-13, SEC-36: the database holds digests of
//! codes, tokens and secrets, never the values (checked by reading the SQLite files' bytes).
//! SEC-19: malformed code verifiers are refused at /token. SEC-56: markup in reflected values
//! is escaped. SEC-11: form POSTs answer 303.

use crate::browser::{Browser, Landing, field};
use crate::signin::{PEOPLE, VERIFIER, authorize_url, redeem};
use crate::support::TestServer;
use axum::http::header::LOCATION;

const SPA_CB: &str = "http://127.0.0.1:7777/cb";

/// The bytes of the SQLite database and its write-ahead log.
fn database_bytes(server: &TestServer) -> Vec<u8> {
    let dir = server.dir.as_ref().unwrap().path();
    let mut bytes = vec![];
    for name in ["tessera.db", "tessera.db-wal"] {
        bytes.extend(std::fs::read(dir.join(name)).unwrap_or_default());
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn spa_code(server: &TestServer, browser: &Browser) -> String {
    let url = authorize_url(server, "spa", SPA_CB, "&scope=openid+offline_access");
    let landing = browser.authorize(&url, "alice", "alice-password").await;
    landing.param("code").expect("a code")
}

#[tokio::test]
async fn sec13_sec36_the_database_holds_digests_not_codes_tokens_or_secrets() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let code = spa_code(&server, &browser).await;
    let stored = database_bytes(&server);
    assert!(!contains(&stored, &code), "the code is stored in clear");
    // The scan works: the code's digest is there.
    assert!(contains(
        &stored,
        &tessera_core::crypto::handle_digest(&code)
    ));

    let (status, tokens) = redeem(&server, ("spa", ""), SPA_CB, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{tokens}");
    let stored = database_bytes(&server);
    let cookies = browser.cookies();
    let mut values: Vec<(String, String)> = vec![
        ("code".into(), code.clone()),
        (
            "access token".into(),
            tokens["access_token"].as_str().unwrap().into(),
        ),
        (
            "refresh token".into(),
            tokens["refresh_token"].as_str().unwrap().into(),
        ),
        ("client secret".into(), "web-secret".into()),
        ("API secret".into(), "api1-secret".into()),
        ("password".into(), "alice-password".into()),
    ];
    // The session and browser-binding cookies; the browser-state cookie is public by design
    // (Session Management 1.0 §3: the check-session iframe's script reads it).
    values.extend(
        cookies
            .iter()
            .filter(|(n, _)| !n.ends_with("-bs"))
            .map(|(n, v)| (format!("cookie {n}"), v.clone())),
    );
    assert!(
        values.len() >= 8,
        "both secret cookies were checked: {cookies:?}"
    );
    for (what, value) in &values {
        assert!(!contains(&stored, value), "the {what} is stored in clear");
    }
}

#[tokio::test]
async fn sec19_malformed_code_verifiers_are_refused_at_the_token_endpoint() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    // RFC 7636 §4.1: 43 to 128 characters of [A-Za-z0-9-._~].
    for verifier in [
        &VERIFIER[..42],
        &format!("{VERIFIER}{}", "a".repeat(129 - VERIFIER.len())),
        &format!("{}+", &VERIFIER[..42]),
        &format!("{} ", &VERIFIER[..42]),
        &format!("{}é", &VERIFIER[..41]),
    ] {
        let code = spa_code(&server, &browser).await;
        let (status, body) = redeem(&server, ("spa", ""), SPA_CB, &code, Some(verifier)).await;
        assert_eq!(status, 400, "{verifier:?}: {body}");
        assert!(
            matches!(
                body["error"].as_str(),
                Some("invalid_grant" | "invalid_request")
            ),
            "{body}"
        );
        // The code is burned: the right verifier no longer works.
        let (status, _) = redeem(&server, ("spa", ""), SPA_CB, &code, Some(VERIFIER)).await;
        assert_eq!(status, 400);
    }
}

/// The redirect of `response` as an absolute URL.
fn absolute(server: &TestServer, response: &reqwest::Response) -> String {
    let location = response.headers()[LOCATION].to_str().unwrap();
    url::Url::parse(&server.base)
        .unwrap()
        .join(location)
        .unwrap()
        .to_string()
}

const MARKUP: &str = "\"><script>alert(1)</script><img src=x onerror=alert(2)>";

fn assert_escaped(html: &str) {
    for raw in ["<script>alert", "<img src=x"] {
        assert!(!html.contains(raw), "unescaped markup `{raw}` in:\n{html}");
    }
}

#[tokio::test]
async fn sec56_reflected_values_are_escaped_and_sec11_posts_answer_303() {
    let config = format!(
        "{PEOPLE}\n[[clients]]\nclient_id = \"markup\"\nclient_name = '{MARKUP}'\nsecrets = [\"markup-secret\"]\ngrant_types = [\"authorization_code\"]\nredirect_uris = [\"https://markup.example/cb\"]\nallowed_scopes = [\"openid\", \"profile\"]\n"
    );
    let server = TestServer::start(&config).await;
    let browser = Browser::new(&server.base);
    let hint: String = url::form_urlencoded::byte_serialize(MARKUP.as_bytes()).collect();
    let state = hint.clone();
    let url = authorize_url(
        &server,
        "markup",
        "https://markup.example/cb",
        &format!("&scope=openid+profile&login_hint={hint}&state={state}&response_mode=form_post"),
    );
    // The login page shows the client's name and the login hint.
    let login = browser.open(&url).await;
    assert!(login.is_login());
    assert_escaped(login.page());
    assert!(
        login.page().contains("&lt;script&gt;"),
        "the name is shown, escaped"
    );
    // SEC-11: the login POST answers 303.
    let response = browser
        .http
        .post(server.url("/login"))
        .form(&[
            ("interaction", field(login.page(), "interaction")),
            ("csrf", field(login.page(), "csrf")),
            ("username", "alice".into()),
            ("password", "alice-password".into()),
            ("action", "login".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let consent = browser.open(&absolute(&server, &response)).await;
    assert!(consent.is_consent(), "{consent:?}");
    assert_escaped(consent.page());
    // With response_mode=form_post the consent POST answers with the form_post page itself
    // (no redirect), which carries `state` escaped.
    let allow = |page: &Landing| {
        let form = [
            ("interaction", field(page.page(), "interaction")),
            ("csrf", field(page.page(), "csrf")),
            ("action", "allow".into()),
        ];
        browser.http.post(server.url("/consent")).form(&form).send()
    };
    let response = allow(&consent).await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("name=\"state\""), "{html}");
    assert_escaped(&html);
    // SEC-11: with a redirect, the consent POST answers 303.
    let url = authorize_url(
        &server,
        "markup",
        "https://markup.example/cb",
        "&scope=openid+profile&state=s",
    );
    let consent = browser.open(&url).await;
    assert!(consent.is_consent(), "{consent:?}");
    let response = allow(&consent).await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(absolute(&server, &response).starts_with("https://markup.example/cb?code="));
}
