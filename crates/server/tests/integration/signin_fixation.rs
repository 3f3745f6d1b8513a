//! CVE-09 (SEC-51, SEC-52): on one browser, A signs in and out, then B signs in; B's tokens
//! are B's, and no session or interaction id repeats. CVE-17: the cookies the server sets hold
//! only opaque random ids, never a name, a client secret or other request data.

use serde_json::Value;

use crate::browser::{Browser, Landing};
use crate::flows::{SignIn, sign_in};
use crate::signin::{PEOPLE, VERIFIER, authorize_url, jwt_claims};
use crate::support::TestServer;

const SPA_CB: &str = "http://127.0.0.1:7777/cb";

/// Signs `user` in to `spa` on `browser` (a login page is expected); returns the token response
/// and the login page's URL.
async fn sign_in_to_spa(
    server: &TestServer,
    browser: &Browser,
    user: (&str, &str),
) -> (Value, String) {
    let how = SignIn {
        nonce: Some("n"),
        remember_consent: false,
        ..SignIn::new(("spa", ""), SPA_CB, "openid+profile", user)
    };
    let signed_in = sign_in(server, browser, how).await;
    let login_url = signed_in.login_page.unwrap_or_else(|| {
        panic!("expected the login page, got a redirect: single sign-on survived the sign-out")
    });
    (signed_in.tokens, login_url)
}

async fn userinfo_name(server: &TestServer, tokens: &Value) -> String {
    let info: Value = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    info["name"].as_str().unwrap_or_default().to_string()
}

/// Every cookie value is an opaque random id: base64url of at least 128 bits, holding none of
/// the values the sign-in carried.
fn assert_opaque(cookies: &[(String, String)], secrets: &[&str]) {
    assert!(!cookies.is_empty());
    for (name, value) in cookies {
        assert!(
            value.len() >= 22
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "cookie {name} is not an opaque id: {value}"
        );
        for secret in secrets {
            assert!(!value.contains(secret), "cookie {name} holds {secret}");
        }
    }
}

#[tokio::test]
async fn cve09_cve17_the_next_user_on_a_browser_gets_only_their_own_session() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let (alice, alice_login) = sign_in_to_spa(&server, &browser, ("alice", "alice-password")).await;
    let alice_cookies = browser.cookies();
    assert_opaque(&alice_cookies, &["alice", "spa", "Alice", VERIFIER]);
    let alice_sid = jwt_claims(alice["id_token"].as_str().unwrap())["sid"].clone();

    // Alice signs out (RP-initiated, with her identity token as the hint).
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", alice["id_token"].as_str().unwrap())
        .finish();
    let page = browser
        .open(&server.url(&format!("/end_session?{query}")))
        .await;
    assert!(matches!(page, Landing::Page { status, .. } if status == 200));

    // Bob signs in on the same browser.
    let (bob, bob_login) = sign_in_to_spa(&server, &browser, ("bob", "bob-password")).await;
    let bob_cookies = browser.cookies();
    assert_opaque(&bob_cookies, &["bob", "spa", "Bob", VERIFIER]);
    let (a, b) = (
        jwt_claims(alice["id_token"].as_str().unwrap()),
        jwt_claims(bob["id_token"].as_str().unwrap()),
    );
    assert_ne!(a["sub"], b["sub"], "the ID token is bob's");
    assert_ne!(alice_sid, b["sid"], "a new session id");
    assert_eq!(userinfo_name(&server, &bob).await, "Bob Jones");
    assert_eq!(
        userinfo_name(&server, &alice).await,
        "",
        "alice's access token is gone"
    );
    assert_ne!(alice_login, bob_login, "a new interaction id");
    for (name, value) in &bob_cookies {
        assert!(
            !alice_cookies.iter().any(|(_, v)| v == value),
            "cookie {name} kept its value across users"
        );
    }
}

/// The browser-binding cookie: a value the server did not issue is replaced, never used, and
/// a new one is issued at every sign-in.
#[tokio::test]
async fn browser_binding_is_only_what_the_server_issued_and_renewed_at_sign_in() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let base = reqwest::Url::parse(&server.base).unwrap();
    let planted = format!("{}{}", "p".repeat(43), "q".repeat(43));
    browser
        .jar
        .add_cookie_str(&format!("tessera-browser={planted}"), &base);
    let binding = |browser: &Browser| {
        browser
            .cookies()
            .into_iter()
            .find(|(n, _)| n == "tessera-browser")
            .map(|(_, v)| v)
            .unwrap()
    };
    let url = authorize_url(&server, "spa", SPA_CB, "&scope=openid&nonce=n");
    let page = browser.open(&url).await;
    assert!(page.is_login());
    let issued = binding(&browser);
    assert_ne!(issued, planted, "a planted value is replaced");
    let landing = browser.login(&page, "alice", "alice-password").await;
    let renewed = binding(&browser);
    assert_ne!(renewed, issued, "a new binding at sign-in");
    // The interaction goes on with the new binding (the consent page accepts it).
    let landing = if landing.is_consent() {
        browser.allow(&landing, false).await
    } else {
        landing
    };
    assert!(landing.param("code").is_some(), "{landing:?}");
}

