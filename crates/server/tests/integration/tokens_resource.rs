//! RFC 8707 at the token endpoint for the code and refresh grants (SEC-27): `resource` narrows
//! a user's access token to granted audiences, anything else is `invalid_target`, and the
//! token's scope is narrowed to its audience.

use serde_json::Value;

use crate::browser::Browser;
use crate::signin::{VERIFIER, authorize_url, jwt_claims, post_token};
use crate::support::TestServer;

const CONFIG: &str = r#"
[[api_resources]]
name = "urn:api1"
scopes = ["api1.read"]

[[api_resources]]
name = "urn:api2"
scopes = ["api2.read"]

[[api_resources]]
name = "urn:api3"
scopes = ["api3.read"]

[[clients]]
client_id = "app"
secrets = ["app-secret"]
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://app.example/cb"]
allowed_scopes = ["openid", "offline_access", "api1.read", "api2.read", "api3.read"]
require_consent = false

[[users]]
username = "alice"
password = "alice-password"
"#;

const CB: &str = "https://app.example/cb";
const APP: (&str, &str) = ("app", "app-secret");

async fn code(server: &TestServer, browser: &Browser) -> String {
    let url = authorize_url(
        server,
        "app",
        CB,
        "&scope=openid+offline_access+api1.read+api2.read",
    );
    browser
        .authorize(&url, "alice", "alice-password")
        .await
        .param("code")
        .unwrap()
}

async fn exchange(server: &TestServer, code: &str, resource: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    form.extend(resource.map(|r| ("resource", r)));
    post_token(server, APP, &form).await
}

#[tokio::test]
async fn rfc8707_resource_at_the_token_endpoint_narrows_audience_and_scope() {
    let server = TestServer::start(CONFIG).await;
    let browser = Browser::new(&server.base);

    // No resource: every granted API.
    let (status, body) = exchange(&server, &code(&server, &browser).await, None).await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], serde_json::json!(["urn:api1", "urn:api2"]));

    // One granted resource: that audience, and only its API scope.
    let (status, body) = exchange(&server, &code(&server, &browser).await, Some("urn:api2")).await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "urn:api2");
    assert_eq!(claims["scope"], "openid offline_access api2.read");
    let refresh_token = body["refresh_token"].as_str().unwrap().to_string();

    // A resource the client may use but was not granted here, or an unknown one. A wrong
    // resource is a mistake, not a guess: the code is not burned for it.
    for resource in ["urn:api3", "https://elsewhere.example/"] {
        let code = code(&server, &browser).await;
        let (status, body) = exchange(&server, &code, Some(resource)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{resource}: {body}"
        );
        assert_eq!(exchange(&server, &code, None).await.0, 200);
    }

    // A refresh picks among the grant's audiences too.
    let (status, body) = post_token(
        &server,
        APP,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("resource", "urn:api1"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "urn:api1");
    assert_eq!(claims["scope"], "openid offline_access api1.read");
    let latest = body["refresh_token"].as_str().unwrap().to_string();
    let (status, body) = post_token(
        &server,
        APP,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &latest),
            ("resource", "urn:api3"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
    let (status, _) = post_token(
        &server,
        APP,
        &[("grant_type", "refresh_token"), ("refresh_token", &latest)],
    )
    .await;
    assert_eq!(status, 200, "the refresh token was not burned");
    server.stop().await;
}
