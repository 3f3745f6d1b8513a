//! DPoP (RFC 9449) with clients we did not write: openid-client v6 binds a public client's
//! tokens (code with `dpop_jkt`, userinfo, refresh) and a confidential client's
//! client_credentials token to its keys; proofs made with jose, each wrong in one way, are
//! refused (SEC-29, SEC-30, SEC-31, CVE-24, CVE-51). `scripts/test.sh` installs both.

use serde_json::{Value, json};

use tessera_core::Clock as _;
use tessera_core::tokens::{SigningAlg, SigningKey};

use crate::relying_parties::run_node_program;
use crate::support::{TestServer, postgres_url};
use crate::tokens::MACHINES;
use crate::validation_dpop::proof;

const CONFIG: &str = r#"
[[api_scopes]]
name = "api1.read"

[[api_resources]]
name = "urn:api1"
scopes = ["api1.read"]

[[clients]]
client_id = "dpop-app"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1:9999/cb"]
allowed_scopes = ["openid", "profile", "offline_access"]
require_consent = false

[[clients]]
client_id = "dpop-machine"
secrets = ["dpop-machine-secret-dpop-machine-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]

[[clients]]
client_id = "dpop-only"
secrets = ["dpop-only-secret-dpop-only-secret-dpop"]
grant_types = ["client_credentials", "authorization_code", "implicit"]
redirect_uris = ["http://127.0.0.1:9999/cb"]
allowed_scopes = ["openid"]
require_dpop = true

[[users]]
username = "alice"
password = "alice-password"
claims = { name = "Alice Smith" }
"#;

const MACHINE: [(&str, &str); 2] = [
    ("MACHINE_CLIENT_ID", "dpop-machine"),
    (
        "MACHINE_CLIENT_SECRET",
        "dpop-machine-secret-dpop-machine-secret",
    ),
];

/// `(status, error)` of a recorded outcome.
fn refusal(outcome: &Value) -> (u64, &str) {
    (
        outcome["status"].as_u64().unwrap_or_default(),
        outcome["error"].as_str().unwrap_or_default(),
    )
}

async fn run(server: &TestServer, mode: &str) -> Value {
    let mut env = vec![
        ("MODE", mode),
        ("CLIENT_ID", "dpop-app"),
        ("REDIRECT_URI", "http://127.0.0.1:9999/cb"),
    ];
    env.extend(MACHINE);
    run_node_program(server, "dpop.mjs", &env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec29_sec31_openid_client_binds_a_public_clients_tokens_and_jose_proofs_are_checked() {
    let server = TestServer::start(CONFIG).await;
    let r = run(&server, "flow").await;
    assert_eq!(
        r["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "PS256", "RS256"])
    );
    // SEC-31: the code was bound with dpop_jkt and redeemed with that key's proof.
    assert_eq!(r["code_grant"]["token_type"], "dpop", "{r}");
    assert_eq!(r["code_grant"]["cnf_is_the_key"], true);
    assert_eq!(r["userinfo"]["sub_ok"], true);
    assert_eq!(r["refresh"]["token_type"], "dpop");
    assert_eq!(r["refresh"]["rotated"], true);
    assert_eq!(r["refresh"]["cnf_is_the_key"], true);
    assert_eq!(r["refresh_after_theft"]["token_type"], "dpop");

    // SEC-29: each wrong proof at the token endpoint is invalid_dpop_proof.
    let t = &r["token_endpoint"];
    assert_eq!(t["good"]["status"], 200, "{t}");
    assert_eq!(t["good"]["token_type"], "DPoP");
    assert_eq!(t["good"]["cnf"]["jkt"], t["good"]["expected_jkt"]);
    assert_eq!(
        t["htu_with_query"]["status"], 200,
        "query and fragment are ignored"
    );
    assert_eq!(t["no_proof"]["token_type"], "Bearer");
    assert_eq!(t["no_proof"]["cnf"], Value::Null);
    for case in [
        "replayed",
        "wrong_htu",
        "wrong_htm",
        "stale_iat",
        "future_iat",
        "string_iat",
        "wrong_typ",
        "private_key_in_header",
        "swapped_key",
        "alg_none",
        "symmetric",
        "two_proofs",
    ] {
        assert_eq!(
            refusal(&t[case]),
            (400, "invalid_dpop_proof"),
            "{case}: {t}"
        );
    }
    // Revocation and introspection check a proof that is sent; a refused one changes nothing.
    let v = &t["revocation"];
    assert_eq!(refusal(&v["wrong_htu"]), (400, "invalid_dpop_proof"), "{v}");
    assert_eq!(
        refusal(&v["introspection_wrong_htu"]),
        (400, "invalid_dpop_proof"),
        "{v}"
    );
    assert_eq!(v["active_after_refusal"], true, "{v}");
    assert_eq!(v["good"]["status"], 200, "{v}");
    assert_eq!(v["active_after_revocation"], false, "{v}");
    // A proof past the header limit is refused before it is read.
    let oversized = t["oversized"]["status"].as_u64().unwrap();
    assert!(oversized == 400 || oversized == 431, "{t}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec30_cve24_cve51_a_bound_token_works_only_with_a_proof_of_its_key() {
    let server = TestServer::start(CONFIG).await;
    let r = run(&server, "flow").await;
    let u = &r["userinfo_proofs"];
    assert_eq!(u["good"]["status"], 200, "{u}");
    assert!(u["good"]["sub"].is_string());
    // CVE-24, SEC-30: as Bearer, with another key's proof, or without the token's hash.
    for case in [
        "as_bearer",
        "as_bearer_with_proof",
        "no_ath",
        "wrong_ath",
        "other_key",
    ] {
        assert_eq!(refusal(&u[case]), (401, "invalid_token"), "{case}: {u}");
    }
    assert!(
        u["as_bearer"]["challenge"]
            .as_str()
            .unwrap()
            .contains("DPoP algs="),
        "{u}"
    );
    for case in ["no_proof", "wrong_htu"] {
        assert_eq!(
            refusal(&u[case]),
            (401, "invalid_dpop_proof"),
            "{case}: {u}"
        );
        assert!(
            u[case]["challenge"]
                .as_str()
                .unwrap()
                .starts_with("DPoP algs="),
            "{case}: {u}"
        );
    }
    // CVE-51: the public client's refresh token is bound: without a proof or with another
    // key it is refused, and stays usable for the key's holder (asserted above).
    let s = &r["stolen_refresh"];
    assert_eq!(refusal(&s["without_proof"]), (400, "invalid_grant"), "{s}");
    assert_eq!(refusal(&s["other_key"]), (400, "invalid_grant"), "{s}");
    assert_eq!(r["refresh_after_theft"]["token_type"], "dpop");
    // A confidential client's bound token, as openid-client and introspection see it.
    let m = &r["machine"];
    assert_eq!(m["token_type"], "dpop", "{m}");
    assert_eq!(m["cnf_is_the_key"], true);
    assert_eq!(m["introspection"]["active"], true);
    assert_eq!(m["introspection"]["token_type"], "DPoP");
    assert_eq!(m["introspection"]["cnf_is_the_key"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec29_server_nonces_are_asked_for_given_out_and_retried_by_openid_client() {
    let server = TestServer::start(&format!("[dpop]\nrequire_nonce = true\n{CONFIG}")).await;
    let r = run(&server, "nonce").await;
    let without = &r["without_nonce"];
    assert_eq!(refusal(without), (400, "use_dpop_nonce"), "{r}");
    assert!(without["nonce"].as_str().is_some_and(|n| n.len() >= 32));
    assert_eq!(refusal(&r["stale_nonce"]), (400, "use_dpop_nonce"), "{r}");
    assert_eq!(r["with_nonce"]["status"], 200, "{r}");
    assert_eq!(r["with_nonce"]["token_type"], "DPoP");
    // RFC 9449 §8.2: a successful answer gives out the nonce for the next proof.
    assert_eq!(r["with_nonce"]["nonce"], without["nonce"]);
    assert_eq!(r["openid_client"]["token_type"], "dpop", "{r}");
    assert_eq!(r["openid_client"]["introspection"]["cnf_is_the_key"], true);
    server.stop().await;
}

/// A client registered with `require_dpop` gets nothing without a proof, and no token through
/// the front channel, where none could be bound (CVE-51).
#[tokio::test]
async fn cve51_a_client_that_requires_dpop_gets_no_unbound_token() {
    let server = TestServer::start(CONFIG).await;
    let response = server
        .http
        .post(server.url("/token"))
        .basic_auth("dpop-only", Some("dpop-only-secret-dpop-only-secret-dpop"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // (`token` alone is no OpenID Connect response type: refused for every client.)
    for response_type in ["id_token token", "code id_token", "code token", "id_token"] {
        let url = reqwest::Url::parse_with_params(
            &server.url("/authorize"),
            &[
                ("client_id", "dpop-only"),
                ("redirect_uri", "http://127.0.0.1:9999/cb"),
                ("response_type", response_type),
                ("scope", "openid"),
                ("nonce", "n-1"),
                ("state", "s-1"),
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                ),
                ("code_challenge_method", "S256"),
            ],
        )
        .unwrap();
        let response = no_redirects.get(url).send().await.unwrap();
        let location = response.headers()["location"].to_str().unwrap().to_string();
        assert!(
            location.contains("error=unauthorized_client"),
            "{response_type}: {location}"
        );
    }
    server.stop().await;
}

/// SEC-29, REL-06: instances sharing a PostgreSQL database remember proofs in it, so a proof
/// accepted at one instance is refused at the other.
#[tokio::test(flavor = "multi_thread")]
async fn sec29_a_proof_used_at_one_instance_is_refused_at_another() {
    let url = postgres_url().await;
    let issuer = "http://localhost:1";
    let a = TestServer::start_instance(&url, Some(issuer), MACHINES).await;
    let b = TestServer::start_instance(&url, Some(issuer), MACHINES).await;
    let key = SigningKey::generate(SigningAlg::Es256).unwrap().0;
    let one = proof(
        &key,
        "POST",
        &format!("{issuer}/token"),
        a.clock.now(),
        json!({}),
    );
    let mut answers = Vec::new();
    for server in [&a, &b] {
        let body = machine_token(server, &one).await;
        answers.push((
            body.0,
            body.1["error"].clone(),
            body.1["token_type"].clone(),
        ));
    }
    assert_eq!(answers[0], (200, Value::Null, json!("DPoP")), "{answers:?}");
    assert_eq!(
        answers[1],
        (400, json!("invalid_dpop_proof"), Value::Null),
        "{answers:?}"
    );
    a.stop().await;
    b.stop().await;
}

/// A server that is its SQLite database's only instance remembers proofs in memory; a proof made
/// before it started is refused, so that a restart lets no earlier proof be used again.
#[tokio::test]
async fn sec29_a_lone_sqlite_server_takes_each_proof_once_and_none_from_before_its_start() {
    let server = TestServer::start(MACHINES).await;
    let started = server.clock.now();
    server.clock.advance(5);
    let key = SigningKey::generate(SigningAlg::Es256).unwrap().0;
    let htu = server.url("/token");
    let send = async |dpop: &str| {
        let (status, body) = machine_token(&server, dpop).await;
        (
            status,
            body["error"].as_str().unwrap_or_default().to_string(),
        )
    };
    let before = proof(&key, "POST", &htu, started - 1, json!({}));
    assert_eq!(send(&before).await, (400, "invalid_dpop_proof".into()));
    let fresh = proof(&key, "POST", &htu, started + 5, json!({}));
    assert_eq!(send(&fresh).await, (200, String::new()));
    assert_eq!(send(&fresh).await, (400, "invalid_dpop_proof".into()));
    server.stop().await;
}

/// `(status, body)` of the machine client's client_credentials request with `dpop` as proof.
async fn machine_token(server: &TestServer, dpop: &str) -> (u16, Value) {
    let response = server
        .http
        .post(server.url("/token"))
        .basic_auth("machine", Some("machine-secret"))
        .header("dpop", dpop)
        .form(&[("grant_type", "client_credentials"), ("scope", "api1.read")])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}
