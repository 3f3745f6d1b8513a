//! `tessera clients add|show|update|secret|remove` on the database of a running server, whose
//! clients then get tokens (through the `oauth2` crate) as the changes say.

use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, TokenUrl};

use crate::support::{TestServer, eventually, oidc_http, run_cli, sqlite_url, write_file};

const ENTITIES: &str = r#"
[[api_scopes]]
name = "api1.read"

[[clients]]
client_id = "machine"
secrets = ["machine-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
"#;

async fn gets_token(server: &TestServer, id: &str, secret: &str) -> bool {
    BasicClient::new(ClientId::new(id.into()))
        .set_client_secret(ClientSecret::new(secret.into()))
        .set_auth_type(AuthType::BasicAuth)
        .set_token_uri(TokenUrl::new(server.url("/token")).unwrap())
        .exchange_client_credentials()
        .request_async(&oidc_http)
        .await
        .is_ok()
}

/// The secret a command printed.
fn printed_secret(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix("client secret (shown this once; only its digest is kept): "))
        .unwrap_or_else(|| panic!("no secret in: {text}"))
        .to_string()
}

#[tokio::test]
async fn clients_made_by_the_cli_work_at_a_running_server_and_follow_its_changes() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let server = TestServer::start_on(&url, ENTITIES).await;
    let config = write_file(
        dir.path(),
        "tessera.toml",
        &format!("database_url = \"{url}\"\n{ENTITIES}"),
    );
    let file = write_file(
        dir.path(),
        "svc.toml",
        r#"client_id = "svc"
client_name = "Reports"
token_endpoint_auth_method = "client_secret_basic"
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
"#,
    );
    let secret = printed_secret(&run_cli(
        &config,
        &["clients", "add", file.to_str().unwrap()],
        "",
    ));
    assert!(
        gets_token(&server, "svc", &secret).await,
        "a new client works at once"
    );

    // show, edit, update: disabled at the running server after its refresh.
    let shown = run_cli(&config, &["clients", "show", "svc"], "");
    let mut registration: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert!(registration.get("secrets").is_none(), "{registration}");
    registration["enabled"] = serde_json::json!(false);
    let out = run_cli(
        &config,
        &["clients", "update", "-"],
        &registration.to_string(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("the running server sees svc disabled", || async {
        !gets_token(&server, "svc", &secret).await
    })
    .await;
    registration["enabled"] = serde_json::json!(true);
    let json = write_file(dir.path(), "svc.json", &registration.to_string());
    assert!(
        run_cli(&config, &["clients", "update", json.to_str().unwrap()], "")
            .status
            .success()
    );
    eventually("svc enabled again", || async {
        gets_token(&server, "svc", &secret).await
    })
    .await;

    // A new secret replaces the old one.
    let rotated = printed_secret(&run_cli(&config, &["clients", "secret", "svc"], ""));
    eventually("the old secret refused", || async {
        !gets_token(&server, "svc", &secret).await
    })
    .await;
    assert!(gets_token(&server, "svc", &rotated).await);

    // The configuration file's clients are its own; bad registrations list every problem.
    let out = run_cli(&config, &["clients", "secret", "machine"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("configuration file"));
    let bad = r#"{"client_id": "bad", "grant_types": ["password"], "redirect_uris": ["http://x.example/cb#f"]}"#;
    let out = run_cli(&config, &["clients", "add", "-"], bad);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(
        err.contains("grant_types[0]") && err.contains("redirect_uris[0]"),
        "{err}"
    );
    let out = run_cli(&config, &["clients", "add", "-"], "not json");
    assert!(!out.status.success());

    // Removal needs --yes; then the client's tokens stop.
    assert!(
        !run_cli(&config, &["clients", "remove", "svc"], "")
            .status
            .success()
    );
    let out = run_cli(&config, &["clients", "remove", "svc", "--yes"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually("svc removed", || async {
        !gets_token(&server, "svc", &rotated).await
    })
    .await;
    let listed = run_cli(&config, &["clients", "list"], "");
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("machine") && !listed.contains("svc"),
        "{listed}"
    );
    server.stop().await;
}
