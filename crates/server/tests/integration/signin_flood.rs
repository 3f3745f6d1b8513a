//! SECURITY.md REL-15 (scaled) and SEC-55: wrong passwords for one account from ten client
//! addresses, with client_credentials load alongside. The account is slowed down (the right
//! password waits too), other accounts are not affected, the right password works once the
//! wait is over, and the token endpoint keeps answering throughout.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::browser::{Browser, Landing};
use crate::signin::{PEOPLE, authorize_url};
use crate::support::TestServer;
use crate::tokens::client_credentials;

const MACHINE: &str = r#"
[[clients]]
client_id = "machine"
secrets = ["machine-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
"#;

fn status(landing: &Landing) -> u16 {
    match landing {
        Landing::Page { status, .. } => status.as_u16(),
        Landing::Client(_) => 303,
    }
}

fn address(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Token requests in a loop until `stop`, or until `limit` of them when given; returns each
/// one's latency (all must succeed).
#[allow(clippy::disallowed_methods)] // measures real latencies
async fn token_load(
    server: Arc<TestServer>,
    stop: Arc<AtomicBool>,
    limit: Option<usize>,
) -> Vec<Duration> {
    let mut latencies = vec![];
    while !stop.load(Ordering::SeqCst) && limit.is_none_or(|n| latencies.len() < n) {
        let started = Instant::now();
        let (status, body) = client_credentials(&server, "machine", "machine-secret", &[]).await;
        assert_eq!(
            status, 200,
            "a token request failed during the flood: {body}"
        );
        latencies.push(started.elapsed());
    }
    latencies
}

fn p99(latencies: &mut [Duration]) -> Duration {
    latencies.sort();
    latencies[latencies.len() * 99 / 100]
}

/// Token requests measured on their own, before the flood.
const ALONE: usize = 100;

#[tokio::test(flavor = "multi_thread")]
#[allow(clippy::disallowed_methods)] // measures real latencies and rates
async fn rel15_password_flood_from_ten_addresses_is_slowed_and_starves_nothing() {
    let server = Arc::new(
        TestServer::start(&format!(
            "{PEOPLE}\n{MACHINE}\n[login]\nmax_failures_per_account = 5\nmax_lockout = 2\n"
        ))
        .await,
    );
    let login_url = authorize_url(
        &server,
        "other",
        "https://other.example/cb",
        "&scope=openid",
    );

    // The token endpoint alone, then beside the flood.
    let alone_started = Instant::now();
    let never = Arc::new(AtomicBool::new(false));
    let mut alone = token_load(server.clone(), never, Some(ALONE)).await;
    let alone_took = alone_started.elapsed();

    let stop = Arc::new(AtomicBool::new(false));
    let beside = tokio::spawn(token_load(server.clone(), stop.clone(), None));
    let flood_started = Instant::now();
    let mut attackers = tokio::task::JoinSet::new();
    for i in 0..10u8 {
        let (base, url) = (server.base.clone(), login_url.clone());
        attackers.spawn(async move {
            let browser = Browser::from_address(&base, address(10 + i));
            let mut statuses = vec![];
            let mut page = browser.open(&url).await;
            for attempt in 0..10 {
                let answer = browser
                    .login(&page, "alice", &format!("guess-{i}-{attempt}"))
                    .await;
                statuses.push(status(&answer));
                page = match status(&answer) {
                    200 => answer,
                    _ => browser.open(&url).await,
                };
            }
            statuses
        });
    }
    let statuses: Vec<u16> = attackers.join_all().await.into_iter().flatten().collect();
    let flood_took = flood_started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let mut beside = beside.await.unwrap();

    let slowed = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert!(
        slowed > 0,
        "the account was never slowed down: {statuses:?}"
    );
    let rate = |l: &[Duration], over: Duration| l.len() as f64 / over.as_secs_f64();
    eprintln!(
        "REL-15: 100 wrong passwords from 10 addresses in {flood_took:?}, {slowed} answered 429; \
         token endpoint alone {:.0}/s (p99 {:?}), beside the flood {:.0}/s (p99 {:?})",
        rate(&alone, alone_took),
        p99(&mut alone),
        rate(&beside, flood_took),
        p99(&mut beside),
    );
    assert!(
        !beside.is_empty(),
        "the token endpoint answered during the flood"
    );

    // Right after the flood even the right password waits; another account does not.
    let victim = Browser::from_address(&server.base, address(40));
    let page = victim.open(&login_url).await;
    let answer = victim.login(&page, "alice", "alice-password").await;
    assert_eq!(status(&answer), 429, "the right password waits too");
    let bystander = Browser::from_address(&server.base, address(41));
    let page = bystander.open(&login_url).await;
    let answer = bystander.login(&page, "bob", "bob-password").await;
    assert!(
        answer.param("code").is_some(),
        "another account is not affected"
    );

    // Once the wait is over (max_lockout = 2 s), the right password works. The throttle reads
    // the server's wall clock (instances share it), which stands still until moved.
    server.clock.advance(3);
    let page = victim.open(&login_url).await;
    let answer = victim.login(&page, "alice", "alice-password").await;
    assert!(
        answer.param("code").is_some(),
        "alice signs in after the wait"
    );
}
