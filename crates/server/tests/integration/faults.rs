//! Faults, with the real binary (SECURITY.md REL-03, REL-04, REL-14), on SQLite and on
//! PostgreSQL: SIGKILL under refresh load and a restart lose no refresh token the client holds,
//! and rotated tokens stay dead (CVE-08); SIGTERM under load drains what is in flight, fails
//! `/readyz` first and exits 0; a second server on one SQLite file fails at once.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::browser::Browser;
use crate::signin::{CHALLENGE, PEOPLE, VERIFIER};
use crate::support::{
    ServerProcess, config_text, eventually, free_port, postgres_url, sqlite_url, write_file,
};

const SPA_CB: &str = "http://127.0.0.1:7777/cb";

/// A configuration file for the binary on a fresh database.
struct Deployment {
    dir: tempfile::TempDir,
    config: PathBuf,
    port: u16,
    base: String,
    http: reqwest::Client,
}

impl Deployment {
    async fn new(postgres: bool, extra: &str) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let url = if postgres {
            postgres_url().await
        } else {
            sqlite_url(dir.path())
        };
        let port = free_port();
        let text = config_text(port, &url, &format!("{extra}\n{PEOPLE}"));
        let config = write_file(dir.path(), "tessera.toml", &text);
        Deployment {
            dir,
            config,
            port,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    #[allow(clippy::disallowed_methods)] // reports how long the binary took to be ready
    async fn start(&self) -> (ServerProcess, Duration) {
        let started = Instant::now();
        let log = self.dir.path().join("server.log");
        let process =
            ServerProcess::start_logging(&self.config, self.port, Some(&log), "info").await;
        (process, started.elapsed())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Codes for the public `spa` client: bob signs in once, then each further authorization
    /// is a new grant (a new refresh-token family) on the same session.
    async fn codes(&self, n: usize) -> Vec<String> {
        let browser = Browser::new(&self.base);
        let redirect: String = url::form_urlencoded::byte_serialize(SPA_CB.as_bytes()).collect();
        let mut codes = vec![];
        for i in 0..n {
            let url = format!(
                "{}/authorize?client_id=spa&redirect_uri={redirect}&response_type=code&scope=openid+offline_access&state=s{i}&code_challenge={CHALLENGE}&code_challenge_method=S256",
                self.base
            );
            let landing = browser.authorize(&url, "bob", "bob-password").await;
            codes.push(landing.param("code").expect("a code"));
        }
        codes
    }

    async fn token(&self, form: &[(&str, &str)]) -> Result<(u16, Value), reqwest::Error> {
        let mut form = form.to_vec();
        form.push(("client_id", "spa"));
        let response = self
            .http
            .post(format!("{}/token", self.base))
            .form(&form)
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    async fn redeem(&self, code: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", SPA_CB),
            ("code_verifier", VERIFIER),
        ])
        .await
        .unwrap()
    }

    async fn refresh(&self, token: &str) -> Result<(u16, Value), reqwest::Error> {
        self.token(&[("grant_type", "refresh_token"), ("refresh_token", token)])
            .await
    }
}

fn refresh_token(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string()
}

fn signal(process: &ServerProcess, name: &str) {
    let pid = process.child.id().to_string();
    assert!(
        Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// One client's refresh chain: the token it holds, the ones it rotated away, and whether its
/// last request was cut off (sent, no answer), so that the server may or may not have rotated.
struct Chain {
    held: String,
    rotated: Vec<String>,
    cut_off: bool,
    refreshes: usize,
}

/// Refreshes `token` in a loop until `stop` is set or a request fails; counts each refresh in
/// `refreshed` too.
async fn run_chain(
    d: Arc<Deployment>,
    token: String,
    stop: Arc<AtomicBool>,
    refreshed: Arc<AtomicUsize>,
) -> Chain {
    let mut chain = Chain {
        held: token,
        rotated: vec![],
        cut_off: false,
        refreshes: 0,
    };
    while !stop.load(Ordering::SeqCst) {
        match d.refresh(&chain.held).await {
            Ok((200, body)) => {
                let old = std::mem::replace(&mut chain.held, refresh_token(&body));
                chain.rotated.push(old);
                chain.refreshes += 1;
                refreshed.fetch_add(1, Ordering::SeqCst);
            }
            Ok((status, body)) => panic!("a refresh under load got {status}: {body}"),
            Err(e) => {
                // Refused connections never reached the server; anything else may have.
                chain.cut_off = !e.is_connect();
                break;
            }
        }
    }
    chain
}

/// SQLite's own check of the file (REL-03: `PRAGMA integrity_check` = ok).
fn integrity(database: &std::path::Path) -> String {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

/// Refreshes per chain, on average, before the kill and before SIGTERM.
const REFRESHES_PER_CHAIN: usize = 10;

#[allow(clippy::disallowed_methods)] // times the load and the restart in real time
async fn kill_under_load(postgres: bool) {
    let d = Arc::new(Deployment::new(postgres, "").await);
    let (process, _) = d.start().await;
    let codes = d.codes(8).await;
    let mut tokens = vec![];
    for code in &codes {
        let (status, body) = d.redeem(code).await;
        assert_eq!(status, 200, "{body}");
        tokens.push(refresh_token(&body));
    }
    // Half the chains run until the kill; the other half stop just before it, so every token
    // they hold was received before the kill and must survive it.
    let (until_kill, before_kill) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (refreshed, stopped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load_started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let stop = if i % 2 == 0 {
            &until_kill
        } else {
            &before_kill
        };
        let chain = run_chain(d.clone(), token, stop.clone(), refreshed.clone());
        let stopped = stopped.clone();
        running.spawn(async move {
            let chain = chain.await;
            stopped.fetch_add(1, Ordering::SeqCst);
            chain
        });
    }
    eventually("refreshes under load", || {
        let n = refreshed.load(Ordering::SeqCst);
        async move { n >= 8 * REFRESHES_PER_CHAIN }
    })
    .await;
    before_kill.store(true, Ordering::SeqCst);
    // The chains told to stop finish their request in flight first.
    eventually("half the chains to stop", || {
        let n = stopped.load(Ordering::SeqCst);
        async move { n >= 4 }
    })
    .await;
    let load_took = load_started.elapsed();
    signal(&process, "-KILL");
    let chains = running.join_all().await;
    until_kill.store(true, Ordering::SeqCst);
    drop(process);

    let (process, restart) = d.start().await;
    if !postgres {
        assert_eq!(integrity(&d.dir.path().join("tessera.db")), "ok");
    }
    let total: usize = chains.iter().map(|c| c.refreshes).sum();
    let cut_off = chains.iter().filter(|c| c.cut_off).count();
    eprintln!(
        "REL-03 ({}): {total} refreshes in {load_took:?}, {cut_off} of 8 chains cut off by the kill, restart to ready in {restart:?}",
        if postgres { "PostgreSQL" } else { "SQLite" }
    );
    assert!(total >= 8, "the load ran: {total} refreshes");
    assert!(restart < Duration::from_secs(5), "restart took {restart:?}");

    for chain in &chains {
        // The held token refreshes once, unless its last request was cut off mid-flight: then
        // the server may have rotated it without the client hearing of it, and presenting it
        // again is a reuse (invalid_grant) by design (SEC-21: no grace period).
        let (status, body) = d.refresh(&chain.held).await.unwrap();
        if chain.cut_off {
            assert!(
                status == 200 || (status == 400 && body["error"] == "invalid_grant"),
                "{status} {body}"
            );
        } else {
            assert_eq!(status, 200, "a token the client held was lost: {body}");
        }
        let successor = (status == 200).then(|| refresh_token(&body));
        // Every rotated-away token stays dead (CVE-08), and presenting one ends the family.
        for old in chain.rotated.iter().rev().take(3) {
            let (status, body) = d.refresh(old).await.unwrap();
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_grant"))
            );
        }
        if let Some(successor) = successor {
            let (status, _) = d.refresh(&successor).await.unwrap();
            assert_eq!(status, 400, "reuse of a rotated token ends the family");
        }
    }
    // No code is redeemable twice, before or after the restart.
    for code in &codes {
        let (status, body) = d.redeem(code).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    assert!(!d.log().contains("panicked"), "{}", d.log());
    drop(process);
}

#[tokio::test(flavor = "multi_thread")]
async fn rel03_sigkill_under_load_on_sqlite_loses_no_refresh_token() {
    kill_under_load(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rel03_sigkill_under_load_on_postgres_loses_no_refresh_token() {
    kill_under_load(true).await;
}

/// Requests sent before SIGTERM all get 200; `/readyz` turns 503 before the listener closes
/// after `shutdown_delay`; the process exits 0 within the grace period.
#[allow(clippy::disallowed_methods)] // orders requests against the moment of SIGTERM
async fn terminate_under_load(postgres: bool) {
    let d = Arc::new(
        Deployment::new(
            postgres,
            "[http]\nshutdown_delay = 1\nshutdown_grace = 10\n",
        )
        .await,
    );
    let (mut process, _) = d.start().await;
    let codes = d.codes(4).await;
    let mut tokens = vec![];
    for code in &codes {
        tokens.push(refresh_token(&d.redeem(code).await.1));
    }
    let terminated: Arc<std::sync::OnceLock<Instant>> = Arc::new(std::sync::OnceLock::new());
    let refreshed = Arc::new(AtomicUsize::new(0));
    let mut load = tokio::task::JoinSet::new();
    for token in tokens {
        let (d, terminated, refreshed) = (d.clone(), terminated.clone(), refreshed.clone());
        load.spawn(async move {
            let (mut held, mut before, mut after_ok, mut after_refused) = (token, 0, 0, 0);
            loop {
                let sent = Instant::now();
                let result = d.refresh(&held).await;
                let sent_before = terminated.get().is_none_or(|t| sent < *t);
                match result {
                    Ok((200, body)) => {
                        held = refresh_token(&body);
                        refreshed.fetch_add(1, Ordering::SeqCst);
                        if sent_before {
                            before += 1
                        } else {
                            after_ok += 1
                        }
                    }
                    Ok((status, body)) => {
                        assert!(
                            !sent_before,
                            "a request sent before SIGTERM got {status}: {body}"
                        );
                        assert_eq!(status, 503, "{body}");
                        after_refused += 1;
                    }
                    Err(e) => {
                        assert!(!sent_before, "a request sent before SIGTERM failed: {e}");
                        return (before, after_ok, after_refused);
                    }
                }
            }
        });
    }
    eventually("refreshes before SIGTERM", || {
        let n = refreshed.load(Ordering::SeqCst);
        async move { n >= 4 * REFRESHES_PER_CHAIN }
    })
    .await;
    let _ = terminated.set(Instant::now());
    signal(&process, "-TERM");
    // /readyz fails first, while tokens are still being served: an error here would mean the
    // listener closed before it failed.
    let readyz = format!("{}/readyz", d.base);
    let unready = loop {
        match d.http.get(&readyz).send().await {
            Ok(r) if r.status() == 503 => break terminated.get().unwrap().elapsed(),
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => panic!("/readyz stopped answering before it failed: {e}"),
        }
    };
    let outcomes = load.join_all().await;
    let exit_started = Instant::now();
    let status = loop {
        if let Some(status) = process.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            exit_started.elapsed() < Duration::from_secs(12),
            "no exit within the grace period"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let exited = terminated.get().unwrap().elapsed();
    let before: usize = outcomes.iter().map(|o| o.0).sum();
    let after: usize = outcomes.iter().map(|o| o.1).sum();
    eprintln!(
        "REL-04 ({}): {before} refreshes before SIGTERM, {after} served during the 1 s delay; /readyz 503 after {unready:?}; exit {status} after {exited:?}",
        if postgres { "PostgreSQL" } else { "SQLite" }
    );
    assert!(status.success(), "exit status {status}");
    assert!(
        before > 0 && after > 0,
        "load ran before and during the delay"
    );
    assert!(!d.log().contains("panicked"), "{}", d.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn rel04_sigterm_under_load_on_sqlite_drains_and_exits_0() {
    terminate_under_load(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rel04_sigterm_under_load_on_postgres_drains_and_exits_0() {
    terminate_under_load(true).await;
}

#[tokio::test(flavor = "multi_thread")]
#[allow(clippy::disallowed_methods)] // times a cold start and a refused second server
async fn rel14_cold_start_and_a_second_server_on_one_sqlite_file() {
    let d = Deployment::new(false, "").await;
    let (first, cold) = d.start().await;
    eprintln!("REL-14: cold start on an empty directory to /readyz 200 in {cold:?}");
    assert!(cold < Duration::from_secs(5), "cold start took {cold:?}");
    // The same file, another port.
    let port = free_port();
    let text = std::fs::read_to_string(&d.config)
        .unwrap()
        .replace(&format!(":{}", d.port), &format!(":{port}"));
    let second = write_file(d.dir.path(), "second.toml", &text);
    let started = Instant::now();
    let output = crate::support::tessera()
        .arg("--config")
        .arg(&second)
        .arg("serve")
        .output()
        .unwrap();
    let failed_after = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("another tessera server is already using the database file"),
        "{stderr}"
    );
    assert!(failed_after < Duration::from_secs(5), "{failed_after:?}");
    // The first server is untouched and the file is sound.
    let ready = reqwest::get(format!("{}/readyz", d.base)).await.unwrap();
    assert_eq!(ready.status(), 200);
    drop(first);
    assert_eq!(integrity(&d.dir.path().join("tessera.db")), "ok");
    // Once the first is gone, the lock goes with it (even after SIGKILL, as here).
    let (_again, _) = d.start().await;
}
