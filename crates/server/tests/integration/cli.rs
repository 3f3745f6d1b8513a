//! The management commands against a real database file.

use crate::support::{run_cli, sqlite_url, write_file};

fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"database_url = "{}"

[[api_scopes]]
name = "api1.read"

[[clients]]
client_id = "machine"
secrets = ["machine-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
"#,
        sqlite_url(dir.path())
    );
    let config = write_file(dir.path(), "tessera.toml", &toml);
    (dir, config)
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn migrate_then_up_to_date() {
    let (_dir, config) = setup();
    assert!(
        stdout(&run_cli(&config, &["migrate"], "")).contains("applied migrations: [1, 2, 3, 4, 5]")
    );
    assert!(stdout(&run_cli(&config, &["migrate"], "")).contains("up to date"));
}

#[test]
fn users_add_list_passwd() {
    let (_dir, config) = setup();
    let added = stdout(&run_cli(
        &config,
        &[
            "users",
            "add",
            "bob",
            "--password-stdin",
            "--claim",
            "name=Bob Builder",
            "--claim",
            "email_verified=true",
        ],
        "correct horse battery\n",
    ));
    assert!(added.contains("created user bob"), "{added}");
    let listed = stdout(&run_cli(&config, &["users", "list"], ""));
    assert!(
        listed.contains("bob") && listed.contains("managed"),
        "{listed}"
    );

    let again = run_cli(&config, &["users", "add", "bob", "--password-stdin"], "x\n");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));

    let empty = run_cli(
        &config,
        &["users", "add", "carol", "--password-stdin"],
        "\n",
    );
    assert_eq!(empty.status.code(), Some(1));
    let reserved = run_cli(
        &config,
        &[
            "users",
            "add",
            "carol",
            "--password-stdin",
            "--claim",
            "sub=admin",
        ],
        "pw\n",
    );
    assert_eq!(reserved.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&reserved.stderr).contains("set by the server"));

    assert!(
        stdout(&run_cli(
            &config,
            &["users", "passwd", "bob", "--password-stdin"],
            "new password\n"
        ))
        .contains("changed")
    );
    let missing = run_cli(
        &config,
        &["users", "passwd", "nobody", "--password-stdin"],
        "x\n",
    );
    assert_eq!(missing.status.code(), Some(1));
}

/// The stored hash is Argon2id at the OWASP parameters and verifies the password given.
#[tokio::test]
async fn stored_password_is_argon2id() {
    let (dir, config) = setup();
    stdout(&run_cli(
        &config,
        &["users", "add", "dora", "--password-stdin"],
        "explorer map\n",
    ));
    let store = tessera_store_sql::SqlStore::open(&sqlite_url(dir.path()), &Default::default())
        .await
        .unwrap();
    let user = tessera_core::store::UserStore::find_user_by_username(&store, "dora")
        .await
        .unwrap()
        .unwrap();
    let hash = user.password_hash.expose();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(tessera_core::passwords::verify_password(
        "explorer map",
        hash
    ));
}

#[test]
fn keys_and_clients_listing() {
    let (_dir, config) = setup();
    let none = stdout(&run_cli(&config, &["keys", "list"], ""));
    assert!(none.contains("no signing keys yet"), "{none}");
    let rotated = stdout(&run_cli(
        &config,
        &["keys", "rotate", "--activate-in", "600"],
        "",
    ));
    assert_eq!(rotated.matches("created ").count(), 2, "{rotated}");
    let listed = stdout(&run_cli(&config, &["keys", "list"], ""));
    assert_eq!(listed.matches("upcoming").count(), 2, "{listed}");
    // Activating sooner than servers and JWKS caches can learn the key needs --force.
    let hasty = run_cli(
        &config,
        &["keys", "rotate", "--alg", "ES256", "--activate-in", "10"],
        "",
    );
    assert_eq!(hasty.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&hasty.stderr).contains("--force"));
    let forced = stdout(&run_cli(
        &config,
        &[
            "keys",
            "rotate",
            "--alg",
            "ES256",
            "--activate-in",
            "10",
            "--force",
        ],
        "",
    ));
    assert!(forced.contains("created ES256 key"), "{forced}");
    // Retiring a key takes it out at once; an unknown id is refused.
    let kid = forced
        .split("created ES256 key ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap()
        .to_string();
    let retired = stdout(&run_cli(&config, &["keys", "retire", &kid], ""));
    assert!(
        retired.contains(&format!("retired ES256 key {kid}")),
        "{retired}"
    );
    let listed = stdout(&run_cli(&config, &["keys", "list"], ""));
    assert!(!listed.contains(&kid), "{listed}");
    let unknown = run_cli(&config, &["keys", "retire", &kid], "");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no signing key"));
    let bad = run_cli(&config, &["keys", "rotate", "--alg", "HS256"], "");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unsupported signing algorithm"));

    // Clients appear once the server has provisioned them; before that the table is empty.
    let clients = stdout(&run_cli(&config, &["clients", "list"], ""));
    assert!(clients.starts_with("CLIENT_ID"), "{clients}");
}

