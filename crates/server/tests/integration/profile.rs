//! Security profiles (`profile = "fapi2"`, `"rfc9700"`): a FAPI 2.0 client we did not write
//! (openid-client: private_key_jwt, a signed and pushed request, DPoP) signs in; every client
//! is checked when the configuration is read, when a client is made, and when the server
//! starts, and each violation is named; a request that is not pushed is refused.

use std::time::Duration;

use serde_json::json;
use tessera_core::tokens::SigningAlg;

use crate::assertions::{ClientKey, client_key, inline_jwks};
use crate::browser::Browser;
use crate::par::{as_form, authorize_with, front_channel, push, request_params};
use crate::relying_parties::run_node_program;
use crate::support::{TestServer, run_cli, sqlite_url, tessera, write_file};

const CB: &str = "https://bank-app.example/cb";

/// A client that conforms to FAPI 2.0.
pub(crate) fn bank(key: &ClientKey) -> String {
    format!(
        r#"
[[clients]]
client_id = "bank"
client_name = "Bank app"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{CB}"]
allowed_scopes = ["openid", "profile", "offline_access"]
require_consent = false
token_endpoint_auth_method = "private_key_jwt"
require_dpop = true
id_token_signed_response_alg = "ES256"
{}
"#,
        inline_jwks(&[key])
    )
}

const ALICE: &str = r#"
[[users]]
username = "alice"
password = "alice-password"
claims = { name = "Alice Smith" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fapi2_openid_client_pushes_a_signed_request_binds_its_tokens_and_reads_jwt_responses() {
    let key = client_key(SigningAlg::Es256, "bank-key-1");
    let config = format!("profile = \"fapi2\"\n{}{ALICE}", bank(&key));
    let server = TestServer::start(&config).await;
    let kid = key.jwk["kid"].as_str().unwrap();
    let r = run_node_program(
        &server,
        "fapi.mjs",
        &[
            ("CLIENT_ID", "bank"),
            ("REDIRECT_URI", CB),
            ("CLIENT_KEY_PEM", &key.pem),
            ("CLIENT_KEY_KID", kid),
            ("SCOPE", "openid profile offline_access"),
        ],
    )
    .await;
    assert_eq!(
        r["discovery"]["require_pushed_authorization_requests"],
        json!(true)
    );
    assert_eq!(r["discovery"]["response_types_supported"], json!(["code"]));
    assert_eq!(
        r["discovery"]["request_object_signing_alg_values_supported"],
        json!(["PS256", "ES256", "EdDSA"])
    );
    // FAPI 2.0 SP §5.3.3.2: the front channel carries client_id and request_uri only.
    assert_eq!(r["authorize_params"], json!(["client_id", "request_uri"]));
    assert_eq!(
        r["callback_params"],
        json!(["code", "iss", "session_state", "state"])
    );
    // openid-client reads token_type case-insensitively and gives it lower-cased.
    assert_eq!(r["tokens"]["token_type"], json!("dpop"));
    assert_eq!(r["tokens"]["access_token_bound"], json!(true));
    assert_eq!(r["tokens"]["id_token_alg"], json!("ES256"));
    assert_eq!(r["tokens"]["nonce_ok"], json!(true));
    assert_eq!(r["userinfo"]["name"], json!("Alice Smith"));
    // FAPI 2.0 SP §5.3.2.1: the one refresh token serves both refreshes, and no new one comes.
    let fresh =
        json!({"new_refresh_token": false, "access_token_bound": true, "sub": r["tokens"]["sub"]});
    assert_eq!(r["refreshed"], json!([fresh, fresh]), "{r}");

    // FAPI 2.0 Message Signing: the response as a JWT (JARM), which openid-client verifies.
    let jarm = format!(
        "profile = \"fapi2\"\n{}{ALICE}",
        bank(&key).replace(
            "require_dpop = true",
            "require_dpop = true\nauthorization_signed_response_alg = \"ES256\""
        )
    );
    let server2 = TestServer::start(&jarm).await;
    let r = run_node_program(
        &server2,
        "fapi.mjs",
        &[
            ("CLIENT_ID", "bank"),
            ("REDIRECT_URI", CB),
            ("CLIENT_KEY_PEM", &key.pem),
            ("CLIENT_KEY_KID", kid),
            ("JARM", "1"),
        ],
    )
    .await;
    assert_eq!(r["callback_params"], json!(["response"]));
    assert_eq!(r["tokens"]["nonce_ok"], json!(true));
    assert_eq!(r["userinfo"]["name"], json!("Alice Smith"));

    // The same request sent directly, not pushed, is refused (FAPI 2.0 SP §5.3.2.2).
    let params = request_params("bank", "s");
    let query = front_channel(&params);
    let browser = Browser::new(&server.base);
    let landing = browser.open(&authorize_with(&server, "bank", &query)).await;
    let crate::browser::Landing::Page { status, html, .. } = &landing else {
        panic!("redirected to the client: {landing:?}");
    };
    assert_eq!(status.as_u16(), 400);
    assert!(html.contains("invalid_request"), "{html}");
}

#[tokio::test]
async fn fapi2_pushed_requests_must_name_their_redirect_uri() {
    let key = client_key(SigningAlg::Es256, "bank-key-1");
    let config = format!("profile = \"fapi2\"\n{}{ALICE}", bank(&key));
    let s = crate::par::Setup {
        server: TestServer::start(&config).await,
        key,
        other: client_key(SigningAlg::Es256, "unused"),
    };
    let mut params = request_params("bank", "s");
    params.as_object_mut().unwrap().remove("redirect_uri");
    let form = as_form(&params);
    let (status, body, _) = push(&s, &s.key, "bank", &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("redirect_uri")
    );
}

/// Writes a configuration into a new directory; returns both.
fn config_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let path = write_file(
        dir.path(),
        "tessera.toml",
        &format!("database_url = \"{url}\"\n{text}"),
    );
    (dir, path)
}

