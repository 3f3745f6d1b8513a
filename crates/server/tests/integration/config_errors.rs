//! Every class of configuration error stops the binary with a message naming the key and a
//! non-zero exit status, never a panic.

use crate::support::{tessera, write_file};

pub(crate) struct Outcome {
    pub(crate) code: Option<i32>,
    pub(crate) stderr: String,
}

pub(crate) fn check(toml: &str, env: &[(&str, &str)]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "tessera.toml", toml);
    let mut cmd = tessera();
    cmd.arg("--config").arg(&path).arg("check-config");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "panic:\n{stderr}");
    Outcome {
        code: out.status.code(),
        stderr,
    }
}

pub(crate) fn assert_config_error(toml: &str, env: &[(&str, &str)], must_mention: &[&str]) {
    let outcome = check(toml, env);
    assert_eq!(
        outcome.code,
        Some(2),
        "exit status for:\n{toml}\nstderr:\n{}",
        outcome.stderr
    );
    for m in must_mention {
        assert!(
            outcome.stderr.contains(m),
            "stderr should mention `{m}`:\n{}",
            outcome.stderr
        );
    }
}

const CLIENT: &str = r#"
[[clients]]
client_id = "web"
secrets = ["s"]
grant_types = ["client_credentials"]
"#;

#[test]
fn bad_toml_syntax() {
    assert_config_error("issuer = \"http://localhost:8080\n", &[], &["tessera.toml"]);
}

#[test]
fn unknown_key() {
    assert_config_error("isuer = \"http://localhost:8080\"\n", &[], &["isuer"]);
    assert_config_error(
        &format!("{CLIENT}redirect_uri = \"https://x\"\n"),
        &[],
        &["redirect_uri", "clients"],
    );
}

/// A mistyped secret, password or database URL never appears in the error that refuses it
/// (the message names the key and the kind of value).
#[test]
fn config_errors_never_print_the_offending_value() {
    let secret = "hunter2-s3cret-value";
    for (toml, key) in [
        (
            format!("{CLIENT}token_endpoint_auth_method = \"{secret}\"\n"),
            "token_endpoint_auth_method",
        ),
        (
            format!("[[clients]]\nclient_id = \"web\"\nsecrets = \"{secret}\"\n"),
            "secrets",
        ),
        (
            format!("database_url = [\"postgres://u:{secret}@db/tessera\"]\n"),
            "database_url",
        ),
        (
            format!("[[users]]\nusername = \"alice\"\npassword = [\"{secret}\"]\n"),
            "password",
        ),
        // A syntax error: TOML's message quotes the line; ours gives the position only.
        (
            format!("database_url = \"postgres://u:{secret}@db/tessera\n"),
            "line 1",
        ),
    ] {
        let outcome = check(&toml, &[]);
        assert_eq!(outcome.code, Some(2), "{}", outcome.stderr);
        assert!(outcome.stderr.contains(key), "{key}: {}", outcome.stderr);
        assert!(
            !outcome.stderr.contains("hunter2"),
            "the value leaked:\n{}",
            outcome.stderr
        );
    }
    // The same through the environment.
    let outcome = check("", &[("TESSERA_LOGIN__MAX_LOCKOUT", secret)]);
    assert_eq!(outcome.code, Some(2));
    assert!(outcome.stderr.contains("max_lockout") && !outcome.stderr.contains("hunter2"));
}

#[test]
fn wrong_type() {
    assert_config_error("listen = 8080\n", &[], &["listen"]);
    assert_config_error(
        &format!("{CLIENT}access_token_lifetime = \"an hour\"\n"),
        &[],
        &["access_token_lifetime"],
    );
    assert_config_error(
        &format!("{CLIENT}access_token_type = \"opaque\"\n"),
        &[],
        &["access_token_type"],
    );
}

#[test]
fn bad_urls() {
    assert_config_error("issuer = \"not a url\"\n", &[], &["issuer"]);
    assert_config_error(
        "issuer = \"http://id.example.com\"\n",
        &[],
        &["issuer", "https"],
    );
    assert_config_error(
        "issuer = \"https://id.example.com/?tenant=1\"\n",
        &[],
        &["issuer", "query"],
    );
    assert_config_error(
        "database_url = \"mysql://localhost/db\"\n",
        &[],
        &["database_url"],
    );
    let bad_redirect = r#"
[[clients]]
client_id = "web"
grant_types = ["authorization_code"]
redirect_uris = ["javascript:alert(1)"]
"#;
    assert_config_error(bad_redirect, &[], &["clients[0].redirect_uris[0]"]);
}

