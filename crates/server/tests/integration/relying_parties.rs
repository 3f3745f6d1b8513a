//! Relying parties we did not write, with their default settings: Apache httpd with
//! mod_auth_openidc (Debian's package) signs a user in through the real pages, serves a
//! protected page with the user's claims, and its logout reaches `/end_session`; Node's
//! openid-client v6 (npm, locked) runs the code flow, userinfo, refresh, revocation and
//! client_credentials. `scripts/test.sh` installs both and says where they are.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::browser::{Browser, Landing, field};
use crate::support::{TestServer, eventually, free_port};

pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test.sh, which installs the relying parties")
    })
}

/// An Apache httpd child process, stopped when dropped.
struct Apache {
    child: Child,
    dir: tempfile::TempDir,
    base: String,
}

impl Drop for Apache {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Apache {
    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

async fn start_apache(port: u16, issuer: &str, client: (&str, &str)) -> Apache {
    use std::os::unix::fs::PermissionsExt as _;
    let binary = required_env("TESSERA_TEST_APACHE2");
    let modules = required_env("TESSERA_TEST_APACHE_MODULES");
    let dir = tempfile::tempdir().unwrap();
    let source = clients_dir().join("mod_auth_openidc");
    let passphrase = tessera_core::crypto::random_handle().unwrap();
    let conf = std::fs::read_to_string(source.join("httpd.conf.in"))
        .unwrap()
        .replace("@PORT@", &port.to_string())
        .replace("@DIR@", &dir.path().display().to_string())
        .replace("@MODULES@", &modules)
        .replace("@ISSUER@", issuer)
        .replace("@CLIENT_ID@", client.0)
        .replace("@CLIENT_SECRET@", client.1)
        .replace("@PASSPHRASE@", &passphrase);
    std::fs::write(dir.path().join("httpd.conf"), conf).unwrap();
    let htdocs = dir.path().join("htdocs");
    std::fs::create_dir_all(htdocs.join("protected")).unwrap();
    std::fs::copy(
        source.join("index.shtml"),
        htdocs.join("protected/index.shtml"),
    )
    .unwrap();
    std::fs::copy(source.join("loggedout.html"), htdocs.join("loggedout.html")).unwrap();
    // Started as root, Apache serves as `nobody`, which must read the pages.
    for path in [dir.path(), &htdocs, &htdocs.join("protected")] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let child = Command::new(binary)
        .arg("-f")
        .arg(dir.path().join("httpd.conf"))
        .arg("-DFOREGROUND")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let apache = Apache {
        child,
        dir,
        base: format!("http://127.0.0.1:{port}"),
    };
    let url = format!("{}/loggedout", apache.base);
    eventually("Apache to answer", || {
        let url = url.clone();
        async move { matches!(reqwest::get(&url).await, Ok(r) if r.status() == 200) }
    })
    .await;
    apache
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mod_auth_openidc_signs_in_through_the_pages_and_signs_out_at_end_session() {
    let apache_port = free_port();
    let a = format!("http://127.0.0.1:{apache_port}");
    let secret = "apache-secret-apache-secret-apache-secret";
    let server = TestServer::start(&format!(
        r#"
[[clients]]
client_id = "apache"
client_name = "Apache"
secrets = ["{secret}"]
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{a}/protected/redirect_uri"]
post_logout_redirect_uris = ["{a}/loggedout"]
allowed_scopes = ["openid", "profile", "email"]

[[users]]
username = "alice"
password = "alice-password"
claims = {{ name = "Alice Smith", email = "alice@example.com", email_verified = true }}
"#
    ))
    .await;
    let apache = start_apache(apache_port, &server.base, ("apache", secret)).await;
    // A browser: one cookie jar for 127.0.0.1 (cookies ignore the port), redirects followed.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar)
        .build()
        .unwrap();
    let page = |r: reqwest::Response| async move {
        let url = r.url().to_string();
        let status = r.status().as_u16();
        (url, status, r.text().await.unwrap())
    };

    // The protected page sends the browser to Tessera's login page.
    let (url, status, html) =
        page(browser.get(format!("{a}/protected/")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(url.starts_with(&server.url("/login?")), "{url}");
    let post = |path: &str, html: &str, fields: &[(&str, &str)]| {
        let mut form = vec![
            ("interaction".to_string(), field(html, "interaction")),
            ("csrf".to_string(), field(html, "csrf")),
        ];
        form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        browser.post(server.url(path)).form(&form).send()
    };
    let (url, _, html) = page(
        post(
            "/login",
            &html,
            &[
                ("username", "alice"),
                ("password", "alice-password"),
                ("action", "login"),
            ],
        )
        .await
        .unwrap(),
    )
    .await;
    assert!(url.starts_with(&server.url("/consent?")), "{url}");
    // Consent, then back to Apache's redirect URI, which redeems the code (client_secret_basic,
    // PKCE S256) and calls userinfo, then shows the protected page.
    let (url, status, html) = page(
        post(
            "/consent",
            &html,
            &[("remember", "yes"), ("action", "allow")],
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (status, url.as_str()),
        (200, format!("{a}/protected/").as_str()),
        "{html}"
    );
    for expected in [
        r#"<dd id="name">Alice Smith</dd>"#,
        r#"<dd id="email">alice@example.com</dd>"#,
        r#"<dd id="email_verified">1</dd>"#,
        &format!(r#"<dd id="iss">{}</dd>"#, server.base),
    ] {
        assert!(html.contains(expected), "{expected} not in:\n{html}");
    }

    // Its logout reaches /end_session with the identity token and comes back.
    let logout = format!(
        "{a}/protected/redirect_uri?logout={}",
        url::form_urlencoded::byte_serialize(format!("{a}/loggedout").as_bytes())
            .collect::<String>()
    );
    let response = browser.get(&logout).send().await.unwrap();
    let (url, status, html) = page(response).await;
    assert_eq!(
        (status, url.as_str()),
        (200, format!("{a}/loggedout").as_str()),
        "{html}"
    );
    // Signed out on both sides: the protected page leads to Tessera's login page again.
    let (url, _, _) = page(browser.get(format!("{a}/protected/")).send().await.unwrap()).await;
    assert!(url.starts_with(&server.url("/login?")), "{url}");
    // mod_auth_openidc revoked the access token at logout, and Tessera accepted that.
    let log = apache.error_log();
    assert!(log.contains("revocation"), "no revocation in the log");
    assert!(!log.contains("unsupported_token_type"), "{log}");
    server.stop().await;
}

/// Runs flow.mjs: writes the authorization URL it prints, signs in with `browser`, sends the
/// callback, and returns its result.
async fn run_openid_client(server: &TestServer, env: &[(&str, &str)]) -> Value {
    run_node_program(server, "flow.mjs", env).await
}

/// Runs `script` of the openid-client directory against `server`: when it prints an
/// authorization URL, signs alice in at it with a browser and sends it the callback; returns
/// its result, failing with its error.
pub async fn run_node_program(server: &TestServer, script: &str, env: &[(&str, &str)]) -> Value {
    let node = required_env("TESSERA_TEST_NODE");
    let dir = required_env("TESSERA_TEST_OPENID_CLIENT_DIR");
    let mut child = Command::new(node)
        .arg(script)
        .current_dir(&dir)
        .env("ISSUER", &server.base)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let read = |stdout: &mut BufReader<_>, line: &mut String| {
        line.clear();
        stdout.read_line(line).unwrap();
        serde_json::from_str::<Value>(line.trim()).unwrap_or(json!({"unreadable": line.clone()}))
    };
    let first = tokio::task::block_in_place(|| read(&mut stdout, &mut line));
    let Some(authorize) = first["authorize"].as_str().map(str::to_string) else {
        let status = tokio::task::block_in_place(|| child.wait().unwrap());
        assert!(status.success(), "{script} failed: {first}");
        return first["result"].clone();
    };
    let browser = Browser::new(&server.base);
    let landing = browser
        .authorize(&authorize, "alice", "alice-password")
        .await;
    let Landing::Client(callback) = landing else {
        panic!("no redirect to the client: {landing:?}");
    };
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", json!({ "callback": callback.as_str() })).unwrap();
    let last = tokio::task::block_in_place(|| read(&mut stdout, &mut line));
    let status = tokio::task::block_in_place(|| child.wait().unwrap());
    assert!(status.success(), "{script} failed: {last}");
    last["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_runs_every_flow_with_its_defaults() {
    let server = TestServer::start(
        r#"
[[api_scopes]]
name = "api1.read"

[[api_resources]]
name = "urn:api1"
scopes = ["api1.read"]

[[clients]]
client_id = "node"
client_name = "Node app"
secrets = ["node-secret-node-secret-node-secret-42"]
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1:9999/cb"]
allowed_scopes = ["openid", "profile", "email", "offline_access"]
require_consent = false

[[clients]]
client_id = "node-machine"
secrets = ["node-machine-secret-node-machine-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]

[[users]]
username = "alice"
password = "alice-password"
claims = { name = "Alice Smith", email = "alice@example.com", email_verified = true }
"#,
    )
    .await;
    let result = run_openid_client(
        &server,
        &[
            ("CLIENT_ID", "node"),
            ("CLIENT_SECRET", "node-secret-node-secret-node-secret-42"),
            ("REDIRECT_URI", "http://127.0.0.1:9999/cb"),
            ("MACHINE_CLIENT_ID", "node-machine"),
            (
                "MACHINE_CLIENT_SECRET",
                "node-machine-secret-node-machine-secret",
            ),
            ("RESOURCE_SCOPE", "api1.read"),
        ],
    )
    .await;
    // The code flow with client_secret_post (openid-client's default), RFC 9207 iss checked.
    let id = &result["id_token"];
    assert_eq!(id["iss"], server.base.as_str(), "{result}");
    assert_eq!(id["aud"], "node");
    assert_eq!(id["alg"], "RS256", "RS256 unless the client chose");
    assert_eq!(id["nonce_ok"], true);
    assert!(
        result["callback_params"]
            .as_array()
            .unwrap()
            .contains(&json!("iss"))
    );
    assert_eq!(result["userinfo"]["email"], "alice@example.com");
    assert_eq!(result["refresh"]["ok"], true);
    assert_eq!(result["refresh"]["rotated"], true);
    assert_eq!(result["introspection"]["active"], true);
    // Revoking the refresh token ends the grant, its access tokens (JWTs) included.
    assert_eq!(
        result["refresh_revocation"]["refresh_after"]["error"],
        "invalid_grant"
    );
    assert_eq!(result["introspection_after_revocation"]["active"], false);
    let cc = &result["client_credentials"];
    assert_eq!(cc["scope"], "api1.read");
    // openid-client's expiresIn() counts down from the response on its own clock: a second
    // may have passed by the time it is read.
    let expires_in = cc["expires_in"].as_u64().unwrap();
    assert!((3_598..=3_600).contains(&expires_in), "{cc}");
    assert_eq!(cc["revocation"]["ok"], true, "{cc}");
    assert_eq!(cc["introspection_after_revocation"]["active"], false);
    server.stop().await;
}
