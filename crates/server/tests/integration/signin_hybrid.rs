//! The implicit and hybrid flows (OIDC Core §3.2, §3.3), for a client registered for
//! `implicit`: tokens in the fragment, identity tokens verified by the `openidconnect` crate
//! with their at_hash and c_hash; refused for every other client.

use openidconnect::core::{CoreClient, CoreIdToken, CoreProviderMetadata};
use openidconnect::{
    AccessToken, AccessTokenHash, AuthorizationCode, AuthorizationCodeHash, ClientId, ClientSecret,
    IssuerUrl, Nonce,
};
use std::str::FromStr;

use crate::browser::{Browser, Landing};
use crate::signin::{PEOPLE, jwt_claims, redeem};
use crate::support::{TestServer, oidc_http};

const HYBRID: &str = r#"
[[clients]]
client_id = "hybrid"
secrets = ["hybrid-secret"]
grant_types = ["authorization_code", "implicit"]
redirect_uris = ["https://hybrid.example/cb"]
allowed_scopes = ["openid", "profile"]
require_consent = false
"#;

fn url(
    server: &TestServer,
    client: &str,
    redirect: &str,
    response_type: &str,
    extra: &str,
) -> String {
    let redirect = url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>();
    let rt = response_type.replace(' ', "+");
    server.url(&format!(
        "/authorize?client_id={client}&redirect_uri={redirect}&response_type={rt}&scope=openid+profile&state=st{extra}"
    ))
}

async fn start() -> (
    TestServer,
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
) {
    let server = TestServer::start(&format!("{PEOPLE}{HYBRID}")).await;
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(server.base.clone()).unwrap(),
        &oidc_http,
    )
    .await
    .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("hybrid".into()),
        Some(ClientSecret::new("hybrid-secret".into())),
    );
    (server, client)
}

fn fragment_only(landing: &Landing) {
    let to = landing.client();
    assert!(to.query().is_none(), "never in the query: {to}");
    assert!(to.fragment().is_some());
}

#[tokio::test]
async fn implicit_id_token_carries_the_profile_claims() {
    let (server, client) = start().await;
    let browser = Browser::new(&server.base);
    let landing = browser
        .authorize(
            &url(
                &server,
                "hybrid",
                "https://hybrid.example/cb",
                "id_token",
                "&nonce=n-1",
            ),
            "alice",
            "alice-password",
        )
        .await;
    fragment_only(&landing);
    assert!(landing.param("code").is_none() && landing.param("access_token").is_none());
    assert_eq!(landing.param("state").as_deref(), Some("st"));
    let id = CoreIdToken::from_str(&landing.param("id_token").unwrap()).unwrap();
    let claims = id
        .claims(&client.id_token_verifier(), &Nonce::new("n-1".into()))
        .unwrap();
    assert!(claims.access_token_hash().is_none());
    // OIDC Core §5.4: no access token, so the profile claims are in the identity token.
    assert_eq!(
        claims.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Alice Smith")
    );
}

#[tokio::test]
async fn hybrid_code_id_token_token_binds_all_three() {
    let (server, client) = start().await;
    let browser = Browser::new(&server.base);
    let landing = browser
        .authorize(
            &url(&server, "hybrid", "https://hybrid.example/cb", "code id_token token", "&nonce=n-2&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"),
            "alice",
            "alice-password",
        )
        .await;
    fragment_only(&landing);
    let code = landing.param("code").unwrap();
    let access = landing.param("access_token").unwrap();
    assert_eq!(landing.param("token_type").as_deref(), Some("Bearer"));
    assert!(landing.param("expires_in").is_some());
    let id = CoreIdToken::from_str(&landing.param("id_token").unwrap()).unwrap();
    let verifier = client.id_token_verifier();
    let claims = id.claims(&verifier, &Nonce::new("n-2".into())).unwrap();
    let alg = id.signing_alg().unwrap();
    let key = id.signing_key(&verifier).unwrap();
    assert_eq!(
        claims.access_token_hash(),
        Some(&AccessTokenHash::from_token(&AccessToken::new(access.clone()), alg, key).unwrap())
    );
    assert_eq!(
        claims.code_hash(),
        Some(
            &AuthorizationCodeHash::from_code(&AuthorizationCode::new(code.clone()), alg, key)
                .unwrap()
        )
    );
    // With an access token, profile claims come from userinfo.
    assert!(claims.name().is_none());
    // The code still works at the token endpoint, once.
    let (status, body) = redeem(
        &server,
        ("hybrid", "hybrid-secret"),
        "https://hybrid.example/cb",
        &code,
        Some(crate::signin::VERIFIER),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let from_token = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(from_token["sub"].as_str(), Some(claims.subject().as_str()));
    assert_eq!(from_token["nonce"], "n-2");

    // form_post works for hybrid too.
    let page = browser
        .open(&url(&server, "hybrid", "https://hybrid.example/cb", "code id_token", "&nonce=n-3&response_mode=form_post&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"))
        .await;
    let html = page.page();
    assert!(crate::browser::field(html, "code").len() >= 43);
    assert!(crate::browser::field(html, "id_token").contains('.'));
}

#[tokio::test]
async fn front_channel_tokens_need_registration_nonce_openid_and_no_query() {
    let (server, _) = start().await;
    let browser = Browser::new(&server.base);
    let error = |landing: &Landing| {
        fragment_only(landing);
        landing.param("error").unwrap()
    };
    // `web` is not registered for implicit.
    let web = browser
        .open(&url(
            &server,
            "web",
            "https://web.example/cb",
            "code id_token",
            "&nonce=n",
        ))
        .await;
    assert_eq!(error(&web), "unauthorized_client");
    // nonce is required.
    let no_nonce = browser
        .open(&url(
            &server,
            "hybrid",
            "https://hybrid.example/cb",
            "id_token token",
            "",
        ))
        .await;
    assert_eq!(error(&no_nonce), "invalid_request");
    // Never in the query, even when asked; the error itself goes in the fragment.
    let query = browser
        .open(&url(
            &server,
            "hybrid",
            "https://hybrid.example/cb",
            "id_token",
            "&nonce=n&response_mode=query",
        ))
        .await;
    assert_eq!(error(&query), "invalid_request");
    // An identity token needs the openid scope.
    let no_openid = browser
        .open(
            &url(
                &server,
                "hybrid",
                "https://hybrid.example/cb",
                "id_token",
                "&nonce=n",
            )
            .replace("scope=openid+profile", "scope=profile"),
        )
        .await;
    assert_eq!(error(&no_openid), "invalid_scope");
    // OAuth's bare `token` is not offered.
    let token = browser
        .open(&url(
            &server,
            "hybrid",
            "https://hybrid.example/cb",
            "token",
            "&nonce=n",
        ))
        .await;
    assert_eq!(
        token.param("error").as_deref(),
        Some("unsupported_response_type")
    );
}