#[test]
fn new_passwords_follow_the_password_policy() {
    let (_dir, config) = setup();
    for (password, why) in [
        ("short\n", "at least 8 characters"),
        ("password123\n", "too easy to guess"),
        ("daveexample\n", "too easy to guess"),
    ] {
        let out = run_cli(
            &config,
            &[
                "users",
                "add",
                "dave",
                "--password-stdin",
                "--claim",
                "email=dave@example.com",
            ],
            password,
        );
        assert_eq!(out.status.code(), Some(1), "{password}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{password}: {stderr}");
    }
    let ok = run_cli(
        &config,
        &["users", "add", "dave", "--password-stdin"],
        "violet kettle drum 42\n",
    );
    assert!(stdout(&ok).contains("created user dave"));
    let weak = run_cli(
        &config,
        &["users", "passwd", "dave", "--password-stdin"],
        "dave1234\n",
    );
    assert_eq!(weak.status.code(), Some(1));
}

#[test]
fn users_disable_enable_delete() {
    let (_dir, config) = setup();
    let add = ["users", "add", "bob", "--password-stdin"];
    assert!(stdout(&run_cli(&config, &add, "correct horse battery\n")).contains("created"));
    let disabled = stdout(&run_cli(&config, &["users", "disable", "bob"], ""));
    assert!(disabled.contains("bob disabled"), "{disabled}");
    let row = |listed: String| {
        listed
            .lines()
            .find(|l| l.starts_with("bob"))
            .unwrap()
            .to_string()
    };
    let listed = row(stdout(&run_cli(&config, &["users", "list"], "")));
    assert!(listed.contains("yes"), "{listed}");
    let again = stdout(&run_cli(&config, &["users", "disable", "bob"], ""));
    assert!(again.contains("already"), "{again}");
    assert!(stdout(&run_cli(&config, &["users", "enable", "bob"], "")).contains("bob enabled"));
    let listed = row(stdout(&run_cli(&config, &["users", "list"], "")));
    assert!(listed.contains(" no "), "{listed}");
    // Deleting asks for --yes; then the user is gone.
    let unconfirmed = run_cli(&config, &["users", "delete", "bob"], "");
    assert_eq!(unconfirmed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unconfirmed.stderr).contains("--yes"));
    let deleted = stdout(&run_cli(&config, &["users", "delete", "bob", "--yes"], ""));
    assert!(deleted.contains("bob deleted"), "{deleted}");
    assert!(!stdout(&run_cli(&config, &["users", "list"], "")).contains("bob"));
    let missing = run_cli(&config, &["users", "disable", "bob"], "");
    assert_eq!(missing.status.code(), Some(1));
}

/// A user the configuration file declares is the file's: the CLI says so and changes nothing
/// (the next start would undo it).
#[tokio::test]
async fn users_the_file_declares_are_left_to_the_file() {
    let (dir, config) = setup();
    let declared = "[[users]]\nusername = \"alice\"\npassword = \"alice-password-1\"\n";
    let server = crate::support::TestServer::start_on(&sqlite_url(dir.path()), declared).await;
    server.stop().await;
    for args in [
        vec!["users", "disable", "alice"],
        vec!["users", "delete", "alice", "--yes"],
    ] {
        let refused = run_cli(&config, &args, "");
        assert_eq!(refused.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("configuration file"), "{args:?}: {stderr}");
    }
    let listed = stdout(&run_cli(&config, &["users", "list"], ""));
    let alice = listed.lines().find(|l| l.starts_with("alice")).unwrap();
    assert!(alice.contains(" no "), "{alice}");
}

