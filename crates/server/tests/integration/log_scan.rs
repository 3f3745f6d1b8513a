//! SEC-58, CVE-15: logs never hold a secret, code, token, password, cookie or key. A full
//! flow runs against the real binary, logging at debug level (trace for Tessera's own
//! crates), and its whole output is searched for every value that was sent or issued.

use reqwest::header::SET_COOKIE;
use serde_json::Value;

use crate::browser::{Browser, Landing, field};
use crate::signin::{CHALLENGE, PEOPLE, VERIFIER};
use crate::support::{ServerProcess, config_text, free_port, sqlite_url, write_file};

const FILTER: &str = "debug,tessera=trace,tessera_server=trace,tessera_core=trace,\
                      tessera_store_sql=trace,tessera_validation=trace";

/// The value of every cookie a response sets.
fn cookies(landing: &Landing) -> Vec<String> {
    let Landing::Page { headers, .. } = landing else {
        return vec![];
    };
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            v.split(';')
                .next()?
                .split_once('=')
                .map(|(_, v)| v.to_string())
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// A JWT and its signature on their own (a log could print either).
fn jwt_parts(token: &str) -> Vec<String> {
    let mut parts = vec![token.to_string()];
    parts.extend(token.rsplit('.').next().map(str::to_string));
    parts
}

async fn token_request(
    http: &reqwest::Client,
    base: &str,
    auth: (&str, &str),
    form: &[(&str, &str)],
) -> (u16, Value) {
    let response = http
        .post(format!("{base}/token"))
        .basic_auth(auth.0, Some(auth.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec58_cve15_logs_hold_no_secret_token_code_password_or_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_file(
        dir.path(),
        "tessera.toml",
        &config_text(port, &sqlite_url(dir.path()), PEOPLE),
    );
    let log = dir.path().join("tessera.log");
    let server = ServerProcess::start_logging(&config, port, Some(&log), FILTER).await;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let mut sent: Vec<String> = ["web-secret", "api1-secret", "alice-password", VERIFIER]
        .map(str::to_string)
        .to_vec();

    // A failed sign-in, then a real one, through the pages.
    let browser = Browser::new(&base);
    let login = browser
        .open(&format!(
            "{base}/authorize?client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb\
             &response_type=code&scope=openid+profile+offline_access+api1.read\
             &state=st-4711&nonce=n-4711&code_challenge={CHALLENGE}&code_challenge_method=S256"
        ))
        .await;
    sent.extend(cookies(&login));
    sent.push(field(login.page(), "csrf"));
    sent.push(field(login.page(), "interaction"));
    let wrong_password = "wrong-password-0815";
    sent.push(wrong_password.into());
    let again = browser.login(&login, "alice", wrong_password).await;
    assert!(again.is_login());
    let consent = browser.login(&again, "alice", "alice-password").await;
    sent.push(field(consent.page(), "csrf"));
    sent.push(field(consent.page(), "interaction"));
    let code = browser.allow(&consent, true).await.param("code").unwrap();
    sent.push(code.clone());

    // Code, refresh, userinfo, introspection, revocation, a wrong client secret.
    let (status, tokens) = token_request(
        &http,
        &base,
        ("web", "web-secret"),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://web.example/cb"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    let (status, refreshed) = token_request(
        &http,
        &base,
        ("web", "web-secret"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    for body in [&tokens, &refreshed] {
        for key in ["access_token", "id_token"] {
            sent.extend(jwt_parts(body[key].as_str().unwrap()));
        }
        sent.push(body["refresh_token"].as_str().unwrap().to_string());
    }
    let access = refreshed["access_token"].as_str().unwrap();
    let info = http
        .get(format!("{base}/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    let seen: Value = http
        .post(format!("{base}/introspect"))
        // RFC 6749 §2.3.1: the Basic credentials are form-encoded first.
        .basic_auth("urn%3Aapi1", Some("api1-secret"))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["active"], true, "{seen}");
    let bad_secret = "not-the-secret-31337";
    sent.push(bad_secret.into());
    let (status, _) = token_request(
        &http,
        &base,
        ("web", bad_secret),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ],
    )
    .await;
    assert_eq!(status, 401);
    // A replay of the first refresh token (it ends the family, and is logged as a replay).
    let (status, _) = token_request(
        &http,
        &base,
        ("web", "web-secret"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ],
    )
    .await;
    assert_eq!(status, 400);
    let revoked = http
        .post(format!("{base}/revoke"))
        .basic_auth("web", Some("web-secret"))
        .form(&[("token", refreshed["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);

    // Sign-out with the identity token as hint.
    let hint = refreshed["id_token"].as_str().unwrap();
    let signed_out = browser
        .open(&format!("{base}/end_session?id_token_hint={hint}"))
        .await;
    sent.extend(cookies(&signed_out));

    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    // The log was captured, at the levels asked for.
    assert!(text.contains("sign-in attempt"), "{text}");
    assert!(text.contains("DEBUG") || text.contains("TRACE"), "{text}");
    assert!(!text.contains("PRIVATE KEY"));
    // The access log: a line per request, with its path (never its query), the client's
    // address and client, status and latency.
    let access = text
        .lines()
        .find(|l| l.contains("finished processing request") && l.contains("path=\"/token\""))
        .unwrap_or_else(|| panic!("no access log line for /token:\n{text}"));
    for part in [
        "INFO",
        "method=POST",
        "address=127.0.0.1",
        "client_id=\"web\"",
        "status=200",
        "latency=",
    ] {
        assert!(access.contains(part), "{part} in {access}");
    }
    assert!(
        text.lines()
            .any(|l| l.contains("finished processing request")
                && l.contains("path=\"/end_session\""))
    );
    for value in &sent {
        assert!(value.len() >= 8, "too short to search for: {value}");
        assert!(
            !text.contains(value.as_str()),
            "the log holds `{value}`:\n{text}"
        );
    }
}
