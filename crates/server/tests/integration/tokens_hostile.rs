//! Hostile and malformed input at /token, /introspect and /revoke: every answer is a 4xx with
//! the error the spec names, never a 5xx.

use serde_json::Value;

use crate::support::TestServer;
use crate::tokens::MACHINES;

async fn raw(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    basic: bool,
) -> (u16, Value) {
    let mut request = server
        .http
        .post(server.url(path))
        .header("content-type", content_type)
        .body(body);
    if basic {
        request = request.basic_auth("machine", Some("machine-secret"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn malformed_requests_get_the_right_error() {
    let server = TestServer::start(MACHINES).await;
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("/token", FORM, b"".to_vec(), 400, "invalid_request"),
        (
            "/token",
            FORM,
            b"scope=api1.read".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "/token",
            FORM,
            b"grant_type=password&username=a&password=b".to_vec(),
            400,
            "unsupported_grant_type",
        ),
        (
            "/token",
            FORM,
            b"grant_type=urn:nope".to_vec(),
            400,
            "unsupported_grant_type",
        ),
        (
            "/token",
            FORM,
            b"grant_type=client_credentials&grant_type=client_credentials".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "/token",
            FORM,
            b"grant_type=client_credentials&scope=a&scope=b".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "/token",
            FORM,
            b"grant_type=client_credentials&x=\xff\xfe".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "/token",
            FORM,
            b"grant_type=%FF".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "/token",
            "application/json",
            br#"{"grant_type":"client_credentials"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "/token",
            "text/plain",
            b"grant_type=client_credentials".to_vec(),
            400,
            "invalid_request",
        ),
        ("/introspect", FORM, b"".to_vec(), 400, "invalid_request"),
        (
            "/introspect",
            FORM,
            b"token=a&token=b".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "/introspect",
            "application/json",
            br#"{"token":"x"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        ("/revoke", FORM, b"".to_vec(), 400, "invalid_request"),
        (
            "/revoke",
            FORM,
            b"token=a&token=b".to_vec(),
            400,
            "invalid_request",
        ),
    ];
    for (path, content_type, body, status, error) in cases {
        let shown = String::from_utf8_lossy(&body).to_string();
        let (got, json) = raw(&server, path, content_type, body, true).await;
        assert_eq!(
            (got, json["error"].as_str().unwrap_or_default()),
            (status, error),
            "{path} {content_type} {shown}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn oversized_and_flooded_bodies() {
    let server = TestServer::start(MACHINES).await;
    for path in ["/token", "/introspect", "/revoke"] {
        let (status, body) = raw(&server, path, FORM, vec![b'a'; 1024 * 1024], true).await;
        assert_eq!(status, 413, "{path}");
        assert!(body["error"].is_string());
        let many: String = (0..1000).map(|i| format!("p{i}=1&")).collect();
        let (status, body) = raw(&server, path, FORM, many.into_bytes(), true).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{path}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn credentials_in_the_url_and_wrong_methods_are_refused() {
    let server = TestServer::start(MACHINES).await;
    let response = server
        .http
        .post(server.url("/token?client_id=machine&client_secret=machine-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    for path in ["/token", "/introspect", "/revoke"] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 405, "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn hostile_authorization_headers() {
    let server = TestServer::start(MACHINES).await;
    for header in [
        "Basic",
        "Basic %%%",
        "Bearer abc",
        "Basic bWFjaGluZQ==",
        "Digest x=y",
        "Basic OmZvbw==",
    ] {
        let response = server
            .http
            .post(server.url("/token"))
            .header("authorization", header)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{header}");
        assert!(
            response.headers().contains_key("www-authenticate"),
            "{header}"
        );
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_client"
        );
    }
    // Introspection of garbage tokens: inactive, never an error.
    for token in [
        "",
        "a.b",
        "a.b.c",
        "....",
        &"x".repeat(60_000),
        "eyJhbGciOiJub25lIn0.e30.",
    ] {
        if token.is_empty() {
            continue;
        }
        let response = server
            .http
            .post(server.url("/introspect"))
            .basic_auth("urn%3Aapi1", Some("api1-secret"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            serde_json::json!({"active": false})
        );
    }
    server.stop().await;
}
