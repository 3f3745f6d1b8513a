//! SECURITY-STATUS SEC-67, CVE-55, CVE-56, CVE-57, CVE-58: the admin API and dynamic
//! registration never show a stored secret, refuse changes a token's scope does not allow and
//! leave things as they were, re-check a whole registration on every update, and never fetch a
//! registrant's URLs.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{OPERATORS, admin_token, call};
use crate::signin::PEOPLE;
use crate::support::TestServer;

/// Every member name of `value` at any depth, with the values of string members.
fn members(value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.push((k.clone(), v.as_str().unwrap_or_default().to_string()));
                members(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| members(v, out)),
        _ => {}
    }
}

/// Names no read may carry at any depth: secrets, password hashes, private key members.
const SECRET_NAMES: &[&str] = &[
    "client_secret",
    "secrets",
    "secret_digests",
    "password",
    "password_hash",
    "private_pkcs8",
    "d",
    "p",
    "q",
    "dp",
    "dq",
    "qi",
    "registration_access_token",
];

#[tokio::test]
async fn sec67_cve56_no_read_of_the_admin_api_or_a_registration_holds_a_secret_at_any_depth() {
    let server =
        TestServer::start(&format!("[registration]\nopen = true\n{PEOPLE}{OPERATORS}")).await;
    let token = admin_token(&server, "ops", "tessera.admin.write").await;
    let token = Some(token.as_str());
    // A managed client with a secret, a registered one, and a managed user.
    let (status, _, made) = call(
        &server,
        Method::POST,
        "/admin/v1/clients",
        token,
        Some(json!({
        "client_id": "svc", "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["client_credentials"], "allowed_scopes": ["api1.read"]})),
        None,
    )
    .await;
    assert_eq!(status, 201);
    let managed_secret = made["client_secret"].as_str().unwrap().to_string();
    let registered: Value = server
        .http
        .post(server.url("/register"))
        .json(&json!({"redirect_uris": ["https://rp.example/cb"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let password = "a long unguessable passphrase 42";
    let (status, _, user) = call(
        &server,
        Method::POST,
        "/admin/v1/users",
        token,
        Some(json!({"username": "carol", "password": password})),
        None,
    )
    .await;
    assert_eq!(status, 201);
    let subject = user["subject"].as_str().unwrap();

    let mut reads = Vec::new();
    for path in [
        "/admin/v1/clients?limit=500".to_string(),
        "/admin/v1/clients/svc".into(),
        "/admin/v1/clients/web".into(),
        format!(
            "/admin/v1/clients/{}",
            registered["client_id"].as_str().unwrap()
        ),
        "/admin/v1/users?limit=500".into(),
        format!("/admin/v1/users/{subject}"),
        format!("/admin/v1/users/{subject}/factors"),
        "/admin/v1/keys".into(),
        "/admin/v1/resources".into(),
        "/admin/openapi.json".into(),
    ] {
        let (status, _, body) = call(&server, Method::GET, &path, token, None, None).await;
        assert_eq!(status, 200, "{path}");
        reads.push((path, body));
    }
    let configuration = server
        .http
        .get(registered["registration_client_uri"].as_str().unwrap())
        .bearer_auth(registered["registration_access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    // RFC 7592 §3 names the registration access token in the answer: the one presented.
    let mut configuration = configuration;
    assert_eq!(
        configuration["registration_access_token"],
        registered["registration_access_token"]
    );
    configuration
        .as_object_mut()
        .unwrap()
        .remove("registration_access_token");
    reads.push(("registration".into(), configuration));
    let known_secrets = [
        managed_secret.as_str(),
        registered["client_secret"].as_str().unwrap(),
        registered["registration_access_token"].as_str().unwrap(),
        password,
        "web-secret",
        "ops-secret-0123456789abcdef0123456789",
        "api1-secret",
        "alice-password",
    ];
    for (path, body) in reads {
        let mut found = Vec::new();
        members(&body, &mut found);
        for (name, value) in found {
            if path != "/admin/openapi.json" {
                assert!(
                    !SECRET_NAMES.contains(&name.as_str()),
                    "{path}: member {name}"
                );
            }
            assert!(!value.starts_with("$argon2"), "{path}: a password hash");
        }
        let text = body.to_string();
        for secret in known_secrets {
            assert!(!text.contains(secret), "{path} holds a secret");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn sec67_cve55_a_token_without_the_write_scope_changes_nothing() {
    let server = TestServer::start(&format!("{PEOPLE}{OPERATORS}")).await;
    let read = admin_token(&server, "auditor", "tessera.admin.read").await;
    let write = admin_token(&server, "ops", "tessera.admin.write").await;
    let (_, _, before) = call(
        &server,
        Method::GET,
        "/admin/v1/clients?limit=500",
        Some(&read),
        None,
        None,
    )
    .await;
    let (_, _, users_before) = call(
        &server,
        Method::GET,
        "/admin/v1/users?limit=500",
        Some(&read),
        None,
        None,
    )
    .await;
    let subject = users_before["items"][0]["subject"]
        .as_str()
        .unwrap()
        .to_string();
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/admin/v1/clients".into(),
            Some(
                json!({"client_id": "x", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic", "allowed_scopes": ["tessera.admin.write"]}),
            ),
        ),
        (
            Method::PUT,
            "/admin/v1/clients/web".into(),
            Some(json!({"client_id": "web", "allowed_scopes": ["tessera.admin.write"]})),
        ),
        (Method::DELETE, "/admin/v1/clients/web".into(), None),
        (Method::POST, "/admin/v1/clients/web/secret".into(), None),
        (
            Method::POST,
            format!("/admin/v1/users/{subject}/disable"),
            None,
        ),
        (
            Method::PUT,
            format!("/admin/v1/users/{subject}/claims"),
            Some(json!({"claims": {"name": "x"}})),
        ),
        (Method::DELETE, format!("/admin/v1/users/{subject}"), None),
        (Method::POST, "/admin/v1/keys/rotate".into(), None),
        (Method::POST, "/admin/v1/registration/tokens".into(), None),
    ];
    for (method, path, body) in attempts {
        let (status, _, answer) = call(
            &server,
            method.clone(),
            &path,
            Some(&read),
            body.clone(),
            Some("\"x\""),
        )
        .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (403, Some("insufficient_scope")),
            "{method} {path}"
        );
        let (status, _, _) = call(&server, method, &path, None, body, Some("\"x\"")).await;
        assert_eq!(status, 401, "{path}");
    }
    let (_, _, after) = call(
        &server,
        Method::GET,
        "/admin/v1/clients?limit=500",
        Some(&write),
        None,
        None,
    )
    .await;
    let (_, _, users_after) = call(
        &server,
        Method::GET,
        "/admin/v1/users?limit=500",
        Some(&write),
        None,
        None,
    )
    .await;
    assert_eq!(before, after, "no client changed");
    assert_eq!(users_before, users_after, "no user changed");
    server.stop().await;
}

#[tokio::test]
async fn cve57_an_rfc7592_update_is_checked_against_the_whole_policy() {
    let server =
        TestServer::start(&format!("[registration]\nopen = true\n{PEOPLE}{OPERATORS}")).await;
    let registered: Value = server
        .http
        .post(server.url("/register"))
        .json(&json!({"redirect_uris": ["https://rp.example/cb"], "scope": "openid"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    let uri = registered["registration_client_uri"].as_str().unwrap();
    let rat = registered["registration_access_token"].as_str().unwrap();
    let base = json!({"client_id": client_id, "redirect_uris": ["https://rp.example/cb"]});
    let mut beyond = Vec::new();
    for (field, value) in [
        (
            "grant_types",
            json!(["authorization_code", "client_credentials"]),
        ),
        ("scope", json!("openid tessera.admin.write")),
        ("redirect_uris", json!(["https://evil.example/cb#x"])),
        ("token_endpoint_auth_method", json!("client_secret_jwt")),
        ("client_id", json!("machine")),
        ("software_statement", json!("e30.e30.")),
    ] {
        let mut body = base.clone();
        body[field] = value;
        beyond.push((field, body));
    }
    for (field, body) in beyond {
        let response = server
            .http
            .put(uri)
            .bearer_auth(rat)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{field}");
    }
    let read: Value = server
        .http
        .get(uri)
        .bearer_auth(rat)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["grant_types"], json!(["authorization_code"]));
    assert_eq!(read["scope"], "openid");
    assert_eq!(read["redirect_uris"], json!(["https://rp.example/cb"]));
    server.stop().await;
}

#[tokio::test]
async fn cve58_a_registrants_urls_are_never_fetched() {
    let canary = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = format!("http://127.0.0.1:{}", canary.local_addr().unwrap().port());
    let server = TestServer::start(&format!(
        "[registration]\nopen = true\n[outbound]\nallow_http = true\nallowed_networks = [\"127.0.0.0/8\"]\n{PEOPLE}"
    ))
    .await;
    let body = json!({
        "redirect_uris": ["https://rp.example/cb"],
        "logo_uri": format!("{at}/logo.png"),
        "client_uri": format!("{at}/"),
        "policy_uri": format!("{at}/policy"),
        "tos_uri": format!("{at}/tos"),
        "sector_identifier_uri": format!("{at}/sector"),
        "request_uris": [format!("{at}/request")],
    });
    let response = server
        .http
        .post(server.url("/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        status, 400,
        "a sector identifier is refused, never fetched: {answer}"
    );
    let mut kept = body.clone();
    kept.as_object_mut()
        .unwrap()
        .remove("sector_identifier_uri");
    let registered: Value = server
        .http
        .post(server.url("/register"))
        .json(&kept)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    // The sign-in page for the client is shown too.
    let browser = crate::browser::Browser::new(&server.base);
    let url =
        crate::signin::authorize_url(&server, client_id, "https://rp.example/cb", "&scope=openid");
    let page = browser.open(&url).await;
    assert!(page.is_login(), "{page:?}");
    let connected = tokio::time::timeout(Duration::from_millis(500), canary.accept()).await;
    assert!(
        connected.is_err(),
        "the server connected to a registrant's URL"
    );
    server.stop().await;
}

#[tokio::test]
async fn sec67_a_client_an_operator_disabled_cannot_enable_itself_through_rfc7592() {
    let server =
        TestServer::start(&format!("[registration]\nopen = true\n{PEOPLE}{OPERATORS}")).await;
    let registered: Value = server
        .http
        .post(server.url("/register"))
        .json(&json!({"redirect_uris": ["https://rp.example/cb"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    let uri = registered["registration_client_uri"].as_str().unwrap();
    let rat = registered["registration_access_token"].as_str().unwrap();
    // An operator disables it and requires DPoP of it.
    let admin = admin_token(&server, "ops", "tessera.admin.write").await;
    let path = format!("/admin/v1/clients/{client_id}");
    let (_, headers, read) = call(&server, Method::GET, &path, Some(&admin), None, None).await;
    let mut held = read["client"].clone();
    held["enabled"] = json!(false);
    held["require_dpop"] = json!(true);
    let tag = headers["etag"].to_str().unwrap().to_string();
    let (status, _, _) = call(
        &server,
        Method::PUT,
        &path,
        Some(&admin),
        Some(held),
        Some(&tag),
    )
    .await;
    assert_eq!(status, 200);
    // The registrant replaces its registration: what the operator decided stays.
    let again = json!({"client_id": client_id, "redirect_uris": ["https://rp.example/cb2"]});
    let response = server
        .http
        .put(uri)
        .bearer_auth(rat)
        .json(&again)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["registration_access_token"], rat);
    let (_, _, read) = call(&server, Method::GET, &path, Some(&admin), None, None).await;
    assert_eq!(read["client"]["enabled"], false, "{read}");
    assert_eq!(read["client"]["require_dpop"], true);
    assert_eq!(
        read["client"]["redirect_uris"],
        json!(["https://rp.example/cb2"])
    );
    // Removed by the operator: the registration token is refused (RFC 7592 §2.3: 401).
    let (status, _, _) = call(&server, Method::DELETE, &path, Some(&admin), None, None).await;
    assert_eq!(status, 204);
    let deleted = server
        .http
        .delete(uri)
        .bearer_auth(rat)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 401);
    server.stop().await;
}

#[tokio::test]
async fn sec67_a_token_issued_for_a_user_makes_no_admin_whatever_its_scopes() {
    let console = r#"
[[clients]]
client_id = "console"
secrets = ["console-secret-0123456789abcdef01234"]
grant_types = ["authorization_code"]
redirect_uris = ["https://console.example/cb"]
allowed_scopes = ["openid", "tessera.admin.write"]
require_consent = false
"#;
    let server = TestServer::start(&format!("{PEOPLE}{OPERATORS}{console}")).await;
    let browser = crate::browser::Browser::new(&server.base);
    let url = crate::signin::authorize_url(
        &server,
        "console",
        "https://console.example/cb",
        "&scope=openid%20tessera.admin.write",
    );
    let back = browser.authorize(&url, "alice", "alice-password").await;
    let code = back.param("code").unwrap_or_else(|| panic!("{back:?}"));
    let (status, tokens) = crate::signin::redeem(
        &server,
        ("console", "console-secret-0123456789abcdef01234"),
        "https://console.example/cb",
        &code,
        Some(crate::signin::VERIFIER),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let users_token = tokens["access_token"].as_str().unwrap();
    let (status, _, answer) = call(
        &server,
        Method::GET,
        "/admin/v1/clients",
        Some(users_token),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
    // Another scheme gets a bare challenge (RFC 6750 §3); a malformed Bearer credential 400.
    for (value, status) in [
        ("Basic b3BzOng=", 401),
        ("Bearer ", 401),
        ("Bearer a b", 400),
    ] {
        let response = server
            .http
            .get(server.url("/admin/v1/clients"))
            .header("authorization", value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{value}");
    }
    // If-Match: * changes whatever is current (RFC 9110 §13.1.1).
    let admin = admin_token(&server, "ops", "tessera.admin.write").await;
    let svc = json!({"client_id": "svc", "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic", "allowed_scopes": ["tessera.admin.read"]});
    let (status, _, made) = call(
        &server,
        Method::POST,
        "/admin/v1/clients",
        Some(&admin),
        Some(svc),
        None,
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let mut changed = made["client"].clone();
    changed["client_name"] = json!("renamed");
    let (status, _, _) = call(
        &server,
        Method::PUT,
        "/admin/v1/clients/svc",
        Some(&admin),
        Some(changed),
        Some("*"),
    )
    .await;
    assert_eq!(status, 200);
    server.stop().await;
}
