//! The admin API's users and signing keys.

use reqwest::Method;
use serde_json::json;

use crate::admin::{OPERATORS, admin_token, call};
use crate::support::TestServer;
use crate::tokens::MACHINES;

#[tokio::test]
async fn users_and_keys_are_managed_through_the_api() {
    let server = TestServer::start(&format!("{MACHINES}{OPERATORS}")).await;
    let token = admin_token(&server, "ops", "tessera.admin.write").await;
    let token = Some(token.as_str());
    let weak = json!({"username": "carol", "password": "password"});
    let (status, _, body) = call(
        &server,
        Method::POST,
        "/admin/v1/users",
        token,
        Some(weak),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_password")),
        "{body}"
    );
    let bad_name =
        json!({"username": "carol smith\n", "password": "a long unguessable passphrase 42"});
    let (status, _, _) = call(
        &server,
        Method::POST,
        "/admin/v1/users",
        token,
        Some(bad_name),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let carol = json!({"username": "carol", "password": "a long unguessable passphrase 42", "claims": {"name": "Carol"}});
    let (status, _, body) = call(
        &server,
        Method::POST,
        "/admin/v1/users",
        token,
        Some(carol.clone()),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let subject = body["subject"].as_str().unwrap().to_string();
    assert!(body.get("password").is_none() && body.get("password_hash").is_none());
    let (status, _, _) = call(
        &server,
        Method::POST,
        "/admin/v1/users",
        token,
        Some(carol),
        None,
    )
    .await;
    assert_eq!(status, 409);
    let path = format!("/admin/v1/users/{subject}");
    let (status, _, body) = call(
        &server,
        Method::POST,
        &format!("{path}/disable"),
        token,
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, body["disabled"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let (status, _, body) = call(
        &server,
        Method::POST,
        &format!("{path}/enable"),
        token,
        None,
        None,
    )
    .await;
    assert_eq!((status, body["disabled"].as_bool()), (200, Some(false)));
    let claims = json!({"claims": {"name": "Carol Jones", "email": "carol@example.com"}});
    let (status, _, body) = call(
        &server,
        Method::PUT,
        &format!("{path}/claims"),
        token,
        Some(claims),
        None,
    )
    .await;
    assert_eq!(
        (status, body["claims"]["name"].as_str()),
        (200, Some("Carol Jones"))
    );
    let (status, _, _) = call(
        &server,
        Method::POST,
        &format!("{path}/password"),
        token,
        Some(json!({"password": "another fine passphrase 77"})),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, body) = call(
        &server,
        Method::GET,
        &format!("{path}/factors"),
        token,
        None,
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!([])));
    let (status, _, body) = call(
        &server,
        Method::GET,
        &format!("{path}/links"),
        token,
        None,
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!([])));
    let (status, _, _) = call(
        &server,
        Method::GET,
        "/admin/v1/users/nobody/links",
        token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = call(&server, Method::DELETE, &path, token, None, None).await;
    assert_eq!(status, 204);
    let (status, _, _) = call(&server, Method::GET, &path, token, None, None).await;
    assert_eq!(status, 404);

    // Keys: rotation makes an upcoming key per configured algorithm, published at once.
    let (status, _, before) = call(&server, Method::GET, "/admin/v1/keys", token, None, None).await;
    assert_eq!(status, 200);
    assert!(
        before["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["status"] == "active")
    );
    let (status, _, body) = call(
        &server,
        Method::POST,
        "/admin/v1/keys/rotate",
        token,
        Some(json!({"activate_in": 1})),
        None,
    )
    .await;
    assert_eq!(status, 400, "too soon to be known: {body}");
    let (status, _, body) = call(
        &server,
        Method::POST,
        "/admin/v1/keys/rotate",
        token,
        Some(json!({"algorithms": ["ES256"]})),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let kid = body["items"][0]["kid"].as_str().unwrap().to_string();
    assert_eq!(body["items"][0]["status"], "upcoming");
    let jwks = server.get_json(tessera_core::protocol::paths::JWKS).await;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str()),
        "published now"
    );
    // Retiring: the key that signs now is refused (rotate first); another leaves JWKS at once.
    let active = before["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["status"] == "active")
        .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/admin/v1/keys/{active}");
    let (status, _, body) = call(&server, Method::DELETE, &path, token, None, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("key_signs_now"))
    );
    let path = format!("/admin/v1/keys/{kid}");
    let (status, _, _) = call(&server, Method::DELETE, &path, token, None, None).await;
    assert_eq!(status, 204);
    let jwks = server.get_json(tessera_core::protocol::paths::JWKS).await;
    assert!(
        !jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str()),
        "retired at once"
    );
    let (status, _, _) = call(&server, Method::DELETE, &path, token, None, None).await;
    assert_eq!(status, 404);
    server.stop().await;
}
