//! The admin API (`/admin/v1`): tokens for `urn:tessera:admin` by client_credentials
//! (`tessera.admin.read` / `tessera.admin.write`), clients created and used by a third-party
//! client (the `oauth2` crate), conditional changes, items the configuration owns, hostile
//! bodies, users, keys, and the OpenAPI document checked by openapi-spec-validator.

use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, TokenResponse as _, TokenUrl};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestServer, oidc_http};
use crate::tokens::{MACHINES, client_credentials};

pub const OPERATORS: &str = r#"
[[clients]]
client_id = "ops"
secrets = ["ops-secret-0123456789abcdef0123456789"]
grant_types = ["client_credentials"]
allowed_scopes = ["tessera.admin.read", "tessera.admin.write"]

[[clients]]
client_id = "auditor"
secrets = ["auditor-secret-0123456789abcdef012345"]
grant_types = ["client_credentials"]
allowed_scopes = ["tessera.admin.read"]
"#;

/// An admin token for `client` with `scope`.
pub async fn admin_token(server: &TestServer, client: &str, scope: &str) -> String {
    let secret = match client {
        "ops" => "ops-secret-0123456789abcdef0123456789",
        _ => "auditor-secret-0123456789abcdef012345",
    };
    let (status, body) = client_credentials(server, client, secret, &[("scope", scope)]).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// Calls the admin API; the status, headers and JSON body (Null when empty).
pub async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    if_match: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = server.http.request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, headers, json)
}

/// A token from the `oauth2` crate, as a client registered through the API would get one.
async fn third_party_token(server: &TestServer, id: &str, secret: &str) -> Result<String, String> {
    let client = BasicClient::new(ClientId::new(id.into()))
        .set_client_secret(ClientSecret::new(secret.into()))
        .set_auth_type(AuthType::BasicAuth)
        .set_token_uri(TokenUrl::new(server.url("/token")).unwrap());
    client
        .exchange_client_credentials()
        .request_async(&oidc_http)
        .await
        .map(|t| t.access_token().secret().clone())
        .map_err(|e| format!("{e:?}"))
}

fn service(id: &str) -> Value {
    json!({
        "client_id": id,
        "client_name": "Reporting service",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials"],
        "allowed_scopes": ["api1.read"],
    })
}

