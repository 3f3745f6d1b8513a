//! Forgotten passwords by mail, against a real SMTP server on loopback (Python's aiosmtpd,
//! `tests/smtp_sink.py`, installed by scripts/smtp-sink.sh): the link arrives at the stored,
//! verified address only and starts with the configured issuer whatever the request's headers
//! say (SEC-63, CVE-44); it sets the password of its own user once, within 30 minutes, and
//! nothing else stands in for it (CVE-45, CVE-46); a finished reset ends every session and
//! refresh token of the user; the answer is the same whether or not an account matched; and
//! hostile input gets a page, never a 5xx.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::browser::{Browser, Landing, field};
use crate::flows::{SignIn, sign_in};
use crate::relying_parties::required_env;
use crate::signin::post_token;
use crate::support::{TestServer, eventually, free_port};

/// The SMTP sink: every message it receives is a file in `dir`. Stopped when dropped.
struct SmtpSink {
    child: Child,
    _stdin: ChildStdin,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        let mut child = Command::new(required_env("TESSERA_TEST_PYTHON"))
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        SmtpSink {
            child,
            _stdin: stdin,
            dir,
            port,
        }
    }

    /// Every message received so far, in order, as text.
    fn messages(&self) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| String::from_utf8(std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    /// Waits (bounded) until `count` messages have arrived; returns them all.
    async fn wait_for(&self, count: usize) -> Vec<String> {
        eventually(
            &format!("{count} mail(s) at the SMTP sink"),
            move || async move { self.messages().len() >= count },
        )
        .await;
        self.messages()
    }
}

/// A server mailing through `sink`, with alice (verified address), bob (an address nobody
/// verified), carol (verified) and a client that gets refresh tokens.
async fn server_with(sink: &SmtpSink) -> TestServer {
    TestServer::start(&format!(
        r#"
[[clients]]
client_id = "rp"
secrets = ["rp-secret"]
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://rp.example/cb"]
allowed_scopes = ["openid", "offline_access"]
require_consent = false

[[users]]
username = "alice"
password = "alice-password"
claims = {{ name = "Alice", email = "alice@example.com", email_verified = true }}

[[users]]
username = "bob"
password = "bob-password"
claims = {{ email = "bob@example.com", email_verified = false }}

[[users]]
username = "carol"
password = "carol-password"
claims = {{ email = "carol@example.com", email_verified = true }}

[smtp]
host = "127.0.0.1"
port = {}
tls = "none"
from = "Tessera <tessera@example.com>"
"#,
        sink.port
    ))
    .await
}

const SENT: &str = "If an account with a verified address matches, we sent a link to it.";
const NEW_PASSWORD: &str = "violet kettle drum 42";

/// Asks for a reset link for `name` from the forgot-password page, with `headers` on both
/// requests; returns the answer page.
async fn ask_reset(browser: &Browser, server: &TestServer, name: &str) -> Landing {
    ask_reset_with(browser, server, name, &[]).await
}

async fn ask_reset_with(
    browser: &Browser,
    server: &TestServer,
    name: &str,
    headers: &[(&str, &str)],
) -> Landing {
    let mut get = browser.http.get(server.url("/password/forgot"));
    for (k, v) in headers {
        get = get.header(*k, *v);
    }
    let form = browser.follow(get.send().await.unwrap()).await;
    assert_eq!(form.status_code(), 200, "{form:?}");
    let csrf = field(form.page(), "csrf");
    let mut post = browser
        .http
        .post(server.url("/password/forgot"))
        .form(&[("csrf", csrf.as_str()), ("name", name)]);
    for (k, v) in headers {
        post = post.header(*k, *v);
    }
    browser.follow(post.send().await.unwrap()).await
}

/// The reset link in a mail (sent as 7bit text, so the link is whole on its line).
fn link_in(mail: &str) -> String {
    assert!(mail.contains("Content-Transfer-Encoding: 7bit"), "{mail}");
    let start = mail.find("/password/reset?token=").expect("a reset link");
    let line_start = mail[..start]
        .rfind(char::is_whitespace)
        .map_or(0, |i| i + 1);
    let end = mail[start..]
        .find(char::is_whitespace)
        .map_or(mail.len(), |i| start + i);
    mail[line_start..end].to_string()
}

/// Posts the set-password form of `page` with `new` and `again` (and `extra` fields).
async fn set_password(
    browser: &Browser,
    server: &TestServer,
    page: &Landing,
    (new, again): (&str, &str),
    extra: &[(&str, &str)],
) -> Landing {
    let mut form = vec![
        ("token".to_string(), field(page.page(), "token")),
        ("csrf".to_string(), field(page.page(), "csrf")),
        ("new".to_string(), new.to_string()),
        ("again".to_string(), again.to_string()),
    ];
    form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let response = (browser.http.post(server.url("/password/reset")))
        .form(&form)
        .send()
        .await
        .unwrap();
    browser.follow(response).await
}

