//! Revocation reaches JWT access tokens (SEC-14, SEC-20, SEC-25, SEC-26, SEC-34): a user's JWT
//! access token is tied to the grant it came from, and is inactive at introspection and refused
//! at userinfo once that grant, its user, its client or its session is gone. A client's own
//! JWT (client_credentials) is revoked through `/revoke`, and dies with its client.

use serde_json::Value;
use tessera_core::Clock as _;
use tessera_core::model::Source;
use tessera_core::store::ClientStore as _;

use crate::browser::Browser;
use crate::flows::{SignIn, sign_in};
use crate::signin::{PEOPLE, VERIFIER, authorize_url, jwt_claims, redeem, refresh};
use crate::support::TestServer;
use crate::tokens::{client_credentials, post_form};

const WEB_CB: &str = "https://web.example/cb";
const SPA_CB: &str = "http://127.0.0.1:7777/cb";

/// PEOPLE plus a machine client.
fn config() -> String {
    format!(
        r#"{PEOPLE}
[[clients]]
client_id = "machine"
secrets = ["machine-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
"#
    )
}

fn text(body: &Value, key: &str) -> String {
    body[key].as_str().unwrap_or_default().to_string()
}

/// Whether the web client's introspection calls `token` active.
async fn active(server: &TestServer, who: (&str, &str), token: &str) -> bool {
    let (status, body, _) = post_form(server, "/introspect", Some(who), &[("token", token)]).await;
    assert_eq!(status, 200, "{body}");
    body["active"] == true
}

async fn userinfo_status(server: &TestServer, token: &str) -> u16 {
    server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Live at introspection (for `who`) and at userinfo, or dead at both.
async fn assert_live(server: &TestServer, who: (&str, &str), token: &str, live: bool, what: &str) {
    assert_eq!(
        active(server, who, token).await,
        live,
        "introspection: {what}"
    );
    let expected = if live { 200 } else { 401 };
    assert_eq!(
        userinfo_status(server, token).await,
        expected,
        "userinfo: {what}"
    );
}

const WEB: (&str, &str) = ("web", "web-secret");

async fn web_tokens(server: &TestServer, user: (&str, &str)) -> Value {
    let browser = Browser::new(&server.base);
    sign_in(
        server,
        &browser,
        SignIn::new(WEB, WEB_CB, "openid+profile+offline_access", user),
    )
    .await
    .tokens
}

/// RFC 6749 §4.1.2, SEC-14: a replayed code revokes the JWT access token issued from it.
#[tokio::test]
async fn sec14_a_replayed_code_revokes_its_jwt_access_token() {
    let server = TestServer::start(&config()).await;
    let browser = Browser::new(&server.base);
    let url = authorize_url(&server, "web", WEB_CB, "&scope=openid+offline_access");
    let code = browser
        .authorize(&url, "alice", "alice-password")
        .await
        .param("code")
        .unwrap();
    let (status, tokens) = redeem(&server, WEB, WEB_CB, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{tokens}");
    let access = text(&tokens, "access_token");
    assert!(access.contains('.'), "a JWT access token");
    assert_eq!(jwt_claims(&access)["amr"][0], "pwd");
    assert_live(&server, WEB, &access, true, "before the replay").await;
    let (status, _) = redeem(&server, WEB, WEB_CB, &code, Some(VERIFIER)).await;
    assert_eq!(status, 400);
    assert_live(&server, WEB, &access, false, "after the replay").await;
    let (status, _) = refresh(&server, WEB, &text(&tokens, "refresh_token"), None).await;
    assert_eq!(status, 400, "the refresh token went with it");
    server.stop().await;
}

/// SEC-20, SEC-34: revoking a refresh token, or replaying a rotated one, ends every JWT access
/// token of its family.
#[tokio::test]
async fn sec34_a_revoked_or_replayed_refresh_family_takes_its_jwt_access_tokens() {
    let server = TestServer::start(&config()).await;
    // Revoked through /revoke.
    let tokens = web_tokens(&server, ("alice", "alice-password")).await;
    let first = text(&tokens, "access_token");
    let (status, refreshed) = refresh(&server, WEB, &text(&tokens, "refresh_token"), None).await;
    assert_eq!(status, 200, "{refreshed}");
    let second = text(&refreshed, "access_token");
    assert_live(&server, WEB, &second, true, "refreshed").await;
    let (status, _, _) = post_form(
        &server,
        "/revoke",
        Some(WEB),
        &[("token", &text(&refreshed, "refresh_token"))],
    )
    .await;
    assert_eq!(status, 200);
    assert_live(&server, WEB, &first, false, "first, after revocation").await;
    assert_live(&server, WEB, &second, false, "second, after revocation").await;

    // Replayed (RFC 9700 §4.14.2).
    let tokens = web_tokens(&server, ("alice", "alice-password")).await;
    let rotated = text(&tokens, "refresh_token");
    let (status, refreshed) = refresh(&server, WEB, &rotated, None).await;
    assert_eq!(status, 200);
    let latest = text(&refreshed, "access_token");
    assert_live(&server, WEB, &latest, true, "latest").await;
    let (status, _) = refresh(&server, WEB, &rotated, None).await;
    assert_eq!(status, 400);
    assert_live(&server, WEB, &latest, false, "after a replay").await;
    server.stop().await;
}

/// RFC 7009 §2.1: a client revokes its own JWT access token; another client's attempt is
/// answered 200 and changes nothing.
#[tokio::test]
async fn revoking_a_jwt_access_token_makes_it_inactive_at_once() {
    let server = TestServer::start(&config()).await;
    let tokens = web_tokens(&server, ("alice", "alice-password")).await;
    let access = text(&tokens, "access_token");
    let (status, _, _) = post_form(
        &server,
        "/revoke",
        Some(("machine", "machine-secret")),
        &[("token", &access)],
    )
    .await;
    assert_eq!(status, 200);
    assert_live(&server, WEB, &access, true, "another client's revocation").await;
    let (status, body, _) = post_form(
        &server,
        "/revoke",
        Some(WEB),
        &[("token", &access), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_live(&server, WEB, &access, false, "revoked").await;
    // The grant's refresh token is not touched (RFC 7009 §2.1 leaves it to the server).
    let (status, _) = refresh(&server, WEB, &text(&tokens, "refresh_token"), None).await;
    assert_eq!(status, 200);
    // A client's own token (client_credentials): a deny-list entry until it expires.
    let (_, issued) = client_credentials(
        &server,
        "machine",
        "machine-secret",
        &[("scope", "api1.read")],
    )
    .await;
    let machine = text(&issued, "access_token");
    let api = ("urn:api1", "api1-secret");
    assert!(active(&server, api, &machine).await);
    let (status, _, _) = post_form(
        &server,
        "/revoke",
        Some(("machine", "machine-secret")),
        &[("token", &machine)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(!active(&server, api, &machine).await);
    server.stop().await;
}

/// SEC-26: the access tokens of a disabled or deleted user are inactive, JWT and reference
/// tokens alike.
#[tokio::test]
async fn sec26_tokens_of_a_disabled_or_deleted_user_are_inactive() {
    let server = TestServer::start(&config()).await;
    let store = server.running.state.store.clone();
    let jwt = text(
        &web_tokens(&server, ("bob", "bob-password")).await,
        "access_token",
    );
    let browser = Browser::new(&server.base);
    let reference = text(
        &sign_in(
            &server,
            &browser,
            SignIn::new(
                ("spa", ""),
                SPA_CB,
                "openid+profile+offline_access",
                ("bob", "bob-password"),
            ),
        )
        .await
        .tokens,
        "access_token",
    );
    assert!(!reference.contains('.'), "a reference token");
    assert_live(&server, WEB, &jwt, true, "jwt before").await;
    assert_eq!(userinfo_status(&server, &reference).await, 200);

    let mut bob = store.find_user_by_username("bob").await.unwrap().unwrap();
    bob.disabled = true;
    store.update_user(&bob).await.unwrap();
    assert_live(&server, WEB, &jwt, false, "jwt of a disabled user").await;
    assert_eq!(userinfo_status(&server, &reference).await, 401, "reference");

    // RFC 7009: revoked while the user is disabled, it stays revoked once they are enabled
    // again.
    let (status, _, _) = post_form(&server, "/revoke", Some(WEB), &[("token", &jwt)]).await;
    assert_eq!(status, 200);
    bob.disabled = false;
    store.update_user(&bob).await.unwrap();
    assert_live(&server, WEB, &jwt, false, "revoked while disabled").await;
    assert_eq!(
        userinfo_status(&server, &reference).await,
        200,
        "enabled again"
    );
    store.delete_user(&bob.subject).await.unwrap();
    assert_eq!(
        userinfo_status(&server, &reference).await,
        401,
        "deleted user"
    );
    server.stop().await;
}

/// The access tokens of a disabled or removed client are inactive (user and machine tokens).
#[tokio::test]
async fn tokens_of_a_disabled_or_removed_client_are_inactive() {
    let server = TestServer::start(&config()).await;
    let clients = server.running.state.clients.clone();
    let jwt = text(
        &web_tokens(&server, ("alice", "alice-password")).await,
        "access_token",
    );
    let (_, issued) = client_credentials(
        &server,
        "machine",
        "machine-secret",
        &[("scope", "api1.read")],
    )
    .await;
    let machine = text(&issued, "access_token");
    let api = ("urn:api1", "api1-secret");
    assert!(active(&server, api, &machine).await);

    let mut web = clients.find_client("web").await.unwrap().unwrap();
    web.enabled = false;
    clients.upsert_client(&web, Source::Config).await.unwrap();
    assert_eq!(userinfo_status(&server, &jwt).await, 401, "disabled client");
    assert!(!active(&server, ("machine", "machine-secret"), &jwt).await);
    assert!(clients.delete_client("machine").await.unwrap());
    assert!(!active(&server, api, &machine).await, "removed client");
    server.stop().await;
}

/// A session ended by sign-out ends the JWT access tokens bound to it; the offline refresh
/// token outlives it (OIDC Core §11).
#[tokio::test]
async fn signing_out_ends_the_jwt_access_tokens_of_the_session() {
    let server = TestServer::start(&config()).await;
    let browser = Browser::new(&server.base);
    let tokens = sign_in(
        &server,
        &browser,
        SignIn::new(
            WEB,
            WEB_CB,
            "openid+offline_access",
            ("alice", "alice-password"),
        ),
    )
    .await
    .tokens;
    let access = text(&tokens, "access_token");
    assert_eq!(
        jwt_claims(&access)["sid"],
        jwt_claims(&text(&tokens, "id_token"))["sid"]
    );
    assert_live(&server, WEB, &access, true, "signed in").await;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", &text(&tokens, "id_token"))
        .finish();
    browser
        .open(&server.url(&format!("/end_session?{query}")))
        .await;
    assert_live(&server, WEB, &access, false, "signed out").await;
    let (status, body) = refresh(&server, WEB, &text(&tokens, "refresh_token"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_live(&server, WEB, &text(&body, "access_token"), true, "offline").await;
    server.stop().await;
}

/// RFC 7662 §2.1: the client holding a refresh token may introspect it, with or without
/// `token_type_hint`; for anyone else it is inactive. A rotated or revoked one is inactive.
#[tokio::test]
async fn rfc7662_a_refresh_token_is_introspected_by_its_client_only() {
    let server = TestServer::start(&config()).await;
    let tokens = web_tokens(&server, ("alice", "alice-password")).await;
    let refresh_token = text(&tokens, "refresh_token");
    for hint in [None, Some("refresh_token"), Some("access_token")] {
        let mut form = vec![("token", refresh_token.as_str())];
        form.extend(hint.map(|h| ("token_type_hint", h)));
        let (status, body, _) = post_form(&server, "/introspect", Some(WEB), &form).await;
        assert_eq!(status, 200);
        assert_eq!(body["active"], true, "{hint:?}: {body}");
        assert_eq!(body["client_id"], "web");
        assert_eq!(body["scope"], "openid profile offline_access");
        assert_eq!(body["sub"], jwt_claims(&text(&tokens, "id_token"))["sub"]);
        assert!(body["exp"].as_i64().unwrap() > server.clock.now());
    }
    for other in [("machine", "machine-secret"), ("urn:api1", "api1-secret")] {
        assert!(!active(&server, other, &refresh_token).await, "{other:?}");
    }
    let (status, _) = refresh(&server, WEB, &refresh_token, None).await;
    assert_eq!(status, 200);
    assert!(!active(&server, WEB, &refresh_token).await, "rotated");
    server.stop().await;
}