/// Another user signing in over a session ends it as a sign-out would: its session-bound
/// tokens die with it instead of being orphaned.
#[tokio::test]
async fn signing_in_over_another_users_session_ends_it() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let (alice, _) = sign_in_to_spa(&server, &browser, ("alice", "alice-password")).await;
    assert_eq!(userinfo_name(&server, &alice).await, "Alice Smith");
    let url = authorize_url(&server, "spa", SPA_CB, "&scope=openid+profile&prompt=login");
    let page = browser.open(&url).await;
    let mut landing = browser.login(&page, "bob", "bob-password").await;
    if landing.is_consent() {
        landing = browser.allow(&landing, false).await;
    }
    assert!(landing.param("code").is_some());
    let info = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(alice["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        info.status(),
        401,
        "alice's session-bound token ended with her session"
    );
}

/// Another user signing in over a session ends it as a sign-out would: its clients get
/// back-channel logout tokens for it (nothing of the old session is orphaned).
#[tokio::test]
async fn the_session_another_user_signs_in_over_is_logged_out_at_its_clients() {
    use crate::signout::{clients, receiver, tokens, verify_logout_token};
    use crate::support::{eventually, free_port};
    let port = free_port();
    let received = receiver(port).await;
    let config = format!(
        "{}\n[[users]]\nusername = \"bob\"\npassword = \"bob-password\"\n",
        clients(port, free_port())
    );
    let server = TestServer::start(&config).await;
    let browser = Browser::new(&server.base);
    let alice = tokens(&server, &browser, "alpha", "openid").await;
    let alice_sid = jwt_claims(alice["id_token"].as_str().unwrap())["sid"].clone();
    let url = authorize_url(
        &server,
        "alpha",
        "https://alpha.example/cb",
        "&scope=openid&prompt=login",
    );
    let page = browser.open(&url).await;
    let landing = browser.login(&page, "bob", "bob-password").await;
    assert!(landing.param("code").is_some(), "{landing:?}");
    eventually(
        "alpha to get a logout token for alice's session",
        || async {
            received
                .lock()
                .unwrap()
                .iter()
                .any(|(who, _)| who == "alpha")
        },
    )
    .await;
    let token = received.lock().unwrap()[0].1.clone();
    let claims = verify_logout_token(&server, &token, "alpha").await;
    assert_eq!(claims["sid"], alice_sid);
}

/// A browser whose binding cookie the server did not issue (one from before bindings were
/// MAC-ed) can still confirm a sign-out: the confirmation page gives it a new binding.
#[tokio::test]
async fn a_sign_out_can_be_confirmed_with_an_old_browser_binding() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    sign_in_to_spa(&server, &browser, ("alice", "alice-password")).await;
    let base = reqwest::Url::parse(&server.base).unwrap();
    browser.jar.add_cookie_str(
        "tessera-browser=old-plain-value-of-an-earlier-version",
        &base,
    );
    // No hint: the sign-out asks for confirmation.
    let page = browser.open(&server.url("/end_session")).await;
    let Landing::Page { status, html, .. } = &page else {
        panic!("expected the confirmation page: {page:?}");
    };
    assert_eq!(status.as_u16(), 200, "{html}");
    let done = browser
        .submit(html, "/end_session/confirm", &[("action", "logout")])
        .await;
    assert!(
        matches!(&done, Landing::Page { status, html, .. } if status.as_u16() == 200 && html.contains("signed out")),
        "{done:?}"
    );
    // Signed out: the next sign-in shows the login page.
    let url = authorize_url(&server, "spa", SPA_CB, "&scope=openid");
    assert!(browser.open(&url).await.is_login());
}

/// A login form sent several times at once (a double click, a replaying attacker) is taken once:
/// one answer carries the code and a session cookie; every other finds the page expired and
/// stores nothing, so the user has exactly one session and one code was issued.
#[tokio::test]
async fn a_login_form_sent_several_times_at_once_opens_one_session() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let url = authorize_url(
        &server,
        "other",
        "https://other.example/cb",
        "&scope=openid",
    );
    let login = browser.open(&url).await;
    let page = login.page().to_string();
    let form = vec![
        ("interaction", crate::browser::field(&page, "interaction")),
        ("csrf", crate::browser::field(&page, "csrf")),
        ("username", "alice".to_string()),
        ("password", "alice-password".to_string()),
        ("action", "login".to_string()),
    ];
    // Three: more would be throttled as concurrent guesses on one account before any hashing.
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let request = browser.http.post(server.url("/login")).form(&form);
        sends.spawn(async move { request.send().await.unwrap() });
    }
    let mut codes = 0;
    while let Some(answer) = sends.join_next().await {
        let answer = answer.unwrap();
        match answer.status().as_u16() {
            303 => {
                let location = answer.headers()["location"].to_str().unwrap();
                assert!(location.contains("code="), "{location}");
                assert!(answer.headers().get("set-cookie").is_some());
                codes += 1;
            }
            400 => assert!(answer.text().await.unwrap().contains("expired")),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(codes, 1, "exactly one submission signs in");
    let store = &server.running.state.store;
    let alice = store.find_user_by_username("alice").await.unwrap().unwrap();
    let now = tessera_core::Clock::now(server.clock.as_ref());
    let sessions = store
        .list_sessions_for_subject(&alice.subject, now)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1, "one session, none orphaned");
}
