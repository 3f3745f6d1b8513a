//! Discovery: OpenID Connect Discovery 1.0 §3/§4 and RFC 8414, field by field, and as parsed by
//! the `openidconnect` crate.

use axum::http::Method;
use openidconnect::core::CoreProviderMetadata;
use openidconnect::{IssuerUrl, JsonWebKey as _};
use serde_json::Value;

use crate::harness::{ISSUER, TestApp};
use crate::support::{TestServer, oidc_http};

const RESOURCES: &str = r#"
[[api_scopes]]
name = "api1.read"
display_name = "Read API 1"

[[api_scopes]]
name = "internal"
show_in_discovery = false

[[api_resources]]
name = "urn:api1"
scopes = ["api1.read", "api1.write"]

[[identity_resources]]
name = "employee"
claims = ["employee_id", "department"]
"#;

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("{v} is not an array"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn openid_configuration_is_complete_and_honest() {
    let app = TestApp::new(RESOURCES).await;
    let response = app.get("/.well-known/openid-configuration").await;
    assert_eq!(response.status, 200);
    // Discovery §4.2: application/json; cacheable; readable from browsers.
    assert_eq!(response.headers["content-type"], "application/json");
    assert!(
        response.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    assert_eq!(response.headers["access-control-allow-origin"], "*");
    let doc: Value = response.json();
    let issuer = ISSUER;

    // §3 REQUIRED: issuer identical to the configured one (and to every token's iss).
    assert_eq!(doc["issuer"], issuer);
    // §3 REQUIRED endpoints, all under the issuer.
    for key in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
        assert!(doc[key].as_str().unwrap().starts_with(issuer), "{key}");
    }
    assert_eq!(doc["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
    // §3 REQUIRED lists.
    assert_eq!(
        strings(&doc["response_types_supported"]),
        [
            "code",
            "id_token",
            "id_token token",
            "code id_token",
            "code token",
            "code id_token token"
        ]
    );
    assert_eq!(strings(&doc["subject_types_supported"]), ["public"]);
    let algs = strings(&doc["id_token_signing_alg_values_supported"]);
    assert!(algs.contains(&"RS256"), "§3: RS256 MUST be included");
    assert!(!algs.contains(&"none"));
    // RFC 8414 §2: stated explicitly; implicit is offered only to clients registered for it.
    assert_eq!(
        strings(&doc["grant_types_supported"]),
        [
            "authorization_code",
            "implicit",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:openid:params:grant-type:ciba"
        ]
    );
    // Sign-in: RFC 7636 S256 only, the response modes, RFC 9207 iss, the prompt values.
    assert_eq!(doc["userinfo_endpoint"], format!("{issuer}/userinfo"));
    assert_eq!(strings(&doc["code_challenge_methods_supported"]), ["S256"]);
    assert_eq!(
        strings(&doc["response_modes_supported"]),
        [
            "query",
            "fragment",
            "form_post",
            "jwt",
            "query.jwt",
            "fragment.jwt",
            "form_post.jwt"
        ]
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["claims_parameter_supported"], true);
    assert_eq!(
        strings(&doc["prompt_values_supported"]),
        ["none", "login", "consent", "select_account"]
    );
    // RFC 8414 §2: endpoints of RFC 7662 and RFC 7009 with their client authentication methods.
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{issuer}/introspect")
    );
    assert_eq!(doc["revocation_endpoint"], format!("{issuer}/revoke"));
    for key in [
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        let mut methods = vec![
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
        ];
        // Public clients redeem codes and revoke their tokens (RFC 7009 §2.1), never
        // introspect.
        if !key.starts_with("introspection") {
            methods.push("none");
        }
        assert_eq!(strings(&doc[key]), methods, "{key}");
        // RFC 8414 §2: with private_key_jwt listed, the signing algorithms must be too;
        // never `none`.
        let algs_key = key.replace("methods", "signing_alg_values");
        assert_eq!(
            strings(&doc[&algs_key]),
            [
                "HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "EdDSA"
            ],
            "{algs_key}"
        );
    }
    // §3 RECOMMENDED scopes_supported: openid and the configured scopes, hidden ones excluded.
    let scopes = strings(&doc["scopes_supported"]);
    for s in [
        "openid",
        "profile",
        "email",
        "offline_access",
        "employee",
        "api1.read",
        "api1.write",
    ] {
        assert!(scopes.contains(&s), "scopes_supported lacks {s}");
    }
    assert!(!scopes.contains(&"internal"));
    let claims = strings(&doc["claims_supported"]);
    for c in ["sub", "name", "email", "employee_id", "department"] {
        assert!(claims.contains(&c), "claims_supported lacks {c}");
    }
    // The claims identity tokens carry (OIDC Core §2).
    for c in [
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "idp",
        "sid",
    ] {
        assert!(claims.contains(&c), "claims_supported lacks {c}");
    }
    // OIDC Core §2, Discovery §3: the authentication context classes offered (by default one
    // level, `1`, for a password sign-in).
    assert_eq!(doc["acr_values_supported"], serde_json::json!(["1", "2"]));
    // §3: request_uri_parameter_supported defaults to true, so it must be stated.
    assert_eq!(doc["request_uri_parameter_supported"], false);
    // Nothing that is not implemented is advertised.
    assert_eq!(doc["end_session_endpoint"], format!("{issuer}/end_session"));
    assert_eq!(
        doc["check_session_iframe"],
        format!("{issuer}/check_session")
    );
    for key in [
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
    ] {
        assert_eq!(doc[key], true, "{key}");
    }
    // RFC 7591 §3: implemented, answering (without an initial access token, 401).
    assert_eq!(doc["registration_endpoint"], format!("{issuer}/register"));
    // RFC 9126 §5, RFC 9101 §10.5: PAR and request objects, neither required by default.
    assert_eq!(
        doc["pushed_authorization_request_endpoint"],
        format!("{issuer}/par")
    );
    assert_eq!(doc["require_pushed_authorization_requests"], false);
    assert_eq!(doc["request_parameter_supported"], true);
    assert_eq!(doc["require_signed_request_object"], false);
    assert_eq!(
        doc["request_object_signing_alg_values_supported"],
        serde_json::json!(["RS256", "PS256", "ES256", "EdDSA"])
    );
}

#[tokio::test]
async fn rfc8414_metadata_matches_openid_configuration() {
    let app = TestApp::new("").await;
    let oidc = app.discovery().await;
    let response = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(response.status, 200);
    let oauth = response.json();
    assert_eq!(oidc, oauth);
    assert_eq!(oauth["issuer"], ISSUER);
}

/// A third-party relying-party library discovers the provider: it fetches the document, checks
/// the issuer, and fetches and parses the JWKS.
#[tokio::test]
async fn openidconnect_crate_discovers_the_provider() {
    let server = TestServer::start(RESOURCES).await;
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(server.base.clone()).unwrap(),
        &oidc_http,
    )
    .await
    .unwrap();
    assert_eq!(metadata.issuer().as_str(), server.base);
    assert_eq!(
        metadata.jwks_uri().as_str(),
        format!("{}/.well-known/jwks.json", server.base)
    );
    let published: Vec<String> = server
        .running
        .state
        .keys
        .current()
        .published()
        .iter()
        .map(|k| k.kid.clone())
        .collect();
    let kids: Vec<String> = metadata
        .jwks()
        .keys()
        .iter()
        .map(|k| k.key_id().unwrap().as_str().to_string())
        .collect();
    assert_eq!(kids, published);
    server.stop().await;
}

/// The wire format, pinned: a change to the document shows up in review.
#[tokio::test]
async fn discovery_document_snapshot() {
    let app = TestApp::new(RESOURCES).await;
    let mut doc = app.discovery().await;
    // The issuer is the deployment's; pin everything else.
    let text = serde_json::to_string(&doc)
        .unwrap()
        .replace(ISSUER, "http://ISSUER");
    doc = serde_json::from_str(&text).unwrap();
    insta::assert_json_snapshot!("openid_configuration", doc);
}

#[tokio::test]
async fn head_requests_are_answered_without_body() {
    let app = TestApp::new("").await;
    let response = app
        .send(Method::HEAD, "/.well-known/openid-configuration", &[], None)
        .await;
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());
}
