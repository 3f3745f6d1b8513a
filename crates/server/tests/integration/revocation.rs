//! SEC-34: revoking a refresh token ends its whole grant at once. SEC-25, CVE-16: taking
//! `offline_access` from a client ends the refresh tokens it already holds. CVE-08: rotated
//! tokens stay dead and live ones keep working across a restart.

use serde_json::Value;

use crate::browser::Browser;
use crate::flows::{SignIn, sign_in};
use crate::signin::{PEOPLE, refresh};
use crate::support::{TestServer, sqlite_url};

const SPA_CB: &str = "http://127.0.0.1:7777/cb";

/// Bob signs in to the public `spa` client (reference access tokens) with offline access.
async fn spa_tokens(server: &TestServer) -> Value {
    let browser = Browser::new(&server.base);
    sign_in(
        server,
        &browser,
        SignIn::new(
            ("spa", ""),
            SPA_CB,
            "openid+profile+offline_access",
            ("bob", "bob-password"),
        ),
    )
    .await
    .tokens
}

async fn userinfo_status(server: &TestServer, access: &str) -> u16 {
    server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn revoke(server: &TestServer, (id, secret): (&str, &str), token: &str) -> u16 {
    let mut request = server.http.post(server.url("/revoke"));
    let mut form = vec![("token", token)];
    if secret.is_empty() {
        form.push(("client_id", id));
    } else {
        request = request.basic_auth(id, Some(secret));
    }
    request.form(&form).send().await.unwrap().status().as_u16()
}

fn text(body: &Value, key: &str) -> String {
    body[key].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn sec34_revoking_a_refresh_token_ends_its_grant() {
    let server = TestServer::start(PEOPLE).await;
    let tokens = spa_tokens(&server).await;
    let (first_access, first_refresh) = (
        text(&tokens, "access_token"),
        text(&tokens, "refresh_token"),
    );

    // Another client's revocation answers 200 and changes nothing (RFC 7009 §2.1).
    assert_eq!(
        revoke(&server, ("web", "web-secret"), &first_refresh).await,
        200
    );
    let (status, body) = refresh(&server, ("spa", ""), &first_refresh, None).await;
    assert_eq!(status, 200, "{body}");
    let (access, refresh_token) = (text(&body, "access_token"), text(&body, "refresh_token"));
    assert_eq!(userinfo_status(&server, &access).await, 200);

    // The owner's revocation ends the refresh token and every access token of the grant.
    assert_eq!(revoke(&server, ("spa", ""), &refresh_token).await, 200);
    let (status, body) = refresh(&server, ("spa", ""), &refresh_token, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(userinfo_status(&server, &access).await, 401);
    assert_eq!(userinfo_status(&server, &first_access).await, 401);
    // Revoking it again, or an unknown token, still answers 200.
    assert_eq!(revoke(&server, ("spa", ""), &refresh_token).await, 200);
    assert_eq!(revoke(&server, ("spa", ""), "no-such-token").await, 200);
}

#[tokio::test]
async fn cve08_cve16_restarts_keep_rotation_state_and_config_changes_apply() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let server = TestServer::start_on(&url, PEOPLE).await;
    let tokens = spa_tokens(&server).await;
    let rotated = text(&tokens, "refresh_token");
    let (status, body) = refresh(&server, ("spa", ""), &rotated, None).await;
    assert_eq!(status, 200, "{body}");
    let live = text(&body, "refresh_token");
    server.stop().await;

    // CVE-08: after a restart the live token works once more, and the rotated one is dead.
    let server = TestServer::start_on(&url, PEOPLE).await;
    let (status, body) = refresh(&server, ("spa", ""), &live, None).await;
    assert_eq!(status, 200, "{body}");
    let live = text(&body, "refresh_token");
    let (status, body) = refresh(&server, ("spa", ""), &rotated, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // ...and presenting it ended the family (SEC-20), so sign in again.
    let (status, _) = refresh(&server, ("spa", ""), &live, None).await;
    assert_eq!(status, 400);
    let tokens = spa_tokens(&server).await;
    let held = text(&tokens, "refresh_token");
    server.stop().await;

    // CVE-16: the operator takes offline_access from the client.
    let without = PEOPLE.replacen(
        "\"offline_access\"]\naccess_token_type = \"reference\"",
        "]\naccess_token_type = \"reference\"",
        1,
    );
    assert_ne!(without, PEOPLE);
    let server = TestServer::start_on(&url, &without).await;
    let (status, body) = refresh(&server, ("spa", ""), &held, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    server.stop().await;

    // Giving it back does not revive the token.
    let server = TestServer::start_on(&url, PEOPLE).await;
    let (status, body) = refresh(&server, ("spa", ""), &held, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    server.stop().await;
}
