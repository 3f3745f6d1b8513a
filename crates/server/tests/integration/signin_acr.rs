//! Authentication context (OIDC Core §2 `acr`, §3.1.2.1 `acr_values`, §5.5.1.1; OpenID
//! Connect Unmet Authentication Requirements 1.0) and the identity-token algorithm (OIDC
//! Registration §2 `id_token_signed_response_alg`), as relying parties see them.

use serde_json::{Value, json};

use crate::browser::Browser;
use crate::signin::{VERIFIER, authorize_url, jwt_claims, redeem};
use crate::support::TestServer;

const CONFIG: &str = r#"
[[clients]]
client_id = "rp"
secrets = ["rp-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://rp.example/cb"]
allowed_scopes = ["openid", "profile"]
require_consent = false

[[clients]]
client_id = "es"
secrets = ["es-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://es.example/cb"]
allowed_scopes = ["openid"]
require_consent = false
id_token_signed_response_alg = "ES256"
default_acr_values = ["1"]

[[users]]
username = "alice"
password = "alice-password"
"#;

const RP_CB: &str = "https://rp.example/cb";

fn claims_param(v: &Value) -> String {
    url::form_urlencoded::byte_serialize(v.to_string().as_bytes()).collect()
}

fn jwt_header(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Signs in to `client` with `extra` authorization parameters; the redirect's query.
async fn authorize(server: &TestServer, browser: &Browser, client: &str, extra: &str) -> url::Url {
    let cb = format!("https://{client}.example/cb");
    let url = authorize_url(
        server,
        client,
        &cb,
        &format!("&scope=openid&state=st{extra}"),
    );
    match browser.authorize(&url, "alice", "alice-password").await {
        crate::browser::Landing::Client(url) => url,
        other => panic!("no redirect to the client: {other:?}"),
    }
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn tokens(server: &TestServer, client: &str, landing: &url::Url) -> Value {
    let cb = format!("https://{client}.example/cb");
    let code = param(landing, "code").unwrap_or_else(|| panic!("no code: {landing}"));
    let secret = format!("{client}-secret");
    let (status, body) = redeem(server, (client, &secret), &cb, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn acr_requested_is_met_or_refused_never_ignored() {
    let server = TestServer::start(CONFIG).await;
    let browser = Browser::new(&server.base);

    // Not asked for: no acr in the identity token; the access token says what was reached.
    let body = tokens(&server, "rp", &authorize(&server, &browser, "rp", "").await).await;
    let id = jwt_claims(body["id_token"].as_str().unwrap());
    assert!(id.get("acr").is_none(), "{id}");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["acr"],
        "1"
    );

    // §5.5.1.1: essential, with a value the sign-in meets.
    let essential = claims_param(
        &json!({"id_token": {"acr": {"essential": true, "values": ["urn:gold", "1"]}}}),
    );
    let landing = authorize(&server, &browser, "rp", &format!("&claims={essential}")).await;
    let id = jwt_claims(
        tokens(&server, "rp", &landing).await["id_token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(id["acr"], "1");

    // Essential, with only values no sign-in here reaches: an error, never a silent token.
    let unmet =
        claims_param(&json!({"id_token": {"acr": {"essential": true, "value": "urn:gold"}}}));
    let landing = authorize(&server, &browser, "rp", &format!("&claims={unmet}")).await;
    assert!(landing.as_str().starts_with(RP_CB), "{landing}");
    assert_eq!(
        param(&landing, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );
    assert_eq!(param(&landing, "state").as_deref(), Some("st"));
    assert_eq!(
        param(&landing, "iss").as_deref(),
        Some(server.base.as_str())
    );
    assert!(param(&landing, "code").is_none());

    // §3.1.2.1: acr_values are voluntary: the token says what was reached.
    let landing = authorize(&server, &browser, "rp", "&acr_values=urn%3Agold").await;
    let id = jwt_claims(
        tokens(&server, "rp", &landing).await["id_token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(id["acr"], "1");

    // A new browser with nobody signed in gets the refusal before a login page is shown.
    let fresh = Browser::new(&server.base);
    let url = authorize_url(
        &server,
        "rp",
        RP_CB,
        &format!("&scope=openid&claims={unmet}"),
    );
    match fresh.open(&url).await {
        crate::browser::Landing::Client(url) => assert_eq!(
            param(&url, "error").as_deref(),
            Some("unmet_authentication_requirements")
        ),
        other => panic!("expected a redirect with the error: {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn identity_tokens_are_rs256_unless_the_client_chose_and_default_acr_values_apply() {
    let server = TestServer::start(CONFIG).await;
    let browser = Browser::new(&server.base);
    // OIDC Registration §2: RS256 for a client that did not choose; access tokens keep the
    // server's default (ES256, the first of keys.algorithms).
    let body = tokens(&server, "rp", &authorize(&server, &browser, "rp", "").await).await;
    assert_eq!(
        jwt_header(body["id_token"].as_str().unwrap())["alg"],
        "RS256"
    );
    assert_eq!(
        jwt_header(body["access_token"].as_str().unwrap())["alg"],
        "ES256"
    );
    // A client that chose ES256 gets ES256; its default_acr_values put acr in the token.
    let body = tokens(&server, "es", &authorize(&server, &browser, "es", "").await).await;
    let id_token = body["id_token"].as_str().unwrap();
    assert_eq!(jwt_header(id_token)["alg"], "ES256");
    assert_eq!(jwt_claims(id_token)["acr"], "1");
    server.stop().await;
}