#[test]
fn issuer_is_kept_exactly_so_a_trailing_slash_is_refused() {
    assert_config_error(
        "issuer = \"https://id.example.com/\"\n",
        &[],
        &["issuer", "ends with `/`"],
    );
    assert_config_error(
        "issuer = \"https://id.example.com/tenant\"\n",
        &[],
        &["issuer", "path"],
    );
}

#[test]
fn key_timing_that_breaks_relying_parties_is_refused() {
    assert_config_error("[keys]\npropagation = 60\n", &[], &["keys.propagation"]);
    assert_config_error(
        "[keys]\nrefresh_interval = 0\n",
        &[],
        &["keys.refresh_interval"],
    );
    let short_retention = format!("[keys]\nretention = 600\n{CLIENT}");
    assert_config_error(&short_retention, &[], &["keys.retention"]);
}

#[test]
fn other_bad_values() {
    assert_config_error("[log]\nlevel = \"[[[\"\n", &[], &["log.level"]);
    assert_config_error(
        "[http]\nheader_read_timeout = 0\n",
        &[],
        &["http.header_read_timeout"],
    );
    assert_config_error(
        "[sessions]\nidle_timeout = 10\n",
        &[],
        &["sessions.idle_timeout"],
    );
    assert_config_error(
        "[sessions]\nidle_timeout = 3600\nmax_lifetime = 60\n",
        &[],
        &["sessions.max_lifetime"],
    );
    assert_config_error(
        "[login]\nmax_failures_per_account = 0\n",
        &[],
        &["login.max_failures_per_account"],
    );
    assert_config_error(
        "[ui]\ntemplates = \"/nonexistent/theme\"\n",
        &[],
        &["ui.templates"],
    );
    let theme = tempfile::tempdir().unwrap();
    std::fs::write(theme.path().join("consent.html"), "{% for %}").unwrap();
    assert_config_error(
        &format!("[ui]\ntemplates = \"{}\"\n", theme.path().display()),
        &[],
        &["ui.templates", "consent.html"],
    );
    assert_config_error(
        "[[users]]\nusername = \"eve\"\npassword = \"x\"\nclaims = { sub = \"admin\" }\n",
        &[],
        &["users[0].claims.sub"],
    );
}

#[test]
fn dev_mode_listens_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = tessera()
        .args(["check-config", "--dev"])
        .env("TESSERA_LISTEN", "0.0.0.0:8080")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

#[test]
fn client_key_registration_errors() {
    let base = "[[api_scopes]]\nname = \"a\"\n[[clients]]\nclient_id = \"c\"\ngrant_types = [\"client_credentials\"]\nallowed_scopes = [\"a\"]\n";
    assert_config_error(
        &format!("{base}token_endpoint_auth_method = \"private_key_jwt\"\n"),
        &[],
        &["clients[0].jwks"],
    );
    assert_config_error(
        &format!(
            "{base}token_endpoint_auth_method = \"private_key_jwt\"\njwks = {{ keys = [ {{ kty = \"EC\", crv = \"P-256\", x = \"AA\", y = \"AA\", d = \"AA\" }} ] }}\n"
        ),
        &[],
        &["clients[0].jwks.keys[0]", "private"],
    );
    // client_secret_jwt keys must be long enough for HS256 (RFC 7518 §3.2).
    assert_config_error(
        &format!(
            "{base}secrets = [\"short\"]\ntoken_endpoint_auth_method = \"client_secret_jwt\"\n"
        ),
        &[],
        &["clients[0].secrets", "32"],
    );
}

#[test]
fn duplicate_client_id() {
    assert_config_error(
        &format!("{CLIENT}{CLIENT}"),
        &[],
        &["clients[1].client_id", "duplicate"],
    );
}

#[test]
fn semantic_errors_are_all_reported_at_once() {
    let toml = r#"
[[clients]]
client_id = "spa"
grant_types = ["client_credentials", "password"]
allowed_scopes = ["nope"]

[[users]]
username = "bob"
password = "x"
password_hash = "$argon2id$..."
"#;
    assert_config_error(
        toml,
        &[],
        &[
            "clients[0].grant_types[1]",
            "public client",
            "clients[0].allowed_scopes[0]",
            "users[0]",
        ],
    );
}

