//! `/metrics`: the Prometheus exposition, read by Prometheus's own parser (prometheus_client),
//! with bounded labels; switched off by `[metrics] enabled = false`; moved with `[admin]
//! listen`.

use serde_json::Value;

use crate::support::{TestServer, free_port, python_tool};
use crate::tokens::{MACHINES, client_credentials};

/// The exposition at `url`, parsed by prometheus_client: one JSON object per sample.
pub async fn scrape(http: &reqwest::Client, url: &str) -> Vec<Value> {
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse(&response.text().await.unwrap())
}

/// `text` parsed by prometheus_client; the test fails if it cannot be.
pub fn parse(text: &str) -> Vec<Value> {
    let samples: Value = serde_json::from_str(&python_tool("parse_metrics.py", text)).unwrap();
    samples.as_array().unwrap().clone()
}

/// The value of the sample `name` whose labels include `labels`; 0 when there is none.
pub fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s["name"] == name)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][k] == *v))
        .map(|s| s["value"].as_f64().unwrap())
        .sum()
}

#[tokio::test]
async fn sec58_metrics_count_requests_tokens_refusals_and_queries_with_bounded_labels() {
    let server = TestServer::start(MACHINES).await;
    let url = server.url("/metrics");
    let before = scrape(&server.http, &url).await;
    let issued = [
        ("grant_type", "client_credentials"),
        ("client_id", "machine"),
    ];
    let base = value(&before, "tessera_tokens_issued_total", &issued);

    for _ in 0..3 {
        assert_eq!(
            client_credentials(&server, "machine", "machine-secret", &[])
                .await
                .0,
            200
        );
    }
    // Refusals under many made-up client ids and paths: none of them becomes a label.
    for i in 0..20 {
        let ghost = format!("ghost-client-{i}");
        assert_eq!(client_credentials(&server, &ghost, "x", &[]).await.0, 401);
        let path = format!("/no-such-path-{i}?code=secret-code-{i}");
        let status = server
            .http
            .get(server.url(&path))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404);
    }

    let after = scrape(&server.http, &url).await;
    assert_eq!(
        value(&after, "tessera_tokens_issued_total", &issued) - base,
        3.0
    );
    let token_ok = [("route", "/token"), ("method", "POST"), ("status", "200")];
    assert!(value(&after, "tessera_http_requests_total", &token_ok) >= 3.0);
    let token_401 = [("route", "/token"), ("status", "401")];
    assert!(value(&after, "tessera_http_requests_total", &token_401) >= 20.0);
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert!(value(&after, "tessera_http_requests_total", &unmatched) >= 20.0);
    let invalid_client = [("error", "invalid_client")];
    assert!(value(&after, "tessera_refusals_total", &invalid_client) >= 20.0);
    assert!(value(&after, "tessera_client_authentication_failures_total", &[]) >= 20.0);
    assert_eq!(
        value(
            &after,
            "tessera_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    // Histograms with buckets: requests by route, database statements by operation.
    let token_time = [("route", "/token"), ("le", "+Inf")];
    assert!(
        value(
            &after,
            "tessera_http_request_duration_seconds_bucket",
            &token_time
        ) >= 23.0
    );
    assert!(
        value(
            &after,
            "tessera_database_query_duration_seconds_count",
            &[("op", "read")]
        ) > 0.0
    );
    assert!(
        value(
            &after,
            "tessera_database_query_duration_seconds_count",
            &[("op", "write")]
        ) > 0.0
    );
    // Every family has its help text; no label value is a path, client id or secret the
    // requests made up.
    for sample in &after {
        assert_ne!(sample["help"], "", "{sample}");
        for (_, label) in sample["labels"].as_object().unwrap() {
            let label = label.as_str().unwrap();
            assert!(
                !label.contains("ghost-client")
                    && !label.contains("no-such-path")
                    && !label.contains("secret-code"),
                "{sample}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn metrics_can_be_switched_off() {
    let server = TestServer::start("[metrics]\nenabled = false\n").await;
    let status = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn admin_listen_serves_metrics_on_its_own_address_only() {
    let port = free_port();
    let server = TestServer::start(&format!(
        "[admin]\nlisten = \"127.0.0.1:{port}\"\n{MACHINES}"
    ))
    .await;
    assert_eq!(server.running.admin_addr.map(|a| a.port()), Some(port));
    let main = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        main.status(),
        404,
        "the main listener does not serve /metrics"
    );
    assert_eq!(
        client_credentials(&server, "machine", "machine-secret", &[])
            .await
            .0,
        200
    );
    let samples = scrape(&server.http, &format!("http://127.0.0.1:{port}/metrics")).await;
    let issued = [
        ("grant_type", "client_credentials"),
        ("client_id", "machine"),
    ];
    assert!(value(&samples, "tessera_tokens_issued_total", &issued) >= 1.0);
    // The admin listener serves nothing else.
    let token = server
        .http
        .post(format!("http://127.0.0.1:{port}/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 404);
    server.stop().await;
}
