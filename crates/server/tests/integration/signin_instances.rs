//! Sign-in state shared through the database: a login at one instance and a code or refresh
//! token redeemed at another; concurrent refreshes of one token yield exactly one success on
//! SQLite and on PostgreSQL, also across two instances (SECURITY.md SEC-21).

use crate::browser::Browser;
use crate::signin::{PEOPLE, VERIFIER, authorize_url, redeem};
use crate::support::{TestServer, postgres_url};

/// The deployment's issuer (http on a loopback name, so that the test's cookie jar, which
/// keeps Secure cookies for https, works against the instances' plain-http ports).
const ISSUER: &str = "http://localhost:1";
const WEB: (&str, &str) = ("web", "web-secret");
const WEB_CB: &str = "https://web.example/cb";

/// Signs alice in at `server` and returns a code for `web` (consent included).
async fn code_at(server: &TestServer) -> String {
    // The browser talks to this instance directly; the issuer is shared by the deployment.
    let browser = Browser::new(&server.base);
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
    landing = browser.login(&landing, "alice", "alice-password").await;
    while let Some(local) = next(&landing) {
        landing = browser.open(&local).await;
    }
    landing = browser.allow(&landing, false).await;
    landing.param("code").expect("a code")
}

/// Refreshes `token` `n` times at once, alternating between `servers`; returns the successes.
async fn concurrent_refreshes(servers: &[&TestServer], token: &str, n: usize) -> usize {
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..n {
        let server = servers[i % servers.len()];
        let request = server
            .http
            .post(server.url("/token"))
            .basic_auth(WEB.0, Some(WEB.1))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token)]);
        attempts.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    let statuses = attempts.join_all().await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
    statuses.iter().filter(|s| **s == 200).count()
}

#[tokio::test]
async fn concurrent_refreshes_on_sqlite_have_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_instance(
        &crate::support::sqlite_url(dir.path()),
        Some(ISSUER),
        PEOPLE,
    )
    .await;
    let code = code_at(&server).await;
    let (status, tokens) = redeem(&server, WEB, WEB_CB, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{tokens}");
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(concurrent_refreshes(&[&server], rt, 20).await, 1);
}

#[tokio::test]
async fn two_instances_on_postgres_share_sign_in_state() {
    let url = postgres_url().await;
    let a = TestServer::start_instance(&url, Some(ISSUER), PEOPLE).await;
    let b = TestServer::start_instance(&url, Some(ISSUER), PEOPLE).await;
    // A code from A is redeemed at B, once.
    let code = code_at(&a).await;
    let (status, tokens) = redeem(&b, WEB, WEB_CB, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{tokens}");
    // 50 concurrent refreshes of one token, split across A and B: exactly one wins.
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(concurrent_refreshes(&[&a, &b], rt, 50).await, 1);
    // The code, used at B, is refused at A (and that replay ends what it gave).
    let (status, _) = redeem(&a, WEB, WEB_CB, &code, Some(VERIFIER)).await;
    assert_eq!(status, 400, "used at B, refused at A");
    a.stop().await;
    b.stop().await;
}
