//! The negative cases of OpenID certification's Basic OP plan, one test each, against the
//! real server with a cookie-jar browser.

use reqwest::header::LOCATION;

use crate::browser::{Browser, Landing};
use crate::flows::{SignIn, sign_in};
use crate::signin::{PEOPLE, VERIFIER, authorize_url, jwt_claims, post_token, redeem, refresh};
use crate::support::TestServer;

const WEB: (&str, &str) = ("web", "web-secret");
const WEB_CB: &str = "https://web.example/cb";
const OTHER: (&str, &str) = ("other", "other-secret");
const OTHER_CB: &str = "https://other.example/cb";
const ALICE: (&str, &str) = ("alice", "alice-password");

/// A code for `other` (no consent page) signed in as alice in `browser`.
async fn other_code(server: &TestServer, browser: &Browser, extra: &str) -> Landing {
    let url = authorize_url(server, "other", OTHER_CB, &format!("&scope=openid{extra}"));
    browser.authorize(&url, ALICE.0, ALICE.1).await
}

/// The error a client redirect carries.
fn redirected_error(landing: &Landing) -> String {
    landing
        .param("error")
        .unwrap_or_else(|| panic!("no error in {landing:?}"))
}

#[tokio::test]
async fn code_reuse_fails_and_revokes_what_the_code_gave() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let url = authorize_url(&server, "web", WEB_CB, "&scope=openid+offline_access");
    let code = browser
        .authorize(&url, ALICE.0, ALICE.1)
        .await
        .param("code")
        .unwrap();
    let (status, first) = redeem(&server, WEB, WEB_CB, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200);
    let (status, second) = redeem(&server, WEB, WEB_CB, &code, Some(VERIFIER)).await;
    assert_eq!(
        (status, second["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // RFC 6749 §4.1.2: the tokens issued from the code are revoked.
    let (status, body) =
        refresh(&server, WEB, first["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn redirect_uri_mismatch_and_open_redirects_show_a_page_never_a_redirect() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    for evil in [
        "https://evil.example/cb",
        "https://web.example/cb/",
        "https://web.example/cb/../evil",
        "https://web.example/cbx",
        "https://web.example/cb?x=1",
        "https://web.example/cb#frag",
        "https://web.example.evil.example/cb",
        "https://web.example@evil.example/cb",
        "https://WEB.example/cb",
        "http://web.example/cb",
        "https://web.example:444/cb",
        "//evil.example/cb",
        "javascript:alert(1)",
        "http://127.0.0.1:7778/cb",
    ] {
        let url = authorize_url(&server, "web", evil, "&scope=openid&state=s");
        let response = browser.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{evil}");
        assert!(response.headers().get(LOCATION).is_none(), "{evil}");
        let html = response.text().await.unwrap();
        assert!(html.contains("redirect_uri"), "{evil}: the page says why");
    }
    // An unknown client gets the page too.
    let url = authorize_url(&server, "ghost", WEB_CB, "&scope=openid");
    let response = browser.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get(LOCATION).is_none());
    // And the token endpoint refuses a code with another redirect_uri.
    let code = browser
        .authorize(
            &authorize_url(&server, "web", WEB_CB, "&scope=openid"),
            ALICE.0,
            ALICE.1,
        )
        .await
        .param("code")
        .unwrap();
    let (status, body) = redeem(
        &server,
        WEB,
        "https://web.example/other",
        &code,
        Some(VERIFIER),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn missing_or_unsupported_response_type_goes_back_with_state() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let url = authorize_url(&server, "web", WEB_CB, "&scope=openid&state=s1");
    let missing = browser.open(&url.replace("response_type=code&", "")).await;
    assert_eq!(redirected_error(&missing), "invalid_request");
    assert_eq!(missing.param("state").as_deref(), Some("s1"));
    assert_eq!(missing.param("iss").as_deref(), Some(server.base.as_str()));
    for (rt, error) in [
        ("token", "unsupported_response_type"),
        ("bogus", "unsupported_response_type"),
        ("code+code", "unsupported_response_type"),
        // Known, but `web` is not registered for the implicit and hybrid flows.
        ("id_token", "unauthorized_client"),
        ("code+id_token", "unauthorized_client"),
    ] {
        let landing = browser
            .open(&format!(
                "{}&nonce=n",
                url.replace("response_type=code", &format!("response_type={rt}"))
            ))
            .await;
        assert_eq!(redirected_error(&landing), error, "{rt}");
        assert_eq!(landing.param("state").as_deref(), Some("s1"));
    }
}

#[tokio::test]
async fn without_the_openid_scope_there_is_no_identity_token() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let url = authorize_url(&server, "web", WEB_CB, "&scope=api1.read");
    let code = browser
        .authorize(&url, ALICE.0, ALICE.1)
        .await
        .param("code")
        .unwrap();
    let (status, body) = redeem(&server, WEB, WEB_CB, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("id_token").is_none(), "a plain OAuth 2.0 grant");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        "urn:api1"
    );
    // Its access token is not good for userinfo (OIDC Core §5.3).
    let response = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    // RFC 6749 §4.1.3: a request that did not name its redirect_uri (OAuth 2.0 only, one
    // registered URI) is redeemed without one.
    let url = server.url(&format!(
        "/authorize?client_id=web&response_type=code&scope=api1.read&code_challenge={}&code_challenge_method=S256",
        crate::signin::CHALLENGE
    ));
    let code = browser.open(&url).await.param("code").unwrap();
    let (status, body) = post_token(
        &server,
        WEB,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Without any scope at all: invalid_scope back to the client.
    let none = browser
        .open(&authorize_url(&server, "web", WEB_CB, "&state=x"))
        .await;
    assert_eq!(redirected_error(&none), "invalid_scope");
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let landing = other_code(&server, &browser, "&prompt=none&state=q").await;
    assert_eq!(redirected_error(&landing), "login_required");
    assert_eq!(landing.param("state").as_deref(), Some("q"));
    // With a session, prompt=none succeeds silently; consent still missing is consent_required.
    other_code(&server, &browser, "")
        .await
        .param("code")
        .unwrap();
    assert!(
        other_code(&server, &browser, "&prompt=none")
            .await
            .param("code")
            .is_some()
    );
    let web = browser
        .open(&authorize_url(
            &server,
            "web",
            WEB_CB,
            "&scope=openid&prompt=none",
        ))
        .await;
    assert_eq!(redirected_error(&web), "consent_required");
}

#[tokio::test]
async fn prompt_login_forces_a_new_login() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let first = other_code(&server, &browser, "")
        .await
        .param("code")
        .unwrap();
    let (_, first) = redeem(&server, OTHER, OTHER_CB, &first, Some(VERIFIER)).await;
    server.clock.advance(30);
    let session_cookie = |browser: &Browser| {
        browser
            .cookies()
            .into_iter()
            .find(|(name, _)| name == "tessera-session")
            .map(|(_, value)| value)
    };
    let before = session_cookie(&browser).unwrap();
    let url = authorize_url(&server, "other", OTHER_CB, "&scope=openid&prompt=login");
    let login = browser.open(&url).await;
    assert!(
        login.is_login(),
        "a session exists, yet the login page is shown"
    );
    let code = browser
        .login(&login, ALICE.0, ALICE.1)
        .await
        .param("code")
        .unwrap();
    let (_, second) = redeem(&server, OTHER, OTHER_CB, &code, Some(VERIFIER)).await;
    let (a, b) = (
        jwt_claims(first["id_token"].as_str().unwrap()),
        jwt_claims(second["id_token"].as_str().unwrap()),
    );
    assert_eq!(
        b["auth_time"].as_i64().unwrap(),
        a["auth_time"].as_i64().unwrap() + 30
    );
    // SEC-52: a new session cookie on every sign-in. The same user's session goes on under
    // its sid, so that what was signed in through it stays with it (and a sign-out reaches
    // it all).
    assert_ne!(session_cookie(&browser).unwrap(), before);
    assert_eq!(a["sid"], b["sid"]);
}

#[tokio::test]
async fn max_age_forces_a_login_when_the_last_one_is_older() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    other_code(&server, &browser, "")
        .await
        .param("code")
        .unwrap();
    server.clock.advance(120);
    let recent = browser
        .open(&authorize_url(
            &server,
            "other",
            OTHER_CB,
            "&scope=openid&max_age=3600",
        ))
        .await;
    let code = recent.param("code").expect("recent enough: no login");
    let (_, body) = redeem(&server, OTHER, OTHER_CB, &code, Some(VERIFIER)).await;
    // OIDC Core §3.1.2.1: max_age makes auth_time REQUIRED.
    assert!(jwt_claims(body["id_token"].as_str().unwrap())["auth_time"].is_i64());
    let stale = browser
        .open(&authorize_url(
            &server,
            "other",
            OTHER_CB,
            "&scope=openid&max_age=60",
        ))
        .await;
    assert!(stale.is_login());
    let silent = browser
        .open(&authorize_url(
            &server,
            "other",
            OTHER_CB,
            "&scope=openid&max_age=60&prompt=none",
        ))
        .await;
    assert_eq!(redirected_error(&silent), "login_required");
    let zero = browser
        .open(&authorize_url(
            &server,
            "other",
            OTHER_CB,
            "&scope=openid&max_age=0",
        ))
        .await;
    assert!(zero.is_login(), "max_age=0 always signs in again");
}

