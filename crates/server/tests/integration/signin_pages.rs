//! The login and consent pages: one message for every failed sign-in, throttling, CSRF and
//! browser binding, cancel and deny, security headers and cookies, themes, hostile input; and
//! the userinfo endpoint's errors (RFC 6750 §3).

use reqwest::header::{LOCATION, SET_COOKIE};

use crate::browser::{Browser, Landing, field};
use crate::flows::{SignIn, sign_in};
use crate::signin::{PEOPLE, authorize_url};
use crate::support::TestServer;

const OTHER_CB: &str = "https://other.example/cb";

fn login_url(server: &TestServer) -> String {
    authorize_url(server, "other", OTHER_CB, "&scope=openid&state=s")
}

fn status(landing: &Landing) -> u16 {
    match landing {
        Landing::Page { status, .. } => status.as_u16(),
        Landing::Client(_) => 303,
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_message() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let login = browser.open(&login_url(&server)).await;
    let wrong = browser.login(&login, "alice", "not-her-password").await;
    assert!(wrong.is_login() && status(&wrong) == 200);
    let unknown = browser.login(&wrong, "mallory", "whatever").await;
    assert!(unknown.is_login());
    let message = "The username or password is incorrect.";
    assert!(wrong.page().contains(message) && unknown.page().contains(message));
    // The typed username is kept (escaped), the password never is.
    assert!(unknown.page().contains("value=\"mallory\""));
    assert!(!wrong.page().contains("not-her-password"));
    // Each re-shown form is a new interaction; the right password then works.
    assert_ne!(
        field(wrong.page(), "interaction"),
        field(login.page(), "interaction")
    );
    let done = browser.login(&unknown, "alice", "alice-password").await;
    assert!(done.param("code").is_some());
    // login_hint fills in the username (OIDC Core §3.1.2.1).
    let hinted = Browser::new(&server.base)
        .open(&format!("{}&login_hint=bob%40example", login_url(&server)))
        .await;
    assert!(hinted.page().contains("value=\"bob@example\""));
}

#[tokio::test]
async fn repeated_failures_slow_the_account_down() {
    let server = TestServer::start(&format!(
        "{PEOPLE}\n[login]\nmax_failures_per_account = 3\n"
    ))
    .await;
    let browser = Browser::new(&server.base);
    let mut page = browser.open(&login_url(&server)).await;
    for _ in 0..3 {
        page = browser.login(&page, "alice", "wrong").await;
        assert_eq!(status(&page), 200);
    }
    // Now even the right password waits, for any spelling of the account.
    page = browser.login(&page, "ALICE", "alice-password").await;
    assert_eq!(status(&page), 429);
    assert!(page.page().contains("Too many failed attempts"));
    // Another account from another browser is not affected.
    let other = Browser::new(&server.base);
    let login = other.open(&login_url(&server)).await;
    assert!(
        other
            .login(&login, "bob", "bob-password")
            .await
            .param("code")
            .is_some()
    );
}

#[tokio::test]
async fn forms_need_their_csrf_token_their_browser_and_are_used_once() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let login = browser.open(&login_url(&server)).await;
    let page = login.page().to_string();
    let id = field(&page, "interaction");
    let post = |client: &reqwest::Client, csrf: String| {
        let form = vec![
            ("interaction", id.clone()),
            ("csrf", csrf),
            ("username", "alice".into()),
            ("password", "alice-password".into()),
            ("action", "login".into()),
        ];
        let request = client.post(server.url("/login")).form(&form);
        async move { request.send().await.unwrap() }
    };
    // A wrong token.
    let forged = post(&browser.http, "A".repeat(43)).await;
    assert_eq!(forged.status(), 403);
    // The right token from another browser (login CSRF).
    let attacker = Browser::new(&server.base);
    let forged = post(&attacker.http, field(&page, "csrf")).await;
    assert_eq!(forged.status(), 403);
    assert!(forged.headers().get(LOCATION).is_none());
    // The right browser: accepted once, a replay is refused.
    let ok = post(&browser.http, field(&page, "csrf")).await;
    assert_eq!(ok.status(), 303);
    let replay = post(&browser.http, field(&page, "csrf")).await;
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("expired"));
    // Pages of unknown or expired interactions.
    for path in [
        "/login",
        "/login?interaction=nope",
        "/consent?interaction=",
        "/consent",
    ] {
        let response = browser.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
    }
    // A form left open longer than 15 minutes.
    let slow = Browser::new(&server.base);
    let late = slow.open(&login_url(&server)).await;
    server.clock.advance(16 * 60);
    let expired = slow.login(&late, "alice", "alice-password").await;
    assert_eq!(status(&expired), 400);
}

