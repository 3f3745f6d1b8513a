//! Cross-origin calls from single-page apps (SEC-64, CVE-47): the token, revocation and
//! userinfo endpoints answer a page of a registered origin, and only once the client is known
//! from verified data; everything else sends no CORS headers (discovery and JWKS: any origin).

use reqwest::header::{HeaderMap, HeaderName};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use tessera_core::Clock as _;

use crate::browser::Browser;
use crate::flows::{SignIn, sign_in};
use crate::signin::VERIFIER;
use crate::support::TestServer;

const SPA_ORIGIN: &str = "http://127.0.0.1:5173";
const OTHER_ORIGIN: &str = "https://other-spa.example";
const EVIL_ORIGIN: &str = "https://evil.example";
const SPA_REDIRECT: &str = "http://127.0.0.1:5173/cb";
const JWT_SECRET: &str = "a-shared-secret-of-more-than-32-characters";

fn clients() -> String {
    format!(
        r#"
[[api_scopes]]
name = "api.read"

[[clients]]
client_id = "spa"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{SPA_REDIRECT}"]
allowed_scopes = ["openid", "profile", "offline_access"]
require_consent = false
allowed_cors_origins = ["{SPA_ORIGIN}", "https://SPA.example:443/"]

[[clients]]
client_id = "other-spa"
grant_types = ["authorization_code"]
redirect_uris = ["{OTHER_ORIGIN}/cb"]
allowed_scopes = ["openid"]
allowed_cors_origins = ["{OTHER_ORIGIN}"]

[[clients]]
client_id = "backend"
secrets = ["backend-secret-of-at-least-32-chars"]
grant_types = ["client_credentials"]
allowed_scopes = ["api.read"]
allowed_cors_origins = ["{SPA_ORIGIN}"]

[[clients]]
client_id = "signed"
token_endpoint_auth_method = "client_secret_jwt"
secrets = ["{JWT_SECRET}"]
grant_types = ["client_credentials"]
allowed_scopes = ["api.read"]
allowed_cors_origins = ["{SPA_ORIGIN}"]

[[users]]
username = "alice"
password = "alice-password"
claims = {{ name = "Alice Smith" }}
"#
    )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// No `Access-Control-*` header at all.
fn assert_no_cors(what: &str, headers: &HeaderMap) {
    let cors: Vec<&HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "{what}: unexpected CORS headers {cors:?}");
}

/// Readable by `origin` and by no one else, never with credentials.
fn assert_allowed(what: &str, headers: &HeaderMap, origin: &str) {
    assert_eq!(
        header(headers, "access-control-allow-origin"),
        Some(origin),
        "{what}"
    );
    assert!(
        headers.get("access-control-allow-credentials").is_none(),
        "{what}: credentials mode is never allowed"
    );
    let vary = headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    assert!(
        vary.to_lowercase().contains("origin"),
        "{what}: Vary {vary}"
    );
}

