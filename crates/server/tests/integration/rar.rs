//! Rich authorization requests (RFC 9396): `authorization_details` of a type declared with a
//! JSON schema are checked, shown on the consent page, carried into the token response, the
//! access token and introspection, and may be narrowed at the token endpoint; each way they can
//! be wrong is refused with `invalid_authorization_details`.

use serde_json::{Value, json};

use crate::browser::{Browser, Landing};
use crate::signin::{CHALLENGE, VERIFIER, jwt_claims};
use crate::support::TestServer;
use crate::tokens::post_form;

const CB: &str = "https://shop.example/cb";

const CONFIG: &str = r#"
[[api_scopes]]
name = "payments"

[[api_resources]]
name = "urn:payments"
scopes = ["payments"]
secrets = ["payments-secret"]

[[authorization_details_types]]
name = "payment_initiation"
description = "Pay a merchant from your account"
schema = { type = "object", required = ["type", "instructedAmount"], properties = { type = { const = "payment_initiation" }, actions = { type = "array", items = { enum = ["initiate", "status", "cancel"] } }, instructedAmount = { type = "object", required = ["currency", "amount"], properties = { currency = { type = "string", pattern = "^[A-Z]{3}$" }, amount = { type = "string" } } }, creditorName = { type = "string", maxLength = 70 } } }

[[authorization_details_types]]
name = "account_information"
schema = { type = "object" }

[[clients]]
client_id = "shop"
secrets = ["shop-secret-shop-secret-shop-secret-1"]
grant_types = ["authorization_code", "client_credentials"]
redirect_uris = ["https://shop.example/cb"]
allowed_scopes = ["openid", "payments"]
require_consent = false
authorization_details_types = ["payment_initiation"]

[[users]]
username = "alice"
password = "alice-password"
"#;

const SHOP: (&str, &str) = ("shop", "shop-secret-shop-secret-shop-secret-1");

fn payment(actions: &[&str]) -> Value {
    json!({
        "type": "payment_initiation",
        "actions": actions,
        "instructedAmount": {"currency": "EUR", "amount": "123.50"},
        "creditorName": "Merchant A",
    })
}

fn authorize_url(server: &TestServer, details: &Value, state: &str) -> String {
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "shop")
        .append_pair("redirect_uri", CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid payments")
        .append_pair("state", state)
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .append_pair("authorization_details", &details.to_string());
    url.to_string()
}

async fn redeem(server: &TestServer, code: &str, narrower: Option<&Value>) -> (u16, Value) {
    let text = narrower.map(Value::to_string);
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ];
    if let Some(text) = &text {
        form.push(("authorization_details", text));
    }
    let (status, body, _) = post_form(server, "/token", Some(SHOP), &form).await;
    (status, body)
}

/// Signs alice in for `details`; the consent page that always comes for them; the code.
async fn code_for(server: &TestServer, browser: &Browser, details: &Value) -> String {
    let mut landing = browser.open(&authorize_url(server, details, "s")).await;
    if landing.is_login() {
        landing = browser.login(&landing, "alice", "alice-password").await;
    }
    assert!(
        landing.is_consent(),
        "details are consented to each time: {landing:?}"
    );
    let html = landing.page();
    assert!(html.contains("Pay a merchant from your account"), "{html}");
    assert!(
        html.contains("Merchant A") && html.contains("123.50"),
        "{html}"
    );
    browser
        .allow(&landing, true)
        .await
        .param("code")
        .unwrap_or_else(|| panic!("no code"))
}