#[tokio::test]
async fn cancel_and_deny_send_access_denied() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let login = browser.open(&login_url(&server)).await;
    let cancelled = browser
        .submit(login.page(), "/login", &[("action", "cancel")])
        .await;
    assert_eq!(cancelled.param("error").as_deref(), Some("access_denied"));
    assert_eq!(cancelled.param("state").as_deref(), Some("s"));
    let url = authorize_url(
        &server,
        "web",
        "https://web.example/cb",
        "&scope=openid&state=d",
    );
    let login = browser.open(&url).await;
    let consent = browser.login(&login, "alice", "alice-password").await;
    assert!(consent.page().contains("Web App"));
    let denied = browser
        .submit(consent.page(), "/consent", &[("action", "deny")])
        .await;
    assert_eq!(denied.param("error").as_deref(), Some("access_denied"));
    assert_eq!(denied.param("state").as_deref(), Some("d"));
    // Consent not remembered: asked again, and prompt=consent asks even when remembered.
    let again = browser.open(&url).await;
    assert!(again.is_consent());
    let back = browser.allow(&again, true).await;
    assert!(back.param("code").is_some());
    assert!(browser.open(&url).await.param("code").is_some());
    assert!(
        browser
            .open(&format!("{url}&prompt=consent"))
            .await
            .is_consent()
    );
}

