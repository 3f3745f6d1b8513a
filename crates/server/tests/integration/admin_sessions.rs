//! The admin API's view of a user's sessions and grants: listed, ended and revoked as a
//! sign-out and the account page do.

use reqwest::Method;

use crate::admin::{OPERATORS, admin_token, call};
use crate::browser::Browser;
use crate::signin::{PEOPLE, authorize_url};
use crate::support::TestServer;

#[tokio::test]
async fn a_users_sessions_and_grants_are_listed_ended_and_revoked() {
    let server = TestServer::start(&format!("{PEOPLE}{OPERATORS}")).await;
    let browser = Browser::new(&server.base);
    let url = authorize_url(
        &server,
        "web",
        "https://web.example/cb",
        "&scope=openid%20profile",
    );
    let back = browser.authorize(&url, "alice", "alice-password").await;
    assert!(back.param("code").is_some(), "{back:?}");
    let token = admin_token(&server, "ops", "tessera.admin.write").await;
    let token = Some(token.as_str());
    let (_, _, users) = call(&server, Method::GET, "/admin/v1/users", token, None, None).await;
    let alice = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .unwrap()["subject"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, _, sessions) = call(
        &server,
        Method::GET,
        &format!("/admin/v1/users/{alice}/sessions"),
        token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{sessions}");
    let sessions = sessions.as_array().unwrap().clone();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["clients"], serde_json::json!(["web"]));
    let sid = sessions[0]["sid"].as_str().unwrap();
    let (status, _, grants) = call(
        &server,
        Method::GET,
        &format!("/admin/v1/users/{alice}/grants"),
        token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(grants[0]["client_id"], "web");
    assert!(
        grants[0]["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "profile")
    );

    // Revoked: the consent is gone, so the next authorization asks again.
    let path = format!("/admin/v1/users/{alice}/grants/web");
    assert_eq!(
        call(&server, Method::DELETE, &path, token, None, None)
            .await
            .0,
        204
    );
    assert_eq!(
        call(&server, Method::DELETE, &path, token, None, None)
            .await
            .0,
        404
    );
    let again = browser.open(&url).await;
    assert!(again.is_consent(), "{again:?}");

    // Ended: the browser must sign in again.
    let path = format!("/admin/v1/users/{alice}/sessions/{sid}");
    assert_eq!(
        call(&server, Method::DELETE, &path, token, None, None)
            .await
            .0,
        204
    );
    assert_eq!(
        call(&server, Method::DELETE, &path, token, None, None)
            .await
            .0,
        404
    );
    let (_, _, sessions) = call(
        &server,
        Method::GET,
        &format!("/admin/v1/users/{alice}/sessions"),
        token,
        None,
        None,
    )
    .await;
    assert_eq!(sessions, serde_json::json!([]));
    assert!(browser.open(&url).await.is_login());
    let (status, _, _) = call(
        &server,
        Method::GET,
        "/admin/v1/users/nobody/sessions",
        token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);
    server.stop().await;
}
