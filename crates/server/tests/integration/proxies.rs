//! Behind a reverse proxy (`[http] trusted_proxies`): the client address a trusted proxy reports
//! is the one per-address limits count, so users behind one load balancer do not share one
//! budget; forwarding headers from anyone else are ignored, so a client cannot pick its own.
//! Seen through the user-code guess limit (10 wrong codes per address, RFC 8628 §5.1).

use std::net::IpAddr;

use crate::browser::{Browser, field};
use crate::device::config;
use crate::support::TestServer;

const PROXY: [u8; 4] = [127, 0, 3, 1];
const STRANGER: [u8; 4] = [127, 0, 3, 2];

/// The status of each of `n` wrong user codes sent by `browser` with `header`, if any.
async fn guesses(
    server: &TestServer,
    browser: &Browser,
    header: Option<(&str, &str)>,
    n: usize,
) -> Vec<u16> {
    let page = browser.open(&server.url("/device")).await;
    let csrf = field(page.page(), "csrf");
    let mut statuses = Vec::new();
    for _ in 0..n {
        let form = [("user_code", "BBBBBBBB"), ("csrf", csrf.as_str())];
        let mut request = browser.http.post(server.url("/device")).form(&form);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        statuses.push(request.send().await.unwrap().status().as_u16());
    }
    statuses
}

fn all(statuses: &[u16], status: u16) -> bool {
    statuses.iter().all(|s| *s == status)
}

#[tokio::test]
async fn a_trusted_proxys_clients_each_have_their_own_budget_and_nobody_else_picks_one() {
    let server = TestServer::start(&format!(
        "[http]\ntrusted_proxies = [\"127.0.3.1/32\", \"10.0.0.0/8\"]\n{}",
        config()
    ))
    .await;
    let proxy = Browser::from_address(&server.base, IpAddr::from(PROXY));
    // Client A, through the proxy (and an inner one), spends its 10 guesses.
    let a = Some(("x-forwarded-for", "203.0.113.7, 10.1.1.1"));
    let spent = guesses(&server, &proxy, a, 11).await;
    assert!(all(&spent[..10], 400) && spent[10] == 429, "{spent:?}");
    // Client B through the same proxy still has its own; so has C, named by RFC 7239's header.
    let b = Some(("x-forwarded-for", "203.0.113.8"));
    assert!(all(&guesses(&server, &proxy, b, 3).await, 400));
    let c = Some(("forwarded", "for=\"[2001:db8::1]:4711\";proto=https"));
    assert!(all(&guesses(&server, &proxy, c, 3).await, 400));
    // A client that is no proxy cannot choose its address: a new one per request changes
    // nothing, its own budget runs out after 10.
    let stranger = Browser::from_address(&server.base, IpAddr::from(STRANGER));
    let mut statuses = Vec::new();
    for i in 0..11 {
        let spoofed = format!("198.51.100.{i}");
        let header = Some(("x-forwarded-for", spoofed.as_str()));
        statuses.extend(guesses(&server, &stranger, header, 1).await);
    }
    assert!(
        all(&statuses[..10], 400) && statuses[10] == 429,
        "{statuses:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_trusted_proxies_forwarding_headers_are_ignored() {
    let server = TestServer::start(&config()).await;
    let proxy = Browser::from_address(&server.base, IpAddr::from(PROXY));
    let a = Some(("x-forwarded-for", "203.0.113.7"));
    assert!(all(&guesses(&server, &proxy, a, 10).await, 400));
    // Another reported client is the same connection's address: the budget is spent.
    let b = Some(("x-forwarded-for", "203.0.113.8"));
    assert_eq!(guesses(&server, &proxy, b, 1).await, [429]);
    server.stop().await;
}
