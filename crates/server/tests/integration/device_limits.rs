//! The user-code page against guessing and forgery (RFC 8628 §5.1, §5.4; CVE-50, SEC-65), and
//! hostile input at the device endpoints.

use std::net::IpAddr;

use reqwest::header::CONTENT_TYPE;

use crate::browser::{Browser, Landing, field};
use crate::device::{DEVICE_GRANT, config, enter_code, error_of, poll, start};
use crate::support::TestServer;
use crate::tokens::post_form;

/// A form's fields.
type Form<'a> = Vec<(&'a str, &'a str)>;

fn address(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 2, last])
}

fn status_of(landing: &Landing) -> u16 {
    match landing {
        Landing::Page { status, .. } => status.as_u16(),
        Landing::Client(url) => panic!("left the server for {url}"),
    }
}

/// A well-formed user code that is not `real`.
fn wrong_code(i: usize, real: &str) -> String {
    let alphabet = b"BCDFGHJKLMNPQRSTVWXZ";
    let mut n = i;
    let code: String = (0..8)
        .map(|_| {
            let c = alphabet[n % 20] as char;
            n = n / 20 + 7;
            c
        })
        .collect();
    if code == real.replace('-', "") {
        "ZZZZZZZZ".into()
    } else {
        code
    }
}

#[tokio::test]
async fn cve50_user_code_guesses_are_limited_and_the_link_only_prefills() {
    let server = TestServer::start(&config()).await;
    let (_, started) = start(&server, ("tv", None), &[("scope", "openid")]).await;
    let user_code = started["user_code"].as_str().unwrap();

    // 100 wrong codes from one address: the first 10 are looked up, the rest get 429 without
    // being looked at. The right code from there is refused too, for the rest of the window.
    let attacker = Browser::from_address(&server.base, address(1));
    let page = attacker.open(&server.url("/device")).await;
    let csrf = field(page.page(), "csrf");
    let mut answers = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..100 {
        let code = wrong_code(i, user_code);
        let form = [("user_code", code.as_str()), ("csrf", csrf.as_str())];
        let response = attacker.http.post(server.url("/device")).form(&form);
        let status = response.send().await.unwrap().status().as_u16();
        *answers.entry(status).or_default() += 1;
    }
    eprintln!("100 wrong user codes from one address: {answers:?}");
    assert_eq!(answers.get(&400), Some(&10), "{answers:?}");
    assert_eq!(answers.get(&429), Some(&90), "{answers:?}");
    let blocked = enter_code(&attacker, &server, user_code).await;
    assert_eq!(status_of(&blocked), 429);
    assert!(blocked.page().contains("Too many wrong codes"));

    // The user, elsewhere, opens verification_uri_complete: the code is filled in, nothing
    // has started until they submit it.
    let user = Browser::from_address(&server.base, address(2));
    let link = started["verification_uri_complete"].as_str().unwrap();
    let prefilled = user.open(link).await;
    assert_eq!(status_of(&prefilled), 200);
    assert!(prefilled.page().contains(&format!("value=\"{user_code}\"")));
    assert!(!prefilled.is_login());
    let login = enter_code(&user, &server, user_code).await;
    assert!(login.is_login(), "{login:?}");

    // One code is entered at most 5 times, whoever enters it.
    for i in 3..7 {
        let other = Browser::from_address(&server.base, address(i));
        assert!(enter_code(&other, &server, user_code).await.is_login());
    }
    let seventh_address = Browser::from_address(&server.base, address(7));
    let sixth = enter_code(&seventh_address, &server, user_code).await;
    assert_eq!(status_of(&sixth), 429);
    assert!(sixth.page().contains("entered too many times"));
    // The first user's sign-in goes on: the device is connected.
    let consent = user.login(&login, "alice", "alice-password").await;
    assert!(
        user.allow(&consent, false)
            .await
            .page()
            .contains("connected")
    );
    let code = started["device_code"].as_str().unwrap();
    assert_eq!(poll(&server, ("tv", None), code, &[]).await.0, 200);
}

