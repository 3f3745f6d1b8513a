//! SECURITY.md REL-05: a PostgreSQL outage under load. The server reaches PostgreSQL through a
//! TCP relay that the test takes down (open connections cut, new ones closed at once, as when
//! the database server stops) and brings back. During the outage requests get 503
//! `temporarily_unavailable` with `Retry-After`, quickly; afterwards service resumes without a
//! restart, and every token that got a 200 is still there.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::support::{TestServer, eventually, postgres_url};
use crate::tokens::{MACHINES, introspect};

/// A TCP relay to PostgreSQL that can be taken down and brought back.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (up, links) = (up.clone(), links.clone());
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    links.lock().unwrap().push(tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    }));
                }
            })
        };
        Relay {
            port,
            up,
            links,
            accept,
        }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.down();
    }
}

/// One client_credentials request for a reference token (a database write each).
struct Attempt {
    sent: Instant,
    took: Duration,
    status: u16,
    retry_after: bool,
    body: Value,
}

/// How many answers of each phase the test waits for: before the outage, during it, and after
/// the settling time.
const PER_PHASE: usize = 8;

/// How many of the attempts so far match `which`.
fn count(attempts: &Mutex<Vec<Attempt>>, which: impl Fn(&Attempt) -> bool) -> usize {
    attempts.lock().unwrap().iter().filter(|a| which(a)).count()
}

#[tokio::test(flavor = "multi_thread")]
#[allow(clippy::disallowed_methods)] // times the outage and each answer in real time
async fn rel05_postgres_outage_gives_quick_503s_and_service_resumes() {
    let direct = url::Url::parse(&postgres_url().await).unwrap();
    let target: SocketAddr = format!(
        "{}:{}",
        direct.host_str().unwrap(),
        direct.port().unwrap_or(5432)
    )
    .parse()
    .unwrap();
    let relay = Relay::start(target).await;
    let mut via_relay = direct.clone();
    via_relay.set_port(Some(relay.port)).unwrap();
    let server = Arc::new(TestServer::start_on(via_relay.as_str(), MACHINES).await);

    let stop = Arc::new(AtomicBool::new(false));
    let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (server, stop, attempts) = (server.clone(), stop.clone(), attempts.clone());
        load.spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let sent = Instant::now();
                let response = server
                    .http
                    .post(server.url("/token"))
                    .basic_auth("ref", Some("ref-secret"))
                    .form(&[("grant_type", "client_credentials")])
                    .timeout(Duration::from_secs(15))
                    .send()
                    .await
                    .expect("an answer, never a hang or a closed connection");
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key("retry-after");
                let took = sent.elapsed();
                let body = response.json().await.unwrap();
                attempts.lock().unwrap().push(Attempt {
                    sent,
                    took,
                    status,
                    retry_after,
                    body,
                });
            }
        });
    }
    eventually("tokens before the outage", || {
        let n = count(&attempts, |a| a.status == 200);
        async move { n >= PER_PHASE }
    })
    .await;
    let went_down = Instant::now();
    relay.down();
    eventually("503s during the outage", || {
        let n = count(&attempts, |a| a.sent > went_down && a.status == 503);
        async move { n >= PER_PHASE }
    })
    .await;
    let came_back = Instant::now();
    relay.up();
    let settled = came_back + Duration::from_secs(2);
    eventually("answers after the settling time", || {
        let n = count(&attempts, |a| a.sent > settled);
        async move { n >= PER_PHASE }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    load.join_all().await;
    let attempts = std::mem::take(&mut *attempts.lock().unwrap());

    let slowest = attempts.iter().map(|a| a.took).max().unwrap();
    let during = attempts
        .iter()
        .filter(|a| a.sent > went_down && a.sent < came_back)
        .collect::<Vec<_>>();
    let refused = during.iter().filter(|a| a.status == 503).count();
    let after = attempts
        .iter()
        .filter(|a| a.sent > settled)
        .collect::<Vec<_>>();
    let first_ok_after = attempts
        .iter()
        .filter(|a| a.sent > came_back && a.status == 200)
        .map(|a| a.sent - came_back)
        .min();
    eprintln!(
        "REL-05: {} requests; during the {:?} outage {} of {} got 503; slowest answer {slowest:?}; first 200 {first_ok_after:?} after PostgreSQL came back; {} requests after the 2 s settling time",
        attempts.len(),
        came_back - went_down,
        refused,
        during.len(),
        after.len()
    );
    for a in &attempts {
        match a.status {
            200 => {}
            503 => {
                assert_eq!(a.body["error"], "temporarily_unavailable", "{}", a.body);
                assert!(a.retry_after, "503 without Retry-After");
            }
            other => panic!("{other}: {}", a.body),
        }
        assert!(
            a.took < Duration::from_secs(5),
            "an answer took {:?}",
            a.took
        );
    }
    assert!(refused > 0, "the outage was seen");
    assert!(!after.is_empty(), "load ran after the outage");
    assert!(
        after.iter().all(|a| a.status == 200),
        "every request 2 s after PostgreSQL came back succeeds"
    );
    // No token that got a 200 is missing.
    for a in attempts.iter().filter(|a| a.status == 200).step_by(7) {
        let token = a.body["access_token"].as_str().unwrap();
        let answer = introspect(&server, ("urn:api1", "api1-secret"), token).await;
        assert_eq!(answer["active"], true, "{answer}");
    }
}
