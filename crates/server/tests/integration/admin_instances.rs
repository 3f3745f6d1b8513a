//! Instances that agree: a change made through the admin API at one instance (a client, a
//! scope, a key) is in effect at another on the same PostgreSQL database within a second
//! (LISTEN/NOTIFY), although their periodic refresh is set to five minutes.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{ServerProcess, free_port, postgres_url, write_file};

/// The status of a client_credentials request for `id` at `base`.
async fn token_status(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> u16 {
    http.post(format!("{base}/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// How long until `check` holds, polled every 20 ms, for at most `limit`.
#[allow(clippy::disallowed_methods)] // a real deadline: the notice travels in real time
async fn within<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

async fn admin(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    tag: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut request = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(tag) = tag {
        request = request.header("if-match", tag);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    (status, etag, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_admin_change_at_one_instance_is_in_effect_at_another_within_a_second() {
    let url = postgres_url().await;
    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{port_a}");
    let config = |port: u16| {
        format!(
            "issuer = \"{issuer}\"\nlisten = \"127.0.0.1:{port}\"\ndatabase_url = \"{url}\"\n\
             [keys]\nrefresh_interval = 300\npropagation = 600\nretention = 86400\n{}",
            crate::admin::OPERATORS
        )
    };
    let a = ServerProcess::start(&write_file(dir.path(), "a.toml", &config(port_a)), port_a).await;
    let b = ServerProcess::start(&write_file(dir.path(), "b.toml", &config(port_b)), port_b).await;
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/token", a.base))
        .basic_auth("ops", Some("ops-secret-0123456789abcdef0123456789"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "tessera.admin.write"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let svc = json!({"client_id": "svc", "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials"], "allowed_scopes": ["tessera.admin.read"]});
    let (status, tag, made) = admin(
        &http,
        &a.base,
        &token,
        Method::POST,
        "/admin/v1/clients",
        Some(svc),
        None,
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["client_secret"].as_str().unwrap().to_string();
    // B knows svc (read through) and keeps it in memory.
    assert_eq!(token_status(&http, &b.base, "svc", &secret).await, 200);

    // Disabled at A: B refuses it within a second, not at its refresh in five minutes.
    let mut disabled = made["client"].clone();
    disabled["enabled"] = json!(false);
    let (status, _, answer) = admin(
        &http,
        &a.base,
        &token,
        Method::PUT,
        "/admin/v1/clients/svc",
        Some(disabled),
        tag.as_deref(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let took = within(Duration::from_secs(1), || async {
        token_status(&http, &b.base, "svc", &secret).await == 401
    })
    .await;
    assert!(
        took.is_some(),
        "instance B still issues tokens to a client disabled at A"
    );

    // A scope made at A is offered by B within a second.
    let (status, _, made) = admin(
        &http,
        &a.base,
        &token,
        Method::POST,
        "/admin/v1/api-scopes",
        Some(json!({"name": "stock.read"})),
        None,
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let discovery = format!("{}/.well-known/openid-configuration", b.base);
    let took = within(Duration::from_secs(1), || async {
        let doc: Value = http
            .get(&discovery)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        doc["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("stock.read"))
    })
    .await;
    assert!(
        took.is_some(),
        "instance B does not offer the scope made at A"
    );

    // A key rotated at A is published by B within a second.
    let (status, _, rotated) = admin(
        &http,
        &a.base,
        &token,
        Method::POST,
        "/admin/v1/keys/rotate",
        Some(json!({"algorithms": ["ES256"]})),
        None,
    )
    .await;
    assert_eq!(status, 201, "{rotated}");
    let kid = rotated["items"][0]["kid"].as_str().unwrap().to_string();
    let jwks = format!("{}{}", b.base, tessera_core::protocol::paths::JWKS);
    let took = within(Duration::from_secs(1), || async {
        let set: Value = http.get(&jwks).send().await.unwrap().json().await.unwrap();
        set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str())
    })
    .await;
    assert!(
        took.is_some(),
        "instance B does not publish the key rotated at A"
    );
    a.terminate();
    b.terminate();
}
