//! The account page: its forms are bound to the session (CSRF), changes to factors need a
//! recent sign-in, the password changes by the policy and ends the other sessions, and sessions
//! can be ended; hostile and malformed input gets a page, never a 5xx.

use crate::browser::{Browser, Landing, field};
use crate::mfa::{CONFIG, account_form, enrol_app, open_account};
use crate::support::TestServer;

#[tokio::test]
async fn account_forms_need_the_session_and_its_csrf_token() {
    let server = TestServer::start(CONFIG).await;
    let browser = Browser::new(&server.base);
    let page = open_account(&browser, &server, ("alice", "alice-password")).await;
    assert!(page.page().contains("Your account"));
    // Another browser, with this page's token: not signed in.
    let stranger = Browser::new(&server.base);
    let refused = account_form(&stranger, &page, "/account/totp/new", &[]).await;
    assert_eq!(refused.status_code(), 401);
    // This browser with a forged token.
    let response = browser
        .http
        .post(server.url("/account/totp/new"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // A forged enrolment secret is refused: the secret must be the one the page showed.
    let setup = account_form(&browser, &page, "/account/totp/new", &[]).await;
    let sig = field(setup.page(), "secret_sig");
    let forged = account_form(
        &browser,
        &page,
        "/account/totp",
        &[
            ("secret", "JBSWY3DPEHPK3PXP"),
            ("secret_sig", &sig),
            ("code", "123456"),
        ],
    )
    .await;
    assert_eq!(forged.status_code(), 403);
    // Malformed and oversized fields: pages, never a 5xx.
    for fields in [
        vec![("secret", "!!"), ("secret_sig", ""), ("code", "")],
        vec![("id", &*"x".repeat(10_000))],
    ] {
        for path in [
            "/account/totp",
            "/account/factors/remove",
            "/account/sessions/end",
            "/account/password",
        ] {
            let answer = account_form(&browser, &page, path, &fields).await;
            assert!(answer.status_code() < 500, "{path}: {answer:?}");
        }
    }
}

#[tokio::test]
async fn sec63_cve42_factor_changes_need_a_recent_sign_in() {
    let server = TestServer::start(CONFIG).await;
    let browser = Browser::new(&server.base);
    open_account(&browser, &server, ("alice", "alice-password")).await;
    server.clock.advance(6 * 60);
    let page = open_account(&browser, &server, ("alice", "alice-password")).await;
    assert!(page.page().contains("sign in again"), "{}", page.page());
    let sent = account_form(&browser, &page, "/account/totp/new", &[]).await;
    assert!(sent.is_login(), "asked to sign in again: {sent:?}");
    let back = browser.login(&sent, "alice", "alice-password").await;
    assert!(back.is_account(), "{back:?}");
    enrol_app(&browser, &server, &back).await;
    // New recovery codes replace the old ones, shown once.
    let page = open_account(&browser, &server, ("alice", "alice-password")).await;
    let codes = account_form(&browser, &page, "/account/recovery", &[]).await;
    assert_eq!(codes.page().matches("<li><code>").count(), 10);
    let page = open_account(&browser, &server, ("alice", "alice-password")).await;
    assert!(page.page().contains("10 left"));
}

#[tokio::test]
async fn the_password_changes_by_the_policy_and_other_sessions_end() {
    let server = TestServer::start(CONFIG).await;
    let phone = Browser::new(&server.base);
    open_account(&phone, &server, ("alice", "alice-password")).await;
    let browser = Browser::new(&server.base);
    let page = open_account(&browser, &server, ("alice", "alice-password")).await;
    assert!(
        page.page().matches("account/sessions/end").count() >= 2,
        "two sessions listed"
    );
    let change = async |current: &str, new: &str, again: &str| -> Landing {
        let page = open_account(&browser, &server, ("alice", "alice-password")).await;
        account_form(
            &browser,
            &page,
            "/account/password",
            &[("current", current), ("new", new), ("again", again)],
        )
        .await
    };
    let wrong = change("guess", "violet kettle drum 42", "violet kettle drum 42").await;
    assert!(wrong.page().contains("The current password is not right."));
    let differ = change(
        "alice-password",
        "violet kettle drum 42",
        "violet kettle drum 43",
    )
    .await;
    assert!(differ.page().contains("The new passwords differ."));
    let weak = change("alice-password", "password1", "password1").await;
    assert!(weak.page().contains("too easy to guess"), "{}", weak.page());
    let short = change("alice-password", "a1!", "a1!").await;
    assert!(short.page().contains("at least 8 characters"));
    let done = change(
        "alice-password",
        "violet kettle drum 42",
        "violet kettle drum 42",
    )
    .await;
    assert!(
        done.page().contains("Your password was changed."),
        "{}",
        done.page()
    );
    // The phone's session ended; this one goes on; the old password no longer works.
    let phone_again = phone.open(&server.url("/account")).await;
    assert!(phone_again.is_login(), "{phone_again:?}");
    let old = phone.login(&phone_again, "alice", "alice-password").await;
    assert!(old.is_login(), "the old password is refused");
    let new = phone.login(&old, "alice", "violet kettle drum 42").await;
    assert!(new.is_account());
    // Ending the phone's session from this browser.
    let page = open_account(&browser, &server, ("alice", "violet kettle drum 42")).await;
    let html = page.page();
    let other = html
        .split("name=\"sid\" value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .find(|sid| {
            !html[html.find(sid.as_str()).unwrap().saturating_sub(400)
                ..html.find(sid.as_str()).unwrap()]
                .contains("this browser")
        })
        .unwrap();
    let ended = account_form(&browser, &page, "/account/sessions/end", &[("sid", &other)]).await;
    assert!(
        ended.page().contains("The session was ended."),
        "{}",
        ended.page()
    );
    assert!(phone.open(&server.url("/account")).await.is_login());
}

#[tokio::test]
async fn revoking_an_application_forgets_the_consent_and_ends_its_tokens() {
    let config = r#"
[[clients]]
client_id = "app"
client_name = "Photo App"
secrets = ["app-secret"]
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://app.example/cb"]
allowed_scopes = ["openid", "offline_access"]

[[users]]
username = "alice"
password = "alice-password"
"#;
    let server = TestServer::start(config).await;
    let browser = Browser::new(&server.base);
    let how = crate::flows::SignIn::new(
        ("app", "app-secret"),
        "https://app.example/cb",
        "openid+offline_access",
        ("alice", "alice-password"),
    );
    let signed = crate::flows::sign_in(&server, &browser, how).await;
    let refresh = signed.tokens["refresh_token"].as_str().unwrap().to_string();
    let page = open_account(&browser, &server, ("alice", "alice-password")).await;
    assert!(page.page().contains("Photo App"), "{}", page.page());
    let revoked = account_form(
        &browser,
        &page,
        "/account/consents/revoke",
        &[("client_id", "app")],
    )
    .await;
    assert!(
        revoked
            .page()
            .contains("The application&#x27;s access was revoked.")
            || revoked.page().contains("access was revoked"),
        "{}",
        revoked.page()
    );
    assert!(revoked.page().contains("No application has access"));
    // Its refresh token is gone, and the next sign-in asks for consent again.
    let answer = server
        .http
        .post(server.url("/token"))
        .basic_auth("app", Some("app-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let url = crate::signin::authorize_url(
        &server,
        "app",
        "https://app.example/cb",
        "&scope=openid&state=s",
    );
    assert!(browser.open(&url).await.is_consent());
    // Revoking what is not there: a page, no error.
    let again = account_form(
        &browser,
        &page,
        "/account/consents/revoke",
        &[("client_id", "app")],
    )
    .await;
    assert!(again.page().contains("had no access any more"));
}