async fn preflight(server: &TestServer, path: &str, origin: &str, method: &str) -> Response {
    server
        .http
        .request(Method::OPTIONS, server.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap()
}

async fn post_form(
    server: &TestServer,
    path: &str,
    origin: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> Response {
    let mut request = server
        .http
        .post(server.url(path))
        .header("origin", origin)
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn sec64_preflights_are_answered_for_registered_origins_and_methods_only() {
    let server = TestServer::start(&clients()).await;
    for (path, method) in [
        ("/token", "POST"),
        ("/revoke", "POST"),
        ("/userinfo", "GET"),
        ("/userinfo", "POST"),
        ("/device_authorization", "POST"),
    ] {
        // Registered, as written and as the browser sends it after normalisation.
        for origin in [SPA_ORIGIN, "https://spa.example", OTHER_ORIGIN] {
            let answer = preflight(&server, path, origin, method).await;
            let what = format!("OPTIONS {path} from {origin}");
            assert_eq!(answer.status(), 204, "{what}");
            assert_allowed(&what, answer.headers(), origin);
            let headers = answer.headers();
            let methods = header(headers, "access-control-allow-methods").unwrap();
            assert!(methods.contains(method), "{what}: {methods}");
            let allowed = header(headers, "access-control-allow-headers").unwrap();
            assert!(allowed.contains("authorization") && allowed.contains("content-type"));
            assert!(
                header(headers, "access-control-max-age").is_some(),
                "{what}"
            );
        }
        // Unregistered, a case variant of a registered one, `null`, a registered origin with
        // a path: no CORS headers, so the browser stops.
        for origin in [
            EVIL_ORIGIN,
            "https://SPA.example",
            "null",
            "http://127.0.0.1:5174",
            "http://127.0.0.1:5173/cb",
        ] {
            let answer = preflight(&server, path, origin, method).await;
            assert_eq!(answer.status(), 204);
            assert_no_cors(&format!("OPTIONS {path} from {origin}"), answer.headers());
        }
    }
    // A method the endpoint does not take.
    for (path, method) in [("/token", "GET"), ("/token", "DELETE"), ("/revoke", "PUT")] {
        let answer = preflight(&server, path, SPA_ORIGIN, method).await;
        assert_no_cors(&format!("OPTIONS {path} for {method}"), answer.headers());
    }
    // Two Origin headers: neither is believed.
    let answer = server
        .http
        .request(Method::OPTIONS, server.url("/token"))
        .header("origin", SPA_ORIGIN)
        .header("origin", OTHER_ORIGIN)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_no_cors("two Origin headers", answer.headers());
    // A plain OPTIONS says what the endpoint takes.
    let answer = server
        .http
        .request(Method::OPTIONS, server.url("/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
    assert_eq!(header(answer.headers(), "allow"), Some("POST, OPTIONS"));
    server.stop().await;
}

#[tokio::test]
async fn sec64_a_single_page_app_reads_its_tokens_userinfo_and_revocation_from_its_origin() {
    let server = TestServer::start(&clients()).await;
    let browser = Browser::new(&server.base);
    let how = SignIn::new(
        ("spa", ""),
        SPA_REDIRECT,
        "openid+profile+offline_access",
        ("alice", "alice-password"),
    );
    // The first sign-in's code is redeemed without an Origin (a server-side call): no CORS.
    let signed_in = sign_in(&server, &browser, how).await;
    let refresh_token = signed_in.tokens["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Refresh from the page: readable there, rotated.
    let answer = post_form(
        &server,
        "/token",
        SPA_ORIGIN,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("client_id", "spa"),
        ],
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert_allowed("refresh", answer.headers(), SPA_ORIGIN);
    assert_eq!(
        header(answer.headers(), "access-control-expose-headers"),
        Some("www-authenticate, dpop-nonce")
    );
    let tokens: Value = answer.json().await.unwrap();
    let rotated = tokens["refresh_token"].as_str().unwrap();
    assert_ne!(
        rotated, refresh_token,
        "refresh tokens of a SPA are rotated"
    );
    let access = tokens["access_token"].as_str().unwrap();

    // A grant error after the client is identified is readable too: the page learns why.
    let answer = post_form(
        &server,
        "/token",
        SPA_ORIGIN,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", "not-a-code"),
            ("redirect_uri", SPA_REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", "spa"),
        ],
    )
    .await;
    assert_eq!(answer.status(), 400);
    assert_allowed("invalid_grant", answer.headers(), SPA_ORIGIN);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    // Another SPA's origin cannot read this client's answers.
    let answer = post_form(
        &server,
        "/token",
        OTHER_ORIGIN,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rotated),
            ("client_id", "spa"),
        ],
    )
    .await;
    assert_no_cors("refresh from another client's origin", answer.headers());

    // Userinfo, by the token's client.
    for origin in [SPA_ORIGIN, "https://spa.example"] {
        let answer = server
            .http
            .get(server.url("/userinfo"))
            .header("origin", origin)
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_allowed("userinfo", answer.headers(), origin);
        assert_eq!(answer.json::<Value>().await.unwrap()["name"], "Alice Smith");
    }
    let answer = server
        .http
        .get(server.url("/userinfo"))
        .header("origin", OTHER_ORIGIN)
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_no_cors("userinfo from another client's origin", answer.headers());

    // Revocation.
    let answer = post_form(
        &server,
        "/revoke",
        SPA_ORIGIN,
        None,
        &[("token", access), ("client_id", "spa")],
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert_allowed("revoke", answer.headers(), SPA_ORIGIN);
    server.stop().await;
}

/// A refused call: what it is, its Basic credentials, its form.
type Refused<'a> = (&'a str, Option<(&'a str, &'a str)>, Vec<(&'a str, &'a str)>);

/// A client assertion HMAC-signed with `secret`, for the `signed` client.
fn assertion(server: &TestServer, secret: &str, jti: &str) -> String {
    let now = server.clock.now();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({
            "iss": "signed", "sub": "signed", "azp": "signed", "aud": server.url("/token"),
            "jti": jti, "iat": now, "exp": now + 60,
        }),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn cve47_cors_is_never_decided_from_unverified_input() {
    let server = TestServer::start(&clients()).await;
    let assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let forged = assertion(&server, "not-the-secret-of-the-signed-client!!", "forged");
    let cc = ("grant_type", "client_credentials");
    let cases: Vec<Refused> = vec![
        ("unknown client", None, vec![cc, ("client_id", "nobody")]),
        ("wrong secret", Some(("backend", "wrong-secret")), vec![cc]),
        (
            "no credentials for a confidential client",
            None,
            vec![cc, ("client_id", "backend")],
        ),
        (
            "forged assertion naming a client with the origin",
            None,
            vec![
                cc,
                ("client_assertion_type", assertion_type),
                ("client_assertion", &forged),
            ],
        ),
        (
            "client_id sent twice",
            None,
            vec![cc, ("client_id", "spa"), ("client_id", "spa")],
        ),
    ];
    for origin in [SPA_ORIGIN, EVIL_ORIGIN] {
        for (what, basic, form) in &cases {
            for path in ["/token", "/revoke"] {
                let mut form = form.clone();
                if path == "/revoke" {
                    form.push(("token", "anything"));
                }
                let answer = post_form(&server, path, origin, *basic, &form).await;
                assert!(answer.status().is_client_error(), "{what} at {path}");
                assert_no_cors(&format!("{what} at {path} from {origin}"), answer.headers());
            }
        }
        // A bad or absent bearer token at userinfo.
        for token in [Some("not-a-token"), None] {
            let mut request = server
                .http
                .get(server.url("/userinfo"))
                .header("origin", origin);
            if let Some(t) = token {
                request = request.bearer_auth(t);
            }
            let answer = request.send().await.unwrap();
            assert_eq!(answer.status(), 401);
            assert_no_cors(&format!("userinfo with {token:?}"), answer.headers());
        }
    }
    // The genuine assertion is answered for the registered origin, not for another.
    for (origin, allowed) in [(SPA_ORIGIN, true), (EVIL_ORIGIN, false)] {
        let answer = post_form(
            &server,
            "/token",
            origin,
            None,
            &[
                cc,
                ("client_assertion_type", assertion_type),
                ("client_assertion", &assertion(&server, JWT_SECRET, origin)),
            ],
        )
        .await;
        let (status, headers) = (answer.status(), answer.headers().clone());
        assert_eq!(status, 200, "{}", answer.text().await.unwrap());
        if allowed {
            assert_allowed("genuine assertion", &headers, origin);
        } else {
            assert_no_cors("genuine assertion, other origin", &headers);
        }
    }
    // A confidential client with the right secret, from its origin.
    let answer = post_form(
        &server,
        "/token",
        SPA_ORIGIN,
        Some(("backend", "backend-secret-of-at-least-32-chars")),
        &[cc],
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert_allowed("backend", answer.headers(), SPA_ORIGIN);
    server.stop().await;
}

#[tokio::test]
async fn sec64_pages_and_introspection_send_no_cors_headers_and_public_documents_any_origin() {
    let server = TestServer::start(&clients()).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (method, path) in [
        (Method::GET, "/authorize?client_id=spa"),
        (Method::OPTIONS, "/authorize"),
        (Method::GET, "/login"),
        (Method::GET, "/consent"),
        (Method::GET, "/account"),
        (Method::OPTIONS, "/account"),
        (Method::GET, "/end_session"),
        (Method::POST, "/introspect"),
        (Method::OPTIONS, "/introspect"),
        (Method::GET, "/healthz"),
    ] {
        let answer = no_redirects
            .request(method.clone(), server.url(path))
            .header("origin", SPA_ORIGIN)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_no_cors(&format!("{method} {path}"), answer.headers());
    }
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        let answer = server
            .http
            .get(server.url(path))
            .header("origin", EVIL_ORIGIN)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let headers = answer.headers();
        assert_eq!(
            header(headers, "access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
        assert!(headers.get("access-control-allow-credentials").is_none());
    }
    server.stop().await;
}

/// SEC-64: a device app running in a browser (a TV's web runtime) starts the device flow from
/// its registered origin and reads the answer; another origin gets no CORS headers, and a
/// refusal before the client is known none either.
#[tokio::test]
async fn sec64_the_device_endpoint_answers_the_clients_origins_only() {
    let server = TestServer::start(&format!(
        r#"
[[clients]]
client_id = "tv-app"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code"]
allowed_scopes = ["openid"]
allowed_cors_origins = ["{SPA_ORIGIN}"]
"#
    ))
    .await;
    let form = [("client_id", "tv-app"), ("scope", "openid")];
    let answer = post_form(&server, "/device_authorization", SPA_ORIGIN, None, &form).await;
    assert_eq!(answer.status(), 200);
    assert_allowed("device authorization", answer.headers(), SPA_ORIGIN);
    let body: Value = answer.json().await.unwrap();
    assert!(body["user_code"].is_string(), "{body}");
    let answer = post_form(&server, "/device_authorization", EVIL_ORIGIN, None, &form).await;
    assert_eq!(answer.status(), 200);
    assert_no_cors("from another origin", answer.headers());
    let unknown = [("client_id", "nobody"), ("scope", "openid")];
    let answer = post_form(&server, "/device_authorization", SPA_ORIGIN, None, &unknown).await;
    assert_eq!(answer.status(), 401);
    assert_no_cors("an unknown client", answer.headers());
    server.stop().await;
}
