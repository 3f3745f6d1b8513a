//! Native and web clients (OIDC Registration §2 `application_type`; RFC 8252 §7): a native
//! app's loopback redirect URI may use any port (§7.3) and it may use a private-use scheme
//! (§7.1); a web client's redirect URI matches exactly, port included.

use crate::browser::{Browser, Landing};
use crate::signin::{VERIFIER, authorize_url, redeem};
use crate::support::TestServer;

const CONFIG: &str = r#"
[[clients]]
client_id = "cli"
application_type = "native"
grant_types = ["authorization_code"]
redirect_uris = ["http://127.0.0.1/callback", "com.example.app:/oauth2redirect"]
allowed_scopes = ["openid"]
require_consent = false

[[clients]]
client_id = "site"
secrets = ["site-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["http://127.0.0.1:9000/callback"]
allowed_scopes = ["openid"]
require_consent = false

[[users]]
username = "alice"
password = "alice-password"
"#;

#[tokio::test]
async fn loopback_ports_vary_for_native_apps_only() {
    let server = TestServer::start(CONFIG).await;
    let browser = Browser::new(&server.base);
    // A native app listening on a port the OS chose (RFC 8252 §7.3).
    let cb = "http://127.0.0.1:53127/callback";
    let landing = browser
        .authorize(
            &authorize_url(&server, "cli", cb, "&scope=openid"),
            "alice",
            "alice-password",
        )
        .await;
    let Landing::Client(url) = &landing else {
        panic!("no redirect: {landing:?}");
    };
    assert!(url.as_str().starts_with(cb), "{url}");
    let code = landing.param("code").unwrap();
    let (status, body) = redeem(&server, ("cli", ""), cb, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{body}");
    // A private-use scheme (RFC 8252 §7.1).
    let private = "com.example.app:/oauth2redirect";
    let landing = browser
        .open(&authorize_url(&server, "cli", private, "&scope=openid"))
        .await;
    assert!(landing.param("code").is_some(), "{landing:?}");

    // A web client: the registered port only; another port is an error page, not a redirect.
    let landing = browser
        .open(&authorize_url(
            &server,
            "site",
            "http://127.0.0.1:9001/callback",
            "&scope=openid",
        ))
        .await;
    match landing {
        Landing::Page { status, html, .. } => {
            assert_eq!(status, 400);
            assert!(html.contains("not registered"), "{html}");
        }
        Landing::Client(url) => panic!("redirected to {url}"),
    }
    let landing = browser
        .open(&authorize_url(
            &server,
            "site",
            "http://127.0.0.1:9000/callback",
            "&scope=openid",
        ))
        .await;
    assert!(landing.param("code").is_some(), "{landing:?}");
    server.stop().await;
}
