//! Hostile and malformed input at /token, /introspect and /revoke: every answer is a 4xx with
//! the error the spec names, never a 5xx.

use axum::http::Method;
use serde_json::Value;

use crate::harness::{TestApp, basic};
use crate::tokens::MACHINES;

async fn raw(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    with_credentials: bool,
) -> (u16, Value) {
    let credentials = basic("machine", "machine-secret");
    let mut headers = vec![("content-type", content_type)];
    if with_credentials {
        headers.push(("authorization", &credentials));
    }
    let response = app.send(Method::POST, path, &headers, Some(body)).await;
    let body = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status.as_u16(), body)
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn malformed_requests_get_the_right_error() {
    let app = TestApp::new(MACHINES).await;
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
        let (got, json) = raw(&app, path, content_type, body, true).await;
        assert_eq!(
            (got, json["error"].as_str().unwrap_or_default()),
            (status, error),
            "{path} {content_type} {shown}"
        );
    }
}

#[tokio::test]
async fn oversized_and_flooded_bodies() {
    let app = TestApp::new(MACHINES).await;
    for path in ["/token", "/introspect", "/revoke"] {
        let (status, body) = raw(&app, path, FORM, vec![b'a'; 1024 * 1024], true).await;
        assert_eq!(status, 413, "{path}");
        assert!(body["error"].is_string());
        let many: String = (0..1000).map(|i| format!("p{i}=1&")).collect();
        let (status, body) = raw(&app, path, FORM, many.into_bytes(), true).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{path}"
        );
    }
}

#[tokio::test]
async fn credentials_in_the_url_and_wrong_methods_are_refused() {
    let app = TestApp::new(MACHINES).await;
    let response = app
        .post_form(
            "/token?client_id=machine&client_secret=machine-secret",
            None,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"], "invalid_request");
    for path in ["/token", "/introspect", "/revoke"] {
        let response = app.get(path).await;
        assert_eq!(response.status, 405, "{path}");
    }
}

#[tokio::test]
async fn hostile_authorization_headers() {
    let app = TestApp::new(MACHINES).await;
    for header in [
        "Basic",
        "Basic %%%",
        "Bearer abc",
        "Basic bWFjaGluZQ==",
        "Digest x=y",
        "Basic OmZvbw==",
    ] {
        let response = app
            .send(
                Method::POST,
                "/token",
                &[
                    ("authorization", header),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                Some(b"grant_type=client_credentials".to_vec()),
            )
            .await;
        assert_eq!(response.status, 401, "{header}");
        assert!(
            response.headers.contains_key("www-authenticate"),
            "{header}"
        );
        assert_eq!(response.json()["error"], "invalid_client");
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
        // Basic credentials are form-urlencoded first: the id goes as `urn%3Aapi1`.
        let response = app
            .post_form(
                "/introspect",
                Some(("urn:api1", "api1-secret")),
                &[("token", token)],
            )
            .await;
        assert_eq!(response.status, 200);
        assert_eq!(response.json(), serde_json::json!({"active": false}));
    }
}