#[test]
fn environment_overrides_are_validated_too() {
    assert_config_error("", &[("TESSERA_LISTEN", "nonsense")], &["listen"]);
    assert_config_error("", &[("TESSERA_HTTP__BODY_LIMIT", "ten")], &["body_limit"]);
    // A misspelt variable is an unknown key, not silently ignored.
    assert_config_error(
        "",
        &[("TESSERA_ISUER", "https://id.example.com")],
        &["isuer"],
    );
}

#[test]
fn environment_overrides_apply() {
    let dir = tempfile::tempdir().unwrap();
    let out = tessera()
        .args(["check-config"])
        .env("TESSERA_ISSUER", "https://id.example.com")
        .env(
            "TESSERA_DATABASE_URL",
            "postgres://u:hunter2@db.example/tessera",
        )
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("issuer https://id.example.com"), "{stdout}");
    assert!(
        stdout.contains("postgres://u:***@db.example/tessera"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("hunter2"),
        "the password must not be printed"
    );
}

#[test]
fn missing_file() {
    let out = tessera()
        .args(["--config", "/nonexistent/tessera.toml", "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read configuration file"));
}

/// The example file shipped with the project documents every key and is itself valid.
#[test]
fn example_configuration_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tessera.example.toml");
    let out = tessera()
        .args(["--config", example, "check-config"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dev_configuration_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let out = tessera()
        .args(["check-config", "--dev"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 client(s), 1 user(s)"));
}

/// SEC-57: back-channel URIs that the outbound client would refuse are reported at start.
#[test]
fn outbound_policy_refuses_plain_http_and_private_addresses() {
    let client = |uri: &str| {
        format!(
            r#"
[[clients]]
client_id = "rp"
secrets = ["s"]
grant_types = ["authorization_code"]
redirect_uris = ["https://rp.example/cb"]
allowed_scopes = ["openid"]
backchannel_logout_uri = "{uri}"
"#
        )
    };
    assert_config_error(
        &client("http://rp.example/logout"),
        &[],
        &["clients[0].backchannel_logout_uri", "https"],
    );
    for private in [
        "https://127.0.0.1/logout",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.7/logout",
        "https://[::1]/logout",
        "https://[::ffff:127.0.0.1]/logout",
    ] {
        assert_config_error(
            &client(private),
            &[],
            &["clients[0].backchannel_logout_uri", "not allowed"],
        );
    }
    assert_config_error(
        "[outbound]\nallowed_networks = [\"10.0.0.0/33\"]\n",
        &[],
        &["outbound.allowed_networks[0]"],
    );
    // An operator can allow an internal network explicitly.
    let allowed = format!(
        "{}\n[outbound]\nallowed_networks = [\"10.0.0.0/8\"]\n",
        client("https://10.0.0.7/logout")
    );
    let outcome = check(&allowed, &[]);
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
}

/// SEC-17: PKCE `plain` cannot be switched on for any client.
#[test]
fn plain_pkce_cannot_be_enabled() {
    assert_config_error(
        r#"
[[clients]]
client_id = "legacy"
secrets = ["s"]
grant_types = ["authorization_code"]
redirect_uris = ["https://legacy.example/cb"]
allowed_scopes = ["openid"]
allow_plain_pkce = true
"#,
        &[],
        &["clients[0].allow_plain_pkce", "S256"],
    );
}

/// OIDC Registration §2, RFC 8252: what each application type may register, the identity-token
/// algorithm and the acr values a client names; the acr levels the server offers.
#[test]
fn application_types_algorithms_and_acr_levels_are_checked() {
    let web = |extra: &str| {
        format!(
            "[[clients]]\nclient_id = \"app\"\ngrant_types = [\"authorization_code\"]\n\
             allowed_scopes = [\"openid\"]\n{extra}\n"
        )
    };
    assert_config_error(
        &web("redirect_uris = [\"com.example.app:/cb\"]"),
        &[],
        &[
            "clients[0].redirect_uris[0]",
            "application_type = \"native\"",
        ],
    );
    assert_config_error(
        &web(
            "application_type = \"native\"\nsecrets = [\"native-secret\"]\n\
             redirect_uris = [\"http://127.0.0.1/cb\"]",
        ),
        &[],
        &["clients[0].secrets", "RFC 8252"],
    );
    assert_config_error(
        &web(
            "redirect_uris = [\"https://a.example/cb\"]\nid_token_signed_response_alg = \"HS256\"",
        ),
        &[],
        &["clients[0].id_token_signed_response_alg", "HS256"],
    );
    assert_config_error(
        &format!(
            "[keys]\nalgorithms = [\"RS256\"]\n{}",
            web(
                "redirect_uris = [\"https://a.example/cb\"]\nid_token_signed_response_alg = \"ES256\""
            )
        ),
        &[],
        &["clients[0].id_token_signed_response_alg", "keys.algorithms"],
    );
    assert_config_error(
        &web("redirect_uris = [\"https://a.example/cb\"]\ndefault_acr_values = [\"urn:gold\"]"),
        &[],
        &["clients[0].default_acr_values[0]", "urn:gold", "acr_levels"],
    );
    assert_config_error(
        "[[acr_levels]]\nacr = \"urn:face\"\namr = [\"pwd\", \"face\"]\n",
        &[],
        &["acr_levels[0].amr[1]", "face"],
    );
    assert_config_error(
        "[client_authentication]\nmax_assertion_lifetime = 10\n",
        &[],
        &["client_authentication.max_assertion_lifetime"],
    );
    // Valid: a native app with a private-use scheme, levels of one's own naming.
    let ok = check(
        &format!(
            "[[acr_levels]]\nacr = \"urn:example:password\"\namr = [\"pwd\"]\n{}",
            web(
                "application_type = \"native\"\nredirect_uris = [\"com.example.app:/cb\"]\n\
                 default_acr_values = [\"urn:example:password\"]"
            )
        ),
        &[],
    );
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
}

#[test]
fn identity_providers_and_the_password_policy_are_checked() {
    assert_config_error(
        "[[identity_providers]]\nname = \"local\"\ntype = \"oidc\"\nclient_id = \"t\"\nclient_secret = \"s\"\n",
        &[],
        &["identity_providers[0].name", "identity_providers[0].issuer"],
    );
    assert_config_error(
        "[[identity_providers]]\nname = \"gh\"\ntype = \"oauth2\"\nclient_id = \"\"\nclient_secret = \"s\"\nauthorization_endpoint = \"not a url\"\n",
        &[],
        &[
            "identity_providers[0].client_id",
            "identity_providers[0].token_endpoint",
            "identity_providers[0].userinfo_endpoint",
            "identity_providers[0].authorization_endpoint",
        ],
    );
    assert_config_error(
        "[[identity_providers]]\nname = \"a b\"\ntype = \"saml\"\nclient_id = \"t\"\nclient_secret = \"s\"\n",
        &[],
        &["identity_providers"],
    );
    assert_config_error(
        "[passwords]\nmin_length = 4\n",
        &[],
        &["passwords.min_length"],
    );
    assert_config_error(
        "[[acr_levels]]\nacr = \"1\"\namr = [\"pwd\"]\n\n[[clients]]\nclient_id = \"c\"\nsecrets = [\"s-secret\"]\ngrant_types = [\"authorization_code\"]\nredirect_uris = [\"https://c.example/cb\"]\nallowed_scopes = [\"openid\"]\nrequire_mfa = true\nminimum_acr = \"9\"\n",
        &[],
        &["clients[0].require_mfa", "clients[0].minimum_acr"],
    );
}

/// `[http] trusted_proxies` takes addresses and CIDR networks; anything else is named.
#[test]
fn trusted_proxies_are_addresses_or_networks() {
    assert_config_error(
        "[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"proxy.internal\", \"10.0.0.0/40\"]\n",
        &[],
        &["http.trusted_proxies[1]", "http.trusted_proxies[2]", "CIDR"],
    );
    let fine = check(
        "[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\", \"2001:db8::/32\"]\n",
        &[],
    );
    assert_eq!(fine.code, Some(0), "{}", fine.stderr);
}

/// `--dev` is understood by every command, before or after it, as `serve --dev` uses it: the
/// demo's configuration is checked, and a command acts on the demo server's database.
#[test]
fn every_command_understands_dev() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        tessera()
            .args(args)
            .env(
                "TESSERA_DATABASE_URL",
                format!("sqlite://{}/dev.db", dir.path().display()),
            )
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    for args in [["--dev", "check-config"], ["check-config", "--dev"]] {
        let out = run(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("3 client(s), 1 user(s)"));
    }
    let out = run(&["users", "list", "--dev"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("USERNAME"));
    // Without it, the file's configuration only.
    let out = run(&["check-config"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 client(s), 0 user(s)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
