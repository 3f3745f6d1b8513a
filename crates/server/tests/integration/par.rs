//! Pushed authorization requests (RFC 9126) and request objects (RFC 9101), with request
//! objects and client assertions signed by a third-party library (`jsonwebtoken`): the whole
//! flow, then each way a pushed or signed request can be wrong, refused as the specs say
//! (SEC-09, SEC-42, CVE-13, CVE-15, CVE-43, CVE-62).

use jsonwebtoken::{Algorithm, Header, encode};
use serde_json::{Value, json};
use tessera_core::Clock as _;
use tessera_core::tokens::SigningAlg;

use crate::assertions::{ClientKey, client_key, inline_jwks};
use crate::browser::{Browser, Landing};
use crate::signin::{CHALLENGE, VERIFIER};
use crate::support::TestServer;
use crate::tokens::post_form;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const CB: &str = "https://bank-app.example/cb";
const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

pub(crate) struct Setup {
    pub(crate) server: TestServer,
    pub(crate) key: ClientKey,
    pub(crate) other: ClientKey,
}

/// `bank` must push; `signed` must send request objects; `plain` may do either; none may use
/// the implicit flow.
pub(crate) async fn setup(extra: &str) -> Setup {
    let key = client_key(SigningAlg::Es256, "bank-1");
    let other = client_key(SigningAlg::Es256, "plain-1");
    let client = |id: &str, key: &ClientKey, rules: &str| {
        format!(
            r#"
[[clients]]
client_id = "{id}"
grant_types = ["authorization_code"]
redirect_uris = ["{CB}"]
allowed_scopes = ["openid", "profile", "email"]
require_consent = false
token_endpoint_auth_method = "private_key_jwt"
{rules}
{}
"#,
            inline_jwks(&[key])
        )
    };
    let config = format!(
        "{extra}\n{}{}{}\n[[users]]\nusername = \"alice\"\npassword = \"alice-password\"\nclaims = {{ name = \"Alice\", email = \"alice@example.com\" }}\n",
        client("bank", &key, "require_pushed_authorization_requests = true"),
        client("signed", &key, "require_signed_request_object = true"),
        client("plain", &other, ""),
    );
    Setup {
        server: TestServer::start(&config).await,
        key,
        other,
    }
}