#[tokio::test]
async fn pages_cannot_be_framed_or_cached_and_cookies_are_locked_down() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let first = browser.http.get(login_url(&server)).send().await.unwrap();
    assert_eq!(first.status(), 303);
    let cookies: Vec<String> = first
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        cookies.len(),
        1,
        "only the browser binding before sign-in: {cookies:?}"
    );
    assert!(cookies[0].contains("HttpOnly") && cookies[0].contains("SameSite=Lax"));
    let Landing::Page { headers, .. } = browser.open(&login_url(&server)).await else {
        panic!("no page");
    };
    assert_eq!(headers["x-frame-options"], "DENY");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("script-src"));
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let css = browser
        .http
        .get(server.url("/assets/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );

    // Under an https issuer the cookies are __Host- and Secure.
    let dir = tempfile::tempdir().unwrap();
    let secure = TestServer::start_instance(
        &crate::support::sqlite_url(dir.path()),
        Some("https://id.example"),
        PEOPLE,
    )
    .await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .get(secure.url("/authorize?client_id=other&redirect_uri=https%3A%2F%2Fother.example%2Fcb&response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("__Host-tessera-browser=") && cookie.contains("; Secure"));
    assert!(cookie.contains("Path=/") && !cookie.contains("Domain"));
    assert!(
        response.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with("https://id.example/login?interaction=")
    );
}

#[tokio::test]
async fn a_theme_directory_replaces_the_pages() {
    let theme = tempfile::tempdir().unwrap();
    std::fs::write(
        theme.path().join("login.html"),
        r#"{% extends "layout.html" %}{% block content %}<h1>ACME sign-in</h1>
<form method="post" action="{{ base }}/login"><input type="hidden" name="interaction" value="{{ interaction }}">
<input type="hidden" name="csrf" value="{{ csrf }}"><input name="username"><input name="password" type="password">
<button name="action" value="login">Go</button></form>{% endblock %}"#,
    )
    .unwrap();
    std::fs::write(
        theme.path().join("style.css"),
        "body { color: rebeccapurple }",
    )
    .unwrap();
    let server = TestServer::start(&format!(
        "[ui]\ntemplates = \"{}\"\n{PEOPLE}",
        theme.path().display()
    ))
    .await;
    let browser = Browser::new(&server.base);
    let login = browser.open(&login_url(&server)).await;
    assert!(login.page().contains("ACME sign-in"));
    let css = browser
        .http
        .get(server.url("/assets/style.css"))
        .send()
        .await
        .unwrap();
    assert!(css.text().await.unwrap().contains("rebeccapurple"));
    assert!(
        browser
            .login(&login, "alice", "alice-password")
            .await
            .param("code")
            .is_some()
    );
}

#[tokio::test]
async fn hostile_input_on_the_pages_gets_a_clear_4xx() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let many: String = (0..1_000).map(|i| format!("&p{i}=x")).collect();
    let plain = authorize_url(&server, "other", OTHER_CB, "&scope=openid");
    let cases = [
        format!("{}{many}", login_url(&server)),
        format!("{}{}", login_url(&server), "&p=x".repeat(5_000)),
        format!("{plain}&state=%FF%FE"),
        format!("{plain}&state=%ZZ"),
        format!("{plain}&state=a&state=b"),
        format!("{plain}&claims=%7B%22userinfo%22%3A5%7D"),
        format!("{plain}&claims={}", "x".repeat(5_000)),
        format!("{plain}&max_age=99999999999999999999999"),
        server.url("/authorize"),
        server.url("/authorize?client_id=other&client_id=web"),
    ];
    for url in cases {
        let response = browser.http.get(&url).send().await.unwrap();
        let code = response.status().as_u16();
        assert!(
            code == 303 || (400..500).contains(&code),
            "{code} for {}",
            &url[..url.len().min(120)]
        );
        if code == 303 {
            let to = response.headers()[LOCATION].to_str().unwrap();
            // Unknown parameters are ignored (RFC 6749 §3.1), and `%ZZ` is read literally
            // (WHATWG URL form parsing): those go on to the login page.
            let accepted = url.contains("&p") || url.ends_with("%ZZ");
            assert!(
                (accepted && to.contains("/login?"))
                    || (!accepted && to.starts_with(OTHER_CB) && to.contains("error=")),
                "{to} for {}",
                &url[url.len().saturating_sub(60)..]
            );
        }
    }
    // 10,000 parameters in a POST body.
    let response = browser
        .http
        .post(server.url("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("p=x&".repeat(10_000))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    // Bodies: too large, not a form, broken encoding.
    let login = browser.open(&login_url(&server)).await;
    let big = "a".repeat(2 * 1024 * 1024);
    let response = browser
        .http
        .post(server.url("/login"))
        .form(&[
            ("interaction", field(login.page(), "interaction")),
            ("password", big),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    for (content_type, body) in [
        ("application/json", "{}".to_string()),
        (
            "application/x-www-form-urlencoded",
            "interaction=%FF&csrf=%".to_string(),
        ),
    ] {
        let response = browser
            .http
            .post(server.url("/login"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    }
    // The original form still works.
    assert!(
        browser
            .login(&login, "alice", "alice-password")
            .await
            .param("code")
            .is_some()
    );
}

#[tokio::test]
async fn userinfo_errors_follow_rfc_6750() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let tokens = sign_in(
        &server,
        &browser,
        SignIn::new(
            ("other", "other-secret"),
            OTHER_CB,
            "openid+profile",
            ("alice", "alice-password"),
        ),
    )
    .await
    .tokens;
    let access = tokens["access_token"].as_str().unwrap();
    let url = server.url("/userinfo");
    // No token: a bare challenge.
    let none = server.http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        r#"Bearer realm="tessera""#
    );
    // A bad token: invalid_token.
    for bad in ["garbage", &"x".repeat(10_000), &format!("{access}x")] {
        let response = server.http.get(&url).bearer_auth(bad).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains(r#"error="invalid_token""#)
        );
    }
    // POST with the token in the body (§2.2) works; in both places it is refused.
    let posted = server
        .http
        .post(&url)
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let both = server
        .http
        .post(&url)
        .bearer_auth(access)
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 400);
    assert!(
        both.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_request""#)
    );
    // An expired token.
    server.clock.advance(3_601);
    let expired = server
        .http
        .get(&url)
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 401);
    // Credentials of another scheme are no bearer token.
    let scheme = server
        .http
        .get(&url)
        .header("authorization", format!("Basic {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(scheme.status(), 401);
    assert_eq!(
        scheme.headers()["www-authenticate"],
        r#"Bearer realm="tessera""#
    );
}

/// OIDC Core §3.1.2.1: POST is supported; it continues as a GET on our site, where the
/// SameSite=Lax session cookie is sent, so single sign-on works for POSTed requests too.
#[tokio::test]
async fn a_posted_authorization_request_continues_with_the_session() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let first = browser
        .authorize(&login_url(&server), "alice", "alice-password")
        .await;
    assert!(first.param("code").is_some());
    let form = [
        ("client_id", "other"),
        ("redirect_uri", OTHER_CB),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "posted"),
        ("code_challenge", crate::signin::CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let response = browser
        .http
        .post(server.url("/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(location.starts_with(&server.url("/authorize?")));
    let landing = browser.open(&location).await;
    assert_eq!(landing.param("state").as_deref(), Some("posted"));
    assert!(landing.param("code").is_some(), "no second login");
}

/// Pages belong to their step and user: a login interaction is not a consent page, and
/// prompt=consent asks even a client that skips consent (OIDC Core §3.1.2.1).
#[tokio::test]
async fn interactions_keep_to_their_step() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let login = browser.open(&login_url(&server)).await;
    let id = field(login.page(), "interaction");
    let as_consent = browser
        .http
        .get(server.url(&format!("/consent?interaction={id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(as_consent.status(), 400);
    let skipped = browser
        .submit(login.page(), "/consent", &[("action", "allow")])
        .await;
    assert_eq!(status(&skipped), 400, "consent before anyone signed in");
    let prompted = browser
        .authorize(
            &format!("{}&prompt=consent", login_url(&server)),
            "alice",
            "alice-password",
        )
        .await;
    assert!(prompted.param("code").is_some());
    let again = browser
        .open(&format!("{}&prompt=consent", login_url(&server)))
        .await;
    assert!(
        again.is_consent(),
        "`other` skips consent, but not when prompted"
    );
}
