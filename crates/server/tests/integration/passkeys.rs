//! Passkeys in a real browser: headless Chromium with the WebDriver virtual authenticator
//! (WebAuthn Level 3 §11) enrols a passkey on the account page, signs in with it alone
//! (passwordless, multi-factor by itself), and uses it as the second factor after the
//! password; the tokens' `amr` say so (RFC 8176 `hwk`).

use crate::signin::{VERIFIER, authorize_url, jwt_claims, redeem};
use crate::support::{TestServer, free_port};
use crate::webdriver::Chromium;

fn config(callback: u16) -> String {
    format!(
        r#"
[[clients]]
client_id = "rp"
secrets = ["rp-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["http://127.0.0.1:{callback}/cb", "https://rp.example/cb"]
allowed_scopes = ["openid", "email"]
require_consent = false

[[users]]
username = "alice"
password = "alice-password"
"#
    )
}

/// A relying party's callback: answers anything, so that the browser lands there.
async fn callback_server(port: u16) {
    let app = axum::Router::new().route("/cb", axum::routing::get(|| async { "signed in" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
}

async fn code_at(browser: &Chromium) -> String {
    browser.wait_for_url("/cb?").await;
    let url = url::Url::parse(&browser.url().await).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {url}"))
}

async fn amr(server: &TestServer, callback: u16, code: &str) -> serde_json::Value {
    let cb = format!("http://127.0.0.1:{callback}/cb");
    let (status, body) = redeem(server, ("rp", "rp-secret"), &cb, code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{body}");
    jwt_claims(body["id_token"].as_str().unwrap())["amr"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_enrols_signs_in_alone_and_as_a_second_factor() {
    let (port, callback) = (free_port(), free_port());
    callback_server(callback).await;
    // WebAuthn's relying party is a domain name (§5.1.1): the issuer is localhost.
    let server = TestServer::start_at("localhost", port, &config(callback)).await;
    let issuer = format!("http://localhost:{port}");
    let browser = Chromium::start().await;
    let authenticator = browser.add_virtual_authenticator().await;

    // Enrolment on the account page, after a password sign-in.
    browser.goto(&format!("{issuer}/account")).await;
    browser.wait_for_url("/login").await;
    browser.type_into("#username", "alice").await;
    browser.type_into("#password", "alice-password").await;
    browser.click("button[value=login]").await;
    browser.wait_for_url("/account").await;
    browser.click("#passkey-register").await;
    browser.wait_for_url("done=passkey").await;
    assert!(browser.source().await.contains("Your passkey is added."));
    let held = browser.credentials(&authenticator).await;
    assert_eq!(held.len(), 1, "one credential, discoverable: {held:?}");
    assert_eq!(held[0]["isResidentCredential"], true);

    // Passwordless: a new visitor in the same browser picks the passkey on the login page.
    browser.delete_cookies().await;
    let cb = format!("http://127.0.0.1:{callback}/cb");
    let url =
        authorize_url(&server, "rp", &cb, "&scope=openid&state=s1").replace(&server.base, &issuer);
    browser.goto(&url).await;
    browser.wait_for_url("/login").await;
    browser.click("#passkey-signin").await;
    let code = code_at(&browser).await;
    assert_eq!(
        amr(&server, callback, &code).await,
        serde_json::json!(["hwk", "mfa"])
    );

    // As the second factor: the password, then the passkey on the factor page. (Cookies are
    // deleted for the page's own host: the server's.)
    browser.goto(&format!("{issuer}/healthz")).await;
    browser.delete_cookies().await;
    browser.goto(&url.replace("state=s1", "state=s2")).await;
    browser.wait_for_url("/login").await;
    browser.type_into("#username", "alice").await;
    browser.type_into("#password", "alice-password").await;
    browser.click("button[value=login]").await;
    browser.wait_for_url("/login/factor").await;
    browser.click("#passkey-factor").await;
    let code = code_at(&browser).await;
    assert_eq!(
        amr(&server, callback, &code).await,
        serde_json::json!(["pwd", "hwk", "mfa"])
    );
    browser.quit().await;
}

/// Hostile and malformed input at the passkey endpoints: a clear 4xx, never a 5xx; a ceremony is
/// used once and only by the browser that started it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_endpoints_refuse_bad_input() {
    let port = free_port();
    let server = TestServer::start_at("localhost", port, &config(free_port())).await;
    let issuer = format!("http://localhost:{port}");
    let browser = crate::browser::Browser::new(&issuer);
    let post = async |path: &str, form: &[(&str, &str)]| {
        let r = browser
            .http
            .post(format!("{issuer}{path}"))
            .form(form)
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    };
    assert_eq!(post("/passkey/options", &[("purpose", "nope")]).await, 400);
    assert_eq!(
        post("/passkey/options", &[("purpose", "signin")]).await,
        400
    );
    assert_eq!(
        post(
            "/passkey/options",
            &[("purpose", "register"), ("csrf", "x")]
        )
        .await,
        400
    );
    let big = "x".repeat(20_000);
    for form in [
        vec![("ceremony", "unknown"), ("csrf", "x"), ("credential", "{}")],
        vec![("ceremony", big.as_str())],
        vec![],
    ] {
        let status = post("/passkey/finish", &form).await;
        assert!((400..500).contains(&status), "{form:?}: {status}");
    }
    // A real sign-in ceremony, answered with garbage, then replayed.
    let url = authorize_url(
        &server,
        "rp",
        "https://rp.example/cb",
        "&scope=openid&state=s",
    )
    .replace(&server.base, &issuer);
    let page = browser.open(&url).await;
    let html = page.page();
    let (interaction, csrf) = (
        crate::browser::field(html, "interaction"),
        crate::browser::field(html, "csrf"),
    );
    let started: serde_json::Value = browser
        .http
        .post(format!("{issuer}/passkey/options"))
        .form(&[
            ("purpose", "signin"),
            ("interaction", &interaction),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (ceremony, token) = (
        started["ceremony"].as_str().unwrap(),
        started["csrf"].as_str().unwrap(),
    );
    assert!(
        started["options"]["publicKey"]["challenge"].is_string(),
        "{started}"
    );
    // Another browser cannot answer it.
    let other = crate::browser::Browser::new(&issuer);
    let forged = other
        .http
        .post(format!("{issuer}/passkey/finish"))
        .form(&[
            ("ceremony", ceremony),
            ("csrf", token),
            ("credential", "{}"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let garbage = post(
        "/passkey/finish",
        &[
            ("ceremony", ceremony),
            ("csrf", token),
            ("credential", "{\"id\":1}"),
        ],
    )
    .await;
    assert_eq!(garbage, 400);
    // Used: a second answer finds nothing.
    let again = post(
        "/passkey/finish",
        &[
            ("ceremony", ceremony),
            ("csrf", token),
            ("credential", "{}"),
        ],
    )
    .await;
    assert_eq!(again, 400);
}