#[test]
fn fapi2_names_every_client_that_breaks_it_and_check_config_reports_the_profile() {
    let key = client_key(SigningAlg::Es256, "bank-key-1");
    let weak = r#"
[[clients]]
client_id = "legacy"
secrets = ["legacy-secret-legacy-secret-legacy-secret"]
grant_types = ["authorization_code", "implicit", "urn:ietf:params:oauth:grant-type:device_code"]
redirect_uris = ["https://legacy.example/cb"]
allowed_scopes = ["openid"]
require_pkce = false
"#;
    let (_dir, path) = config_file(&format!(
        "profile = \"fapi2\"\nkeys.algorithms = [\"RS256\", \"ES256\"]\n{}{weak}",
        bank(&key)
    ));
    let out = run_cli(&path, &["check-config"], "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for named in [
        "keys.algorithms[0]: is RS256",
        "clients[1].require_pkce: must be true",
        "clients[1].grant_types: the implicit grant is not allowed",
        "clients[1].grant_types[2]: `urn:ietf:params:oauth:grant-type:device_code` is outside FAPI 2.0",
        "clients[1].token_endpoint_auth_method: is `client_secret_basic`",
        "clients[1].require_dpop: must be true",
        "clients[1].id_token_signed_response_alg: is RS256",
    ] {
        assert!(stderr.contains(named), "{named} not in:\n{stderr}");
    }
    assert!(!stderr.contains("clients[0]"), "bank conforms:\n{stderr}");
    // The server does not start on it either (the same validation).
    let serve = run_cli(&path, &["serve"], "");
    assert_eq!(serve.status.code(), Some(2));

    // A conforming configuration: the report says what the profile checks and enforces.
    let (_dir, path) = config_file(&format!("profile = \"fapi2\"\n{}", bank(&key)));
    let out = run_cli(&path, &["check-config"], "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "profile fapi2: all 1 client(s) of the file conform",
        "client rule: confidential clients only, authenticated with private_key_jwt",
        "server rule: every authorization request is pushed first",
        "in force: pushed requests required, signed request objects optional, request_uri lifetime 60 s, request object algorithms PS256, ES256, EdDSA",
    ] {
        assert!(stdout.contains(line), "{line} not in:\n{stdout}");
    }
    // Without a profile, departures from RFC 9700 are shown, not refused.
    let (_dir, path) = config_file(weak);
    let out = run_cli(&path, &["check-config"], "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("2 departure(s) from RFC 9700")
            && stdout.contains("client legacy: require_pkce: must be true"),
        "{stdout}"
    );
    // An unknown profile is a configuration error.
    let (_dir, path) = config_file("profile = \"fapi1\"\n");
    let out = run_cli(&path, &["check-config"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`fapi1` is not a profile"));
}

#[test]
fn a_profile_declared_later_refuses_to_start_over_stored_clients_that_break_it() {
    let key = client_key(SigningAlg::Es256, "bank-key-1");
    let (dir, plain) = config_file(&bank(&key));
    // A client made with the CLI while no profile was declared.
    let file = write_file(
        dir.path(),
        "legacy.toml",
        r#"client_id = "legacy"
token_endpoint_auth_method = "client_secret_basic"
grant_types = ["client_credentials"]
allowed_scopes = ["openid"]
"#,
    );
    let made = run_cli(&plain, &["clients", "add", file.to_str().unwrap()], "");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // Under the profile the CLI refuses such a client, naming why...
    let strict = write_file(
        dir.path(),
        "strict.toml",
        &format!(
            "profile = \"fapi2\"\n{}",
            std::fs::read_to_string(&plain).unwrap()
        ),
    );
    let again = write_file(
        dir.path(),
        "again.toml",
        &std::fs::read_to_string(&file)
            .unwrap()
            .replace("legacy", "legacy2"),
    );
    let refused = run_cli(&strict, &["clients", "add", again.to_str().unwrap()], "");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("private_key_jwt") && stderr.contains("profile fapi2"),
        "{stderr}"
    );
    // ...and the server does not start until the stored one is changed or removed.
    let mut child = tessera()
        .arg("--config")
        .arg(&strict)
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // 30 s at most: a server that started would never exit by itself.
    let mut waited = 0;
    while child.try_wait().unwrap().is_none() {
        if waited == 600 {
            let _ = child.kill();
            panic!("the server started over a client that breaks the profile");
        }
        waited += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("client legacy (managed): token_endpoint_auth_method")
            && stderr.contains("client legacy (managed): require_dpop"),
        "{stderr}"
    );
    let removed = run_cli(&plain, &["clients", "remove", "legacy", "--yes"], "");
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    let out = run_cli(&strict, &["check-config"], "");
    assert!(out.status.success());
}

#[tokio::test]
async fn fapi2_accepts_client_assertions_in_its_algorithms_only() {
    use jsonwebtoken::{Algorithm, Header, encode};
    use tessera_core::Clock as _;
    let rsa = client_key(SigningAlg::Rs256, "rsa-1");
    let config = format!(
        "profile = \"fapi2\"\n{}",
        bank(&rsa).replace("client_id = \"bank\"", "client_id = \"bank-rsa\"")
    );
    let server = TestServer::start(&config).await;
    let params = request_params("bank-rsa", "s");
    let push = |alg: Algorithm| {
        let now = server.clock.now();
        let claims = serde_json::json!({
            "iss": "bank-rsa", "sub": "bank-rsa", "aud": server.base,
            "iat": now, "exp": now + 60,
            "jti": tessera_core::crypto::random_handle().unwrap(),
        });
        let assertion = encode(&Header::new(alg), &claims, rsa.encoding()).unwrap();
        let mut form: Vec<(String, String)> = as_form(&params)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        form.push((
            "client_assertion_type".into(),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ));
        form.push(("client_assertion".into(), assertion));
        let http = server.http.clone();
        let url = server.url("/par");
        async move {
            let r = http.post(url).form(&form).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    // FAPI 2.0 SP §5.4.1: PS256, not RS256.
    let (status, body) = push(Algorithm::RS256).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("RS256"),
        "{body}"
    );
    let (status, body) = push(Algorithm::PS256).await;
    assert_eq!(status, 201, "{body}");
}
