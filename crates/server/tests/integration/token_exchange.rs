//! Token exchange (RFC 8693): openid-client's generic grant request runs a two-service chain
//! whose `act` claims nest (SEC-66); the policy refuses other audiences, wider scopes, clients
//! without the grant, oversized, malformed, expired and foreign subject tokens and actor tokens
//! of other parties (CVE-52, CVE-53, CVE-54).

use serde_json::{Value, json};

use crate::browser::Browser;
use crate::flows::{SignIn, sign_in};
use crate::relying_parties::run_node_program;
use crate::support::TestServer;
use crate::tokens::form_encode;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID: &str = "urn:ietf:params:oauth:token-type:id_token";
const WEB_CB: &str = "https://web.example/cb";

const CONFIG: &str = r#"
[[api_scopes]]
name = "orders.read"
[[api_scopes]]
name = "orders.write"
[[api_scopes]]
name = "stock.read"
[[api_scopes]]
name = "audit.write"

[[api_resources]]
name = "urn:orders"
scopes = ["orders.read", "orders.write"]
[[api_resources]]
name = "urn:stock"
scopes = ["stock.read"]
[[api_resources]]
name = "urn:audit"
scopes = ["audit.write"]
secrets = ["audit-api-secret"]

[[clients]]
client_id = "web"
secrets = ["web-secret"]
grant_types = ["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"]
redirect_uris = ["https://web.example/cb"]
allowed_scopes = ["openid", "orders.read", "stock.read", "audit.write"]
require_consent = false
[clients.token_exchange]
audiences = ["urn:stock"]

[[clients]]
client_id = "orders-service"
secrets = ["orders-service-secret"]
grant_types = ["urn:ietf:params:oauth:grant-type:token-exchange"]
allowed_scopes = ["orders.read", "orders.write", "stock.read", "audit.write"]
[clients.token_exchange]
audiences = ["urn:stock", "urn:audit"]
subject_audiences = ["urn:orders"]

[[clients]]
client_id = "stock-service"
secrets = ["stock-service-secret"]
grant_types = ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]
allowed_scopes = ["stock.read", "audit.write"]
[clients.token_exchange]
audiences = ["urn:audit"]
subject_audiences = ["urn:stock"]

[[clients]]
client_id = "stand-in"
secrets = ["stand-in-secret"]
grant_types = ["urn:ietf:params:oauth:grant-type:token-exchange"]
allowed_scopes = ["stock.read"]
[clients.token_exchange]
audiences = ["urn:stock"]
subject_audiences = ["urn:orders"]
impersonate = true

