//! Malformed, oversized and hostile requests get clear 4xx answers, never a 5xx, a panic or a
//! hang, and the server keeps serving.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use axum::http::Method;

use crate::harness::{TestApp, TestResponse};
use crate::support::TestServer;

fn assert_json_4xx(response: &TestResponse) -> serde_json::Value {
    let status = response.status;
    assert!(status.is_client_error(), "expected 4xx, got {status}");
    assert!(
        response.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "error bodies are JSON"
    );
    let body: serde_json::Value = response.json();
    assert!(
        body["error"].is_string() && body["error_description"].is_string(),
        "{body}"
    );
    body
}

fn raw_exchange(base: &str, request: &[u8]) -> String {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).to_string()
}

#[tokio::test]
async fn unknown_paths_get_json_404() {
    let app = TestApp::new("").await;
    for path in [
        "/nope",
        "/..%2f..%2fetc%2fpasswd",
        "/%FF%FE",
        "/.well-known/openid-configuration/extra",
        "/end_session/extra",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(assert_json_4xx(&response)["error"], "not_found");
    }
}

#[tokio::test]
async fn wrong_methods_get_json_405() {
    let app = TestApp::new("").await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
        "/readyz",
    ] {
        let response = app.send(Method::DELETE, path, &[], None).await;
        assert_eq!(response.status, 405, "{path}");
        assert!(response.headers.contains_key("allow"));
        assert_json_4xx(&response);
    }
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let app = TestApp::new("").await;
    let response = app
        .send(
            Method::POST,
            "/.well-known/openid-configuration",
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(vec![b'a'; 1024 * 1024]),
        )
        .await;
    assert!(
        matches!(response.status.as_u16(), 405 | 413),
        "{}",
        response.status
    );
    assert_json_4xx(&response);
}

#[tokio::test]
async fn long_uri_and_huge_headers_are_refused_not_crashed() {
    let server = TestServer::start("").await;
    let long = format!("/{}", "a".repeat(16 * 1024));
    let response = server.http.get(server.url(&long)).send().await.unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());

    // Above the configured 16 KiB: 431 with a JSON body.
    let big = "x".repeat(20 * 1024);
    let response = server
        .http
        .get(server.url("/healthz"))
        .header("x-big", big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
    assert_json_4xx(&TestResponse::read(response).await);
    // Far above: refused by the HTTP parser itself or with 431; never accepted.
    let huge = "x".repeat(1024 * 1024);
    if let Ok(response) = server
        .http
        .get(server.url("/healthz"))
        .header("x-big", huge)
        .send()
        .await
    {
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    // Still serving.
    assert_eq!(
        server
            .http
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.stop().await;
}

#[tokio::test]
async fn garbage_on_the_wire_gets_400_and_server_survives() {
    let server = TestServer::start("").await;
    let base = server.base.clone();
    let answers = tokio::task::spawn_blocking(move || {
        [
            raw_exchange(&base, b"GARBAGE\r\n\r\n"),
            raw_exchange(
                &base,
                b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
            ),
            raw_exchange(&base, b"\x00\xff\xfe\r\n\r\n"),
            raw_exchange(
                &base,
                b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ),
        ]
    })
    .await
    .unwrap();
    for answer in &answers {
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
            "unexpected answer: {answer:?}"
        );
    }
    assert_eq!(
        server
            .http
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.stop().await;
}

/// Slowloris: a client that never finishes its headers, or idles on a keep-alive connection,
/// is disconnected after `http.header_read_timeout`, and others are served meanwhile.
#[tokio::test]
#[allow(clippy::disallowed_methods)] // measures when the server lets go of a connection
async fn slow_and_idle_connections_are_closed() {
    let server = TestServer::start("[http]\nheader_read_timeout = 1\n").await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let closed_within = |request: &'static [u8]| {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            let mut stream = TcpStream::connect(&addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(15)))
                .unwrap();
            stream.write_all(request).unwrap();
            let started = std::time::Instant::now();
            let mut buf = Vec::new();
            let _ = stream.read_to_end(&mut buf);
            (started.elapsed(), String::from_utf8_lossy(&buf).to_string())
        })
    };
    let slow = closed_within(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    let idle = closed_within(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    // Meanwhile the server answers others.
    assert_eq!(
        server
            .http
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (slow_elapsed, _) = slow.await.unwrap();
    let (idle_elapsed, idle_answer) = idle.await.unwrap();
    assert!(
        slow_elapsed < Duration::from_secs(10),
        "slow client held {slow_elapsed:?}"
    );
    assert!(idle_answer.starts_with("HTTP/1.1 200"), "{idle_answer}");
    assert!(
        idle_elapsed < Duration::from_secs(10),
        "idle keep-alive held {idle_elapsed:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn every_response_has_request_id_and_nosniff() {
    let app = TestApp::new("").await;
    for path in ["/healthz", "/nope", "/.well-known/jwks.json"] {
        let response = app.get(path).await;
        assert!(response.headers.contains_key("x-request-id"), "{path}");
        assert_eq!(response.headers["x-content-type-options"], "nosniff");
    }
    // A caller's request id is kept, so logs can be correlated across services.
    let response = app
        .send(
            Method::GET,
            "/healthz",
            &[("x-request-id", "trace-123")],
            None,
        )
        .await;
    assert_eq!(response.headers["x-request-id"], "trace-123");
}

#[tokio::test]
async fn readiness_fails_first_when_shutting_down() {
    let app = TestApp::new("").await;
    assert_eq!(app.get("/readyz").await.status, 200);
    app.state
        .readiness
        .shutting_down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let response = app.get("/readyz").await;
    assert_eq!(response.status, 503);
    // Liveness is unaffected.
    assert_eq!(app.get("/healthz").await.status, 200);
}