#[tokio::test]
async fn authorization_details_are_consented_carried_into_tokens_and_narrowed() {
    let server = TestServer::start(CONFIG).await;
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["authorization_details_types_supported"],
        json!(["payment_initiation", "account_information"])
    );
    let browser = Browser::new(&server.base);
    let granted = json!([payment(&["initiate", "status"])]);
    let code = code_for(&server, &browser, &granted).await;
    let (status, tokens) = redeem(&server, &code, None).await;
    assert_eq!(status, 200, "{tokens}");
    // RFC 9396 §7: in the token response; §9.1: in the access token.
    assert_eq!(tokens["authorization_details"], granted);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(access)["authorization_details"], granted);
    // §9.2: at introspection.
    let (_, introspected, _) = post_form(
        &server,
        "/introspect",
        Some(("urn:payments", "payments-secret")),
        &[("token", access)],
    )
    .await;
    assert_eq!(
        introspected["authorization_details"], granted,
        "{introspected}"
    );

    // Consent is asked again for the same details: remembered consent covers scopes only.
    let code = code_for(&server, &browser, &granted).await;
    // §6.1: narrowed at the token endpoint...
    let (status, tokens) = redeem(&server, &code, Some(&json!([payment(&["status"])]))).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        tokens["authorization_details"][0]["actions"],
        json!(["status"])
    );
    // ...never widened: the code is not burned by the attempt.
    let code = code_for(&server, &browser, &granted).await;
    let (status, body) = redeem(&server, &code, Some(&json!([payment(&["cancel"])]))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_authorization_details")),
        "{body}"
    );
    // Leaving a member out is no narrowing: it may mean "any" to the API.
    let bare = json!([{"type": "payment_initiation", "actions": ["status"]}]);
    let (status, body) = redeem(&server, &code, Some(&bare)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_authorization_details")),
        "{body}"
    );
    let (status, _) = redeem(&server, &code, None).await;
    assert_eq!(status, 200, "the client may still redeem it as granted");
}

#[tokio::test]
async fn authorization_details_wrong_in_one_way_each_are_refused() {
    let server = TestServer::start(CONFIG).await;
    let browser = Browser::new(&server.base);
    let cases: Vec<(&str, Value)> = vec![
        ("an unknown type", json!([{"type": "crypto_transfer"}])),
        (
            "a type the client is not registered for",
            json!([{"type": "account_information"}]),
        ),
        ("no type", json!([{"actions": ["initiate"]}])),
        (
            "missing a required member",
            json!([{"type": "payment_initiation"}]),
        ),
        (
            "a member of the wrong form",
            json!([{"type": "payment_initiation", "instructedAmount": {"currency": "euro", "amount": "1"}}]),
        ),
        ("not an array", json!({"type": "payment_initiation"})),
        ("too many", Value::Array(vec![payment(&["status"]); 17])),
    ];
    for (why, details) in &cases {
        let landing = browser.open(&authorize_url(&server, details, "st")).await;
        assert_eq!(
            landing.param("error").as_deref(),
            Some("invalid_authorization_details"),
            "{why}: {landing:?}"
        );
        assert_eq!(landing.param("state").as_deref(), Some("st"), "{why}");
        // Pushed, the same answer at once.
        let text = details.to_string();
        let (status, body, _) = post_form(
            &server,
            "/par",
            Some(SHOP),
            &[
                ("client_id", "shop"),
                ("redirect_uri", CB),
                ("response_type", "code"),
                ("scope", "openid payments"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
                ("authorization_details", &text),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_authorization_details")),
            "pushed, {why}: {body}"
        );
    }
    // Malformed JSON in the query.
    let broken = authorize_url(&server, &json!([]), "st").replace(
        "authorization_details=%5B%5D",
        "authorization_details=%5B%7B",
    );
    let landing = browser.open(&broken).await;
    assert!(matches!(landing, Landing::Client(_)));
    assert_eq!(
        landing.param("error").as_deref(),
        Some("invalid_authorization_details")
    );

    // client_credentials (§6): details asked for directly, checked the same way.
    let good = json!([payment(&["status"])]).to_string();
    let (status, body, _) = post_form(
        &server,
        "/token",
        Some(SHOP),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "payments"),
            ("authorization_details", &good),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["authorization_details"][0]["type"],
        "payment_initiation"
    );
    let bad = json!([{"type": "crypto_transfer"}]).to_string();
    let (status, body, _) = post_form(
        &server,
        "/token",
        Some(SHOP),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "payments"),
            ("authorization_details", &bad),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_authorization_details"))
    );
}

#[test]
fn types_and_the_clients_that_name_them_are_checked_in_the_configuration() {
    let bad = CONFIG
        .replace("schema = { type = \"object\" }", "schema = { type = 5 }")
        .replace(
            "authorization_details_types = [\"payment_initiation\"]",
            "authorization_details_types = [\"payment_initiation\", \"crypto\"]",
        );
    let error = tessera_server::config::load_str(&bad, false)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("authorization_details_types[1].schema: is not a JSON schema"),
        "{error}"
    );
    assert!(
        error.contains("clients[0].authorization_details_types[1]: unknown type `crypto`"),
        "{error}"
    );
}
