//! SEC-57, CVE-11, CVE-12: the server's own requests (back-channel logout) go only to the
//! registered URI, only to allowed addresses, and never follow a redirect. A canary listener
//! counts every connection it gets: it must get none.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;

use crate::browser::Browser;
use crate::flows::{SignIn, sign_in};
use crate::signin::post_token;
use crate::support::{TestServer, config_text, run_cli, sqlite_url, write_file};

/// A loopback listener that counts connections and answers nothing.
async fn canary() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, hits)
}

/// A relying party whose `/jump` answers 302 to `target` and whose `/logout` counts tokens.
async fn relying_party(target: String) -> (u16, Arc<AtomicUsize>) {
    let tokens = Arc::new(AtomicUsize::new(0));
    let counter = tokens.clone();
    let app = axum::Router::new()
        .route(
            "/jump",
            post(move || {
                let target = target.clone();
                async move {
                    let mut headers = HeaderMap::new();
                    headers.insert(header::LOCATION, target.parse().unwrap());
                    (StatusCode::FOUND, headers)
                }
            }),
        )
        .route(
            "/logout",
            post(move |body: String| {
                let counter = counter.clone();
                async move {
                    if body.starts_with("logout_token=") {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    ""
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, tokens)
}

fn client(id: &str, backchannel: &str) -> String {
    format!(
        r#"
[[clients]]
client_id = "{id}"
secrets = ["{id}-secret"]
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://{id}.example/cb"]
allowed_scopes = ["openid", "offline_access"]
require_consent = false
backchannel_logout_uri = "{backchannel}"
"#
    )
}

const USER: &str = r#"
[[users]]
username = "alice"
password = "alice-password"
"#;

/// Signs in to each client in one browser session; returns the token responses.
async fn sign_in_to(server: &TestServer, clients: &[&str]) -> Vec<serde_json::Value> {
    let browser = Browser::new(&server.base);
    let mut out = Vec::new();
    for id in clients {
        let cb = format!("https://{id}.example/cb");
        let secret = format!("{id}-secret");
        let how = SignIn {
            nonce: None,
            ..SignIn::new(
                (id, &secret),
                &cb,
                "openid+offline_access",
                ("alice", "alice-password"),
            )
        };
        out.push(sign_in(server, &browser, how).await.tokens);
    }
    out
}

/// Ends alice's sessions from the CLI, which waits for the deliveries; returns its report.
fn end_sessions(server: &TestServer, extra: &str) -> String {
    let dir = server.dir.as_ref().unwrap().path();
    let config = write_file(
        dir,
        "operator.toml",
        &config_text(server.running.local_addr.port(), &sqlite_url(dir), extra),
    );
    let ended = run_cli(&config, &["sessions", "end", "--user", "alice"], "");
    assert!(
        ended.status.success(),
        "{}",
        String::from_utf8_lossy(&ended.stderr)
    );
    String::from_utf8_lossy(&ended.stdout).into_owned()
}

/// CVE-11: a registered name that resolves to a loopback address is refused when it is
/// resolved, so nothing connects to it (the same holds for the cloud metadata address and
/// every private range; their literals are already refused at start, see config_errors).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec57_cve11_a_name_resolving_to_loopback_gets_no_request() {
    let (port, hits) = canary().await;
    let extra = format!(
        "{}{USER}\n[outbound]\nallow_http = true\n",
        client("rp", &format!("http://localhost:{port}/logout"))
    );
    let server = TestServer::start(&extra).await;
    sign_in_to(&server, &["rp"]).await;
    let report = end_sessions(&server, &extra);
    assert!(
        report.contains("back-channel logout delivered to 0 of 1 client(s)"),
        "{report}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the canary was reached");
}

/// SEC-57: no redirect is followed; CVE-12: parameters a client adds to its token requests
/// never change where the server sends anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec57_cve12_no_redirects_and_no_request_time_urls() {
    let (canary_port, hits) = canary().await;
    let canary_url = format!("http://127.0.0.1:{canary_port}/stolen");
    let (rp_port, delivered) = relying_party(canary_url.clone()).await;
    let extra = format!(
        "{}{}{USER}\n[outbound]\nallow_http = true\nallowed_networks = [\"127.0.0.0/8\"]\n",
        client("jumpy", &format!("http://127.0.0.1:{rp_port}/jump")),
        client("plain", &format!("http://127.0.0.1:{rp_port}/logout")),
    );
    let server = TestServer::start(&extra).await;
    let tokens = sign_in_to(&server, &["jumpy", "plain"]).await;
    // Keycloak's CVE-2026-4874: a value sent on refresh ended up in the logout URL.
    let refresh_token = tokens[1]["refresh_token"].as_str().unwrap();
    let (status, body) = post_token(
        &server,
        ("plain", "plain-secret"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_session_host", &canary_url),
            ("backchannel_logout_uri", &canary_url),
        ],
    )
    .await;
    assert!(
        status == 200 || status == 400,
        "refresh with extra parameters: {status} {body}"
    );

    let report = end_sessions(&server, &extra);
    assert!(
        report.contains("back-channel logout delivered to 1 of 2 client(s)"),
        "{report}"
    );
    assert_eq!(
        delivered.load(Ordering::SeqCst),
        1,
        "the registered URI got its token"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the canary was reached");
}