/// SEC-44, CVE-25: an id_token_hint must be ours, for this client and unexpired; one that is
/// not signs nobody in (`login_required` without interaction).
#[tokio::test]
async fn sec44_cve25_id_token_hint_names_the_user() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let alice = sign_in(
        &server,
        &browser,
        SignIn::new(OTHER, OTHER_CB, "openid", ALICE),
    )
    .await
    .tokens;
    let hint = alice["id_token"].as_str().unwrap();
    let with_hint = |client: &str, cb: &str, hint: &str| {
        authorize_url(
            &server,
            client,
            cb,
            &format!("&scope=openid&prompt=none&id_token_hint={hint}"),
        )
    };
    let same = browser
        .open(&authorize_url(
            &server,
            "other",
            OTHER_CB,
            &format!("&scope=openid&prompt=none&id_token_hint={hint}"),
        ))
        .await;
    assert!(same.param("code").is_some(), "{same:?}");
    // Issued to another client: not a hint for this one.
    let web = sign_in(
        &server,
        &browser,
        SignIn::new(
            ("web", "web-secret"),
            "https://web.example/cb",
            "openid",
            ALICE,
        ),
    )
    .await
    .tokens;
    let web_hint = web["id_token"].as_str().unwrap();
    assert_eq!(
        redirected_error(&browser.open(&with_hint("other", OTHER_CB, web_hint)).await),
        "login_required"
    );
    // `alg: none`, with the payload of a real hint.
    use base64::Engine as _;
    let none_header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", hint.split('.').nth(1).unwrap());
    assert_eq!(
        redirected_error(&browser.open(&with_hint("other", OTHER_CB, &unsigned)).await),
        "login_required"
    );
    // Bob's browser with Alice's hint: prompt=none fails, otherwise he is asked to sign in.
    let bob = Browser::new(&server.base);
    sign_in(
        &server,
        &bob,
        SignIn::new(OTHER, OTHER_CB, "openid", ("bob", "bob-password")),
    )
    .await;
    let url = authorize_url(
        &server,
        "other",
        OTHER_CB,
        &format!("&scope=openid&id_token_hint={hint}"),
    );
    assert_eq!(
        redirected_error(&bob.open(&format!("{url}&prompt=none")).await),
        "login_required"
    );
    assert!(bob.open(&url).await.is_login());
    // A hint we did not sign is refused.
    let forged = format!(
        "{}.{}.AAAA",
        hint.split('.').next().unwrap(),
        hint.split('.').nth(1).unwrap()
    );
    assert_eq!(
        redirected_error(&browser.open(&with_hint("other", OTHER_CB, &forged)).await),
        "login_required"
    );
    let landing = browser
        .open(&authorize_url(
            &server,
            "other",
            OTHER_CB,
            &format!("&scope=openid&id_token_hint={forged}"),
        ))
        .await;
    assert_eq!(redirected_error(&landing), "invalid_request");
    // Expired: accepted at sign-out only.
    server.clock.advance(3_600);
    assert_eq!(
        redirected_error(&browser.open(&with_hint("other", OTHER_CB, hint)).await),
        "login_required"
    );
}

