//! JWT Secured Authorization Response Mode (JARM): responses in the `*.jwt` modes are one
//! `response` parameter, a JWT of the response's parameters that `jsonwebtoken` verifies with
//! the published JWKS; errors travel the same way once the redirect URI is verified.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Value, json};
use tessera_core::Clock as _;
use tessera_core::tokens::SigningAlg;

use crate::browser::{Browser, Landing, field};
use crate::signin::{PEOPLE, VERIFIER, authorize_url, redeem};
use crate::support::TestServer;

const OTHER_CB: &str = "https://other.example/cb";

/// The claims of a JWT response, verified with the server's JWKS for `client_id`.
pub(crate) async fn verified(
    server: &TestServer,
    jwt: &str,
    client_id: &str,
) -> (Algorithm, Value) {
    let set: JwkSet =
        serde_json::from_value(server.get_json("/.well-known/jwks.json").await).unwrap();
    let header = decode_header(jwt).unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("signed with a published key");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[&server.base]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let claims = decode::<Value>(jwt, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims;
    (header.alg, claims)
}

/// The only parameter of a JWT response in the query or fragment.
pub(crate) fn response_param(landing: &Landing) -> String {
    let url = landing.client();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .chain(url::form_urlencoded::parse(
            url.fragment().unwrap_or_default().as_bytes(),
        ))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(pairs.len(), 1, "one parameter: {pairs:?}");
    assert_eq!(pairs[0].0, "response");
    pairs[0].1.clone()
}

#[tokio::test]
async fn responses_in_jwt_modes_are_signed_jwts_of_their_parameters() {
    let server = TestServer::start(PEOPLE).await;
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    for mode in ["jwt", "query.jwt", "fragment.jwt", "form_post.jwt"] {
        assert!(
            discovery["response_modes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(mode)),
            "{mode}"
        );
    }
    assert_eq!(
        discovery["authorization_signing_alg_values_supported"],
        json!(["ES256", "RS256"])
    );
    let browser = Browser::new(&server.base);
    let url = authorize_url(
        &server,
        "other",
        OTHER_CB,
        "&scope=openid&state=st&response_mode=jwt",
    );
    let landing = browser.authorize(&url, "alice", "alice-password").await;
    // `jwt` with a code is query.jwt (JARM §2.3.4).
    assert!(landing.client().fragment().is_none());
    let (alg, claims) = verified(&server, &response_param(&landing), "other").await;
    assert_eq!(alg, Algorithm::RS256, "JARM's default");
    assert_eq!(claims["state"], "st");
    assert_eq!(claims["iss"], json!(server.base));
    let exp = claims["exp"].as_i64().unwrap();
    assert!(
        exp > 0 && exp - server.clock.now() <= 300,
        "short-lived: {claims}"
    );
    let (status, tokens) = redeem(
        &server,
        ("other", "other-secret"),
        OTHER_CB,
        claims["code"].as_str().unwrap(),
        Some(VERIFIER),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");

    // fragment.jwt: the same JWT in the fragment.
    let landing = browser
        .open(&url.replace("response_mode=jwt", "response_mode=fragment.jwt"))
        .await;
    assert!(landing.client().query().is_none());
    let (_, claims) = verified(&server, &response_param(&landing), "other").await;
    assert!(claims["code"].is_string());

    // form_post.jwt: one field, `response`.
    let page = browser
        .open(&url.replace("response_mode=jwt", "response_mode=form_post.jwt"))
        .await;
    let html = page.page();
    assert!(!html.contains("name=\"code\""), "{html}");
    let (_, claims) = verified(&server, &field(html, "response"), "other").await;
    assert_eq!(claims["state"], "st");

    // An error once the redirect URI is verified travels in the JWT too.
    let bad = browser
        .open(&url.replace("scope=openid", "scope=openid+admin"))
        .await;
    let (_, claims) = verified(&server, &response_param(&bad), "other").await;
    assert_eq!(claims["error"], "invalid_scope");
    assert_eq!(claims["state"], "st");
    assert!(claims.get("code").is_none());
    // An unknown mode is refused (in the default mode, since none was understood).
    let unknown = browser
        .open(&url.replace("response_mode=jwt", "response_mode=jwt.query"))
        .await;
    assert_eq!(unknown.param("error").as_deref(), Some("invalid_request"));
}

#[tokio::test]
async fn a_client_chooses_the_algorithm_of_its_jwt_responses() {
    let config = r#"
[[clients]]
client_id = "chooser"
secrets = ["chooser-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://chooser.example/cb"]
allowed_scopes = ["openid"]
require_consent = false
authorization_signed_response_alg = "ES256"

[[users]]
username = "alice"
password = "alice-password"
"#;
    let server = TestServer::start(config).await;
    let browser = Browser::new(&server.base);
    let cb = "https://chooser.example/cb";
    let url = authorize_url(
        &server,
        "chooser",
        cb,
        "&scope=openid&state=s&response_mode=jwt",
    );
    let landing = browser.authorize(&url, "alice", "alice-password").await;
    let (alg, claims) = verified(&server, &response_param(&landing), "chooser").await;
    assert_eq!(
        (alg, claims["aud"].as_str()),
        (Algorithm::ES256, Some("chooser"))
    );
    // An algorithm the server does not sign with is refused at registration.
    let refused = tessera_server::config::load_str(
        &config.replace(
            "authorization_signed_response_alg = \"ES256\"",
            "authorization_signed_response_alg = \"PS256\"",
        ),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        refused.contains(
            "clients[0].authorization_signed_response_alg: `PS256` is not in keys.algorithms"
        ),
        "{refused}"
    );
}

#[tokio::test]
async fn fapi2_refuses_jwt_responses_in_jarms_default_rs256() {
    let key = crate::assertions::client_key(SigningAlg::Es256, "bank-key-1");
    let config = format!("profile = \"fapi2\"\n{}", crate::profile::bank(&key));
    let s = crate::par::Setup {
        server: TestServer::start(&config).await,
        key,
        other: crate::assertions::client_key(SigningAlg::Es256, "unused"),
    };
    let mut params = crate::par::request_params("bank", "s");
    params["redirect_uri"] = json!("https://bank-app.example/cb");
    params["response_mode"] = json!("jwt");
    let (status, body, _) =
        crate::par::push(&s, &s.key, "bank", &crate::par::as_form(&params)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("register authorization_signed_response_alg"),
        "{body}"
    );
}
