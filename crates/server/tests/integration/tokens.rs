//! Machine tokens: client authentication, client_credentials, JWT (RFC 9068) and reference
//! access tokens, resource indicators, public clients.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse as _, TokenUrl};
use serde_json::Value;

use crate::harness::TestApp;
use crate::support::{TestServer, oidc_http};

pub const MACHINES: &str = r#"
[[api_scopes]]
name = "api1.read"
[[api_scopes]]
name = "api1.write"
[[api_scopes]]
name = "api2.read"

[[api_resources]]
name = "urn:api1"
scopes = ["api1.read", "api1.write"]
secrets = ["api1-secret"]

[[api_resources]]
name = "urn:api2"
scopes = ["api2.read"]
secrets = ["api2-secret"]

[[clients]]
client_id = "machine"
secrets = ["machine-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read", "api2.read"]

[[clients]]
client_id = "ref"
secrets = ["ref-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
access_token_type = "reference"
access_token_lifetime = 300

[[clients]]
client_id = "poster"
secrets = ["poster-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
token_endpoint_auth_method = "client_secret_post"

[[clients]]
client_id = "spa"
grant_types = ["authorization_code"]
redirect_uris = ["https://spa.example/cb"]
allowed_scopes = ["openid"]

[[clients]]
client_id = "web"
secrets = ["web-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://app.example/cb"]
allowed_scopes = ["openid", "api1.read"]
"#;

/// application/x-www-form-urlencoded encoding of one value.
pub fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// POSTs a form with optional Basic credentials; returns status and JSON body.
pub async fn post_form(
    server: &TestServer,
    path: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = server.http.post(server.url(path)).form(form);
    if let Some((user, pass)) = basic {
        // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding (so that an
        // id such as `urn:api1` survives the `:` separator).
        request = request.basic_auth(form_encode(user), Some(form_encode(pass)));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body, headers)
}

pub async fn client_credentials(
    server: &TestServer,
    id: &str,
    secret: &str,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    let (status, body, _) = post_form(server, "/token", Some((id, secret)), &form).await;
    (status, body)
}

pub(crate) async fn introspect(server: &TestServer, who: (&str, &str), token: &str) -> Value {
    let (status, body, headers) =
        post_form(server, "/introspect", Some(who), &[("token", token)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    body
}

/// The `oauth2` crate gets a token; `jsonwebtoken` verifies it against our JWKS and checks the
/// RFC 9068 header and claims.
#[tokio::test]
async fn oauth2_crate_gets_a_verifiable_rfc9068_token() {
    let server = TestServer::start(MACHINES).await;
    let client = BasicClient::new(ClientId::new("machine".into()))
        .set_client_secret(ClientSecret::new("machine-secret".into()))
        .set_auth_type(AuthType::BasicAuth)
        .set_token_uri(TokenUrl::new(server.url("/token")).unwrap());
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("api1.read".into()))
        .request_async(&oidc_http)
        .await
        .unwrap();
    let jwt = token.access_token().secret().clone();
    assert_eq!(token.scopes().unwrap()[0].as_str(), "api1.read");
    assert_eq!(token.expires_in().unwrap().as_secs(), 3600);

    let header = decode_header(&jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, Algorithm::ES256);
    let set: JwkSet =
        serde_json::from_value(server.get_json("/.well-known/jwks.json").await).unwrap();
    let jwk = set.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["urn:api1"]);
    validation.set_issuer(&[&server.base]);
    validation.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "aud", "sub"]);
    let claims = decode::<Value>(&jwt, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], "machine");
    assert_eq!(claims["client_id"], "machine");
    assert_eq!(claims["scope"], "api1.read");
    assert_eq!(claims["aud"], "urn:api1");
    assert!(claims["jti"].as_str().unwrap().len() >= 22);
    server.stop().await;
}

#[tokio::test]
async fn token_response_is_per_rfc6749_section_5_1() {
    let app = TestApp::new(MACHINES).await;
    let response = app
        .client_credentials("machine", "machine-secret", &[])
        .await;
    let (status, body, headers) = (response.status, response.json(), &response.headers);
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert_eq!(body["token_type"], "Bearer");
    // Omitted scope: every API scope the client may use; audience: every API offering one.
    assert_eq!(body["scope"], "api1.read api2.read");
}

