//! Interactive sign-in, end to end: the `openidconnect` crate as the relying party, the login
//! and consent pages driven by a cookie-jar HTTP client, single sign-on, userinfo and refresh.

use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RefreshToken, Scope,
    TokenResponse as _,
};
use serde_json::Value;

use crate::browser::{Browser, Landing};
use crate::flows::{SignIn, sign_in};
use crate::support::{TestServer, oidc_http};

/// Clients and users of the sign-in tests.
pub const PEOPLE: &str = r#"
[[api_scopes]]
name = "api1.read"
display_name = "Read your API 1 data"

[[api_resources]]
name = "urn:api1"
scopes = ["api1.read"]
secrets = ["api1-secret"]

[[clients]]
client_id = "web"
client_name = "Web App"
secrets = ["web-secret"]
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://web.example/cb"]
allowed_scopes = ["openid", "profile", "email", "offline_access", "api1.read"]

[[clients]]
client_id = "other"
client_name = "Other App"
secrets = ["other-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://other.example/cb"]
allowed_scopes = ["openid", "profile"]
require_consent = false

[[clients]]
client_id = "spa"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1:7777/cb"]
allowed_scopes = ["openid", "profile", "offline_access"]
access_token_type = "reference"

[[clients]]
client_id = "plain"
secrets = ["plain-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://plain.example/cb"]
allowed_scopes = ["openid", "email"]
require_consent = false

[[clients]]
client_id = "nopkce"
secrets = ["nopkce-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://nopkce.example/cb"]
allowed_scopes = ["openid", "profile"]
require_consent = false
require_pkce = false

[[users]]
username = "alice"
password = "alice-password"
claims = { name = "Alice Smith", email = "alice@example.com", email_verified = true }

[[users]]
username = "bob"
password = "bob-password"
claims = { name = "Bob Jones" }
"#;

/// RFC 7636 Appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// An authorization URL for `client` with S256 PKCE and `extra` parameters (already encoded).
pub fn authorize_url(server: &TestServer, client: &str, redirect: &str, extra: &str) -> String {
    let redirect = url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>();
    server.url(&format!(
        "/authorize?client_id={client}&redirect_uri={redirect}&response_type=code&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}"
    ))
}

/// Redeems `code` at the token endpoint; returns the status and JSON body.
pub async fn redeem(
    server: &TestServer,
    client: (&str, &str),
    redirect: &str,
    code: &str,
    verifier: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    post_token(server, client, &form).await
}

