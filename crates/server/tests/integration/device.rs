//! The device authorization grant (RFC 8628) over HTTP: a device asks for codes, polls while
//! a browser enters the user code, signs in and decides; the device then gets its tokens once.
//! SEC-65, CVE-48, CVE-49.

use std::time::Duration;

use serde_json::Value;

use crate::browser::{Browser, Landing, field};
use crate::support::TestServer;
use crate::tokens::post_form;

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const TV_SECRET: &str = "tv-confidential-secret-of-32-chars";

pub fn config() -> String {
    format!(
        r#"
[[api_scopes]]
name = "api.read"

[[api_resources]]
name = "https://api.example"
scopes = ["api.read"]

[[clients]]
client_id = "tv"
client_name = "Living-room TV"
grant_types = ["{DEVICE_GRANT}", "refresh_token"]
allowed_scopes = ["openid", "profile", "offline_access", "api.read"]

[[clients]]
client_id = "tv-confidential"
client_name = "Hotel TV"
secrets = ["{TV_SECRET}"]
grant_types = ["{DEVICE_GRANT}"]
allowed_scopes = ["openid", "profile"]

[[clients]]
client_id = "kiosk"
client_name = "Kiosk"
grant_types = ["{DEVICE_GRANT}"]
allowed_scopes = ["openid"]
require_mfa = true

[[clients]]
client_id = "web"
secrets = ["web-secret-of-at-least-32-characters"]
grant_types = ["authorization_code"]
redirect_uris = ["https://app.example/cb"]
allowed_scopes = ["openid"]

[[users]]
username = "alice"
password = "alice-password"
claims = {{ name = "Alice Smith" }}
"#
    )
}

/// `POST /device_authorization` for `client` (public: `client_id` in the form).
pub async fn start(
    server: &TestServer,
    client: (&str, Option<&str>),
    form: &[(&str, &str)],
) -> (u16, Value) {
    let (id, secret) = client;
    let mut fields = form.to_vec();
    let basic = match secret {
        Some(s) => Some((id, s)),
        None => {
            fields.push(("client_id", id));
            None
        }
    };
    let (status, body, headers) = post_form(server, "/device_authorization", basic, &fields).await;
    if status == 200 {
        assert_eq!(headers["cache-control"], "no-store");
    }
    (status, body)
}

/// One poll of the token endpoint with `device_code`, as `client`.
pub async fn poll(
    server: &TestServer,
    client: (&str, Option<&str>),
    device_code: &str,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let (id, secret) = client;
    let mut form = vec![("grant_type", DEVICE_GRANT), ("device_code", device_code)];
    form.extend_from_slice(extra);
    let basic = match secret {
        Some(s) => Some((id, s)),
        None => {
            form.push(("client_id", id));
            None
        }
    };
    let (status, body, _) = post_form(server, "/token", basic, &form).await;
    (status, body)
}

/// The `error` of a refused poll, checking its status.
pub fn error_of((status, body): &(u16, Value)) -> &str {
    let code = body["error"].as_str().unwrap_or_else(|| panic!("{body}"));
    let expected = if code == "invalid_client" { 401 } else { 400 };
    let expected = if code == "access_denied" {
        403
    } else {
        expected
    };
    assert_eq!(*status, expected, "{body}");
    code
}

