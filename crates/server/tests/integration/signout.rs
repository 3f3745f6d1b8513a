//! Single sign-out: RP-initiated logout ends the SSO session for every client, back-channel
//! logout tokens verified with `jsonwebtoken` against the published JWKS, front-channel
//! iframes on the signed-out page, registered post-logout redirects only, and clients that are
//! down or slow do not slow the sign-out.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::post;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::Value;

use crate::browser::{Browser, Landing, field};
use crate::signin::{VERIFIER, authorize_url, jwt_claims, redeem, refresh};
use crate::support::{TestServer, eventually, free_port};

/// Logout tokens received, by path.
pub(crate) type Received = Arc<Inbox>;

/// What the relying parties' back-channel endpoints received.
pub(crate) struct Inbox {
    tokens: Mutex<Vec<(String, String)>>,
    /// `/slow/...` answers once this has a permit: it is held until the test releases it.
    slow: tokio::sync::Semaphore,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox {
            tokens: Mutex::default(),
            slow: tokio::sync::Semaphore::new(0),
        }
    }
}

impl Inbox {
    /// The (path, logout token) pairs received.
    pub(crate) fn lock(
        &self,
    ) -> std::sync::LockResult<std::sync::MutexGuard<'_, Vec<(String, String)>>> {
        self.tokens.lock()
    }

    /// Lets `/slow/...` answer, now and from now on.
    pub(crate) fn release_slow(&self) {
        self.slow.add_permits(1);
    }
}