/// `tessera grants list|revoke`: the applications a user allowed, and ending one as the account
/// page does; the revoked refresh token is then refused by the server.
#[tokio::test]
async fn grants_list_and_revoke_end_what_the_user_allowed() {
    use crate::flows::{SignIn, sign_in};
    let (dir, config) = setup();
    let declared = r#"
[[clients]]
client_id = "app"
secrets = ["app-secret"]
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://app.example/cb"]
allowed_scopes = ["openid", "offline_access"]

[[users]]
username = "alice"
password = "alice-password-1"
"#;
    let url = sqlite_url(dir.path());
    let server = crate::support::TestServer::start_on(&url, declared).await;
    let browser = crate::browser::Browser::new(&server.base);
    let how = SignIn::new(
        ("app", "app-secret"),
        "https://app.example/cb",
        "openid+offline_access",
        ("alice", "alice-password-1"),
    );
    let tokens = sign_in(&server, &browser, how).await.tokens;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    server.stop().await;

    let listed = stdout(&run_cli(
        &config,
        &["grants", "list", "--user", "alice"],
        "",
    ));
    assert!(
        listed.contains("app") && listed.contains("offline_access"),
        "{listed}"
    );
    let revoke = ["grants", "revoke", "--user", "alice", "--client", "app"];
    let revoked = stdout(&run_cli(&config, &revoke, ""));
    assert!(revoked.contains("revoked app for alice"), "{revoked}");
    let listed = stdout(&run_cli(
        &config,
        &["grants", "list", "--user", "alice"],
        "",
    ));
    assert!(!listed.contains("offline_access"), "{listed}");
    assert!(stdout(&run_cli(&config, &revoke, "")).contains("held nothing"));
    let unknown = run_cli(&config, &["grants", "list", "--user", "nobody"], "");
    assert_eq!(unknown.status.code(), Some(1));

    let server = crate::support::TestServer::start_on(&url, declared).await;
    let (status, body) =
        crate::signin::refresh(&server, ("app", "app-secret"), &refresh, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    server.stop().await;
}

/// `tessera users factors`: a user's factors without their secrets, and removing a lost one.
#[tokio::test]
async fn users_factors_lists_without_secrets_and_removes() {
    use tessera_core::model::{Factor, FactorData};
    let (dir, config) = setup();
    let declared = "[[users]]\nusername = \"alice\"\npassword = \"alice-password-1\"\n";
    let server = crate::support::TestServer::start_on(&sqlite_url(dir.path()), declared).await;
    let store = server.running.state.store.clone();
    let alice = store.find_user_by_username("alice").await.unwrap().unwrap();
    let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    for (id, label, data) in [
        (
            "f-totp",
            "Phone",
            FactorData::Totp {
                secret: secret.into(),
                last_step: None,
            },
        ),
        (
            "f-codes",
            "Recovery codes",
            FactorData::RecoveryCodes {
                hashes: vec!["$argon2id$x".into(); 7],
            },
        ),
    ] {
        let factor = Factor {
            id: id.into(),
            subject: alice.subject.clone(),
            label: label.into(),
            data,
            version: 0,
            created_at: tessera_core::Clock::now(server.clock.as_ref()),
            last_used_at: None,
        };
        store.insert_factor(&factor).await.unwrap();
    }
    server.stop().await;

    let listed = stdout(&run_cli(&config, &["users", "factors", "alice"], ""));
    assert!(
        listed.contains("f-totp") && listed.contains("totp") && listed.contains("Phone"),
        "{listed}"
    );
    assert!(listed.contains("7 unused"), "{listed}");
    assert!(
        !listed.contains(secret) && !listed.contains("argon2"),
        "{listed}"
    );
    let removed = stdout(&run_cli(
        &config,
        &["users", "factors", "alice", "--remove", "f-totp"],
        "",
    ));
    assert!(
        removed.contains("removed factor f-totp") && removed.contains("1 factor(s) left"),
        "{removed}"
    );
    assert!(!stdout(&run_cli(&config, &["users", "factors", "alice"], "")).contains("f-totp"));
    let again = run_cli(
        &config,
        &["users", "factors", "alice", "--remove", "f-totp"],
        "",
    );
    assert_eq!(again.status.code(), Some(1));
}

#[test]
fn resources_are_made_listed_and_removed() {
    let (dir, config) = setup();
    let file = |name: &str, json: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, json).unwrap();
        path.display().to_string()
    };
    let scope = file(
        "scope.json",
        r#"{"name": "stock.read", "display_name": "Read stock"}"#,
    );
    let made = stdout(&run_cli(
        &config,
        &["resources", "add", "api-scope", &scope],
        "",
    ));
    assert!(made.contains("made api-scope stock.read"), "{made}");
    let made = stdout(&run_cli(
        &config,
        &["resources", "add", "api-resource", "-"],
        r#"{"name": "urn:stock", "scopes": ["stock.read"]}"#,
    ));
    assert!(made.contains("shown once"), "{made}");
    let listed = stdout(&run_cli(&config, &["resources", "list"], ""));
    assert!(
        listed
            .lines()
            .any(|l| l.contains("stock.read") && l.contains("managed")),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.contains("api1.read") && l.contains("config")),
        "{listed}"
    );
    let refused = |args: &[&str], stdin: &str, why: &str| {
        let out = run_cli(&config, args, stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    };
    refused(
        &["resources", "remove", "api-scope", "stock.read"],
        "",
        "API `urn:stock`",
    );
    refused(
        &["resources", "remove", "api-scope", "api1.read"],
        "",
        "configuration file",
    );
    refused(
        &["resources", "add", "api-scope", "-"],
        r#"{"name": "two words"}"#,
        "name: ",
    );
    refused(&["resources", "add", "api-scope", "-"], "not json", "JSON");
    for (kind, name) in [("api-resource", "urn:stock"), ("api-scope", "stock.read")] {
        let removed = stdout(&run_cli(&config, &["resources", "remove", kind, name], ""));
        assert!(
            removed.contains(&format!("removed {kind} {name}")),
            "{removed}"
        );
    }
}
