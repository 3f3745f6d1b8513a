//! The admin API's API scopes, APIs and identity resources: made, replaced at their version and
//! removed when unused, in force at once for clients, tokens, introspection and discovery; the
//! configuration's are read-only.

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{OPERATORS, admin_token, call};
use crate::signin::jwt_claims;
use crate::support::TestServer;
use crate::tokens::client_credentials;

const CONFIGURED: &str = r#"
[[api_scopes]]
name = "orders.read"

[[api_resources]]
name = "urn:orders"
scopes = ["orders.read"]
secrets = ["orders-secret"]
"#;

async fn introspect(server: &TestServer, caller: (&str, &str), token: &str) -> (u16, Value) {
    // RFC 6749 §2.3.1: the id and secret are form-encoded before Basic authentication.
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let response = server
        .http
        .post(server.url("/introspect"))
        .basic_auth(encode(caller.0), Some(encode(caller.1)))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn resources_are_made_used_changed_at_their_version_and_removed_when_unused() {
    let server = TestServer::start(&format!("{CONFIGURED}{OPERATORS}")).await;
    let token = admin_token(&server, "ops", "tessera.admin.write").await;
    let token = Some(token.as_str());
    let post = |path: &'static str, body: Value| {
        call(&server, Method::POST, path, token, Some(body), None)
    };

    let (status, _, listed) = call(
        &server,
        Method::GET,
        "/admin/v1/resources",
        token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let orders = listed["api_resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "urn:orders")
        .unwrap();
    assert_eq!(orders["source"], "config");
    assert!(orders.get("secret_digests").is_none(), "{orders}");

    // An API scope, then an API with it; its secret is shown once.
    let (status, headers, scope) = post(
        "/admin/v1/api-scopes",
        json!({"name": "stock.read", "display_name": "Read stock"}),
    )
    .await;
    assert_eq!(status, 201, "{scope}");
    assert_eq!(scope["source"], "managed");
    let version = headers["etag"].to_str().unwrap().to_string();
    let (status, _, body) = post(
        "/admin/v1/api-resources",
        json!({"name": "urn:stock", "scopes": ["stock.read", "nope"], "signing_alg": "HS256"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let fields: Vec<&str> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["signing_alg"], "{body}");
    let (status, _, body) = post(
        "/admin/v1/api-resources",
        json!({"name": "urn:stock", "scopes": ["stock.read", "nope"]}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["problems"][0]["field"], "scopes[1]", "{body}");
    let (status, _, api) = post(
        "/admin/v1/api-resources",
        json!({"name": "urn:stock", "scopes": ["stock.read"]}),
    )
    .await;
    assert_eq!(status, 201, "{api}");
    let api_secret = api["secret"].as_str().unwrap().to_string();
    for taken in ["stock.read", "orders.read", "email", "tessera.admin.read"] {
        let (status, _, _) = post("/admin/v1/api-scopes", json!({"name": taken})).await;
        assert!(status == 409 || status == 400, "{taken}: {status}");
    }

    // In force at once: a client may be allowed the scope, its token is for the new API, and
    // the API introspects it with its secret; discovery lists the scope.
    let svc = json!({"client_id": "svc", "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials"], "allowed_scopes": ["stock.read"]});
    let (status, _, made) = post("/admin/v1/clients", svc).await;
    assert_eq!(status, 201, "{made}");
    let svc_secret = made["client_secret"].as_str().unwrap().to_string();
    let (status, body) =
        client_credentials(&server, "svc", &svc_secret, &[("scope", "stock.read")]).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_claims(&access)["aud"], "urn:stock");
    let (status, answer) = introspect(&server, ("urn:stock", &api_secret), &access).await;
    assert_eq!((status, &answer["active"]), (200, &json!(true)), "{answer}");
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert!(
        discovery["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("stock.read"))
    );

    // Changed at its version only; the configuration's are read-only.
    let path = "/admin/v1/api-scopes/stock.read";
    let renamed = json!({"name": "stock.read", "display_name": "See the stock"});
    let (status, _, _) = call(
        &server,
        Method::PUT,
        path,
        token,
        Some(renamed.clone()),
        None,
    )
    .await;
    assert_eq!(status, 428);
    let (status, _, body) = call(
        &server,
        Method::PUT,
        path,
        token,
        Some(renamed.clone()),
        Some(&version),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["display_name"], "See the stock");
    let (status, _, _) = call(
        &server,
        Method::PUT,
        path,
        token,
        Some(renamed),
        Some(&version),
    )
    .await;
    assert_eq!(status, 412, "the version read is stale");
    let other = json!({"name": "orders.read"});
    let (status, _, _) = call(
        &server,
        Method::PUT,
        "/admin/v1/api-scopes/orders.read",
        token,
        Some(other),
        Some("*"),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _, _) = call(
        &server,
        Method::DELETE,
        "/admin/v1/api-scopes/orders.read",
        token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 409);

    // A scope in use stays: by the API and the client.
    let (status, _, body) = call(&server, Method::DELETE, path, token, None, None).await;
    assert_eq!(status, 409);
    let why = body["error_description"].as_str().unwrap();
    assert!(
        why.contains("client `svc`") && why.contains("API `urn:stock`"),
        "{why}"
    );

    // Identity resources: claims named in discovery; openid and empty claims refused.
    let (status, _, body) = post(
        "/admin/v1/identity-resources",
        json!({"name": "employee", "claims": ["employee_id"]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert!(
        discovery["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("employee_id"))
    );
    let (status, _, _) = post(
        "/admin/v1/identity-resources",
        json!({"name": "openid", "claims": ["sub"]}),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _, body) = post(
        "/admin/v1/identity-resources",
        json!({"name": "two words", "claims": []}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["problems"].as_array().unwrap().len(), 2, "{body}");

    // Hostile and unauthorised input.
    let huge = "x".repeat(100_000);
    let (status, _, _) = post("/admin/v1/api-scopes", json!({"name": huge})).await;
    assert!(status == 400 || status == 413, "{status}");
    let (status, _, _) = post("/admin/v1/api-scopes", json!({"name": "a", "extra": 1})).await;
    assert_eq!(status, 400);
    let reader = admin_token(&server, "auditor", "tessera.admin.read").await;
    let (status, _, _) = call(
        &server,
        Method::POST,
        "/admin/v1/api-scopes",
        Some(&reader),
        Some(json!({"name": "r.w"})),
        None,
    )
    .await;
    assert_eq!(status, 403);

    // Removed: the API's secret no longer introspects; once the client is gone the scope goes.
    let (status, _, _) = call(
        &server,
        Method::DELETE,
        "/admin/v1/api-resources/urn:stock",
        token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = introspect(&server, ("urn:stock", &api_secret), &access).await;
    assert_eq!(status, 401);
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
    let (status, _, _) = call(&server, Method::DELETE, path, token, None, None).await;
    assert_eq!(status, 204);
    let (status, _, _) = call(&server, Method::DELETE, path, token, None, None).await;
    assert_eq!(status, 404);

    // What was made survives a restart (the configuration's resources are written again at
    // start; the managed ones are kept apart).
    let mut server = server;
    let dir = server.dir.take().unwrap();
    server.stop().await;
    let url = crate::support::sqlite_url(dir.path());
    let server = TestServer::start_on(&url, &format!("{CONFIGURED}{OPERATORS}")).await;
    let token = admin_token(&server, "ops", "tessera.admin.read").await;
    let (status, _, listed) = call(
        &server,
        Method::GET,
        "/admin/v1/resources",
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        listed["identity_resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "employee" && r["source"] == "managed"),
        "{listed}"
    );
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert!(
        discovery["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("employee_id"))
    );
    server.stop().await;
}
