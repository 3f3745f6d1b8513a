//! panva's oidc-provider (npm, locked) as the upstream OpenID Provider: a user signs in through
//! it with its defaults (PKCE, RFC 9207 `iss`), the upstream's `amr` reaches our tokens, a key
//! rotation at the upstream is followed, and its back-channel logout ends our session.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde_json::json;

use crate::browser::{Browser, Landing};
use crate::federation::{login_page, token_response, tokens_of};
use crate::relying_parties::required_env;
use crate::signin::authorize_url;
use crate::support::{TestServer, free_port};

/// The upstream process; it stops when its stdin closes (and is killed when dropped).
struct NodeUpstream {
    child: Child,
    _stdin: ChildStdin,
    issuer: String,
}

impl Drop for NodeUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(port: u16, seed: &str, down: &TestServer) -> NodeUpstream {
    start_node_with(port, seed, down, &[])
}

fn start_node_with(port: u16, seed: &str, down: &TestServer, env: &[(&str, &str)]) -> NodeUpstream {
    let dir = required_env("TESSERA_TEST_OIDC_PROVIDER_DIR");
    let accounts = json!([{
        "sub": "alice-up", "email": "alice@upstream.example", "email_verified": true,
        "name": "Alice Upstream", "amr": ["pwd", "otp"], "acr": "urn:upstream:mfa"
    }]);
    let mut child = Command::new(required_env("TESSERA_TEST_NODE"))
        .arg("upstream.mjs")
        .current_dir(dir)
        .env("PORT", port.to_string())
        .env("ISSUER", format!("http://127.0.0.1:{port}"))
        .env("CLIENT_ID", "tessera")
        .env("CLIENT_SECRET", "tessera-upstream-secret")
        .env("REDIRECT_URI", down.url("/federation/node/callback"))
        .env(
            "BACKCHANNEL_LOGOUT_URI",
            down.url("/federation/node/backchannel_logout"),
        )
        .env("ACCOUNTS", accounts.to_string())
        .env("KEY_SEED", seed)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let issuer = line
        .trim()
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("upstream: {line}"));
    NodeUpstream {
        child,
        _stdin: stdin,
        issuer: issuer.to_string(),
    }
}

fn downstream(port: u16) -> String {
    format!(
        r#"
[[clients]]
client_id = "rp"
secrets = ["rp-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://rp.example/cb"]
allowed_scopes = ["openid", "profile", "email"]
require_consent = false
always_include_user_claims_in_id_token = true

[outbound]
allow_http = true
allowed_networks = ["127.0.0.0/8"]

[[identity_providers]]
name = "node"
display_name = "Node Provider"
type = "oidc"
issuer = "http://127.0.0.1:{port}"
client_id = "tessera"
client_secret = "tessera-upstream-secret"
upstream_logout = true
"#
    )
}

/// Through the upstream: its auto-login follows three redirects on its own origin.
async fn through_node(browser: &Browser, page: &Landing, node: &NodeUpstream) -> Landing {
    let sent = browser
        .submit(page.page(), "/login", &[("provider", "node")])
        .await;
    let at_node = browser.at(&node.issuer);
    let back = at_node.open(sent.client().as_str()).await;
    browser.open(back.client().as_str()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_provider_signs_users_in_rotates_keys_and_logs_them_out() {
    let port = free_port();
    let down = TestServer::start(&downstream(port)).await;
    let node = start_node(port, "seed-1", &down);

    let browser = Browser::new(&down.base);
    let page = login_page(&down, &browser, "&acr_values=2").await;
    let landing = through_node(&browser, &page, &node).await;
    let first = tokens_of(&down, &landing).await;
    assert_eq!(first["idp"], "node");
    assert_eq!(
        first["amr"],
        json!(["pwd", "otp", "mfa"]),
        "the upstream's amr, two kinds: mfa"
    );
    assert_eq!(first["acr"], "2");
    assert_eq!(first["email"], "alice@upstream.example");

    // The upstream restarts with new keys: the next sign-in reads them.
    drop(node);
    let node = start_node(port, "seed-2", &down);
    down.monotonic.advance(std::time::Duration::from_secs(11));
    let other = Browser::new(&down.base);
    let page = login_page(&down, &other, "").await;
    let landing = through_node(&other, &page, &node).await;
    assert_eq!(
        tokens_of(&down, &landing).await["sub"],
        first["sub"],
        "the same account"
    );

    // Signing out here offers to sign out at the upstream too (RP-Initiated Logout there).
    let third = Browser::new(&down.base);
    let page = login_page(&down, &third, "").await;
    let landing = through_node(&third, &page, &node).await;
    let id_token = token_response(&down, &landing).await["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    let out = third
        .open(&down.url(&format!("/end_session?id_token_hint={id_token}")))
        .await;
    let html = crate::browser::unescape(out.page());
    assert!(html.contains("Sign out there too"), "{html}");
    let link = format!(
        "{}/session/end?client_id=tessera&id_token_hint=ey",
        node.issuer
    );
    assert!(html.contains(&link), "{html}");

    // The upstream signs alice out: our sessions from it end.
    let http = reqwest::Client::new();
    let answer = http
        .post(format!("{}/test/backchannel-logout", node.issuer))
        .json(&json!({"sub": "alice-up"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204, "{}", answer.text().await.unwrap());
    for b in [&browser, &other] {
        let url = authorize_url(
            &down,
            "rp",
            "https://rp.example/cb",
            "&scope=openid&prompt=none&state=s",
        );
        let silent = b.open(&url).await;
        assert_eq!(
            silent.param("error").as_deref(),
            Some("login_required"),
            "{silent:?}"
        );
    }
}

/// Tessera authenticates to the upstream with `private_key_jwt` (RFC 7523): its key from a PEM
/// file, its public key registered there as check-config prints it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_authenticates_tessera_at_the_upstream() {
    use tessera_core::tokens::{SigningAlg, SigningKey};
    let (key, pkcs8) = SigningKey::generate(SigningAlg::Es256).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem_text = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8));
    let key_file = crate::support::write_file(dir.path(), "upstream-key.pem", &pem_text);
    let port = free_port();
    let config = downstream(port).replace(
        "client_secret = \"tessera-upstream-secret\"\n",
        &format!(
            "token_endpoint_auth_method = \"private_key_jwt\"\nprivate_key_file = \"{}\"\n",
            key_file.display()
        ),
    );
    let down = TestServer::start(&config).await;
    let jwks = json!({ "keys": [key.public_jwk()] }).to_string();
    let node = start_node_with(port, "seed-pkjwt", &down, &[("CLIENT_JWKS", &jwks)]);
    let browser = Browser::new(&down.base);
    let page = login_page(&down, &browser, "").await;
    let landing = through_node(&browser, &page, &node).await;
    assert_eq!(tokens_of(&down, &landing).await["idp"], "node");
}