#[tokio::test]
async fn nonce_and_state_are_echoed_exactly() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let state = "st%20%C3%A9%26%3D%2Fx";
    let nonce = "n%2B%2F%3D0S6_WzA2Mj";
    let landing = other_code(&server, &browser, &format!("&state={state}&nonce={nonce}")).await;
    assert_eq!(landing.param("state").as_deref(), Some("st é&=/x"));
    let code = landing.param("code").unwrap();
    let (_, body) = redeem(&server, OTHER, OTHER_CB, &code, Some(VERIFIER)).await;
    assert_eq!(
        jwt_claims(body["id_token"].as_str().unwrap())["nonce"],
        "n+/=0S6_WzA2Mj"
    );
    // Without a nonce, the identity token has none.
    let code = other_code(&server, &browser, "")
        .await
        .param("code")
        .unwrap();
    let (_, body) = redeem(&server, OTHER, OTHER_CB, &code, Some(VERIFIER)).await;
    assert!(
        jwt_claims(body["id_token"].as_str().unwrap())
            .get("nonce")
            .is_none()
    );
}

#[tokio::test]
async fn a_wrong_pkce_verifier_fails_and_burns_the_code() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let code = other_code(&server, &browser, "")
        .await
        .param("code")
        .unwrap();
    let wrong = "x".repeat(43);
    let (status, body) = redeem(&server, OTHER, OTHER_CB, &code, Some(&wrong)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = redeem(&server, OTHER, OTHER_CB, &code, Some(VERIFIER)).await;
    assert_eq!(status, 400, "the code is gone after a failed verifier");
    // And a missing verifier for a code with a challenge.
    let code = other_code(&server, &browser, "")
        .await
        .param("code")
        .unwrap();
    let (status, _) = redeem(&server, OTHER, OTHER_CB, &code, None).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn plain_pkce_and_missing_pkce_are_refused() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let plain = authorize_url(&server, "web", WEB_CB, "&scope=openid&state=p")
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let landing = browser.open(&plain).await;
    assert_eq!(redirected_error(&landing), "invalid_request");
    assert_eq!(landing.param("state").as_deref(), Some("p"));
    // Public clients must use PKCE even where require_pkce is off elsewhere.
    let bare = server.url(
        "/authorize?client_id=spa&redirect_uri=http%3A%2F%2F127.0.0.1%3A7777%2Fcb&response_type=code&scope=openid",
    );
    assert_eq!(
        redirected_error(&browser.open(&bare).await),
        "invalid_request"
    );
    // A client registered without require_pkce may omit it, and then may not send a verifier.
    let url = server.url(
        "/authorize?client_id=nopkce&redirect_uri=https%3A%2F%2Fnopkce.example%2Fcb&response_type=code&scope=openid",
    );
    let code = browser
        .authorize(&url, ALICE.0, ALICE.1)
        .await
        .param("code")
        .unwrap();
    let (status, _) = redeem(
        &server,
        ("nopkce", "nopkce-secret"),
        "https://nopkce.example/cb",
        &code,
        Some(VERIFIER),
    )
    .await;
    assert_eq!(
        status, 400,
        "no downgrade: a verifier without a challenge fails"
    );
}

