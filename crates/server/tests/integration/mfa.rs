//! Second factors end to end: an authenticator app enrolled on the account page (its codes
//! computed here by totp-rs from the `otpauth://` URI the page offers, at the server's test
//! clock), recovery codes, sign-in with either, replayed and wrong codes, throttling, step-up
//! by `acr_values` that asks for the second factor only (RFC 8176 `amr`, OIDC Core §3.1.2.1),
//! and a client that requires multi-factor sign-ins.

use serde_json::Value;
use tessera_core::clock::Clock as _;

use crate::browser::{Browser, Landing, field, unescape};
use crate::signin::{VERIFIER, authorize_url, jwt_claims, redeem};
use crate::support::TestServer;

pub const CONFIG: &str = r#"
[[clients]]
client_id = "rp"
secrets = ["rp-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://rp.example/cb"]
allowed_scopes = ["openid", "profile"]
require_consent = false

[[clients]]
client_id = "strict"
secrets = ["strict-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://strict.example/cb"]
allowed_scopes = ["openid"]
require_consent = false
require_mfa = true

[[users]]
username = "alice"
password = "alice-password"

[[users]]
username = "bob"
password = "bob-password"
"#;

/// What enrolment left: the app (as totp-rs reads our URI) and the recovery codes.
pub struct Enrolled {
    pub app: totp_rs::TOTP,
    pub recovery: Vec<String>,
}

/// The code the app shows at the server's time, `steps` 30-second steps from now.
pub fn code(server: &TestServer, app: &totp_rs::TOTP, steps: i64) -> String {
    let t = server.clock.now() + steps * 30;
    app.generate(u64::try_from(t).unwrap())
}

impl Landing {
    pub fn is_factor(&self) -> bool {
        matches!(self, Landing::Page { url, .. } if url.contains("/login/factor"))
    }

    pub fn is_account(&self) -> bool {
        matches!(self, Landing::Page { url, .. } if url.contains("/account"))
    }

    pub fn status_code(&self) -> u16 {
        match self {
            Landing::Page { status, .. } => status.as_u16(),
            Landing::Client(_) => 303,
        }
    }
}

/// Opens the account page, signing in first where asked.
pub async fn open_account(browser: &Browser, server: &TestServer, user: (&str, &str)) -> Landing {
    let mut landing = browser.open(&server.url("/account")).await;
    if landing.is_login() {
        landing = browser.login(&landing, user.0, user.1).await;
    }
    assert!(landing.is_account(), "not the account page: {landing:?}");
    landing
}

/// Posts an account form with the page's CSRF token.
pub async fn account_form(
    browser: &Browser,
    page: &Landing,
    path: &str,
    fields: &[(&str, &str)],
) -> Landing {
    let mut form: Vec<(String, String)> = vec![("csrf".into(), field(page.page(), "csrf"))];
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let response = browser
        .http
        .post(format!("{}{path}", browser_base(page)))
        .form(&form)
        .send()
        .await
        .unwrap();
    browser.follow(response).await
}

fn browser_base(page: &Landing) -> String {
    match page {
        Landing::Page { url, .. } => {
            let u = url::Url::parse(url).unwrap();
            u.origin().ascii_serialization()
        }
        Landing::Client(_) => panic!("not a page"),
    }
}

/// Enrols an authenticator app from the account page `page`: the code the app shows confirms
/// it; the first enrolment shows the recovery codes.
pub async fn enrol_app(browser: &Browser, server: &TestServer, page: &Landing) -> Enrolled {
    let setup = account_form(browser, page, "/account/totp/new", &[]).await;
    let html = setup.page();
    assert!(html.contains("<svg"), "a QR code: {html}");
    let uri = html_attr(html, "id=\"totp-uri\" href=\"");
    let app = totp_rs::TOTP::from_url(&uri).unwrap_or_else(|e| panic!("{uri}: {e:?}"));
    assert_eq!(app.account_name, "alice");
    // A wrong code is refused and the same secret offered again.
    let wrong = submit_enrolment(browser, &setup, "000000").await;
    assert_eq!(wrong.status_code(), 400);
    assert!(wrong.page().contains("That code is not right"));
    assert_eq!(field(wrong.page(), "secret"), field(html, "secret"));
    let done = submit_enrolment(browser, &wrong, &code(server, &app, 0)).await;
    let codes: Vec<String> = done
        .page()
        .split("<li><code>")
        .skip(1)
        .map(|s| s.split("</code>").next().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10, "{}", done.page());
    Enrolled {
        app,
        recovery: codes,
    }
}