/// Whether `user` can sign in with `password` on a fresh browser's login page.
async fn signs_in(server: &TestServer, user: &str, password: &str) -> bool {
    let browser = Browser::new(&server.base);
    let login = browser.open(&server.url("/account")).await;
    assert!(login.is_login(), "{login:?}");
    browser.login(&login, user, password).await.is_account()
}

/// A browser where alice signed in to the client, and the refresh token it got
/// (offline_access).
async fn phone_signed_in(server: &TestServer) -> (Browser, String) {
    let phone = Browser::new(&server.base);
    let how = SignIn::new(
        ("rp", "rp-secret"),
        "https://rp.example/cb",
        "openid+offline_access",
        ("alice", "alice-password"),
    );
    let tokens = sign_in(server, &phone, how).await.tokens;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    (phone, refresh)
}

/// The status of a refresh with `token`.
async fn refresh_status(server: &TestServer, token: &str) -> u16 {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    post_token(server, ("rp", "rp-secret"), &form).await.0
}

#[tokio::test]
async fn sec63_a_mailed_link_sets_the_password_once_and_ends_every_session() {
    let sink = SmtpSink::start();
    let server = server_with(&sink).await;
    let (phone, refresh) = phone_signed_in(&server).await;
    let browser = Browser::new(&server.base);
    let login = browser.open(&server.url("/account")).await;
    assert!(
        login
            .page()
            .contains("/password/forgot\">Forgot your password?")
    );
    let answer = ask_reset(&browser, &server, "alice").await;
    assert!(answer.page().contains(SENT), "{}", answer.page());
    let mails = sink.wait_for(1).await;
    assert!(mails[0].starts_with("X-Envelope-To: alice@example.com\r\n"));
    assert!(mails[0].contains("From: Tessera <tessera@example.com>"));
    let link = link_in(&mails[0]);
    assert!(link.starts_with(&server.url("/password/reset?token=")));
    // Opening the link (a mail scanner does too) spends nothing.
    let _ = Browser::new(&server.base).open(&link).await;
    let form = browser.open(&link).await;
    assert!(form.page().contains("Choose a new password"), "{form:?}");
    let differ = set_password(&browser, &server, &form, (NEW_PASSWORD, "other"), &[]).await;
    assert!(differ.page().contains("The new passwords differ."));
    let weak = set_password(&browser, &server, &form, ("password1", "password1"), &[]).await;
    assert!(weak.page().contains("too easy to guess"), "{}", weak.page());
    let done = set_password(&browser, &server, &form, (NEW_PASSWORD, NEW_PASSWORD), &[]).await;
    assert!(done.page().contains("Your password was changed"));
    // Every session and refresh token ended; the old password fails, the new one works.
    assert!(phone.open(&server.url("/account")).await.is_login());
    assert_eq!(refresh_status(&server, &refresh).await, 400);
    assert!(!signs_in(&server, "alice", "alice-password").await);
    assert!(signs_in(&server, "alice", NEW_PASSWORD).await);
    // The link used twice: refused, shown or posted.
    let again = browser.open(&link).await;
    assert_eq!(again.status_code(), 400);
    assert!(again.page().contains("This link has expired or was used"));
    let other = "x y z 123456";
    let replay = set_password(&browser, &server, &form, (other, other), &[]).await;
    assert_eq!(replay.status_code(), 400);
    assert!(signs_in(&server, "alice", NEW_PASSWORD).await);
}

#[tokio::test]
async fn sec63_the_answer_never_tells_whether_an_account_matched() {
    let sink = SmtpSink::start();
    let server = server_with(&sink).await;
    let browser = Browser::new(&server.base);
    let unknown = ask_reset(&browser, &server, "nobody").await;
    assert_eq!(unknown.status_code(), 200);
    assert!(unknown.page().contains(SENT));
    for name in [
        "bob",
        "bob@example.com",
        "nobody@example.com",
        "alice@example.com",
    ] {
        let answer = ask_reset(&browser, &server, name).await;
        assert_eq!(answer.status_code(), 200, "{name}");
        assert_eq!(answer.page(), unknown.page(), "{name}");
    }
    // Only alice (found by her verified address) got a mail, at that address.
    let mails = sink.wait_for(1).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].starts_with("X-Envelope-To: alice@example.com\r\n"));
}