/// POSTs `form` to the token endpoint with Basic authentication (public clients: client_id).
pub async fn post_token(
    server: &TestServer,
    (id, secret): (&str, &str),
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = server.http.post(server.url("/token"));
    let mut form: Vec<(&str, &str)> = form.to_vec();
    if secret.is_empty() {
        form.push(("client_id", id));
    } else {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.form(&form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// POSTs a refresh of `token` (optionally narrowed to `scope`) for `client`.
pub async fn refresh(
    server: &TestServer,
    client: (&str, &str),
    token: &str,
    scope: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend(scope.map(|s| ("scope", s)));
    post_token(server, client, &form).await
}

/// Claims of a JWT, unverified (the tests verify signatures elsewhere).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn openidconnect_relying_party_runs_the_code_flow() {
    let server = TestServer::start(PEOPLE).await;
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(server.base.clone()).unwrap(),
        &oidc_http,
    )
    .await
    .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("web".into()),
        Some(ClientSecret::new("web-secret".into())),
    )
    .set_redirect_uri(RedirectUrl::new("https://web.example/cb".into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = Browser::new(&server.base);
    let login = browser.open(url.as_str()).await;
    assert!(login.is_login());
    assert!(login.page().contains("Web App"), "the client is named");
    let consent = browser.login(&login, "alice", "alice-password").await;
    assert!(consent.is_consent());
    for shown in ["Your profile", "Your email address", "offline access"] {
        assert!(consent.page().contains(shown), "consent lists {shown}");
    }
    let back = browser.allow(&consent, true).await;
    assert!(
        back.client()
            .as_str()
            .starts_with("https://web.example/cb?")
    );
    // RFC 6749 §4.1.2 state echo; RFC 9207 iss.
    assert_eq!(back.param("state").as_deref(), Some(csrf.secret().as_str()));
    assert_eq!(back.param("iss").as_deref(), Some(server.base.as_str()));
    let code = back.param("code").unwrap();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&oidc_http)
        .await
        .unwrap();
    let id_token = tokens.id_token().expect("an identity token");
    let verifier = client.id_token_verifier();
    // The crate checks signature, iss, aud, exp, iat and the nonce.
    let claims = id_token.claims(&verifier, &nonce).unwrap();
    // at_hash, computed by the crate.
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    assert!(claims.auth_time().is_some());
    let raw = jwt_claims(&id_token.to_string());
    assert_eq!(raw["amr"], serde_json::json!(["pwd"]));
    assert_eq!(raw["idp"], "local");
    assert!(raw["sid"].as_str().is_some_and(|s| s.len() >= 16));
    // OIDC Core §5.4: with an access token, profile claims come from userinfo.
    assert!(raw.get("name").is_none() && raw.get("email").is_none());

    let subject = claims.subject().clone();
    let info: openidconnect::core::CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(subject.clone()))
        .unwrap()
        .request_async(&oidc_http)
        .await
        .unwrap();
    assert_eq!(
        info.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Alice Smith")
    );
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));
    assert_eq!(info.email_verified(), Some(true));

    // Refresh: a new refresh token, a fresh identity token for the same user, no nonce.
    let refresh = tokens
        .refresh_token()
        .expect("offline_access gives a refresh token");
    let refreshed = client
        .exchange_refresh_token(refresh)
        .unwrap()
        .request_async(&oidc_http)
        .await
        .unwrap();
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        refresh.secret(),
        "rotated"
    );
    let new_id = refreshed.id_token().expect("a fresh identity token");
    let new_claims = new_id
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .unwrap();
    assert_eq!(new_claims.subject(), &subject);
    assert!(new_claims.nonce().is_none());
    assert_eq!(new_claims.auth_time(), claims.auth_time());
    // The rotated token is dead, and presenting it again ends the family.
    let reuse = client
        .exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
        .unwrap()
        .request_async(&oidc_http)
        .await;
    assert!(reuse.is_err());
    let (status, body) = self::refresh(
        &server,
        ("web", "web-secret"),
        refreshed.refresh_token().unwrap().secret(),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_second_client_signs_in_without_a_second_login() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let first = sign_in(
        &server,
        &browser,
        SignIn::new(
            ("web", "web-secret"),
            "https://web.example/cb",
            "openid",
            ("alice", "alice-password"),
        ),
    )
    .await
    .tokens;
    // Single sign-on: no login page, and `other` asks no consent.
    let url = authorize_url(
        &server,
        "other",
        "https://other.example/cb",
        "&scope=openid+profile",
    );
    let landing = browser.open(&url).await;
    let code = landing.param("code").expect("a code without any page");
    let (status, second) = redeem(
        &server,
        ("other", "other-secret"),
        "https://other.example/cb",
        &code,
        Some(crate::signin::VERIFIER),
    )
    .await;
    assert_eq!(status, 200);
    let a = jwt_claims(first["id_token"].as_str().unwrap());
    let b = jwt_claims(second["id_token"].as_str().unwrap());
    assert_eq!(a["sub"], b["sub"]);
    assert_eq!(a["sid"], b["sid"], "one session");
    assert_eq!(a["auth_time"], b["auth_time"]);
    assert_eq!(b["aud"], "other");
    // Remembered consent: `web` again goes straight back.
    let again = browser
        .open(&authorize_url(
            &server,
            "web",
            "https://web.example/cb",
            "&scope=openid",
        ))
        .await;
    assert!(again.param("code").is_some());
    // A new browser has no session.
    let fresh = Browser::new(&server.base);
    assert!(fresh.open(&url).await.is_login());
}

#[tokio::test]
async fn response_modes_fragment_and_form_post_carry_iss() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let url = authorize_url(
        &server,
        "other",
        "https://other.example/cb",
        "&scope=openid&state=st&response_mode=fragment",
    );
    let landing = browser.authorize(&url, "alice", "alice-password").await;
    let to = landing.client();
    assert!(to.query().is_none() && to.fragment().is_some());
    assert_eq!(landing.param("state").as_deref(), Some("st"));
    assert_eq!(landing.param("iss").as_deref(), Some(server.base.as_str()));

    let page = browser
        .open(&url.replace("response_mode=fragment", "response_mode=form_post"))
        .await;
    let html = page.page();
    assert!(html.contains("action=\"https:&#x2f;&#x2f;other.example&#x2f;cb\""));
    assert!(crate::browser::field(html, "code").len() >= 43);
    assert_eq!(crate::browser::field(html, "state"), "st");
    assert_eq!(crate::browser::field(html, "iss"), server.base);
    // The page runs our script only, and cannot be framed.
    let Landing::Page { headers, .. } = &page else {
        unreachable!()
    };
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
}