async fn submit_enrolment(browser: &Browser, page: &Landing, code: &str) -> Landing {
    let html = page.page();
    let (secret, sig) = (field(html, "secret"), field(html, "secret_sig"));
    account_form(
        browser,
        page,
        "/account/totp",
        &[
            ("secret", &secret),
            ("secret_sig", &sig),
            ("code", code),
            ("label", "Phone"),
        ],
    )
    .await
}

fn html_attr(html: &str, marker: &str) -> String {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    unescape(&html[start..end])
}

/// Starts a sign-in to `client` with `extra` parameters; where it lands after the password.
async fn after_password(
    server: &TestServer,
    browser: &Browser,
    client: &str,
    extra: &str,
    user: (&str, &str),
) -> Landing {
    let cb = format!("https://{client}.example/cb");
    let url = authorize_url(
        server,
        client,
        &cb,
        &format!("&scope=openid&state=s1{extra}"),
    );
    let landing = browser.open(&url).await;
    if landing.is_login() {
        return browser.login(&landing, user.0, user.1).await;
    }
    landing
}

async fn give_code(browser: &Browser, page: &Landing, code: &str) -> Landing {
    assert!(page.is_factor(), "not the factor page: {page:?}");
    browser
        .submit(
            page.page(),
            "/login/factor",
            &[("code", code), ("action", "verify")],
        )
        .await
}

