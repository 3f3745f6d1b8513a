//! Sign-in state shared through the database: a login at one instance and a code or refresh
//! token redeemed at another; concurrent refreshes of one token yield exactly one success on
//! SQLite and on PostgreSQL, also across two instances (SECURITY.md SEC-21).

use crate::browser::Browser;
use serde_json::Value;

use crate::signin::{PEOPLE, VERIFIER, authorize_url, post_token, redeem, refresh};
use crate::support::{TestServer, postgres_url};

/// The deployment's issuer (http on a loopback name, so that the test's cookie jar, which
/// keeps Secure cookies for https, works against the instances' plain-http ports).
const ISSUER: &str = "http://localhost:1";
const WEB: (&str, &str) = ("web", "web-secret");
const WEB_CB: &str = "https://web.example/cb";

/// Signs alice in at `server` (or uses her session there) and returns a code for `web`
/// (consent included).
async fn code_at(server: &TestServer, browser: &Browser) -> String {
    // The browser talks to this instance directly; the issuer is shared by the deployment.
    let url = authorize_url(server, "web", WEB_CB, "&scope=openid+offline_access");
    let mut landing = browser.open(&url).await;
    let next = |l: &crate::browser::Landing| match l {
        crate::browser::Landing::Client(u) if u.as_str().starts_with(ISSUER) => {
            Some(u.as_str().replacen(ISSUER, &server.base, 1))
        }
        _ => None,
    };
    // Pages redirect to the issuer's URL; follow them on this instance.
    while let Some(local) = next(&landing) {
        landing = browser.open(&local).await;
    }
    if landing.is_login() {
        landing = browser.login(&landing, "alice", "alice-password").await;
        while let Some(local) = next(&landing) {
            landing = browser.open(&local).await;
        }
    }
    if landing.is_consent() {
        landing = browser.allow(&landing, true).await;
    }
    landing.param("code").expect("a code")
}

/// Sends `n` copies of one token request at once, alternating between `servers`; returns the
/// bodies of the successes. Every other answer must be `invalid_grant` (never a 5xx, never
/// SQLITE_BUSY reaching the client).
async fn race(servers: &[&TestServer], form: &[(&str, &str)], n: usize) -> Vec<Value> {
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..n {
        let server = servers[i % servers.len()];
        let request = server
            .http
            .post(server.url("/token"))
            .basic_auth(WEB.0, Some(WEB.1))
            .form(form);
        attempts.spawn(async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        });
    }
    let answers = attempts.join_all().await;
    for (status, body) in &answers {
        assert!(
            *status == 200 || (*status == 400 && body["error"] == "invalid_grant"),
            "{status} {body}"
        );
    }
    answers
        .into_iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect()
}

fn redeem_form(code: &str) -> [(&str, &str); 4] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", WEB_CB),
        ("code_verifier", VERIFIER),
    ]
}

/// Races `n` redemptions of one fresh code, then `n` refreshes of a refresh token: one
/// winner each (SEC-15, SEC-21, CVE-07). The losers' replays end what the winner got: the
/// code's tokens (SEC-14) and the refresh token's family (SEC-20).
async fn one_winner_each(servers: &[&TestServer], n: usize) {
    let browser = Browser::new(&servers[0].base);
    let raced = code_at(servers[0], &browser).await;
    let winners = race(servers, &redeem_form(&raced), n).await;
    assert_eq!(winners.len(), 1, "one code, one redemption");
    let from_raced_code = winners[0]["refresh_token"].as_str().unwrap();
    let (status, _) = refresh(servers[0], WEB, from_raced_code, None).await;
    assert_eq!(status, 400, "a replayed code ends what it gave");

    let fresh = code_at(servers[0], &browser).await;
    let (status, tokens) = post_token(servers[0], WEB, &redeem_form(&fresh)).await;
    assert_eq!(status, 200, "{tokens}");
    let rt = tokens["refresh_token"].as_str().unwrap();
    let winners = race(
        servers,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        n,
    )
    .await;
    assert_eq!(winners.len(), 1, "one refresh token, one rotation");
    let successor = winners[0]["refresh_token"].as_str().unwrap();
    let (status, body) = refresh(servers[1 % servers.len()], WEB, successor, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "reuse of the raced token ended its family"
    );
}

/// REL-07: 64 concurrent redemptions of one code and 64 concurrent refreshes of one token on
/// SQLite.
#[tokio::test(flavor = "multi_thread")]
async fn rel07_concurrent_redemptions_and_refreshes_on_sqlite_have_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_instance(
        &crate::support::sqlite_url(dir.path()),
        Some(ISSUER),
        PEOPLE,
    )
    .await;
    one_winner_each(&[&server], 64).await;
}

/// REL-06 (a), (b), (e): two instances on one PostgreSQL database.
#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_postgres_share_sign_in_state() {
    let url = postgres_url().await;
    let a = TestServer::start_instance(&url, Some(ISSUER), PEOPLE).await;
    let b = TestServer::start_instance(&url, Some(ISSUER), PEOPLE).await;
    // (a) A code from A is redeemed at B, once.
    let browser = Browser::new(&a.base);
    let code = code_at(&a, &browser).await;
    let (status, tokens) = redeem(&b, WEB, WEB_CB, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{tokens}");
    // The code, used at B, is refused at A (and that replay ends what it gave).
    let (status, _) = redeem(&a, WEB, WEB_CB, &code, Some(VERIFIER)).await;
    assert_eq!(status, 400, "used at B, refused at A");
    // (e) The session made at A signs alice in at B without a login page.
    let url = authorize_url(&b, "web", WEB_CB, "&scope=openid&prompt=none");
    let landing = browser.open(&url).await;
    assert!(
        landing.param("code").is_some(),
        "the session from A works at B"
    );
    // (b) 50 concurrent redemptions of one code and 50 refreshes of one token, split across
    // A and B: exactly one winner each, and the family ends.
    one_winner_each(&[&a, &b], 50).await;
    a.stop().await;
    b.stop().await;
}