#[tokio::test]
async fn public_client_with_reference_tokens_refreshes() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let tokens = sign_in(
        &server,
        &browser,
        SignIn::new(
            ("spa", ""),
            "http://127.0.0.1:7777/cb",
            "openid+profile+offline_access",
            ("bob", "bob-password"),
        ),
    )
    .await
    .tokens;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(access.len(), 43, "a reference token");
    let info: Value = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["name"], "Bob Jones");
    assert_eq!(info["preferred_username"], "bob");
    // Narrowing the scope on refresh is allowed, widening is not (RFC 6749 §6).
    let rt = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = refresh(&server, ("spa", ""), rt, Some("openid offline_access")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid offline_access");
    let (status, body) = refresh(
        &server,
        ("spa", ""),
        body["refresh_token"].as_str().unwrap(),
        Some("openid email"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
}

#[tokio::test]
async fn claims_parameter_releases_named_claims_the_client_may_have() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let claims = url::form_urlencoded::byte_serialize(
        br#"{"id_token":{"email":{"essential":true},"name":null,"phone_number":null},"userinfo":{"name":null,"email_verified":null}}"#,
    )
    .collect::<String>();
    let verifier = VERIFIER.to_string();
    let tokens_for = |scope: &'static str| {
        let url = server.url(&format!(
            "/authorize?client_id=plain&redirect_uri=https%3A%2F%2Fplain.example%2Fcb&response_type=code&scope={scope}&code_challenge={CHALLENGE}&code_challenge_method=S256&claims={claims}"
        ));
        let (browser, server, verifier) = (&browser, &server, &verifier);
        async move {
            let landing = browser.authorize(&url, "alice", "alice-password").await;
            let code = landing.param("code").unwrap();
            let (status, body) = redeem(
                server,
                ("plain", "plain-secret"),
                "https://plain.example/cb",
                &code,
                Some(verifier),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let userinfo = |access: String| {
        let request = server.http.get(server.url("/userinfo")).bearer_auth(access);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    // §5.5 id_token member: the email scope's claim moves into the identity token.
    let body = tokens_for("openid+email").await;
    let id = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["email"], "alice@example.com");
    // Claims no granted scope covers are released nowhere, whatever the request asks.
    assert!(id.get("name").is_none() && id.get("phone_number").is_none());
    let info = userinfo(body["access_token"].as_str().unwrap().into()).await;
    assert_eq!(info["email"], "alice@example.com");
    assert!(info.get("name").is_none(), "profile was not granted");
    // OIDC Core §5.5: a claim asked for by name is released when the client may have a scope
    // that holds it, even if that scope was not requested (this client skips consent; one
    // that asks names the claim on the consent page).
    let body = tokens_for("openid").await;
    let id = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["email"], "alice@example.com", "{id}");
    assert!(id.get("name").is_none() && id.get("phone_number").is_none());
    let info = userinfo(body["access_token"].as_str().unwrap().into()).await;
    assert_eq!(info["email_verified"], true, "{info}");
    assert!(
        info.get("email").is_none() && info.get("name").is_none(),
        "{info}"
    );
}

/// RFC 8707 §2.2, SEC-24: a refresh that drops the API scope also drops the API audience.
#[tokio::test]
async fn narrowing_the_scope_narrows_the_audience() {
    let server = TestServer::start(PEOPLE).await;
    let browser = Browser::new(&server.base);
    let tokens = sign_in(
        &server,
        &browser,
        SignIn::new(
            ("web", "web-secret"),
            "https://web.example/cb",
            "openid+offline_access+api1.read",
            ("alice", "alice-password"),
        ),
    )
    .await
    .tokens;
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().unwrap())["aud"],
        "urn:api1"
    );
    let (status, body) = refresh(
        &server,
        ("web", "web-secret"),
        tokens["refresh_token"].as_str().unwrap(),
        Some("openid offline_access"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let access = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], format!("{}/resources", server.base));
    assert_eq!(access["scope"], "openid offline_access");
    // The grant itself is not shrunk: the next refresh may ask for the API again.
    let (status, body) = refresh(
        &server,
        ("web", "web-secret"),
        body["refresh_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        "urn:api1"
    );
}