/// A client assertion for `client_id` (RFC 7523), `aud` the issuer.
pub(crate) fn assertion(server: &TestServer, key: &ClientKey, client_id: &str) -> String {
    let now = server.clock.now();
    let claims = json!({
        "iss": client_id, "sub": client_id, "aud": server.base,
        "iat": now, "exp": now + 60,
        "jti": tessera_core::crypto::random_handle().unwrap(),
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = key.jwk["kid"].as_str().map(str::to_string);
    encode(&header, &claims, key.encoding()).unwrap()
}

/// The parameters of a good code flow request of `client_id`.
pub(crate) fn request_params(client_id: &str, state: &str) -> Value {
    json!({
        "client_id": client_id,
        "redirect_uri": CB,
        "response_type": "code",
        "scope": "openid profile",
        "state": state,
        "nonce": "n-0S6_WzA2Mj",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    })
}

/// A request object of `client_id` signed with `key`: `iss` the client, `aud` the issuer,
/// fresh `exp`/`nbf`/`jti`, then `overrides` (null removes a claim).
pub(crate) fn request_object(
    server: &TestServer,
    key: &ClientKey,
    params: &Value,
    overrides: Value,
) -> String {
    let now = server.clock.now();
    let mut claims = params.clone();
    let client_id = params["client_id"].as_str().unwrap().to_string();
    for (k, v) in [
        ("iss", json!(client_id)),
        ("aud", json!(server.base)),
        ("iat", json!(now)),
        ("nbf", json!(now)),
        ("exp", json!(now + 300)),
        ("jti", json!(tessera_core::crypto::random_handle().unwrap())),
    ] {
        claims[k] = v;
    }
    for (k, v) in overrides.as_object().unwrap() {
        match v {
            Value::Null => {
                claims.as_object_mut().unwrap().remove(k);
            }
            v => claims[k] = v.clone(),
        }
    }
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("oauth-authz-req+jwt".into());
    header.kid = key.jwk["kid"].as_str().map(str::to_string);
    encode(&header, &claims, key.encoding()).unwrap()
}

/// POSTs `form` to `/par` with a client assertion of `client_id`.
pub(crate) async fn push(
    s: &Setup,
    key: &ClientKey,
    client_id: &str,
    form: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let assertion = assertion(&s.server, key, client_id);
    let mut form = form.to_vec();
    form.push(("client_assertion_type", ASSERTION_TYPE));
    form.push(("client_assertion", &assertion));
    post_form(&s.server, "/par", None, &form).await
}

/// The parameters besides `client_id`, which `authorize_with` adds.
pub(crate) fn front_channel(params: &Value) -> Vec<(&str, &str)> {
    as_form(params)
        .into_iter()
        .filter(|(k, _)| *k != "client_id")
        .collect()
}

pub(crate) fn as_form(params: &Value) -> Vec<(&str, &str)> {
    params
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
        .collect()
}

/// Pushes a good request of `client_id` and returns its `request_uri`.
async fn pushed(s: &Setup, key: &ClientKey, client_id: &str, state: &str) -> String {
    let params = request_params(client_id, state);
    let (status, body, _) = push(s, key, client_id, &as_form(&params)).await;
    assert_eq!(status, 201, "{body}");
    body["request_uri"].as_str().unwrap().to_string()
}

pub(crate) fn authorize_with(
    server: &TestServer,
    client_id: &str,
    query: &[(&str, &str)],
) -> String {
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut().append_pair("client_id", client_id);
    for (k, v) in query {
        url.query_pairs_mut().append_pair(k, v);
    }
    url.to_string()
}

/// The error code of a refusal shown on our own page (never sent to the redirect URI).
fn page_error(landing: &Landing) -> (u16, String) {
    match landing {
        Landing::Page { status, html, .. } => {
            let code = [
                "invalid_request_object",
                "invalid_request_uri",
                "request_uri_not_supported",
                "invalid_request",
            ]
            .into_iter()
            .find(|c| html.contains(c))
            .unwrap_or("none")
            .to_string();
            (status.as_u16(), code)
        }
        other => panic!("expected our error page, got {other:?}"),
    }
}

async fn redeem(s: &Setup, key: &ClientKey, client_id: &str, code: &str) -> (u16, Value) {
    let assertion = assertion(&s.server, key, client_id);
    let (status, body, _) = post_form(
        &s.server,
        "/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    (status, body)
}

#[tokio::test]
async fn a_pushed_request_is_used_once_by_its_client_and_its_parameters_win() {
    let s = setup("").await;
    let server = &s.server;
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["pushed_authorization_request_endpoint"],
        json!(server.url("/par"))
    );
    assert_eq!(
        discovery["require_pushed_authorization_requests"],
        json!(false)
    );
    assert_eq!(discovery["request_parameter_supported"], json!(true));

    let params = request_params("bank", "pushed-state");
    let (status, body, headers) = push(&s, &s.key, "bank", &as_form(&params)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["expires_in"], json!(60));
    let uri = body["request_uri"].as_str().unwrap();
    let handle = uri.strip_prefix(REQUEST_URI_PREFIX).unwrap();
    assert!(handle.len() >= 43, "256 random bits: {handle}");

    // RFC 9126 §4, CVE-43: the pushed parameters are the request; front-channel copies (a
    // state, a weaker scope set) are not read.
    let browser = Browser::new(&server.base);
    let url = authorize_with(
        server,
        "bank",
        &[
            ("request_uri", uri),
            ("state", "front"),
            ("scope", "openid email"),
        ],
    );
    let landing = browser.authorize(&url, "alice", "alice-password").await;
    assert_eq!(landing.param("state").as_deref(), Some("pushed-state"));
    let code = landing.param("code").unwrap();
    let (status, tokens) = redeem(&s, &s.key, "bank", &code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], json!("openid profile"));

    // PAR replay: a request_uri is used once.
    let (status, error) = page_error(&browser.open(&url).await);
    assert_eq!((status, error.as_str()), (400, "invalid_request_uri"));

    // Expired: a minute later it is refused.
    let uri = pushed(&s, &s.key, "bank", "late").await;
    server.clock.advance(61);
    let late = browser
        .open(&authorize_with(server, "bank", &[("request_uri", &uri)]))
        .await;
    assert_eq!(page_error(&late), (400, "invalid_request_uri".into()));

    // Foreign: pushed by plain, presented by bank.
    let uri = pushed(&s, &s.other, "plain", "foreign").await;
    let foreign = browser
        .open(&authorize_with(server, "bank", &[("request_uri", &uri)]))
        .await;
    assert_eq!(page_error(&foreign), (400, "invalid_request_uri".into()));
    // ...and the attempt did not spend it: its own client still uses it.
    let own = browser
        .open(&authorize_with(server, "plain", &[("request_uri", &uri)]))
        .await;
    assert_eq!(own.param("state").as_deref(), Some("foreign"), "{own:?}");

    // Unknown and remote request_uris.
    let made_up = format!("{REQUEST_URI_PREFIX}{}", "A".repeat(43));
    let unknown = browser
        .open(&authorize_with(
            server,
            "bank",
            &[("request_uri", &made_up)],
        ))
        .await;
    assert_eq!(page_error(&unknown), (400, "invalid_request_uri".into()));
    let remote = browser
        .open(&authorize_with(
            server,
            "plain",
            &[("request_uri", "https://evil.example/r")],
        ))
        .await;
    assert_eq!(
        page_error(&remote),
        (400, "request_uri_not_supported".into())
    );
}

#[tokio::test]
async fn a_client_that_must_push_gets_nothing_without_it_and_pushing_is_checked_as_authorize() {
    let s = setup("").await;
    let server = &s.server;
    let browser = Browser::new(&server.base);
    // RFC 9126 §6: a client that must push gets invalid_request on its own page.
    let params = request_params("bank", "s");
    let direct = browser
        .open(&authorize_with(server, "bank", &front_channel(&params)))
        .await;
    assert_eq!(page_error(&direct), (400, "invalid_request".into()));

    // RFC 9126 §2.1: request_uri cannot be pushed; the push needs client authentication.
    let mut with_uri = as_form(&params);
    with_uri.push(("request_uri", "urn:ietf:params:oauth:request_uri:x"));
    let (status, body, _) = push(&s, &s.key, "bank", &with_uri).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body, _) = post_form(server, "/par", None, &as_form(&params)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // Another client's key does not authenticate bank.
    let (status, _, _) = push(&s, &s.other, "bank", &as_form(&params)).await;
    assert_eq!(status, 401);

    // Checked as at the authorization endpoint, answered directly (RFC 9126 §2.3).
    let cases: &[(&str, &str, &str)] = &[
        ("redirect_uri", "https://evil.example/cb", "invalid_request"),
        ("scope", "openid admin", "invalid_scope"),
        ("code_challenge_method", "plain", "invalid_request"),
        // SEC-09, CVE-15: no implicit flow through a pushed request.
        ("response_type", "token", "unsupported_response_type"),
        ("response_type", "id_token token", "unauthorized_client"),
        ("response_type", "code id_token", "unauthorized_client"),
        ("prompt", "none login", "invalid_request"),
    ];
    for (name, value, code) in cases {
        let mut p = params.clone();
        p[*name] = json!(value);
        let (status, body, _) = push(&s, &s.key, "bank", &as_form(&p)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(*code)),
            "{name}={value}: {body}"
        );
    }
    // SEC-06: a repeated parameter.
    let mut repeated = as_form(&params);
    repeated.push(("scope", "openid"));
    let (status, body, _) = push(&s, &s.key, "bank", &repeated).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn request_objects_are_verified_and_only_their_parameters_count() {
    let s = setup("").await;
    let server = &s.server;
    let browser = Browser::new(&server.base);
    let params = request_params("signed", "object-state");

    // By value at the authorization endpoint: the object's parameters win over the query's
    // (RFC 9101 §6.3), whose state and scope are ignored.
    let jwt = request_object(server, &s.key, &params, json!({}));
    let url = authorize_with(
        server,
        "signed",
        &[
            ("request", &jwt),
            ("state", "front"),
            ("scope", "openid email"),
        ],
    );
    let landing = browser.authorize(&url, "alice", "alice-password").await;
    assert_eq!(landing.param("state").as_deref(), Some("object-state"));
    let (status, tokens) = redeem(&s, &s.key, "signed", &landing.param("code").unwrap()).await;
    assert_eq!(
        (status, tokens["scope"].as_str()),
        (200, Some("openid profile"))
    );
    // Its jti is spent: the same object again is refused.
    assert_eq!(
        page_error(&browser.open(&url).await),
        (400, "invalid_request_object".into())
    );

    // A client that must sign gets nothing for plain parameters (RFC 9101 §10.5)...
    let plain = browser
        .open(&authorize_with(server, "signed", &front_channel(&params)))
        .await;
    assert_eq!(page_error(&plain), (400, "invalid_request".into()));
    // ...nor for a plain push (RFC 9126 §2.3: 400 invalid_request at once).
    let (status, body, _) = push(&s, &s.key, "signed", &as_form(&params)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );

    // Signed and pushed: accepted, and the object's parameters are the request.
    let jwt = request_object(server, &s.key, &params, json!({}));
    let (status, body, _) = push(
        &s,
        &s.key,
        "signed",
        &[("client_id", "signed"), ("request", &jwt)],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let uri = body["request_uri"].as_str().unwrap();
    let landing = browser
        .authorize(
            &authorize_with(server, "signed", &[("request_uri", uri)]),
            "alice",
            "alice-password",
        )
        .await;
    assert_eq!(landing.param("state").as_deref(), Some("object-state"));
}

#[tokio::test]
async fn sec42_cve13_cve62_request_objects_wrong_in_one_way_each_are_refused() {
    let s = setup("").await;
    let server = &s.server;
    let browser = Browser::new(&server.base);
    let params = request_params("plain", "s");
    let now = server.clock.now();
    let good = |overrides: Value| request_object(server, &s.other, &params, overrides);
    let unsigned = |claims: &Value| {
        let header =
            tessera_core::crypto::base64url(br#"{"alg":"none","typ":"oauth-authz-req+jwt"}"#);
        let body = tessera_core::crypto::base64url(claims.to_string().as_bytes());
        format!("{header}.{body}.")
    };
    let mut claims = params.clone();
    claims["iss"] = json!("plain");
    claims["aud"] = json!(server.base);
    claims["exp"] = json!(now + 60);
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong aud",
            good(json!({"aud": "https://other-op.example"})),
        ),
        (
            "aud naming another party too",
            good(json!({"aud": [server.base, "https://rp.example"]})),
        ),
        ("missing aud", good(json!({"aud": null}))),
        ("wrong iss", good(json!({"iss": "bank"}))),
        ("missing exp", good(json!({"exp": null}))),
        ("expired", good(json!({"exp": now - 120}))),
        ("exp too far ahead", good(json!({"exp": now + 7_200}))),
        (
            "exp as a string (CVE-32)",
            good(json!({"exp": (now + 60).to_string()})),
        ),
        ("nbf in the future", good(json!({"nbf": now + 300}))),
        ("another client_id", good(json!({"client_id": "bank"}))),
        ("nested request_uri", good(json!({"request_uri": "urn:x"}))),
        (
            "signed by another client's key",
            request_object(server, &s.key, &params, json!({})),
        ),
        ("unsigned (alg none)", unsigned(&claims)),
        (
            "a JWE (CVE-13, CVE-62)",
            "eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.a.b.c.d".to_string(),
        ),
        ("not a JWT", "not-a-jwt".to_string()),
    ];
    for (why, jwt) in &cases {
        let landing = browser
            .open(&authorize_with(server, "plain", &[("request", jwt)]))
            .await;
        assert_eq!(
            page_error(&landing),
            (400, "invalid_request_object".into()),
            "{why}"
        );
        // Pushed, it is refused at once with the same error.
        let (status, body, _) = push(
            &s,
            &s.other,
            "plain",
            &[("client_id", "plain"), ("request", jwt)],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request_object")),
            "pushed, {why}: {body}"
        );
    }
    // HS256 MACed with the public key's bytes (CVE-26) is no signature.
    let hs = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(s.other.jwk.to_string().as_bytes()),
    )
    .unwrap();
    let landing = browser
        .open(&authorize_with(server, "plain", &[("request", &hs)]))
        .await;
    assert_eq!(page_error(&landing), (400, "invalid_request_object".into()));
    // request and request_uri together.
    let both = browser
        .open(&authorize_with(
            server,
            "plain",
            &[("request", &good(json!({}))), ("request_uri", "urn:x")],
        ))
        .await;
    assert_eq!(page_error(&both), (400, "invalid_request".into()));
}

