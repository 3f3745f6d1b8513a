//! The audit log (`[audit] path`): security events as JSON lines with who, what, when and from
//! where (the client's address behind a trusted proxy, the request id), never a secret.

use std::net::IpAddr;

use serde_json::Value;

use crate::browser::Browser;
use crate::signin::{PEOPLE, authorize_url};
use crate::support::TestServer;
use crate::tokens::client_credentials;

/// The records written so far.
pub fn records(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[tokio::test]
async fn sign_ins_and_refused_clients_are_audited_with_their_origin_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let server = TestServer::start(&format!(
        "[audit]\npath = \"{}\"\n[http]\ntrusted_proxies = [\"127.0.4.1\"]\n{PEOPLE}",
        path.display()
    ))
    .await;
    let browser = Browser::from_address(&server.base, IpAddr::from([127, 0, 4, 1]));
    let url = authorize_url(
        &server,
        "other",
        "https://other.example/cb",
        "&scope=openid",
    );
    let login = browser.open(&url).await;
    // Through the proxy, for the client 203.0.113.9: a wrong password, then the right one.
    let fields = |password: &'static str| {
        [
            ("username", "alice"),
            ("password", password),
            ("action", "login"),
        ]
    };
    let mut page = login.page().to_string();
    for (attempt, password) in ["not-alices-password", "alice-password"].iter().enumerate() {
        let csrf = crate::browser::field(&page, "csrf");
        let interaction = crate::browser::field(&page, "interaction");
        let mut form = fields(password).to_vec();
        form.push(("csrf", csrf.as_str()));
        form.push(("interaction", interaction.as_str()));
        let response = browser
            .http
            .post(server.url("/login"))
            .header("x-forwarded-for", "203.0.113.9")
            .header("x-request-id", format!("attempt-{attempt}"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert!(
            !response.status().is_server_error(),
            "{}",
            response.status()
        );
        page = response.text().await.unwrap();
    }
    assert_eq!(
        client_credentials(&server, "web", "wrong-secret", &[])
            .await
            .0,
        401
    );

    let records = records(&path);
    let failed = records
        .iter()
        .find(|r| r["event"] == "sign_in" && r["outcome"] == "failure")
        .unwrap_or_else(|| panic!("{records:?}"));
    assert_eq!(failed["address"], "203.0.113.9", "{failed}");
    assert_eq!(failed["request_id"], "attempt-0");
    assert!(failed["time"].as_i64().unwrap() > 1_700_000_000);
    let signed_in = records
        .iter()
        .find(|r| r["event"] == "sign_in" && r["outcome"] == "success")
        .unwrap_or_else(|| panic!("{records:?}"));
    assert_eq!(signed_in["address"], "203.0.113.9");
    assert_eq!(signed_in["method"], "password");
    assert!(signed_in["subject"].as_str().is_some_and(|s| !s.is_empty()));
    let refused = records
        .iter()
        .find(|r| r["event"] == "client_authentication_failed")
        .unwrap_or_else(|| panic!("{records:?}"));
    assert_eq!(refused["client_id"], "web");
    assert_eq!(refused["address"], "127.0.0.1");
    let text = std::fs::read_to_string(&path).unwrap();
    for secret in ["alice-password", "not-alices-password", "wrong-secret"] {
        assert!(!text.contains(secret), "{secret} in the audit log");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the audit log is readable by others: {mode:o}"
        );
    }
    server.stop().await;
}
