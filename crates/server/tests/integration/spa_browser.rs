//! A single-page app in headless Chromium: oidc-client-ts (npm, locked) with its defaults, in a
//! page served from another loopback origin, signs in, exchanges the code from JavaScript,
//! reads userinfo, refreshes with rotation, revokes and signs out (SEC-64). The same page from
//! an origin the client did not register cannot read any of those answers.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use serde_json::Value;

use crate::relying_parties::required_env;
use crate::support::{TestServer, free_port};
use crate::webdriver::Chromium;

/// The page and the library bundle it loads, for one issuer.
struct App {
    page: String,
    bundle: String,
}

/// Serves the app on a loopback `port`: the page at every path, the bundle beside it; with
/// `dpop`, the page binds its tokens with DPoP.
async fn serve_app(port: u16, issuer: &str, dpop: bool) {
    let dir = std::path::PathBuf::from(required_env("TESSERA_TEST_OIDC_CLIENT_TS_DIR"));
    let page = std::fs::read_to_string(dir.join("app.html"))
        .unwrap()
        .replace("__ISSUER__", issuer)
        .replace("__DPOP__", if dpop { "true" } else { "false" });
    let bundle = std::fs::read_to_string(
        dir.join("node_modules/oidc-client-ts/dist/browser/oidc-client-ts.js"),
    )
    .unwrap();
    let app = Arc::new(App { page, bundle });
    let router = axum::Router::new()
        .route(
            "/oidc-client-ts.js",
            get(|State(app): State<Arc<App>>| async move {
                (
                    [(header::CONTENT_TYPE, "text/javascript")],
                    app.bundle.clone(),
                )
                    .into_response()
            }),
        )
        .fallback(get(|State(app): State<Arc<App>>| async move {
            Html(app.page.clone())
        }))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
}