#[tokio::test]
async fn admin_tokens_are_required_and_scoped() {
    let server = TestServer::start(&format!("{MACHINES}{OPERATORS}")).await;
    let (status, headers, body) =
        call(&server, Method::GET, "/admin/v1/clients", None, None, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    for token in ["garbage", "a.b.c", &"x".repeat(20_000)] {
        let (status, _, _) = call(
            &server,
            Method::GET,
            "/admin/v1/clients",
            Some(token),
            None,
            None,
        )
        .await;
        assert!(status == 401 || status == 431, "{status}");
    }
    // A token for another API is not an admin token.
    let (_, other) = client_credentials(&server, "machine", "machine-secret", &[]).await;
    let other = other["access_token"].as_str().unwrap();
    let (status, _, body) = call(
        &server,
        Method::GET,
        "/admin/v1/clients",
        Some(other),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    // Read-only callers read, and cannot change.
    let read = admin_token(&server, "auditor", "tessera.admin.read").await;
    let (status, _, body) = call(
        &server,
        Method::GET,
        "/admin/v1/clients",
        Some(&read),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client"]["client_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"machine") && ids.contains(&"ops"), "{ids:?}");
    let (status, headers, body) = call(
        &server,
        Method::POST,
        "/admin/v1/clients",
        Some(&read),
        Some(service("svc")),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    // A revoked admin token stops working at once.
    let write = admin_token(&server, "ops", "tessera.admin.write").await;
    let (status, _, _) = call(
        &server,
        Method::GET,
        "/admin/v1/keys",
        Some(&write),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let revoked = server
        .http
        .post(server.url("/revoke"))
        .basic_auth("ops", Some("ops-secret-0123456789abcdef0123456789"))
        .form(&[("token", write.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, _, _) = call(
        &server,
        Method::GET,
        "/admin/v1/keys",
        Some(&write),
        None,
        None,
    )
    .await;
    assert_eq!(status, 401);
    server.stop().await;
}

#[tokio::test]
async fn a_client_made_through_the_api_gets_tokens_and_changes_take_effect_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let server = TestServer::start(&format!(
        "[audit]\npath = \"{}\"\n{MACHINES}{OPERATORS}",
        audit.display()
    ))
    .await;
    let token = admin_token(&server, "ops", "tessera.admin.write").await;
    let token = Some(token.as_str());
    let (status, headers, body) = call(
        &server,
        Method::POST,
        "/admin/v1/clients",
        token,
        Some(service("svc")),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let secret = body["client_secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 43, "a 256-bit secret");
    assert_eq!(body["source"], "managed");
    assert_eq!(
        headers["etag"].to_str().unwrap(),
        format!("\"{}\"", body["version"].as_str().unwrap())
    );
    // The oauth2 crate gets a token with the secret shown once.
    third_party_token(&server, "svc", &secret).await.unwrap();
    let (status, _, body) = call(
        &server,
        Method::POST,
        "/admin/v1/clients",
        token,
        Some(service("svc")),
        None,
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (409, Some("conflict")));

    // Read it, and change it only with the version read.
    let (status, headers, read) = call(
        &server,
        Method::GET,
        "/admin/v1/clients/svc",
        token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let tag = headers["etag"].to_str().unwrap().to_string();
    assert!(
        read["client"].get("secrets").is_none() && read["secret_count"] == 1,
        "{read}"
    );
    let mut changed = read["client"].clone();
    changed["enabled"] = json!(false);
    let (status, _, body) = call(
        &server,
        Method::PUT,
        "/admin/v1/clients/svc",
        token,
        Some(changed.clone()),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (428, Some("precondition_required"))
    );
    let (status, _, _) = call(
        &server,
        Method::PUT,
        "/admin/v1/clients/svc",
        token,
        Some(changed.clone()),
        Some("\"0000\""),
    )
    .await;
    assert_eq!(status, 412);
    let (status, _, body) = call(
        &server,
        Method::PUT,
        "/admin/v1/clients/svc",
        token,
        Some(changed.clone()),
        Some(&tag),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["client_secret"].is_null(),
        "the secret is kept, not shown again"
    );
    // The same version cannot be used twice: the second writer learns of the first.
    let (status, _, _) = call(
        &server,
        Method::PUT,
        "/admin/v1/clients/svc",
        token,
        Some(changed),
        Some(&tag),
    )
    .await;
    assert_eq!(status, 412);
    assert!(
        third_party_token(&server, "svc", &secret).await.is_err(),
        "disabled"
    );

    // Enabled again, then a new secret: the old one stops working.
    let (_, headers, read) = call(
        &server,
        Method::GET,
        "/admin/v1/clients/svc",
        token,
        None,
        None,
    )
    .await;
    let mut enabled = read["client"].clone();
    enabled["enabled"] = json!(true);
    let tag = headers["etag"].to_str().unwrap().to_string();
    let (status, _, _) = call(
        &server,
        Method::PUT,
        "/admin/v1/clients/svc",
        token,
        Some(enabled),
        Some(&tag),
    )
    .await;
    assert_eq!(status, 200);
    third_party_token(&server, "svc", &secret).await.unwrap();
    let (status, _, body) = call(
        &server,
        Method::POST,
        "/admin/v1/clients/svc/secret",
        token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rotated = body["client_secret"].as_str().unwrap();
    assert!(third_party_token(&server, "svc", &secret).await.is_err());
    third_party_token(&server, "svc", rotated).await.unwrap();

    // Removed: no more tokens.
    let (status, _, _) = call(
        &server,
        Method::DELETE,
        "/admin/v1/clients/svc",
        token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert!(third_party_token(&server, "svc", rotated).await.is_err());
    let (status, _, _) = call(
        &server,
        Method::GET,
        "/admin/v1/clients/svc",
        token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Each change is audited with who made it.
    let records = crate::audit::records(&audit);
    let actions: Vec<&str> = records
        .iter()
        .filter(|r| r["event"] == "admin_change" && r["actor"] == "ops" && r["target"] == "svc")
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "client.create",
            "client.update",
            "client.update",
            "client.secret",
            "client.remove"
        ]
    );
    assert!(!std::fs::read_to_string(&audit).unwrap().contains(&secret));
    server.stop().await;
}

#[tokio::test]
async fn configured_clients_are_read_only_and_bad_registrations_are_refused_with_every_problem() {
    let server = TestServer::start(&format!("{MACHINES}{OPERATORS}")).await;
    let token = admin_token(&server, "ops", "tessera.admin.write").await;
    let token = Some(token.as_str());
    let (_, headers, read) = call(
        &server,
        Method::GET,
        "/admin/v1/clients/machine",
        token,
        None,
        None,
    )
    .await;
    assert_eq!(read["source"], "config");
    let tag = headers["etag"].to_str().unwrap().to_string();
    let (status, _, body) = call(
        &server,
        Method::PUT,
        "/admin/v1/clients/machine",
        token,
        Some(read["client"].clone()),
        Some(&tag),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("configuration file")
    );
    let (status, _, _) = call(
        &server,
        Method::DELETE,
        "/admin/v1/clients/machine",
        token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 409);
    let (status, _, _) = call(
        &server,
        Method::POST,
        "/admin/v1/clients/machine/secret",
        token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        client_credentials(&server, "machine", "machine-secret", &[])
            .await
            .0,
        200
    );

    // Every problem at once, each naming its field.
    let bad = json!({
        "client_id": "bad",
        "grant_types": ["authorization_code", "password"],
        "redirect_uris": ["https://app.example/cb#frag", "http://app.example/cb"],
        "allowed_scopes": ["openid", "no.such.scope"],
    });
    let (status, _, body) = call(
        &server,
        Method::POST,
        "/admin/v1/clients",
        token,
        Some(bad),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client_metadata")),
        "{body}"
    );
    let fields: Vec<&str> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    for field in [
        "grant_types[1]",
        "redirect_uris[0]",
        "redirect_uris[1]",
        "allowed_scopes[1]",
    ] {
        assert!(fields.contains(&field), "{field} not in {fields:?}");
    }
    // Secrets are the server's to make; client_secret_jwt would need one in clear.
    let mut given = service("given");
    given["secrets"] = json!(["chosen-by-caller"]);
    let (status, _, body) = call(
        &server,
        Method::POST,
        "/admin/v1/clients",
        token,
        Some(given),
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["problems"][0]["field"], "secrets");
    let mut jwt = service("jwt");
    jwt["token_endpoint_auth_method"] = json!("client_secret_jwt");
    let (status, _, body) = call(
        &server,
        Method::POST,
        "/admin/v1/clients",
        token,
        Some(jwt),
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // Malformed and hostile bodies.
    for body in [
        json!("a string"),
        json!({"client_id": "x", "unknown_field": true}),
        json!({"client_id": 7}),
    ] {
        let (status, _, answer) = call(
            &server,
            Method::POST,
            "/admin/v1/clients",
            token,
            Some(body),
            None,
        )
        .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_request")),
            "{answer}"
        );
    }
    let huge = json!({"client_id": "x".repeat(2_000_000)});
    let (status, _, _) = call(
        &server,
        Method::POST,
        "/admin/v1/clients",
        token,
        Some(huge),
        None,
    )
    .await;
    assert_eq!(status, 413);
    let (status, _, body) = call(
        &server,
        Method::PUT,
        "/admin/v1/clients/other",
        token,
        Some(service("svc")),
        Some("\"x\""),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["problems"][0]["field"], "client_id");
    server.stop().await;
}

#[tokio::test]
async fn clients_are_listed_in_pages() {
    let server = TestServer::start(&format!("{MACHINES}{OPERATORS}")).await;
    let token = admin_token(&server, "ops", "tessera.admin.write").await;
    let token = Some(token.as_str());
    let mut seen = Vec::new();
    let mut path = "/admin/v1/clients?limit=3".to_string();
    loop {
        let (status, _, body) = call(&server, Method::GET, &path, token, None, None).await;
        assert_eq!(status, 200);
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(
            items
                .iter()
                .map(|c| c["client"]["client_id"].as_str().unwrap().to_string()),
        );
        match body["next"].as_str() {
            Some(next) => path = format!("/admin/v1/clients?limit=3&after={next}"),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "each once, in order");
    assert!(seen.len() >= 7, "{seen:?}");
    server.stop().await;
}