async fn id_token(server: &TestServer, client: &str, landing: &Landing) -> Value {
    let cb = format!("https://{client}.example/cb");
    let code = landing
        .param("code")
        .unwrap_or_else(|| panic!("no code: {landing:?}"));
    let secret = format!("{client}-secret");
    let (status, body) = redeem(server, (client, &secret), &cb, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{body}");
    jwt_claims(body["id_token"].as_str().unwrap())
}

#[tokio::test]
async fn sec61_cve38_cve40_totp_enrolment_sign_in_replay_and_recovery_codes() {
    let server = TestServer::start(CONFIG).await;
    let browser = Browser::new(&server.base);
    let account = open_account(&browser, &server, ("alice", "alice-password")).await;
    assert!(
        account
            .page()
            .contains("You sign in with your password only.")
    );
    let enrolled = enrol_app(&browser, &server, &account).await;
    let account = open_account(&browser, &server, ("alice", "alice-password")).await;
    assert!(account.page().contains("Phone"), "{}", account.page());
    assert!(account.page().contains("10 left"));

    // A new browser: the password, then the app's code. The code used at enrolment is used.
    let used = code(&server, &enrolled.app, 0);
    let other = Browser::new(&server.base);
    let factor = after_password(&server, &other, "rp", "", ("alice", "alice-password")).await;
    assert!(factor.is_factor(), "{factor:?}");
    assert!(
        other.cookies().iter().all(|(n, _)| !n.contains("session")),
        "no session before the second factor"
    );
    let replayed = give_code(&other, &factor, &used).await;
    assert!(
        replayed
            .page()
            .contains("not right, or it was used already")
    );
    server.clock.advance(30);
    let landing = give_code(&other, &replayed, &code(&server, &enrolled.app, 0)).await;
    let claims = id_token(&server, "rp", &landing).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    // acr only where asked for (OIDC Core §2: OPTIONAL).
    assert_eq!(claims.get("acr"), None);

    // The same code again, in a third browser, within its window: refused.
    let third = Browser::new(&server.base);
    let factor = after_password(&server, &third, "rp", "", ("alice", "alice-password")).await;
    let again = give_code(&third, &factor, &code(&server, &enrolled.app, 0)).await;
    assert!(again.is_factor() && again.page().contains("used already"));

    // A recovery code however it is typed, once.
    let typed = enrolled.recovery[3].to_uppercase().replace('-', " ");
    let landing = give_code(&third, &again, &typed).await;
    let claims = id_token(&server, "rp", &landing).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    let fourth = Browser::new(&server.base);
    let factor = after_password(&server, &fourth, "rp", "", ("alice", "alice-password")).await;
    let reused = give_code(&fourth, &factor, &enrolled.recovery[3]).await;
    assert!(reused.is_factor() && reused.page().contains("used already"));
    let account = open_account(&browser, &server, ("alice", "alice-password")).await;
    assert!(account.page().contains("9 left"), "{}", account.page());
}

#[tokio::test]
async fn sec61_cve39_wrong_codes_are_throttled_like_passwords() {
    let server = TestServer::start(CONFIG).await;
    let browser = Browser::new(&server.base);
    let account = open_account(&browser, &server, ("alice", "alice-password")).await;
    let enrolled = enrol_app(&browser, &server, &account).await;
    let other = Browser::new(&server.base);
    let mut page = after_password(&server, &other, "rp", "", ("alice", "alice-password")).await;
    // The next time step, so that its code is one the enrolment did not use.
    server.clock.advance(30);
    for _ in 0..5 {
        page = give_code(&other, &page, "123456").await;
        assert_eq!(page.status_code(), 200);
    }
    page = give_code(&other, &page, "123456").await;
    assert_eq!(page.status_code(), 429, "{}", page.page());
    // Even the right code waits (the throttle reads the wall clock, which stands still).
    let right = give_code(&other, &page, &code(&server, &enrolled.app, 0)).await;
    assert_eq!(right.status_code(), 429);
    // Malformed and oversized codes are refused like wrong ones, never a 5xx.
    server.clock.advance(2);
    for bad in ["", "abc", &"9".repeat(100), "12345\u{0}"] {
        let p = give_code(&other, &right, bad).await;
        assert!(p.is_factor() && p.status_code() < 500, "{bad:?}: {p:?}");
    }
}

#[tokio::test]
async fn sec60_step_up_asks_for_the_second_factor_only_and_tokens_say_so() {
    let server = TestServer::start(CONFIG).await;
    let browser = Browser::new(&server.base);
    // A password sign-in first: level 1.
    let landing = after_password(&server, &browser, "rp", "", ("alice", "alice-password")).await;
    let first = id_token(&server, "rp", &landing).await;
    assert_eq!(first["amr"], serde_json::json!(["pwd"]));
    // The app is enrolled in the same session (recent sign-in).
    let account = open_account(&browser, &server, ("alice", "alice-password")).await;
    let enrolled = enrol_app(&browser, &server, &account).await;
    server.clock.advance(60);

    // Voluntary acr_values=2: the factor page straight away, no password.
    let cb = "https://rp.example/cb";
    let url = authorize_url(&server, "rp", cb, "&scope=openid&state=s2&acr_values=2");
    let factor = browser.open(&url).await;
    assert!(factor.is_factor(), "{factor:?}");
    let landing = give_code(&browser, &factor, &code(&server, &enrolled.app, 0)).await;
    let stepped = id_token(&server, "rp", &landing).await;
    assert_eq!(stepped["acr"], "2");
    assert_eq!(stepped["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(stepped["sub"], first["sub"]);
    assert_eq!(stepped["sid"], first["sid"], "the same session, stepped up");
    assert!(stepped["auth_time"].as_i64() > first["auth_time"].as_i64());

    // The session is at level 2 now: asked again, nothing to do.
    let url = authorize_url(&server, "rp", cb, "&scope=openid&state=s3&acr_values=2");
    let again = browser.open(&url).await;
    assert_eq!(id_token(&server, "rp", &again).await["acr"], "2");

    // bob has no second factor: voluntary gets level 1, essential is refused (§5.5.1.1).
    let bob = Browser::new(&server.base);
    let landing = after_password(
        &server,
        &bob,
        "rp",
        "&acr_values=2",
        ("bob", "bob-password"),
    )
    .await;
    assert_eq!(id_token(&server, "rp", &landing).await["acr"], "1");
    let claims = serde_json::json!({"id_token": {"acr": {"essential": true, "values": ["2"]}}});
    let claims: String =
        url::form_urlencoded::byte_serialize(claims.to_string().as_bytes()).collect();
    let url = authorize_url(
        &server,
        "rp",
        cb,
        &format!("&scope=openid&state=s4&claims={claims}"),
    );
    let refused = bob.open(&url).await;
    assert_eq!(
        refused.param("error").as_deref(),
        Some("unmet_authentication_requirements")
    );
}

#[tokio::test]
async fn a_client_that_requires_mfa_gets_only_multi_factor_sign_ins() {
    let server = TestServer::start(CONFIG).await;
    let bob = Browser::new(&server.base);
    let refused = after_password(&server, &bob, "strict", "", ("bob", "bob-password")).await;
    assert_eq!(
        refused.param("error").as_deref(),
        Some("unmet_authentication_requirements"),
        "{refused:?}"
    );

    let browser = Browser::new(&server.base);
    let account = open_account(&browser, &server, ("alice", "alice-password")).await;
    let enrolled = enrol_app(&browser, &server, &account).await;
    server.clock.advance(30);
    // Signed in at level 1 on the account page: the client asks for the factor.
    let cb = "https://strict.example/cb";
    let url = authorize_url(&server, "strict", cb, "&scope=openid&state=s1");
    let factor = browser.open(&url).await;
    assert!(factor.is_factor(), "{factor:?}");
    let landing = give_code(&browser, &factor, &code(&server, &enrolled.app, 0)).await;
    let claims = id_token(&server, "strict", &landing).await;
    assert_eq!(claims["acr"], "2");
}

#[tokio::test]
async fn removing_the_app_removes_the_second_step_and_the_recovery_codes() {
    let server = TestServer::start(CONFIG).await;
    let browser = Browser::new(&server.base);
    let account = open_account(&browser, &server, ("alice", "alice-password")).await;
    enrol_app(&browser, &server, &account).await;
    let account = open_account(&browser, &server, ("alice", "alice-password")).await;
    let html = account.page();
    let start = html.find("id=\"factor-totp\"").unwrap();
    let id = field(&html[start..], "id");
    let removed = account_form(
        &browser,
        &account,
        "/account/factors/remove",
        &[("id", &id)],
    )
    .await;
    assert!(
        removed.page().contains("The factor was removed."),
        "{}",
        removed.page()
    );
    assert!(
        removed
            .page()
            .contains("You sign in with your password only.")
    );
    let other = Browser::new(&server.base);
    let landing = after_password(&server, &other, "rp", "", ("alice", "alice-password")).await;
    assert_eq!(
        id_token(&server, "rp", &landing).await["amr"],
        serde_json::json!(["pwd"])
    );
}

/// CVE-40: one recovery code in 20 sign-ins at once: exactly one succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cve40_one_recovery_code_signs_in_once_however_many_try_at_once() {
    let server = TestServer::start(CONFIG).await;
    let browser = Browser::new(&server.base);
    let account = open_account(&browser, &server, ("alice", "alice-password")).await;
    let enrolled = enrol_app(&browser, &server, &account).await;
    let mut pages = Vec::new();
    for i in 0..20u8 {
        let b = Browser::from_address(&server.base, std::net::IpAddr::from([127, 0, 1, i + 1]));
        let page = after_password(&server, &b, "rp", "", ("alice", "alice-password")).await;
        assert!(page.is_factor(), "{page:?}");
        pages.push((b, page));
    }
    let code = enrolled.recovery[0].clone();
    // Every attempt is in flight before any finishes.
    let mut set = tokio::task::JoinSet::new();
    for (b, page) in pages {
        let code = code.clone();
        set.spawn(async move { give_code(&b, &page, &code).await });
    }
    let results = set.join_all().await;
    let signed_in = results
        .iter()
        .filter(|l| matches!(l, Landing::Client(_)))
        .count();
    assert_eq!(signed_in, 1, "{results:?}");
}

/// A step-up adds to the live session it was for: when that session ends meanwhile (here from
/// the account page of another browser), the factor page's code revives nothing.
#[tokio::test]
async fn a_step_up_never_revives_an_ended_session() {
    let server = TestServer::start(CONFIG).await;
    let browser = Browser::new(&server.base);
    let account = open_account(&browser, &server, ("alice", "alice-password")).await;
    let enrolled = enrol_app(&browser, &server, &account).await;
    server.clock.advance(30);
    let cb = "https://rp.example/cb";
    let url = authorize_url(&server, "rp", cb, "&scope=openid&state=s2&acr_values=2");
    let factor = browser.open(&url).await;
    assert!(factor.is_factor(), "{factor:?}");
    // Another browser of alice's ends this browser's session.
    let phone = Browser::new(&server.base);
    let other = after_password(&server, &phone, "rp", "", ("alice", "alice-password")).await;
    let first = code(&server, &enrolled.app, 0);
    give_code(&phone, &other, &first).await;
    let page = open_account(&phone, &server, ("alice", "alice-password")).await;
    let html = page.page().to_string();
    let sids: Vec<String> = html
        .split("name=\"sid\" value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect();
    for sid in &sids {
        let at = html.find(sid.as_str()).unwrap();
        if !html[at.saturating_sub(400)..at].contains("this browser") {
            account_form(&phone, &page, "/account/sessions/end", &[("sid", sid)]).await;
        }
    }
    server.clock.advance(30);
    let late = give_code(&browser, &factor, &code(&server, &enrolled.app, 0)).await;
    assert_eq!(late.status_code(), 400, "{late:?}");
    let silent = authorize_url(&server, "rp", cb, "&scope=openid&state=s3&prompt=none");
    assert_eq!(
        browser.open(&silent).await.param("error").as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn cve43_acr_values_pushed_with_par_are_the_requests_and_front_channel_copies_are_not() {
    let server = TestServer::start(CONFIG).await;
    let browser = Browser::new(&server.base);
    after_password(&server, &browser, "rp", "", ("alice", "alice-password")).await;
    let account = open_account(&browser, &server, ("alice", "alice-password")).await;
    let enrolled = enrol_app(&browser, &server, &account).await;
    server.clock.advance(60);
    // The pushed request asks for level 2; the front channel's copy says 1 and is not read.
    let cb = "https://rp.example/cb";
    let (status, body, _) = crate::tokens::post_form(
        &server,
        "/par",
        Some(("rp", "rp-secret")),
        &[
            ("client_id", "rp"),
            ("redirect_uri", cb),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "pushed"),
            ("acr_values", "2"),
            ("code_challenge", crate::signin::CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let uri: String =
        url::form_urlencoded::byte_serialize(body["request_uri"].as_str().unwrap().as_bytes())
            .collect();
    let url = server.url(&format!(
        "/authorize?client_id=rp&request_uri={uri}&acr_values=1"
    ));
    let factor = browser.open(&url).await;
    assert!(factor.is_factor(), "the step-up was asked for: {factor:?}");
    let landing = give_code(&browser, &factor, &code(&server, &enrolled.app, 0)).await;
    assert_eq!(landing.param("state").as_deref(), Some("pushed"));
    assert_eq!(id_token(&server, "rp", &landing).await["acr"], "2");
}