/// What the page put in `#result` once it is no longer `pending`.
async fn result(browser: &Chromium) -> Value {
    for _ in 0..200 {
        let html = browser.source().await;
        if let Some(start) = html.find("<pre id=\"result\">") {
            let rest = &html[start + "<pre id=\"result\">".len()..];
            let text = &rest[..rest.find("</pre>").unwrap()];
            if text != "pending" {
                let text = text
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&");
                return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the page did not finish: {}", browser.source().await);
}

/// The page at `origin` signs alice in: to the login page and back to its callback.
async fn sign_in_alice(browser: &Chromium, origin: &str) {
    browser.goto(&format!("{origin}/?action=signin")).await;
    browser.wait_for_url("/login").await;
    browser.type_into("#username", "alice").await;
    browser.type_into("#password", "alice-password").await;
    browser.click("button[value=login]").await;
    browser.wait_for_url(&format!("{origin}/cb")).await;
}

fn blocked(call: &Value) -> bool {
    call["blocked"] == true && call.get("status").is_none()
}

#[tokio::test]
async fn oidc_client_ts_signs_in_refreshes_and_signs_out_from_its_origin_only() {
    let (allowed_port, other_port) = (free_port(), free_port());
    let allowed = format!("http://127.0.0.1:{allowed_port}");
    let other = format!("http://127.0.0.1:{other_port}");
    let server = TestServer::start(&format!(
        r#"
[[clients]]
client_id = "spa"
client_name = "Single-page app"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{allowed}/cb", "{other}/cb"]
post_logout_redirect_uris = ["{allowed}/signed-out", "{other}/signed-out"]
allowed_scopes = ["openid", "profile", "offline_access"]
allowed_cors_origins = ["{allowed}"]
require_consent = false

[[users]]
username = "alice"
password = "alice-password"
claims = {{ name = "Alice Smith" }}
"#
    ))
    .await;
    serve_app(allowed_port, &server.base, false).await;
    serve_app(other_port, &server.base, false).await;
    let browser = Chromium::start().await;

    // Sign in from the registered origin: the library exchanges the code, reads userinfo and
    // refreshes, all from JavaScript.
    sign_in_alice(&browser, &allowed).await;
    let signed_in = result(&browser).await;
    assert!(signed_in.get("error").is_none(), "{signed_in}");
    assert_eq!(signed_in["name"], "Alice Smith", "userinfo was read");
    let (first, renewed) = (&signed_in["first"], &signed_in["renewed"]);
    assert!(first["refresh"].is_string() && renewed["refresh"].is_string());
    assert_ne!(
        first["refresh"], renewed["refresh"],
        "the refresh token rotated"
    );
    assert_ne!(first["access"], renewed["access"]);

    // The same library on an origin the client did not register: the sign-in reaches the
    // callback (the redirect URI is registered) but the code exchange cannot be read.
    browser.goto(&format!("{other}/?action=signin")).await;
    browser.wait_for_url(&format!("{other}/cb")).await;
    let refused = result(&browser).await;
    assert!(
        refused["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{refused}"
    );
    assert!(refused.get("first").is_none(), "{refused}");

    // Direct calls with the live tokens from that origin: none can be read.
    let query = |t: &Value| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("action", "calls")
            .append_pair("access", t["access"].as_str().unwrap())
            .append_pair("refresh", t["refresh"].as_str().unwrap())
            .finish()
    };
    browser.goto(&format!("{other}/?{}", query(renewed))).await;
    let calls = result(&browser).await;
    for call in ["userinfo", "refresh", "revoke"] {
        assert!(blocked(&calls[call]), "{call} from {other}: {calls}");
    }

    // Back on the registered origin: revoke and sign out; the revoked refresh token is then
    // refused, and the page can read why.
    browser.goto(&format!("{allowed}/?action=signout")).await;
    browser.wait_for_url(&format!("{allowed}/signed-out")).await;
    let signed_out = result(&browser).await;
    assert_eq!(signed_out["signedOut"], true, "{signed_out}");
    assert!(signed_out["user"].is_null());
    let after = &signed_out["refreshAfterSignOut"];
    assert_eq!(after["status"], 400, "{signed_out}");
    let body: Value = serde_json::from_str(after["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"], "invalid_grant");
    browser.quit().await;
    server.stop().await;
}

/// oidc-client-ts with its DPoP settings (RFC 9449; SEC-29, SEC-31): the code is bound with
/// `dpop_jkt`, the code exchange and the refresh carry the library's proofs, every token is a
/// DPoP token bound to its key, userinfo answers the page's call with a proof and not the bare
/// token (CVE-24). The client requires DPoP, so nothing unbound could have been issued.
#[tokio::test]
async fn oidc_client_ts_binds_its_tokens_with_dpop() {
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let server = TestServer::start(&format!(
        r#"
[[clients]]
client_id = "spa-dpop"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{origin}/cb"]
allowed_scopes = ["openid", "profile", "offline_access"]
allowed_cors_origins = ["{origin}"]
require_consent = false
require_dpop = true

[[users]]
username = "alice"
password = "alice-password"
claims = {{ name = "Alice Smith" }}
"#
    ))
    .await;
    serve_app(port, &server.base, true).await;
    let browser = Chromium::start().await;
    sign_in_alice(&browser, &origin).await;
    let r = result(&browser).await;
    assert!(r.get("error").is_none(), "{r}");
    let bound = &r["bound"];
    assert_eq!(bound["token_type"], "DPoP", "{r}");
    assert!(bound["cnf"]["jkt"].is_string(), "{r}");
    assert_eq!(bound["userinfo"]["status"], 200, "{r}");
    let claims: Value = serde_json::from_str(bound["userinfo"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(claims["name"], "Alice Smith");
    // Stripped to a bearer token it is refused (and, refused, not readable by the page).
    assert!(
        blocked(&bound["asBearer"]) || bound["asBearer"]["status"] == 401,
        "{r}"
    );
    let renewed = &r["renewed"];
    assert_eq!(renewed["token_type"], "DPoP", "{r}");
    assert_eq!(renewed["cnf"], bound["cnf"], "the refresh keeps the key");
    assert_eq!(renewed["rotated"], true);
    browser.quit().await;
    server.stop().await;
}
