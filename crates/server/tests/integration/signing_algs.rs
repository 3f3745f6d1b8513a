//! PS256, ES384 and EdDSA (Ed25519) beside ES256 and RS256: published in JWKS as RFC 7518 and
//! RFC 8037 say, chosen per API for access tokens (`[[api_resources]] signing_alg`) and per
//! client for identity tokens, and verified by others' code: the validation crate (on
//! jsonwebtoken) and the `openidconnect` crate. A client that registered
//! `userinfo_signed_response_alg` gets its UserInfo responses as signed JWTs (OIDC Core §5.3.2),
//! which openidconnect verifies.

use openidconnect::core::{
    CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType,
};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, RedirectUrl, TokenResponse as _,
};
use serde_json::Value;
use tessera_validation::{TokenValidator, ValidationConfig};

use crate::browser::Browser;
use crate::support::{TestServer, oidc_http};
use crate::tokens::client_credentials;

const ALGS: &str = r#"algorithms = ["ES256", "RS256", "PS256", "ES384", "EdDSA"]

[[api_resources]]
name = "urn:pss"
scopes = ["pss.read"]
signing_alg = "PS256"

[[api_resources]]
name = "urn:p384"
scopes = ["p384.read"]
signing_alg = "ES384"

[[clients]]
client_id = "machine"
secrets = ["machine-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["pss.read", "p384.read"]

[[clients]]
client_id = "ed"
secrets = ["ed-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://ed.example/cb"]
allowed_scopes = ["openid"]
require_consent = false
id_token_signed_response_alg = "EdDSA"
userinfo_signed_response_alg = "RS256"

[[users]]
username = "alice"
password = "alice-password"
"#;

fn header(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn every_algorithm_is_published_chosen_per_api_and_client_and_verified_by_others() {
    // Lands in the test configuration's [keys] table.
    let server = TestServer::start(ALGS).await;
    let jwks = server.get_json(tessera_core::protocol::paths::JWKS).await;
    let kinds: Vec<(String, String, String)> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let s = |n: &str| k[n].as_str().unwrap_or_default().to_string();
            (s("alg"), s("kty"), s("crv"))
        })
        .collect();
    for expected in [
        ("ES256", "EC", "P-256"),
        ("RS256", "RSA", ""),
        ("PS256", "RSA", ""),
        ("ES384", "EC", "P-384"),
        ("EdDSA", "OKP", "Ed25519"),
    ] {
        let expected = (expected.0.into(), expected.1.into(), expected.2.into());
        assert!(kinds.contains(&expected), "{expected:?} not in {kinds:?}");
    }
    for key in jwks["keys"].as_array().unwrap() {
        assert!(key.get("d").is_none(), "{key}");
    }
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256", "RS256", "PS256", "ES384", "EdDSA"])
    );
    assert_eq!(
        discovery["userinfo_signing_alg_values_supported"],
        discovery["id_token_signing_alg_values_supported"]
    );

    // Access tokens in each API's algorithm, accepted by the validation crate.
    for (scope, audience, alg) in [
        ("pss.read", "urn:pss", "PS256"),
        ("p384.read", "urn:p384", "ES384"),
    ] {
        let (status, body) =
            client_credentials(&server, "machine", "machine-secret", &[("scope", scope)]).await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(header(token)["alg"], alg);
        let validator =
            TokenValidator::new(ValidationConfig::new(server.base.clone(), audience)).unwrap();
        let claims = validator.validate(token).await.unwrap();
        assert_eq!(claims.scopes, [scope]);
    }

    // An identity token in EdDSA for the client that registered it, verified by openidconnect.
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(server.base.clone()).unwrap(),
        &oidc_http,
    )
    .await
    .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("ed".into()),
        Some(ClientSecret::new("ed-secret".into())),
    )
    .set_redirect_uri(RedirectUrl::new("https://ed.example/cb".into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let back = Browser::new(&server.base)
        .authorize(url.as_str(), "alice", "alice-password")
        .await;
    let code = back.param("code").unwrap_or_else(|| panic!("{back:?}"));
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&oidc_http)
        .await
        .unwrap();
    let id_token = tokens.id_token().unwrap();
    assert_eq!(header(&id_token.to_string())["alg"], "EdDSA");
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EdDsa]);
    let claims = id_token.claims(&verifier, &nonce).unwrap();
    assert_eq!(claims.audiences()[0].as_str(), "ed");

    // Its UserInfo response is a JWT in RS256 with iss and aud, which openidconnect (requiring
    // a signature) verifies against the provider's keys.
    let info: openidconnect::core::CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .require_signed_response(true)
        .request_async(&oidc_http)
        .await
        .unwrap();
    assert_eq!(info.subject(), claims.subject());
    assert_eq!(info.issuer().unwrap().as_str(), server.base);
    let raw = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    assert_eq!(raw.headers()["content-type"], "application/jwt");
    assert_eq!(raw.headers()["cache-control"], "no-store");
    let jwt = raw.text().await.unwrap();
    assert_eq!(header(&jwt)["alg"], "RS256");
    let payload: Value = {
        use base64::Engine as _;
        let part = jwt.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    assert_eq!(payload["aud"], "ed");
    assert_eq!(payload["sub"], claims.subject().as_str());
    server.stop().await;
}