#[tokio::test]
async fn a_code_is_bound_to_its_client() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let code = other_code(&server, &browser, "")
        .await
        .param("code")
        .unwrap();
    let (status, body) = redeem(&server, WEB, OTHER_CB, &code, Some(VERIFIER)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Expired codes (60 s) are refused.
    let code = other_code(&server, &browser, "")
        .await
        .param("code")
        .unwrap();
    server.clock.advance(61);
    let (status, _) = redeem(&server, OTHER, OTHER_CB, &code, Some(VERIFIER)).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn unsigned_and_remote_request_objects_are_refused_on_our_page() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let url = authorize_url(&server, "other", OTHER_CB, "&scope=openid&state=r");
    // SEC-38: `alg: none` is refused everywhere; the object's redirect URI is not trusted, so
    // the error is shown here.
    let request = browser
        .open(&format!("{url}&request=eyJhbGciOiJub25lIn0.e30."))
        .await;
    let Landing::Page { status, html, .. } = &request else {
        panic!("redirected: {request:?}");
    };
    assert_eq!(status.as_u16(), 400);
    assert!(html.contains("invalid_request_object"), "{html}");
    // SEC-42: request objects by reference are not fetched.
    let by_ref = browser
        .open(&format!("{url}&request_uri=https%3A%2F%2Fevil.example%2Fr"))
        .await;
    let Landing::Page { html, .. } = &by_ref else {
        panic!("redirected: {by_ref:?}");
    };
    assert!(html.contains("request_uri_not_supported"), "{html}");
}