[[clients]]
client_id = "plain"
secrets = ["plain-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["stock.read"]

[[users]]
username = "alice"
password = "alice-password"
"#;

/// alice's access token for the orders, stock and audit APIs, and her identity token, as the
/// web app got them.
async fn alice_tokens(server: &TestServer) -> (String, String) {
    let browser = Browser::new(&server.base);
    let scope = "openid+orders.read+stock.read+audit.write\
                 &resource=urn%3Aorders&resource=urn%3Astock&resource=urn%3Aaudit";
    let how = SignIn::new(
        ("web", "web-secret"),
        WEB_CB,
        scope,
        ("alice", "alice-password"),
    );
    let tokens = sign_in(server, &browser, how).await.tokens;
    let text = |name: &str| tokens[name].as_str().unwrap().to_string();
    (text("access_token"), text("id_token"))
}

/// `(status, body)` of a token exchange by `client`.
async fn exchange(
    server: &TestServer,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut all = vec![("grant_type", GRANT)];
    all.extend_from_slice(form);
    let response = server
        .http
        .post(server.url("/token"))
        .basic_auth(form_encode(client.0), Some(form_encode(client.1)))
        .form(&all)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `(status, error)` of a refused exchange.
fn refusal(status: u16, body: &Value) -> (u16, &str) {
    (status, body["error"].as_str().unwrap_or_default())
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec66_openid_client_runs_a_delegation_chain_whose_actors_nest() {
    let server = TestServer::start(CONFIG).await;
    let (access, _) = alice_tokens(&server).await;
    let alice = claims_of(&access)["sub"].clone();
    let r = run_node_program(
        &server,
        "exchange.mjs",
        &[
            ("SUBJECT_TOKEN", &access),
            ("ORDERS_ID", "orders-service"),
            ("ORDERS_SECRET", "orders-service-secret"),
            ("STOCK_ID", "stock-service"),
            ("STOCK_SECRET", "stock-service-secret"),
        ],
    )
    .await;
    let first = &r["first"];
    assert_eq!(first["issued_token_type"], ACCESS, "{r}");
    assert_eq!(first["claims"]["sub"], alice);
    assert_eq!(first["claims"]["client_id"], "orders-service");
    assert_eq!(first["claims"]["aud"], json!(["urn:stock", "urn:audit"]));
    assert_eq!(first["claims"]["scope"], "stock.read audit.write");
    assert_eq!(first["claims"]["act"], json!({"sub": "orders-service"}));
    let second = &r["second"];
    assert_eq!(second["claims"]["sub"], alice, "{r}");
    assert_eq!(second["claims"]["aud"], "urn:audit");
    assert_eq!(second["claims"]["scope"], "audit.write");
    // §4.1: the current actor on top, the one before it nested.
    let chain = json!({"sub": "stock-service", "act": {"sub": "orders-service"}});
    assert_eq!(second["claims"]["act"], chain);
    assert!(second["claims"]["exp"].as_i64() <= first["claims"]["exp"].as_i64());
    assert_eq!(r["introspection"]["active"], true);
    assert_eq!(
        r["introspection"]["act"], chain,
        "the chain is visible at introspection"
    );
    server.stop().await;
}

#[tokio::test]
async fn cve52_the_policy_bounds_audience_scope_and_who_may_exchange() {
    let server = TestServer::start(CONFIG).await;
    let (access, id_token) = alice_tokens(&server).await;
    let orders = ("orders-service", "orders-service-secret");
    let subject = |extra: &[(&'static str, &'static str)]| {
        let mut form = vec![("subject_token_type", ACCESS)];
        form.extend_from_slice(extra);
        form
    };
    let with = |mut form: Vec<(&'static str, &'static str)>, token: &'static str| {
        form.push(("subject_token", token));
        form
    };
    let token: &'static str = Box::leak(access.clone().into_boxed_str());
    for (extra, error) in [
        // An API outside its audiences, or one nobody declared.
        (vec![("audience", "urn:orders")], "invalid_target"),
        (
            vec![("resource", "https://elsewhere.example")],
            "invalid_target",
        ),
        // Two audiences in its policy: it must say which.
        (vec![], "invalid_target"),
        // A scope the subject token was not granted, or that the audience does not serve.
        (
            vec![("audience", "urn:stock"), ("scope", "orders.write")],
            "invalid_scope",
        ),
        (
            vec![("audience", "urn:stock"), ("scope", "audit.write")],
            "invalid_scope",
        ),
        (
            vec![
                ("audience", "urn:stock"),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:refresh_token",
                ),
            ],
            "invalid_request",
        ),
    ] {
        let (status, body) = exchange(&server, orders, &with(subject(&extra), token)).await;
        assert_eq!(refusal(status, &body), (400, error), "{extra:?}: {body}");
    }
    // Within the policy: the subject's scope for that audience only.
    let (status, body) = exchange(
        &server,
        orders,
        &with(subject(&[("audience", "urn:stock")]), token),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "stock.read");
    // A client without the grant.
    let (status, body) = exchange(
        &server,
        ("plain", "plain-secret"),
        &with(subject(&[("audience", "urn:stock")]), token),
    )
    .await;
    assert_eq!(
        refusal(status, &body),
        (400, "unauthorized_client"),
        "{body}"
    );
    // An access token for an API the client does not serve, issued to another client.
    let (_, other) = crate::tokens::client_credentials(
        &server,
        "stock-service",
        "stock-service-secret",
        &[("scope", "stock.read")],
    )
    .await;
    let other: &'static str = Box::leak(
        other["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
            .into_boxed_str(),
    );
    let (status, body) = exchange(
        &server,
        orders,
        &with(subject(&[("audience", "urn:stock")]), other),
    )
    .await;
    assert_eq!(refusal(status, &body), (400, "invalid_request"), "{body}");
    // The web app's own identity token: exchanged for its one audience, by it only.
    let form = [
        ("subject_token", id_token.as_str()),
        ("subject_token_type", ID),
    ];
    let (status, body) = exchange(&server, ("web", "web-secret"), &form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["act"],
        json!({"sub": "web"})
    );
    let (status, body) = exchange(
        &server,
        orders,
        &[
            ("subject_token", id_token.as_str()),
            ("subject_token_type", ID),
            ("audience", "urn:stock"),
        ],
    )
    .await;
    assert_eq!(refusal(status, &body), (400, "invalid_request"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn cve53_a_bad_subject_token_is_an_error_never_the_clients_own_identity() {
    let server = TestServer::start(CONFIG).await;
    let (access, _) = alice_tokens(&server).await;
    let orders = ("orders-service", "orders-service-secret");
    let big = "a".repeat(5 * 1024);
    let huge = "a".repeat(64 * 1024);
    let mut forged = access.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    for (case, token) in [
        ("5 KB", big.as_str()),
        ("64 KB", huge.as_str()),
        ("malformed", "not.a.token"),
        ("forged signature", forged.as_str()),
        ("empty", ""),
    ] {
        let form = [
            ("subject_token", token),
            ("subject_token_type", ACCESS),
            ("audience", "urn:stock"),
        ];
        let (status, body) = exchange(&server, orders, &form).await;
        assert!((400..=413).contains(&status), "{case}: {status} {body}");
        assert!(body.get("access_token").is_none(), "{case}: {body}");
    }
    // Expired: the clock passes the subject token's end.
    let form = [
        ("subject_token", access.as_str()),
        ("subject_token_type", ACCESS),
        ("audience", "urn:stock"),
    ];
    assert_eq!(exchange(&server, orders, &form).await.0, 200);
    server.clock.advance(3_601);
    let (status, body) = exchange(&server, orders, &form).await;
    assert_eq!(refusal(status, &body), (400, "invalid_request"), "{body}");
    server.stop().await;
}

/// SEC-26: a disabled user's token is exchanged for nothing.
#[tokio::test]
async fn sec26_a_disabled_users_token_is_not_exchanged() {
    let server = TestServer::start(CONFIG).await;
    let (access, _) = alice_tokens(&server).await;
    let store = server.running.state.store.clone();
    let mut alice = store.find_user_by_username("alice").await.unwrap().unwrap();
    alice.disabled = true;
    store.update_user(&alice).await.unwrap();
    let form = [
        ("subject_token", access.as_str()),
        ("subject_token_type", ACCESS),
        ("audience", "urn:stock"),
    ];
    let (status, body) =
        exchange(&server, ("orders-service", "orders-service-secret"), &form).await;
    assert_eq!(refusal(status, &body), (400, "invalid_request"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn cve54_actor_tokens_are_the_clients_own_and_only_a_registered_stand_in_impersonates() {
    let server = TestServer::start(CONFIG).await;
    let (access, id_token) = alice_tokens(&server).await;
    let orders = ("orders-service", "orders-service-secret");
    let unsigned = {
        let b64 = |v: Value| {
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                v.to_string(),
            )
        };
        format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "at+jwt"})),
            b64(json!({"sub": "orders-service", "client_id": "orders-service"}))
        )
    };
    for (case, actor, kind) in [
        ("unsigned", unsigned.as_str(), ACCESS),
        // alice's token was issued to the web app, not to orders-service.
        ("another party's", access.as_str(), ACCESS),
        ("another client's identity token", id_token.as_str(), ID),
    ] {
        let form = [
            ("subject_token", access.as_str()),
            ("subject_token_type", ACCESS),
            ("actor_token", actor),
            ("actor_token_type", kind),
            ("audience", "urn:stock"),
        ];
        let (status, body) = exchange(&server, orders, &form).await;
        assert_eq!(
            refusal(status, &body),
            (400, "invalid_request"),
            "{case}: {body}"
        );
    }
    // An actor token without its type, and a type without a token.
    for form in [
        vec![
            ("subject_token", access.as_str()),
            ("subject_token_type", ACCESS),
            ("actor_token", access.as_str()),
        ],
        vec![
            ("subject_token", access.as_str()),
            ("subject_token_type", ACCESS),
            ("actor_token_type", ACCESS),
        ],
    ] {
        let (status, body) = exchange(&server, orders, &form).await;
        assert_eq!(refusal(status, &body), (400, "invalid_request"), "{body}");
    }
    // Delegation names the client; only the registered stand-in gets a token without `act`.
    let form = [
        ("subject_token", access.as_str()),
        ("subject_token_type", ACCESS),
        ("audience", "urn:stock"),
    ];
    let (_, delegated) = exchange(&server, orders, &form).await;
    assert_eq!(
        claims_of(delegated["access_token"].as_str().unwrap())["act"],
        json!({"sub": "orders-service"})
    );
    let (status, impersonated) = exchange(&server, ("stand-in", "stand-in-secret"), &form).await;
    assert_eq!(status, 200, "{impersonated}");
    let claims = claims_of(impersonated["access_token"].as_str().unwrap());
    assert_eq!(claims["act"], Value::Null);
    assert_eq!(claims["sub"], claims_of(&access)["sub"]);
    server.stop().await;
}