/// A relying party's back-channel endpoint: `/slow/...` answers only once the test calls
/// [`Inbox::release_slow`].
pub(crate) async fn receiver(port: u16) -> Received {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/{who}/backchannel",
            post(
                |State(r): State<Received>, Path(who): Path<String>, body: String| async move {
                    let token = url::form_urlencoded::parse(body.as_bytes())
                        .find(|(k, _)| k == "logout_token")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    if who == "slow" {
                        // The permit goes back when dropped: once released, always open.
                        let _open = r.slow.acquire().await;
                    }
                    r.lock().unwrap().push((who, token));
                    ""
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    received
}

pub(crate) fn clients(port: u16, down: u16) -> String {
    format!(
        r#"
[[clients]]
client_id = "alpha"
secrets = ["alpha-secret"]
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://alpha.example/cb"]
post_logout_redirect_uris = ["https://alpha.example/signed-out"]
allowed_scopes = ["openid", "offline_access"]
require_consent = false
backchannel_logout_uri = "http://127.0.0.1:{port}/alpha/backchannel"

[[clients]]
client_id = "beta"
secrets = ["beta-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://beta.example/cb"]
allowed_scopes = ["openid"]
require_consent = false
frontchannel_logout_uri = "https://beta.example/frontchannel"
backchannel_logout_uri = "http://127.0.0.1:{port}/beta/backchannel"

[[clients]]
client_id = "slow"
secrets = ["slow-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://slow.example/cb"]
post_logout_redirect_uris = ["https://slow.example/bye"]
allowed_scopes = ["openid"]
require_consent = false
backchannel_logout_uri = "http://127.0.0.1:{port}/slow/backchannel"

[[clients]]
client_id = "down"
secrets = ["down-secret"]
grant_types = ["authorization_code"]
redirect_uris = ["https://down.example/cb"]
allowed_scopes = ["openid"]
require_consent = false
backchannel_logout_uri = "http://127.0.0.1:{down}/down/backchannel"

[[users]]
username = "alice"
password = "alice-password"

# The relying parties of these tests listen on loopback over plain http.
[outbound]
allow_http = true
allowed_networks = ["127.0.0.0/8"]
"#
    )
}

async fn start() -> (TestServer, Received) {
    let port = free_port();
    let received = receiver(port).await;
    let server = TestServer::start(&clients(port, free_port())).await;
    (server, received)
}

/// Signs in to `client` in `browser` (a login only the first time) and returns the tokens.
pub(crate) async fn tokens(
    server: &TestServer,
    browser: &Browser,
    client: &str,
    scope: &str,
) -> Value {
    let cb = format!("https://{client}.example/cb");
    let url = authorize_url(server, client, &cb, &format!("&scope={scope}"));
    let code = browser
        .authorize(&url, "alice", "alice-password")
        .await
        .param("code")
        .unwrap();
    let secret = format!("{client}-secret");
    let (status, body) = redeem(server, (client, &secret), &cb, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn end_session(server: &TestServer, params: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    server.url(&format!("/end_session?{query}"))
}

/// Verifies a logout token as a relying party would (Back-Channel Logout §2.6).
pub(crate) async fn verify_logout_token(server: &TestServer, token: &str, client: &str) -> Value {
    let header = decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks: JwkSet = server
        .http
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[client]);
    validation.set_issuer(&[&server.base]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat"]);
    let claims = decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims;
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(
        claims.get("nonce").is_none(),
        "§2.4: a logout token never has a nonce"
    );
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    claims
}

#[tokio::test]
async fn rp_initiated_logout_from_one_client_ends_the_session_for_both() {
    let (server, received) = start().await;
    let browser = Browser::new(&server.base);
    let alpha = tokens(&server, &browser, "alpha", "openid+offline_access").await;
    let beta = tokens(&server, &browser, "beta", "openid").await;
    let id_alpha = jwt_claims(alpha["id_token"].as_str().unwrap());
    let sid = id_alpha["sid"].as_str().unwrap().to_string();
    assert_eq!(
        jwt_claims(beta["id_token"].as_str().unwrap())["sid"],
        sid.as_str()
    );
    // A code issued in the session but not yet redeemed.
    let pending = browser
        .open(&authorize_url(
            &server,
            "beta",
            "https://beta.example/cb",
            "&scope=openid",
        ))
        .await
        .param("code")
        .unwrap();

    // RP-Initiated Logout §2: an expired identity token of ours is still a good hint.
    server.clock.advance(3_600);
    let page = browser
        .open(&end_session(
            &server,
            &[
                ("id_token_hint", alpha["id_token"].as_str().unwrap()),
                (
                    "post_logout_redirect_uri",
                    "https://alpha.example/signed-out",
                ),
                ("state", "bye bye"),
            ],
        ))
        .await;
    let Landing::Page {
        status,
        headers,
        html,
        ..
    } = &page
    else {
        panic!("expected the signed-out page, got {page:?}");
    };
    assert_eq!(status.as_u16(), 200);
    assert!(html.contains("You are signed out"));
    // Front-Channel Logout §3: beta's page in an iframe, with iss and sid; allowed by CSP.
    let iss = url::form_urlencoded::byte_serialize(server.base.as_bytes()).collect::<String>();
    let frame = format!("https:&#x2f;&#x2f;beta.example&#x2f;frontchannel?iss={iss}&amp;sid={sid}");
    assert!(html.contains(&frame), "{html}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-src https://beta.example"), "{csp}");
    // Then back to alpha with its state.
    assert!(html.contains("https:&#x2f;&#x2f;alpha.example&#x2f;signed-out?state=bye+bye"));

    // Back-Channel Logout: a verified token for each client, for this session and user.
    eventually("both logout tokens", || {
        let received = received.clone();
        async move { received.lock().unwrap().len() >= 2 }
    })
    .await;
    let got = received.lock().unwrap().clone();
    for client in ["alpha", "beta"] {
        let (_, token) = got.iter().find(|(who, _)| who == client).unwrap();
        let claims = verify_logout_token(&server, token, client).await;
        assert_eq!(claims["sid"], sid.as_str());
        assert_eq!(claims["sub"], id_alpha["sub"]);
    }

    // The session is gone for both clients; what belonged to it ended with it.
    assert!(
        browser
            .open(&authorize_url(
                &server,
                "beta",
                "https://beta.example/cb",
                "&scope=openid"
            ))
            .await
            .is_login()
    );
    let (status, _) = redeem(
        &server,
        ("beta", "beta-secret"),
        "https://beta.example/cb",
        &pending,
        Some(VERIFIER),
    )
    .await;
    assert_eq!(status, 400, "the session's unredeemed code is revoked");
    // offline_access outlives the session (OIDC Core §11).
    let (status, body) = refresh(
        &server,
        ("alpha", "alpha-secret"),
        alpha["refresh_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// RP-Initiated Logout §2-3: a value that fails its check is treated as absent. The user is
/// asked to confirm, and is never redirected to an address that is not registered.
#[tokio::test]
async fn unregistered_post_logout_redirects_are_refused() {
    let (server, _) = start().await;
    let browser = Browser::new(&server.base);
    let alpha = tokens(&server, &browser, "alpha", "openid").await;
    let hint = alpha["id_token"].as_str().unwrap();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", "https://evil.example/"),
            ],
            "not registered",
        ),
        (
            vec![
                ("id_token_hint", hint),
                (
                    "post_logout_redirect_uri",
                    "https://alpha.example/signed-out/",
                ),
            ],
            "not registered",
        ),
        (
            vec![
                ("id_token_hint", hint),
                (
                    "post_logout_redirect_uri",
                    "https://alpha.example/signed-out?x=1",
                ),
            ],
            "not registered",
        ),
        (
            vec![
                ("client_id", "beta"),
                (
                    "post_logout_redirect_uri",
                    "https://alpha.example/signed-out",
                ),
            ],
            "not registered",
        ),
        (
            vec![(
                "post_logout_redirect_uri",
                "https://alpha.example/signed-out",
            )],
            "needs client_id",
        ),
        (
            vec![("id_token_hint", hint), ("client_id", "beta")],
            "differs",
        ),
        (
            vec![("id_token_hint", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")],
            "not an identity token",
        ),
        (vec![("client_id", "ghost")], "unknown client"),
    ];
    for (params, why) in cases {
        let response = browser
            .http
            .get(end_session(&server, &params))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{why}");
        assert!(response.headers().get(LOCATION).is_none());
        let html = response.text().await.unwrap();
        assert!(
            html.contains("Sign out?") && html.contains(why),
            "{why}: {html}"
        );
    }
    // Nothing was signed out without the user's confirmation.
    let again = browser
        .open(&authorize_url(
            &server,
            "alpha",
            "https://alpha.example/cb",
            "&scope=openid",
        ))
        .await;
    assert!(again.param("code").is_some());
    // Confirmed, the sign-out happens, and without a redirect.
    let page = browser
        .open(&end_session(
            &server,
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", "https://evil.example/"),
            ],
        ))
        .await;
    let done = browser
        .submit(page.page(), "/end_session/confirm", &[("action", "logout")])
        .await;
    assert!(done.page().contains("You are signed out"));
    assert!(!done.page().contains("evil.example"));
}

#[tokio::test]
async fn clients_that_are_down_or_slow_do_not_slow_the_sign_out() {
    let (server, received) = start().await;
    let browser = Browser::new(&server.base);
    tokens(&server, &browser, "down", "openid").await;
    let slow = tokens(&server, &browser, "slow", "openid").await;
    // The slow client holds its delivery until released below, so a sign-out that waited for
    // it would not answer before the server's outbound timeout (5 s) let go of it.
    let response = browser
        .http
        .get(end_session(
            &server,
            &[
                ("id_token_hint", slow["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", "https://slow.example/bye"),
            ],
        ))
        .timeout(Duration::from_secs(4))
        .send()
        .await
        .expect("the sign-out answers while the slow client holds its delivery");
    // No front-channel client: straight back, and the session cookie is cleared.
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[LOCATION], "https://slow.example/bye");
    let cleared = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"));
    // The slow client still gets its token, once it answers.
    received.release_slow();
    eventually("the slow client's logout token", || {
        let received = received.clone();
        async move { received.lock().unwrap().iter().any(|(w, _)| w == "slow") }
    })
    .await;
    let failed = || {
        server
            .running
            .state
            .backchannel
            .failed
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    // The client that is down is retried, then counted as failed.
    eventually("the failed delivery to be counted", || {
        let n = failed();
        async move { n == 1 }
    })
    .await;
}

#[tokio::test]
async fn a_logout_without_a_hint_asks_first() {
    let (server, _) = start().await;
    let browser = Browser::new(&server.base);
    tokens(&server, &browser, "alpha", "openid").await;
    let confirm = browser
        .open(&end_session(
            &server,
            &[
                ("client_id", "alpha"),
                (
                    "post_logout_redirect_uri",
                    "https://alpha.example/signed-out",
                ),
            ],
        ))
        .await;
    let page = confirm.page().to_string();
    assert!(page.contains("Sign out?"), "{page}");
    // A forged or foreign submission is refused.
    let forged = browser
        .http
        .post(server.url("/end_session/confirm"))
        .form(&[
            ("interaction", field(&page, "interaction")),
            ("csrf", "x".into()),
            ("action", "logout".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let other = Browser::new(&server.base);
    let foreign = other
        .submit(&page, "/end_session/confirm", &[("action", "logout")])
        .await;
    assert!(matches!(foreign, Landing::Page { status, .. } if status == 403));
    // "Stay signed in" keeps the session.
    let stay = browser
        .submit(&page, "/end_session/confirm", &[("action", "cancel")])
        .await;
    assert!(stay.page().contains("still signed in"));
    assert!(
        browser
            .open(&authorize_url(
                &server,
                "alpha",
                "https://alpha.example/cb",
                "&scope=openid"
            ))
            .await
            .param("code")
            .is_some()
    );
    // Confirmed: signed out and back to the client. A POSTed request works the same.
    let response = browser
        .http
        .post(server.url("/end_session"))
        .form(&[
            ("client_id", "alpha"),
            (
                "post_logout_redirect_uri",
                "https://alpha.example/signed-out",
            ),
            ("state", "s"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let confirm = browser
        .open(response.headers()[LOCATION].to_str().unwrap())
        .await;
    let done = browser
        .submit(
            confirm.page(),
            "/end_session/confirm",
            &[("action", "logout")],
        )
        .await;
    assert_eq!(
        done.client().as_str(),
        "https://alpha.example/signed-out?state=s"
    );
    assert!(
        browser
            .open(&authorize_url(
                &server,
                "alpha",
                "https://alpha.example/cb",
                "&scope=openid"
            ))
            .await
            .is_login()
    );
}

#[tokio::test]
async fn hostile_input_at_the_sign_out_endpoints_gets_a_clear_4xx() {
    let (server, _) = start().await;
    let browser = Browser::new(&server.base);
    tokens(&server, &browser, "alpha", "openid").await;
    let many: String = (0..1_000).map(|i| format!("&p{i}=x")).collect();
    for query in [
        format!("client_id=alpha{many}"),
        "id_token_hint=%FF%FE".to_string(),
        "state=a&state=b".to_string(),
        format!("id_token_hint={}", "a.".repeat(4_000)),
        "continue=nope".to_string(),
        "continue=".to_string() + &"x".repeat(300),
    ] {
        let response = browser
            .http
            .get(server.url(&format!("/end_session?{query}")))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        // A confirmation page (the values are dropped) or a clear refusal; never a 5xx.
        assert!(
            status == 200 || (400..500).contains(&status),
            "{status} for {}",
            &query[..40.min(query.len())]
        );
    }
    for (content_type, body) in [
        (
            "application/x-www-form-urlencoded",
            "a".repeat(2 * 1024 * 1024),
        ),
        ("application/json", "{}".to_string()),
        (
            "application/x-www-form-urlencoded",
            "interaction=%FF&csrf=%".to_string(),
        ),
    ] {
        for path in ["/end_session", "/end_session/confirm"] {
            let response = browser
                .http
                .post(server.url(path))
                .header("content-type", content_type)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            assert!((400..500).contains(&status), "{status} at {path}");
        }
    }
    // The check-session iframe ignores whatever it is sent.
    let frame = browser
        .http
        .get(server.url("/check_session?x=%FF"))
        .send()
        .await
        .unwrap();
    assert_eq!(frame.status(), 200);
    // And the session survived all of it.
    assert!(
        browser
            .open(&authorize_url(
                &server,
                "alpha",
                "https://alpha.example/cb",
                "&scope=openid"
            ))
            .await
            .param("code")
            .is_some()
    );
}
