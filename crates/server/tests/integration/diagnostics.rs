//! An operator can see why a request was refused: every refused client authentication, PKCE
//! refusal, refused client assertion and ignored post-logout redirect URI is logged once at
//! info level with its reason and the client it names, never with what was presented; and the
//! caller's `error_description` says what was wrong.

use serde_json::Value;

use crate::browser::Browser;
use crate::signin::{CHALLENGE, PEOPLE};
use crate::support::{ServerProcess, config_text, free_port, sqlite_url, write_file};

const EXTRA: &str = r#"
[[clients]]
client_id = "pinned"
secrets = ["pinned-secret"]
token_endpoint_auth_method = "client_secret_basic"
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]

[[clients]]
client_id = "keyed"
token_endpoint_auth_method = "private_key_jwt"
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
jwks = { keys = [ { kty = "EC", crv = "P-256", x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", kid = "k1" } ] }
"#;

async fn post(
    http: &reqwest::Client,
    url: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = http.post(url).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// The lines of `log` at INFO that contain `needle`.
fn info_lines<'l>(log: &'l str, needle: &str) -> Vec<&'l str> {
    log.lines()
        .filter(|l| l.contains(" INFO ") && l.contains(needle))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_logged_once_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_file(
        dir.path(),
        "tessera.toml",
        &config_text(port, &sqlite_url(dir.path()), &format!("{PEOPLE}{EXTRA}")),
    );
    let log_path = dir.path().join("tessera.log");
    let server = ServerProcess::start_logging(&config, port, Some(&log_path), "info").await;
    let base = server.base.clone();
    let token = format!("{base}/token");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let wrong_secret = "not-the-secret-3f9a";
    let cases: Vec<(&str, (u16, Value))> = vec![
        (
            "the client secret does not match",
            post(
                &http,
                &token,
                Some(("web", wrong_secret)),
                &[("grant_type", "client_credentials")],
            )
            .await,
        ),
        (
            "the client is registered for client_secret_basic; this request used client_secret_post",
            post(
                &http,
                &token,
                None,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "pinned"),
                    ("client_secret", "pinned-secret"),
                ],
            )
            .await,
        ),
        (
            "the client is registered for private_key_jwt; this request used client_secret_basic",
            post(
                &http,
                &token,
                Some(("keyed", wrong_secret)),
                &[("grant_type", "client_credentials")],
            )
            .await,
        ),
        (
            "client assertion refused: not a well-formed compact JWS",
            post(
                &http,
                &token,
                None,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "keyed"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", "not-a-jws"),
                ],
            )
            .await,
        ),
    ];
    for (reason, (status, body)) in &cases {
        assert_eq!(*status, 401, "{reason}: {body}");
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_description"], *reason);
    }
    // PKCE at the authorization endpoint: refused back to the client, with the reason.
    let response = http
        .get(format!(
            "{base}/authorize?client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb\
             &response_type=code&scope=openid&state=s1"
        ))
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("https://web.example/cb?error=invalid_request"),
        "{location}"
    );
    // PKCE at the token endpoint: a real code with a verifier that does not match.
    let browser = Browser::new(&base);
    let code = browser
        .authorize(
            &format!(
                "{base}/authorize?client_id=other&redirect_uri=https%3A%2F%2Fother.example%2Fcb\
                 &response_type=code&scope=openid&code_challenge={CHALLENGE}\
                 &code_challenge_method=S256"
            ),
            "alice",
            "alice-password",
        )
        .await
        .param("code")
        .unwrap();
    let wrong_verifier = "wrong-verifier-wrong-verifier-wrong-verifier-0";
    let (status, body) = post(
        &http,
        &token,
        Some(("other", "other-secret")),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://other.example/cb"),
            ("code_verifier", wrong_verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (400, Some("the code_verifier does not match"))
    );
    // An unregistered post_logout_redirect_uri is ignored, never redirected to.
    let response = http
        .get(format!(
            "{base}/end_session?client_id=web&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"
        ))
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("location")
            .is_none_or(|l| !l.to_str().unwrap().contains("evil")),
        "no redirect to an unregistered URI"
    );
    server.terminate();

    let log = std::fs::read_to_string(&log_path).unwrap();
    for (reason, _) in &cases {
        let lines = info_lines(&log, reason);
        assert_eq!(lines.len(), 1, "{reason}: {lines:?}");
        assert!(lines[0].contains("request refused"), "{}", lines[0]);
    }
    let client_named = info_lines(&log, "the client secret does not match");
    assert!(
        client_named[0].contains("client_id=\"web\""),
        "{}",
        client_named[0]
    );
    for (needle, what) in [
        ("PKCE is required", "authorization request refused"),
        ("the code_verifier does not match", "request refused"),
        (
            "the post_logout_redirect_uri is not registered for this client",
            "end-session request: a value was ignored",
        ),
    ] {
        let lines = info_lines(&log, needle);
        assert_eq!(lines.len(), 1, "{needle}: {lines:?}");
        assert!(lines[0].contains(what), "{}", lines[0]);
    }
    // What was presented is never logged.
    for secret in [
        wrong_secret,
        "pinned-secret",
        "not-a-jws",
        wrong_verifier,
        &code,
    ] {
        assert!(!log.contains(secret), "the log holds {secret}");
    }
}