#[tokio::test]
async fn client_authentication_methods() {
    let server = TestServer::start(MACHINES).await;
    // client_secret_post for a client registered for it.
    let (status, body, _) = post_form(
        &server,
        "/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "poster"),
            ("client_secret", "poster-secret"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The same client with Basic: it is registered for post only.
    let (status, _) = client_credentials(&server, "poster", "poster-secret", &[]).await;
    assert_eq!(status, 401);
    // Wrong secret through the header: 401 with a Basic challenge (RFC 6749 §5.2).
    let (status, body, headers) = post_form(
        &server,
        "/token",
        Some(("machine", "wrong")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    // Wrong secret in the body: 401 without a challenge.
    let (status, body, headers) = post_form(
        &server,
        "/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "poster"),
            ("client_secret", "nope"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(!headers.contains_key("www-authenticate"));
    // Unknown client and no credentials at all.
    assert_eq!(client_credentials(&server, "ghost", "x", &[]).await.0, 401);
    let (status, body, _) = post_form(
        &server,
        "/token",
        None,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Two methods at once (RFC 6749 §2.3).
    let (status, body, _) = post_form(
        &server,
        "/token",
        Some(("machine", "machine-secret")),
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", "machine-secret"),
            ("client_id", "machine"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // Client assertions are not offered yet: a clear invalid_client, not a 5xx.
    let (status, body, _) = post_form(
        &server,
        "/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", "a.b.c"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    server.stop().await;
}

#[tokio::test]
async fn grant_scope_and_resource_policy() {
    let server = TestServer::start(MACHINES).await;
    let error = |r: (u16, Value)| (r.0, r.1["error"].as_str().unwrap_or_default().to_string());
    // A client not registered for client_credentials.
    assert_eq!(
        error(client_credentials(&server, "web", "web-secret", &[]).await),
        (400, "unauthorized_client".into())
    );
    // Scopes: not allowed, unknown, identity.
    for scope in ["api1.write", "nope", "openid"] {
        assert_eq!(
            error(
                client_credentials(&server, "machine", "machine-secret", &[("scope", scope)]).await
            ),
            (400, "invalid_scope".into()),
            "{scope}"
        );
    }
    // RFC 8707: a resource selects the audience and narrows the scopes.
    let (status, body) = client_credentials(
        &server,
        "machine",
        "machine-secret",
        &[("resource", "urn:api2")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "api2.read");
    for resource in ["urn:unknown", "not a uri", "urn:api1#x"] {
        assert_eq!(
            error(
                client_credentials(
                    &server,
                    "machine",
                    "machine-secret",
                    &[("resource", resource)]
                )
                .await
            ),
            (400, "invalid_target".into()),
            "{resource}"
        );
    }
    assert_eq!(
        error(
            client_credentials(
                &server,
                "machine",
                "machine-secret",
                &[("resource", "urn:api2"), ("scope", "api1.read")]
            )
            .await
        ),
        (400, "invalid_scope".into())
    );
    server.stop().await;
}

/// A public client (`none`) identifies itself with client_id only; it may not use
/// client_credentials (RFC 6749 §4.4), and presenting a secret it does not have fails.
#[tokio::test]
async fn public_clients() {
    let server = TestServer::start(MACHINES).await;
    let (status, body, _) = post_form(
        &server,
        "/token",
        None,
        &[("grant_type", "client_credentials"), ("client_id", "spa")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, body, _) = post_form(
        &server,
        "/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "spa"),
            ("client_secret", "guess"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Introspection needs an authenticated caller (RFC 7662 §2.1).
    let (status, body, _) = post_form(
        &server,
        "/introspect",
        None,
        &[("token", "x"), ("client_id", "spa")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // A confidential client cannot drop its secret and pass as public.
    let (status, _, _) = post_form(
        &server,
        "/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "machine"),
        ],
    )
    .await;
    assert_eq!(status, 401);
    server.stop().await;
}