#[tokio::test]
async fn cve50_the_code_form_needs_this_browsers_csrf_token() {
    let server = TestServer::start(&config()).await;
    let (_, started) = start(&server, ("tv", None), &[("scope", "openid")]).await;
    let user_code = started["user_code"].as_str().unwrap();
    let victim = Browser::new(&server.base);
    let page = victim.open(&server.url("/device")).await;
    let csrf = field(page.page(), "csrf");
    let other = Browser::new(&server.base);
    other.open(&server.url("/device")).await;
    let cases: [(&Browser, &[(&str, &str)]); 4] = [
        (&victim, &[("user_code", user_code)]),
        (&victim, &[("user_code", user_code), ("csrf", "forged")]),
        (&other, &[("user_code", user_code), ("csrf", &csrf)]),
        (
            &Browser::new(&server.base),
            &[("user_code", user_code), ("csrf", &csrf)],
        ),
    ];
    for (browser, form) in cases {
        let response = browser.http.post(server.url("/device")).form(form);
        let landing = browser.follow(response.send().await.unwrap()).await;
        assert_eq!(status_of(&landing), 403, "{form:?}");
    }
    // A user code that is markup is not reflected.
    let page = victim
        .open(&server.url("/device?user_code=%3Cscript%3Ealert(1)%3C%2Fscript%3E"))
        .await;
    assert_eq!(status_of(&page), 200);
    assert!(!page.page().contains("<script>alert"));
    // The forged attempts started nothing: the code still works, once.
    assert!(enter_code(&victim, &server, user_code).await.is_login());
}

#[tokio::test]
async fn hostile_input_at_the_device_endpoints_gets_a_clear_refusal() {
    let server = TestServer::start(&config()).await;
    let big = "A".repeat(4 * 1024);
    let tv = ("tv", None);
    let cases: Vec<(&str, Form, &str)> = vec![
        ("no client", vec![("scope", "openid")], "invalid_client"),
        (
            "unknown client",
            vec![("client_id", "nobody"), ("scope", "openid")],
            "invalid_client",
        ),
        (
            "two client_ids",
            vec![
                ("client_id", "tv"),
                ("client_id", "tv"),
                ("scope", "openid"),
            ],
            "invalid_request",
        ),
        (
            "two scopes",
            vec![
                ("client_id", "tv"),
                ("scope", "openid"),
                ("scope", "profile"),
            ],
            "invalid_request",
        ),
        (
            "huge scope",
            vec![("client_id", "tv"), ("scope", &big)],
            "invalid_scope",
        ),
        (
            "control characters",
            vec![("client_id", "tv"), ("scope", "openid\u{7}")],
            "invalid_scope",
        ),
    ];
    for (what, form, expected) in cases {
        let (status, body, _) = post_form(&server, "/device_authorization", None, &form).await;
        assert!(status < 500, "{what}: {status}");
        assert_eq!(body["error"], expected, "{what}: {body}");
    }
    let polls: Vec<(&str, &str, &str)> = vec![
        ("empty device_code", "", "invalid_request"),
        ("unknown device_code", "not-a-device-code", "invalid_grant"),
        ("huge device_code", &big, "invalid_grant"),
        ("unicode device_code", "ÿ\u{202e}", "invalid_grant"),
    ];
    for (what, code, expected) in polls {
        let answer = poll(&server, tv, code, &[]).await;
        assert_eq!(error_of(&answer), expected, "{what}: {:?}", answer.1);
    }
    let (status, body, _) = post_form(
        &server,
        "/token",
        None,
        &[("grant_type", DEVICE_GRANT), ("client_id", "tv")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // Past the body limit, 413 before anything is read.
    let huge = "A".repeat(1024 * 1024);
    for path in ["/device_authorization", "/token"] {
        let form = [
            ("client_id", "tv"),
            ("grant_type", DEVICE_GRANT),
            ("device_code", huge.as_str()),
        ];
        let (status, _, _) = post_form(&server, path, None, &form).await;
        assert_eq!(status, 413, "{path}");
    }

    // The code page: an oversized code, invalid UTF-8 and a GET flood of junk are plain
    // refusals.
    let browser = Browser::new(&server.base);
    let page = browser.open(&server.url("/device")).await;
    let csrf = field(page.page(), "csrf");
    let oversized = browser
        .http
        .post(server.url("/device"))
        .form(&[("user_code", big.as_str()), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), 400);
    let binary = browser
        .http
        .post(server.url("/device"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(b"user_code=%FF%FE&csrf=\xff".to_vec())
        .send()
        .await
        .unwrap();
    assert!(binary.status().is_client_error(), "{}", binary.status());
    let junk = browser
        .http
        .get(server.url(&format!("/device?user_code={big}")))
        .send();
    assert_eq!(junk.await.unwrap().status(), 200);
}