#[tokio::test]
async fn sec63_reset_mails_are_limited_per_account() {
    let sink = SmtpSink::start();
    let server = server_with(&sink).await;
    let browser = Browser::new(&server.base);
    for _ in 0..5 {
        assert!(
            ask_reset(&browser, &server, "alice")
                .await
                .page()
                .contains(SENT)
        );
    }
    // Another account's mail comes after alice's three; the throttled ones never went.
    assert!(
        ask_reset(&browser, &server, "carol")
            .await
            .page()
            .contains(SENT)
    );
    let mails = sink.wait_for(4).await;
    let to_alice = |m: &Vec<String>| m.iter().filter(|m| m.contains("To: alice@")).count();
    assert_eq!(to_alice(&mails), 3, "{mails:?}");
    server
        .monotonic
        .advance(std::time::Duration::from_secs(15 * 60));
    ask_reset(&browser, &server, "alice").await;
    let mails = sink.wait_for(5).await;
    assert_eq!(to_alice(&mails), 4);
}

#[tokio::test]
async fn sec63_cve44_reset_links_use_the_configured_issuer() {
    let sink = SmtpSink::start();
    let server = server_with(&sink).await;
    let browser = Browser::new(&server.base);
    let poisoned = [
        ("Host", "evil.example"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Port", "443"),
        ("Forwarded", "host=evil.example;proto=https"),
    ];
    let answer = ask_reset_with(&browser, &server, "alice", &poisoned).await;
    assert!(answer.page().contains(SENT), "{answer:?}");
    let mails = sink.wait_for(1).await;
    let link = link_in(&mails[0]);
    assert!(
        link.starts_with(&format!("{}/password/reset?token=", server.base)),
        "{link}"
    );
    assert!(!mails[0].contains("evil"), "{}", mails[0]);
}

#[tokio::test]
async fn sec63_cve45_a_link_sets_only_its_own_users_password() {
    let sink = SmtpSink::start();
    let server = server_with(&sink).await;
    let browser = Browser::new(&server.base);
    // Without the mailed token the form never appears, and nothing can be posted.
    let bare = browser.open(&server.url("/password/reset")).await;
    assert_eq!(bare.status_code(), 400);
    assert!(!bare.page().contains("name=\"new\""));
    let blind = (browser.http.post(server.url("/password/reset")))
        .form(&[
            ("new", NEW_PASSWORD),
            ("again", NEW_PASSWORD),
            ("username", "bob"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(blind.status(), 400);
    ask_reset(&browser, &server, "alice").await;
    let link = link_in(&sink.wait_for(1).await[0]);
    let form = browser.open(&link).await;
    assert!(
        !form.page().contains("name=\"username\""),
        "no username field"
    );
    // The form is bound to the browser that opened it (CSRF).
    let stranger = Browser::new(&server.base);
    let forged = set_password(&stranger, &server, &form, (NEW_PASSWORD, NEW_PASSWORD), &[]).await;
    assert_eq!(forged.status_code(), 403);
    // alice's link with bob named in every way a form could: alice's password changes only.
    let fields = [("username", "bob"), ("subject", "bob"), ("user", "bob")];
    let done = set_password(
        &browser,
        &server,
        &form,
        (NEW_PASSWORD, NEW_PASSWORD),
        &fields,
    )
    .await;
    assert!(
        done.page().contains("Your password was changed"),
        "{done:?}"
    );
    assert!(signs_in(&server, "bob", "bob-password").await);
    assert!(!signs_in(&server, "bob", NEW_PASSWORD).await);
    assert!(signs_in(&server, "alice", NEW_PASSWORD).await);
}

#[tokio::test]
async fn sec63_cve46_other_handles_old_links_and_used_links_are_refused() {
    let sink = SmtpSink::start();
    let server = server_with(&sink).await;
    let browser = Browser::new(&server.base);
    // An interaction id from the login page's URL is no reset token.
    let login = browser.open(&server.url("/account")).await;
    let Landing::Page { url, .. } = &login else {
        panic!("{login:?}")
    };
    let interaction = url.split("interaction=").nth(1).unwrap().to_string();
    let other = browser
        .open(&server.url(&format!("/password/reset?token={interaction}")))
        .await;
    assert_eq!(other.status_code(), 400, "{other:?}");
    // A reset token is no interaction either.
    ask_reset(&browser, &server, "alice").await;
    let link = link_in(&sink.wait_for(1).await[0]);
    let token = link.split("token=").nth(1).unwrap();
    let as_login = browser
        .open(&server.url(&format!("/login?interaction={token}")))
        .await;
    assert_eq!(as_login.status_code(), 400, "{as_login:?}");
    // The form opened in time, posted after 31 minutes: refused (expiry checked at use).
    let form = browser.open(&link).await;
    assert!(form.page().contains("Choose a new password"));
    server.clock.advance(31 * 60);
    let late = set_password(&browser, &server, &form, (NEW_PASSWORD, NEW_PASSWORD), &[]).await;
    assert_eq!(late.status_code(), 400);
    assert!(late.page().contains("This link has expired or was used"));
    assert_eq!(browser.open(&link).await.status_code(), 400);
    assert!(signs_in(&server, "alice", "alice-password").await);
}

#[tokio::test]
async fn password_reset_pages_take_hostile_input_without_a_5xx() {
    let sink = SmtpSink::start();
    let server = server_with(&sink).await;
    let browser = Browser::new(&server.base);
    let long = "x".repeat(10_000);
    for query in [
        format!("token={long}"),
        "token=%ZZ%00".into(),
        "token=a&token=b".into(),
        "token=\u{00e9}\u{202e}".into(),
        long.clone(),
    ] {
        let page = browser
            .open(&server.url(&format!("/password/reset?{query}")))
            .await;
        assert_eq!(page.status_code(), 400, "{query}");
    }
    let forms: [&[(&str, &str)]; 4] = [
        &[
            ("token", &long),
            ("csrf", &long),
            ("new", &long),
            ("again", &long),
        ],
        &[("token", "a"), ("token", "b")],
        &[("name", &long), ("csrf", "")],
        &[],
    ];
    for form in forms {
        for path in ["/password/reset", "/password/forgot"] {
            let response = (browser.http.post(server.url(path)))
                .form(form)
                .send()
                .await
                .unwrap();
            assert!(
                response.status().as_u16() < 500,
                "{path}: {}",
                response.status()
            );
        }
    }
    let garbage = (browser.http.post(server.url("/password/forgot")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', 0x80])
        .send()
        .await
        .unwrap();
    assert!(garbage.status().as_u16() < 500);
    // Oversized and odd names on a real form: the form again, or the one answer.
    for name in [
        long.as_str(),
        " ",
        "\u{0}",
        "a@b@c",
        "alice\r\nBcc: x@evil.example",
    ] {
        let answer = ask_reset(&browser, &server, name).await;
        assert!(answer.status_code() < 500, "{name:?}");
    }
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn without_smtp_there_is_no_reset_by_mail() {
    let server = TestServer::start(crate::mfa::CONFIG).await;
    let browser = Browser::new(&server.base);
    let login = browser.open(&server.url("/account")).await;
    assert!(login.is_login());
    assert!(!login.page().contains("/password/forgot"));
    for path in ["/password/forgot", "/password/reset?token=abc"] {
        let page = browser.open(&server.url(path)).await;
        assert_eq!(page.status_code(), 404, "{path}");
        assert!(page.page().contains("not offered"), "{path}");
    }
    let posted = (browser.http.post(server.url("/password/forgot")))
        .form(&[("name", "alice")])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 404);
}

#[test]
fn smtp_configuration_errors_name_their_key() {
    let load = |smtp: &str| tessera_server::config::load_str(&format!("[smtp]\n{smtp}"), false);
    let error = |smtp: &str| match load(smtp) {
        Ok(_) => panic!("accepted:\n{smtp}"),
        Err(e) => e.to_string(),
    };
    let relay = "host = \"smtp.example.com\"\nfrom = \"id@example.com\"\n";
    for (smtp, key) in [
        (format!("{relay}tls = \"none\"\n"), "smtp.tls"),
        (format!("{relay}tls = \"ssl\"\n"), "smtp.tls"),
        (format!("{relay}port = 0\n"), "smtp.port"),
        (format!("{relay}port = 70000\n"), "smtp.port"),
        (
            "host = \"smtp.example.com\"\nfrom = \"not an address\"\n".into(),
            "smtp.from",
        ),
        (
            "host = \"\"\nfrom = \"id@example.com\"\n".into(),
            "smtp.host",
        ),
        ("host = \"smtp.example.com\"\n".into(), "from"),
        (format!("{relay}username = \"id\"\n"), "smtp.password"),
        (
            format!("{relay}password = \"hunter2-s3cret\"\n"),
            "smtp.username",
        ),
        (format!("{relay}sender = \"x\"\n"), "sender"),
    ] {
        let message = error(&smtp);
        assert!(message.contains(key), "{key}: {message}");
        assert!(
            !message.contains("hunter2"),
            "the password leaked: {message}"
        );
    }
    let config = load(relay).unwrap();
    let smtp = config.smtp.unwrap();
    assert_eq!(
        (smtp.port, smtp.tls),
        (587, tessera_server::config::SmtpTls::StartTls)
    );
    for host in ["localhost", "127.0.0.2", "::1", "[::1]"] {
        let local = format!("host = \"{host}\"\nfrom = \"id@example.com\"\ntls = \"none\"\n");
        assert!(load(&local).is_ok(), "{host}");
    }
    assert!(
        tessera_server::config::load_str("", false)
            .unwrap()
            .smtp
            .is_none()
    );
}
