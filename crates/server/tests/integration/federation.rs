//! Sign-in through external identity providers, with a second Tessera instance as the real
//! upstream OpenID Provider (and, configured as a plain OAuth 2.0 provider, as the real OAuth
//! 2.0 server whose user-info URL names the user): just-in-time accounts, the same account the
//! second time, `idp` in the tokens, the login page's button and `idp_hint`, and linking by
//! e-mail only where the upstream vouches for the address and the user proves the account.

use serde_json::Value;

use crate::browser::{Browser, Landing, field};
use crate::signin::{VERIFIER, authorize_url, jwt_claims, redeem};
use crate::support::{TestServer, free_port};

/// The downstream's relying party.
const RP: &str = r#"
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
"#;

/// The upstream Tessera: a client for the downstream and users with addresses.
fn upstream_config(down_port: u16) -> String {
    format!(
        r#"
[[clients]]
client_id = "downstream"
secrets = ["downstream-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["http://127.0.0.1:{down_port}/federation/corp/callback", "http://127.0.0.1:{down_port}/federation/plain/callback"]
allowed_scopes = ["openid", "profile", "email"]
require_consent = false

[[users]]
username = "ursula"
password = "ursula-password"
claims = {{ name = "Ursula Upstream", email = "shared@example.com", email_verified = true, preferred_username = "ursula" }}

[[users]]
username = "mallory"
password = "mallory-password"
claims = {{ name = "Mallory", email = "shared@example.com", email_verified = false }}
"#
    )
}

/// The downstream: `rp`, a local user with the shared address, and the upstream as `corp`
/// (OIDC, linking by verified address on) and `plain` (OAuth 2.0).
fn downstream_config(up: u16, link: bool) -> String {
    let operators = crate::admin::OPERATORS;
    format!(
        r#"{RP}{operators}
[[users]]
username = "alice"
password = "alice-password"
claims = {{ email = "shared@example.com", email_verified = true }}

[[identity_providers]]
name = "corp"
display_name = "Corp SSO"
type = "oidc"
issuer = "http://127.0.0.2:{up}"
client_id = "downstream"
client_secret = "downstream-secret"
link_by_verified_email = {link}

[[identity_providers]]
name = "plain"
display_name = "Plain OAuth"
type = "oauth2"
client_id = "downstream"
client_secret = "downstream-secret"
token_endpoint_auth_method = "client_secret_post"
scopes = ["openid", "profile", "email"]
authorization_endpoint = "http://127.0.0.2:{up}/authorize"
token_endpoint = "http://127.0.0.2:{up}/token"
userinfo_endpoint = "http://127.0.0.2:{up}/userinfo"
"#
    )
}

pub struct Pair {
    pub down: TestServer,
    pub up: TestServer,
}

pub async fn pair(link: bool) -> Pair {
    let up_port = free_port();
    let down = TestServer::start(&downstream_config(up_port, link)).await;
    let down_port = url::Url::parse(&down.base).unwrap().port().unwrap();
    let up = TestServer::start_at("127.0.0.2", up_port, &upstream_config(down_port)).await;
    Pair { down, up }
}

/// From the downstream's login page `page`, through the upstream's login as `user`, back to
/// wherever the downstream sends the browser.
pub async fn through_upstream(
    browser: &Browser,
    page: &Landing,
    provider: &str,
    upstream: &TestServer,
    user: (&str, &str),
) -> Landing {
    let sent = browser
        .submit(page.page(), "/login", &[("provider", provider)])
        .await;
    let at_upstream = browser.at(&upstream.base);
    let mut landing = at_upstream.open(sent.client().as_str()).await;
    if landing.is_login() {
        landing = at_upstream.login(&landing, user.0, user.1).await;
    }
    // Back at the downstream's callback.
    browser.open(landing.client().as_str()).await
}

pub async fn login_page(server: &TestServer, browser: &Browser, extra: &str) -> Landing {
    let url = authorize_url(
        server,
        "rp",
        "https://rp.example/cb",
        &format!("&scope=openid+email&state=s{extra}"),
    );
    browser.open(&url).await
}

/// The token response for the code `landing` carries.
pub async fn token_response(server: &TestServer, landing: &Landing) -> Value {
    let code = landing
        .param("code")
        .unwrap_or_else(|| panic!("no code: {landing:?}"));
    let cb = "https://rp.example/cb";
    let (status, body) = redeem(server, ("rp", "rp-secret"), cb, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{body}");
    body
}

pub async fn tokens_of(server: &TestServer, landing: &Landing) -> Value {
    let code = landing
        .param("code")
        .unwrap_or_else(|| panic!("no code: {landing:?}"));
    let (status, body) = redeem(
        server,
        ("rp", "rp-secret"),
        "https://rp.example/cb",
        &code,
        Some(VERIFIER),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    jwt_claims(body["id_token"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tessera_upstream_signs_users_in_just_in_time_and_the_same_account_again() {
    let Pair { down, up } = pair(false).await;
    let browser = Browser::new(&down.base);
    let page = login_page(&down, &browser, "").await;
    assert!(
        page.page().contains("Corp SSO") && page.page().contains("Plain OAuth"),
        "{}",
        page.page()
    );
    let landing =
        through_upstream(&browser, &page, "corp", &up, ("ursula", "ursula-password")).await;
    let first = tokens_of(&down, &landing).await;
    assert_eq!(first["idp"], "corp");
    assert_eq!(
        first["amr"],
        serde_json::json!(["pwd"]),
        "the upstream's amr"
    );
    assert_eq!(first["email"], "shared@example.com");

    // Another browser, the same upstream user: the same account.
    let other = Browser::new(&down.base);
    let page = login_page(&down, &other, "").await;
    let landing = through_upstream(&other, &page, "corp", &up, ("ursula", "ursula-password")).await;
    let second = tokens_of(&down, &landing).await;
    assert_eq!(second["sub"], first["sub"]);

    // Linking is off: the local alice with the same verified address is another account.
    let alice = Browser::new(&down.base);
    let page = login_page(&down, &alice, "").await;
    let landing = alice.login(&page, "alice", "alice-password").await;
    assert_ne!(tokens_of(&down, &landing).await["sub"], first["sub"]);

    // `idp_hint` skips the choice: straight to the upstream, where this browser is signed in.
    let hinted = login_page(&down, &other, "&prompt=login&idp_hint=corp").await;
    let Landing::Client(url) = &hinted else {
        panic!("{hinted:?}")
    };
    assert!(url.as_str().starts_with(&up.base), "{url}");
    assert!(url.as_str().contains("prompt=login"));
    // And `acr_values=idp:corp` as well.
    let hinted = login_page(&down, &Browser::new(&down.base), "&acr_values=idp:corp").await;
    assert!(
        matches!(&hinted, Landing::Client(u) if u.as_str().starts_with(&up.base)),
        "{hinted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_oauth2_provider_names_the_user_by_its_user_info() {
    let Pair { down, up } = pair(false).await;
    let browser = Browser::new(&down.base);
    let page = login_page(&down, &browser, "").await;
    let landing =
        through_upstream(&browser, &page, "plain", &up, ("ursula", "ursula-password")).await;
    let claims = tokens_of(&down, &landing).await;
    assert_eq!(claims["idp"], "plain");
    assert_eq!(claims["email"], "shared@example.com");
    assert!(
        claims.get("amr").is_none(),
        "a plain OAuth 2.0 provider says nothing of how: {claims}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec59_cve33_cve35_linking_by_address_needs_a_verified_address_and_the_local_password() {
    let Pair { down, up } = pair(true).await;
    let local = Browser::new(&down.base);
    let page = login_page(&down, &local, "").await;
    let landing = local.login(&page, "alice", "alice-password").await;
    let alice_sub = tokens_of(&down, &landing).await["sub"].clone();

    // mallory's upstream address is the same but not verified: never alice's account.
    let m = Browser::new(&down.base);
    let page = login_page(&down, &m, "").await;
    let landing = through_upstream(&m, &page, "corp", &up, ("mallory", "mallory-password")).await;
    assert_ne!(tokens_of(&down, &landing).await["sub"], alice_sub);

    // ursula's is verified: the link page, where only alice's password links.
    let u = Browser::new(&down.base);
    let page = login_page(&down, &u, "").await;
    let link = through_upstream(&u, &page, "corp", &up, ("ursula", "ursula-password")).await;
    assert!(link.page().contains("Link your account"), "{link:?}");
    let fields = |p: &Landing| (field(p.page(), "link"), field(p.page(), "csrf"));
    let (id, csrf) = fields(&link);
    let wrong = post_link(
        &u,
        &down,
        &id,
        &csrf,
        &[("password", "guess"), ("action", "link")],
    )
    .await;
    assert!(wrong.page().contains("That password is not right."));
    let (id, csrf) = fields(&wrong);
    let linked = post_link(
        &u,
        &down,
        &id,
        &csrf,
        &[("password", "alice-password"), ("action", "link")],
    )
    .await;
    let claims = tokens_of(&down, &linked).await;
    assert_eq!(claims["sub"], alice_sub);
    assert_eq!(claims["idp"], "corp");
    // Linked now: the next upstream sign-in goes straight to alice's account.
    let again = Browser::new(&down.base);
    let page = login_page(&down, &again, "").await;
    let landing = through_upstream(&again, &page, "corp", &up, ("ursula", "ursula-password")).await;
    assert_eq!(tokens_of(&down, &landing).await["sub"], alice_sub);

    // The admin API lists alice's links.
    let token = crate::admin::admin_token(&down, "auditor", "tessera.admin.read").await;
    let links: Value = down
        .http
        .get(down.url(&format!(
            "/admin/v1/users/{}/links",
            alice_sub.as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(links[0]["provider"], "corp", "{links}");
    assert_eq!(links[0]["email"], "shared@example.com");
    assert!(links[0]["last_used_at"].is_i64(), "{links}");

    // The CLI lists alice's links and removes one; check-config names the redirect URIs.
    let dir = down.dir.as_ref().unwrap().path();
    let toml = format!("database_url = \"{}\"\n", crate::support::sqlite_url(dir));
    let config = crate::support::write_file(dir, "cli.toml", &toml);
    let listed = crate::support::run_cli(&config, &["users", "links", "alice"], "");
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(
        listed.contains("corp") && listed.contains("shared@example.com"),
        "{listed}"
    );
    let removed = crate::support::run_cli(
        &config,
        &["users", "links", "alice", "--remove", "corp"],
        "",
    );
    assert!(
        String::from_utf8_lossy(&removed.stdout).contains("removed the link of alice to corp:"),
        "{removed:?}"
    );
    let listed = crate::support::run_cli(&config, &["users", "links", "alice"], "");
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("corp"));

    // Linked again, then unlinked on the account page (CVE-35: unlinked, the upstream account
    // reaches alice's account only by proving it again).
    let page = login_page(&down, &again, "&prompt=login").await;
    let relink = through_upstream(&again, &page, "corp", &up, ("ursula", "ursula-password")).await;
    let (id, csrf) = fields(&relink);
    let linked = post_link(
        &again,
        &down,
        &id,
        &csrf,
        &[("password", "alice-password"), ("action", "link")],
    )
    .await;
    assert_eq!(tokens_of(&down, &linked).await["sub"], alice_sub);
    let account = crate::mfa::open_account(&local, &down, ("alice", "alice-password")).await;
    assert!(
        account.page().contains("Linked accounts"),
        "{}",
        account.page()
    );
    let upstream_sub = field(account.page(), "upstream_subject");
    let unlinked = crate::mfa::account_form(
        &local,
        &account,
        "/account/links/remove",
        &[("provider", "corp"), ("upstream_subject", &upstream_sub)],
    )
    .await;
    assert!(
        unlinked.page().contains("The link was removed."),
        "{}",
        unlinked.page()
    );
    let fresh = Browser::new(&down.base);
    let page = login_page(&down, &fresh, "").await;
    let asked = through_upstream(&fresh, &page, "corp", &up, ("ursula", "ursula-password")).await;
    assert!(asked.page().contains("Link your account"));
    let full = crate::support::write_file(dir, "full.toml", &downstream_config(1, true));
    let checked = crate::support::run_cli(&full, &["check-config"], "");
    let checked = String::from_utf8_lossy(&checked.stdout).to_string();
    assert!(checked.contains("identity provider corp: register the redirect URI http://localhost:8080/federation/corp/callback"), "{checked}");
}

async fn post_link(
    browser: &Browser,
    down: &TestServer,
    id: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> Landing {
    let mut form = vec![("link", id), ("csrf", csrf)];
    form.extend_from_slice(fields);
    let response = browser
        .http
        .post(down.url("/federation/link"))
        .form(&form)
        .send()
        .await
        .unwrap();
    browser.follow(response).await
}
