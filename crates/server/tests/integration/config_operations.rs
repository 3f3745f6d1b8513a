//! Configuration errors of `[admin]`, `[audit]`, `[registration]`, `[tracing]` and the keys'
//! schedule and encryption: each names its key, and the key-encryption key's value is never printed.

use crate::config_errors::{assert_config_error, check};

#[test]
fn operations_settings_are_checked() {
    assert_config_error(
        "listen = \"127.0.0.1:8080\"\n[admin]\nlisten = \"127.0.0.1:8080\"\n",
        &[],
        &["admin.listen", "its own port"],
    );
    assert_config_error("[admin]\nlisten = \"localhost\"\n", &[], &["admin.listen"]);
    assert_config_error("[audit]\npath = \" \"\n", &[], &["audit.path"]);
    assert_config_error(
        "[registration]\ngrant_types = [\"password\"]\ntoken_endpoint_auth_methods = [\"client_secret_jwt\", \"magic\"]\nscopes = [\"tessera.admin.write\", \"nope\"]\naccess_token_lifetime = 5\n",
        &[],
        &[
            "registration.grant_types[0]",
            "registration.token_endpoint_auth_methods[0]",
            "registration.token_endpoint_auth_methods[1]",
            "registration.scopes[0]",
            "registration.scopes[1]",
            "registration.access_token_lifetime",
        ],
    );
    assert_config_error(
        "[[api_resources]]\nname = \"urn:a\"\nsigning_alg = \"PS256\"\n[[api_resources]]\nname = \"urn:b\"\nsigning_alg = \"HS256\"\n",
        &[],
        &[
            "api_resources[0].signing_alg",
            "api_resources[1].signing_alg",
            "keys.algorithms",
        ],
    );
    assert_config_error(
        "[keys]\nalgorithms = [\"EdDSA\", \"ES384\", \"RS512\"]\n",
        &[],
        &["keys.algorithms"],
    );
    assert_config_error(
        "[keys]\npropagation = 3600\nrotate_every = 3600\n",
        &[],
        &["keys.rotate_every"],
    );
    assert_config_error(
        "[tracing]\notlp_endpoint = \"collector:4318\"\n",
        &[],
        &["tracing.otlp_endpoint", "http or https URL"],
    );
    assert_config_error(
        "[tracing]\notlp_endpoint = \"http://127.0.0.1:4318\"\nsample_ratio = 1.5\nservice_name = \" \"\n",
        &[],
        &["tracing.sample_ratio", "tracing.service_name"],
    );
    assert_config_error(
        "[[clients]]\nclient_id = \"c\"\nsecrets = [\"c-secret\"]\ngrant_types = [\"authorization_code\"]\nredirect_uris = [\"https://c.example/cb\"]\nallowed_scopes = [\"openid\"]\nuserinfo_signed_response_alg = \"HS256\"\n",
        &[],
        &["clients[0].userinfo_signed_response_alg", "HS256"],
    );
    let fine = check(
        "[admin]\nlisten = \"127.0.0.1:9090\"\n[audit]\npath = \"-\"\n[registration]\nopen = true\n[keys]\nrotate_every = 7776000\n[tracing]\notlp_endpoint = \"https://otel.example:4318/\"\nsample_ratio = 0.25\n",
        &[],
    );
    assert_eq!(fine.code, Some(0), "{}", fine.stderr);
}

#[test]
fn the_key_encryption_key_is_checked_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let both = format!(
        "[keys]\nencryption_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\nencryption_key_file = \"{}/kek\"\n",
        dir.path().display()
    );
    assert_config_error(&both, &[], &["keys.encryption_key", "not both"]);
    assert_config_error(
        "[keys]\nencryption_key_file = \"/nonexistent/kek\"\n",
        &[],
        &["keys.encryption_key_file", "cannot read"],
    );
    let secret = "c2VjcmV0LWJ1dC1zaG9ydA";
    let short = check("", &[("TESSERA_KEYS__ENCRYPTION_KEY", secret)]);
    assert_eq!(short.code, Some(2));
    assert!(
        short.stderr.contains("keys.encryption_key") && short.stderr.contains("32 random bytes"),
        "{}",
        short.stderr
    );
    assert!(!short.stderr.contains(secret), "the value is printed");
    let fine = check(
        "",
        &[(
            "TESSERA_KEYS__ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )],
    );
    assert_eq!(fine.code, Some(0), "{}", fine.stderr);
}