/// Opens the user-code page (with `user_code` in its URL when given) and submits `typed`.
pub async fn enter_code(browser: &Browser, server: &TestServer, typed: &str) -> Landing {
    let page = browser.open(&server.url("/device")).await;
    let csrf = field(page.page(), "csrf");
    let response = browser
        .http
        .post(server.url("/device"))
        .form(&[("user_code", typed), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    browser.follow(response).await
}

fn status_of(landing: &Landing) -> u16 {
    match landing {
        Landing::Page { status, .. } => status.as_u16(),
        Landing::Client(url) => panic!("left the server for {url}"),
    }
}

#[tokio::test]
async fn sec65_a_device_polls_until_the_user_allows_it_then_gets_its_tokens_once() {
    let server = TestServer::start(&config()).await;
    let tv = ("tv", None);
    let (status, started) = start(&server, tv, &[("scope", "openid profile offline_access")]).await;
    assert_eq!(status, 200, "{started}");
    let device_code = started["device_code"].as_str().unwrap();
    let user_code = started["user_code"].as_str().unwrap();
    // RFC 8628 §3.2, §6.1: a 128-bit device code; a user code of 8 consonants, shown in two
    // groups.
    assert!(device_code.len() >= 43, "{device_code}");
    let alphabet = "BCDFGHJKLMNPQRSTVWXZ";
    let (a, b) = user_code.split_once('-').unwrap();
    assert!(a.len() == 4 && b.len() == 4, "{user_code}");
    assert!(a.chars().chain(b.chars()).all(|c| alphabet.contains(c)));
    assert_eq!(started["verification_uri"], server.url("/device"));
    assert_eq!(
        started["verification_uri_complete"],
        format!("{}?user_code={user_code}", server.url("/device"))
    );
    assert_eq!(started["expires_in"], 600);
    assert_eq!(started["interval"], 5);

    // §3.5: pending while nobody decided; polling sooner than the interval slows down by 5 s
    // each time.
    assert_eq!(
        error_of(&poll(&server, tv, device_code, &[]).await),
        "authorization_pending"
    );
    assert_eq!(
        error_of(&poll(&server, tv, device_code, &[]).await),
        "slow_down"
    );
    server.monotonic.advance(Duration::from_secs(9));
    assert_eq!(
        error_of(&poll(&server, tv, device_code, &[]).await),
        "slow_down"
    );
    server.monotonic.advance(Duration::from_secs(15));
    assert_eq!(
        error_of(&poll(&server, tv, device_code, &[]).await),
        "authorization_pending"
    );

    // §3.3: the user types the code (any case, without the dash), signs in and allows it.
    let browser = Browser::new(&server.base);
    let typed = user_code.replace('-', "").to_lowercase();
    let login = enter_code(&browser, &server, &typed).await;
    assert!(login.is_login(), "{login:?}");
    let consent = browser.login(&login, "alice", "alice-password").await;
    assert!(consent.is_consent(), "{consent:?}");
    let html = consent.page();
    for shown in ["Living-room TV", user_code, "127.0.0.1", "deny"] {
        assert!(
            html.contains(shown),
            "the consent page shows {shown}:\n{html}"
        );
    }
    assert!(
        !html.contains("name=\"remember\""),
        "never remembered: {html}"
    );
    let done = browser.allow(&consent, false).await;
    assert!(done.page().contains("Your device is connected"), "{done:?}");

    server.monotonic.advance(Duration::from_secs(15));
    let (status, tokens) = poll(&server, tv, device_code, &[]).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile offline_access");
    assert!(tokens["id_token"].is_string() && tokens["refresh_token"].is_string());
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let userinfo = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let claims: Value = userinfo.json().await.unwrap();
    assert_eq!(claims["name"], "Alice Smith");

    // Once: a second redemption is a replay, and what the first one issued is revoked.
    let again = poll(&server, tv, device_code, &[]).await;
    assert_eq!(error_of(&again), "invalid_grant");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", "tv"),
    ];
    let (status, body, _) = post_form(&server, "/token", None, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The code is decided: entering it again finds nothing.
    let late = enter_code(&Browser::new(&server.base), &server, user_code).await;
    assert_eq!(status_of(&late), 400);
    assert!(late.page().contains("not valid or has expired"));
}

#[tokio::test]
async fn a_denied_or_expired_device_hears_so() {
    let server = TestServer::start(&config()).await;
    let tv = ("tv", None);
    let (_, started) = start(&server, tv, &[("scope", "openid")]).await;
    let device_code = started["device_code"].as_str().unwrap();
    let browser = Browser::new(&server.base);
    let login = enter_code(&browser, &server, started["user_code"].as_str().unwrap()).await;
    let consent = browser.login(&login, "alice", "alice-password").await;
    let denied = browser
        .submit(consent.page(), "/consent", &[("action", "deny")])
        .await;
    assert!(denied.page().contains("was not connected"), "{denied:?}");
    assert_eq!(
        error_of(&poll(&server, tv, device_code, &[]).await),
        "access_denied"
    );

    // Cancelling the sign-in refuses the device too; the session is reused for the next code.
    let (_, second) = start(&server, tv, &[("scope", "openid")]).await;
    let consent = enter_code(&browser, &server, second["user_code"].as_str().unwrap()).await;
    assert!(
        consent.is_consent(),
        "the session signs the user in: {consent:?}"
    );
    let (_, third) = start(&server, tv, &[("scope", "openid")]).await;
    let fresh = Browser::new(&server.base);
    let login = enter_code(&fresh, &server, third["user_code"].as_str().unwrap()).await;
    let cancelled = fresh
        .submit(login.page(), "/login", &[("action", "cancel")])
        .await;
    assert!(
        cancelled.page().contains("was not connected"),
        "{cancelled:?}"
    );
    let third_code = third["device_code"].as_str().unwrap();
    assert_eq!(
        error_of(&poll(&server, tv, third_code, &[]).await),
        "access_denied"
    );

    // §3.5 expired_token, once the code's lifetime is over; its user code is gone as well.
    server.clock.advance(601);
    let second_code = second["device_code"].as_str().unwrap();
    assert_eq!(
        error_of(&poll(&server, tv, second_code, &[]).await),
        "expired_token"
    );
    let allow = browser.allow(&consent, false).await;
    assert!(allow.page().contains("was not connected"), "{allow:?}");
}

#[tokio::test]
async fn cve49_a_device_code_is_bound_to_its_authenticated_client() {
    let server = TestServer::start(&config()).await;
    let hotel = ("tv-confidential", Some(TV_SECRET));
    // A confidential client authenticates to ask (RFC 8628 §3.1) ...
    let unauthenticated = start(&server, ("tv-confidential", None), &[("scope", "openid")]).await;
    assert_eq!(error_of(&unauthenticated), "invalid_client");
    let (status, started) = start(&server, hotel, &[("scope", "openid")]).await;
    assert_eq!(status, 200, "{started}");
    let device_code = started["device_code"].as_str().unwrap();
    // ... and to poll: without its secret or with a wrong one it is not even asked about the
    // code.
    let bare = poll(&server, ("tv-confidential", None), device_code, &[]).await;
    assert_eq!(error_of(&bare), "invalid_client");
    let wrong = poll(
        &server,
        ("tv-confidential", Some("wrong")),
        device_code,
        &[],
    )
    .await;
    assert_eq!(error_of(&wrong), "invalid_client");
    // Another client's device code is not known to it.
    let foreign = poll(&server, ("tv", None), device_code, &[]).await;
    assert_eq!(error_of(&foreign), "invalid_grant");
    assert_eq!(
        error_of(&poll(&server, hotel, device_code, &[]).await),
        "authorization_pending"
    );
    for body in [&unauthenticated.1, &bare.1, &wrong.1, &foreign.1] {
        assert!(!body.to_string().contains(TV_SECRET), "{body}");
    }
    // A client not registered for the grant cannot start it; nor ask beyond its scopes.
    let web = ("web", Some("web-secret-of-at-least-32-characters"));
    assert_eq!(
        error_of(&start(&server, web, &[("scope", "openid")]).await),
        "unauthorized_client"
    );
    let beyond = start(&server, hotel, &[("scope", "openid api.read")]).await;
    assert_eq!(error_of(&beyond), "invalid_scope");
    let missing = start(&server, hotel, &[]).await;
    assert_eq!(error_of(&missing), "invalid_scope");
    let target = [("scope", "openid"), ("resource", "https://other.example")];
    assert_eq!(
        error_of(&start(&server, ("tv", None), &target).await),
        "invalid_target"
    );
}

#[tokio::test]
async fn cve48_policy_and_scope_are_enforced_at_approval_and_redemption() {
    let server = TestServer::start(&config()).await;
    // The kiosk needs a multi-factor sign-in; alice has only a password: refused when she
    // approves, and the kiosk hears access_denied.
    let kiosk = ("kiosk", None);
    let (_, started) = start(&server, kiosk, &[("scope", "openid")]).await;
    let browser = Browser::new(&server.base);
    let login = enter_code(&browser, &server, started["user_code"].as_str().unwrap()).await;
    let refused = browser.login(&login, "alice", "alice-password").await;
    assert!(refused.page().contains("was not connected"), "{refused:?}");
    let code = started["device_code"].as_str().unwrap();
    assert_eq!(
        error_of(&poll(&server, kiosk, code, &[]).await),
        "access_denied"
    );

    // Approved for `openid profile`: a poll asking for more scope or another resource gets
    // exactly what was approved, for the API the approval named.
    let tv = ("tv", None);
    let (_, started) = start(&server, tv, &[("scope", "openid profile")]).await;
    let login = enter_code(&browser, &server, started["user_code"].as_str().unwrap()).await;
    assert!(login.is_consent(), "the session is reused: {login:?}");
    browser.allow(&login, false).await;
    let code = started["device_code"].as_str().unwrap();
    let more = [
        ("scope", "openid profile offline_access api.read"),
        ("resource", "https://api.example"),
    ];
    let (status, tokens) = poll(&server, tv, code, &more).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "openid profile");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");

    // SEC-26: a user disabled after approving gets nothing.
    let (_, started) = start(&server, tv, &[("scope", "openid")]).await;
    let consent = enter_code(&browser, &server, started["user_code"].as_str().unwrap()).await;
    browser.allow(&consent, false).await;
    let store = server.running.state.store.clone();
    let mut alice = store.find_user_by_username("alice").await.unwrap().unwrap();
    alice.disabled = true;
    store.update_user(&alice).await.unwrap();
    let code = started["device_code"].as_str().unwrap();
    assert_eq!(
        error_of(&poll(&server, tv, code, &[]).await),
        "invalid_grant"
    );
}
