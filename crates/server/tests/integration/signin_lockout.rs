//! Holes the attack run found in sign-in throttling (SEC-55): someone who knows a username must
//! not be able to keep its owner locked out (a browser that signed in to the account before
//! carries a device cookie and is never slowed by others' failures), and oversized usernames
//! are refused before anything is counted or kept for them.

use std::net::{IpAddr, Ipv4Addr};

use crate::browser::{Browser, Landing, field};
use crate::signin::{PEOPLE, authorize_url};
use crate::support::{ServerProcess, TestServer, config_text, free_port, sqlite_url, write_file};

fn status(landing: &Landing) -> u16 {
    match landing {
        Landing::Page { status, .. } => status.as_u16(),
        Landing::Client(_) => 303,
    }
}

#[tokio::test]
async fn sec55_others_failures_never_lock_the_owner_out_of_a_known_browser() {
    let server = TestServer::start(&format!(
        "{PEOPLE}\n[login]\nmax_failures_per_account = 3\nmax_lockout = 600\n"
    ))
    .await;
    let url = authorize_url(
        &server,
        "other",
        "https://other.example/cb",
        "&scope=openid",
    );
    let login_url = authorize_url(
        &server,
        "other",
        "https://other.example/cb",
        "&scope=openid&prompt=login",
    );
    // Alice signs in at home once: her browser is known for her account from now on.
    let home = Browser::from_address(&server.base, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let landing = home.authorize(&url, "alice", "alice-password").await;
    assert!(landing.param("code").is_some());
    assert!(home.cookies().iter().any(|(n, _)| n == "tessera-device"));

    // Someone elsewhere guesses her password until her account is slowed down (three free
    // failures; the fourth attempt would wait).
    let attacker = Browser::from_address(&server.base, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
    let mut page = attacker.open(&url).await;
    for _ in 0..3 {
        page = attacker.login(&page, "alice", "guess").await;
        assert_eq!(status(&page), 200);
    }
    // A browser that never signed in to the account waits, right password or not.
    let stranger = Browser::from_address(&server.base, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4)));
    let page = stranger.open(&url).await;
    assert_eq!(
        status(&stranger.login(&page, "alice", "alice-password").await),
        429
    );
    // A device cookie the server did not issue counts for nothing.
    let url_base = reqwest::Url::parse(&server.base).unwrap();
    attacker
        .jar
        .add_cookie_str(&format!("tessera-device={}", "A".repeat(86)), &url_base);
    let page = attacker.open(&url).await;
    assert_eq!(status(&attacker.login(&page, "alice", "guess").await), 429);

    // Alice at home is not delayed: a fresh sign-in (prompt=login) goes through at once.
    let page = home.open(&login_url).await;
    assert!(page.is_login());
    let landing = home.login(&page, "alice", "alice-password").await;
    assert!(landing.param("code").is_some(), "{landing:?}");
    server.stop().await;
}

/// The attack run held 115 MiB after 2,000 attempts with 60 KB usernames. Names no account can
/// have are refused before they are counted, shown or kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_usernames_are_refused_before_anything_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_file(
        dir.path(),
        "tessera.toml",
        &config_text(port, &sqlite_url(dir.path()), PEOPLE),
    );
    let server = ServerProcess::start(&config, port).await;
    let rss_kib = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    let browser = Browser::new(&server.base);
    let url = format!(
        "{}/authorize?client_id=other&redirect_uri=https%3A%2F%2Fother.example%2Fcb\
         &response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
         &code_challenge_method=S256",
        server.base
    );
    let mut page = browser.open(&url).await;
    // Warm up, then measure.
    page = browser.login(&page, "nobody", "x").await;
    let pid = server.child.id();
    let before = rss_kib(pid);
    for i in 0..2_000 {
        let username = format!("{}{i}", "u".repeat(60 * 1024));
        page = browser.login(&page, &username, "guess").await;
        assert_eq!(status(&page), 200, "attempt {i}");
    }
    let html = page.page();
    assert!(
        !html.contains(&"u".repeat(300)),
        "the name is not shown back"
    );
    assert!(field(html, "interaction").len() > 20);
    let after = rss_kib(pid);
    assert!(
        after < before + 32 * 1024,
        "memory grew from {before} KiB to {after} KiB"
    );
}