#[tokio::test]
async fn sec31_a_dpop_proof_sent_with_the_push_binds_the_code_to_its_key() {
    let s = setup("").await;
    let server = &s.server;
    let (dpop_key, _) = tessera_core::tokens::SigningKey::generate(SigningAlg::Es256).unwrap();
    let proof = |htu: &str| {
        crate::validation_dpop::proof(
            &dpop_key,
            "POST",
            &server.url(htu),
            server.clock.now(),
            json!({}),
        )
    };
    let params = request_params("plain", "bound");
    let assertion = assertion(server, &s.other, "plain");
    let mut form = as_form(&params);
    form.push(("client_assertion_type", ASSERTION_TYPE));
    form.push(("client_assertion", &assertion));
    let pushed: Value = server
        .http
        .post(server.url("/par"))
        .header("DPoP", proof("/par"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uri = pushed["request_uri"]
        .as_str()
        .unwrap_or_else(|| panic!("{pushed}"));
    let browser = Browser::new(&server.base);
    let code = |landing: Landing| landing.param("code").unwrap();
    let landing = browser
        .authorize(
            &authorize_with(server, "plain", &[("request_uri", uri)]),
            "alice",
            "alice-password",
        )
        .await;
    // Without a proof of that key the code is refused (RFC 9449 §10).
    let (status, body) = redeem(&s, &s.other, "plain", &code(landing)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );

    // A dpop_jkt that is not the proof's key is refused at the push.
    let mut form = as_form(&params);
    form.push(("dpop_jkt", CHALLENGE));
    form.push(("client_assertion_type", ASSERTION_TYPE));
    let assertion = self::assertion(server, &s.other, "plain");
    form.push(("client_assertion", &assertion));
    let response = server
        .http
        .post(server.url("/par"))
        .header("DPoP", proof("/par"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], json!("invalid_dpop_proof"));
}
