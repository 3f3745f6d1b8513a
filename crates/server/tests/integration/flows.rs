//! The sign-in the tests share: a user through the login and consent pages in a scripted
//! browser, then the code redeemed with the PKCE verifier.

use serde_json::Value;

use crate::browser::{Browser, Landing};
use crate::signin::{VERIFIER, authorize_url, redeem};
use crate::support::TestServer;

/// What a sign-in asks for; [`SignIn::new`] fills in the usual.
pub struct SignIn<'a> {
    /// The client's id and secret (empty for a public client).
    pub client: (&'a str, &'a str),
    /// Its registered redirect URI.
    pub redirect: &'a str,
    /// The scopes asked for, `+`-separated.
    pub scope: &'a str,
    /// The user's name and password, typed on the login page where it is shown.
    pub user: (&'a str, &'a str),
    /// The `nonce` of the request, if any.
    pub nonce: Option<&'a str>,
    /// Whether the consent page, where it is shown, is told to remember the decision.
    pub remember_consent: bool,
}

impl<'a> SignIn<'a> {
    /// `user` signs in to `client` at `redirect` for `scope`, with the nonce `n-1`, and
    /// consent is remembered.
    pub fn new(
        client: (&'a str, &'a str),
        redirect: &'a str,
        scope: &'a str,
        user: (&'a str, &'a str),
    ) -> Self {
        SignIn {
            client,
            redirect,
            scope,
            user,
            nonce: Some("n-1"),
            remember_consent: true,
        }
    }
}

/// How a sign-in went.
pub struct SignedIn {
    /// The token response.
    pub tokens: Value,
    /// The URL of the login page, when one was shown (none under single sign-on).
    pub login_page: Option<String>,
}

/// Runs `how` on `browser`: the authorization request, the login page and the consent page
/// where they are shown, and the code's redemption, which must succeed.
pub async fn sign_in(server: &TestServer, browser: &Browser, how: SignIn<'_>) -> SignedIn {
    let mut params = format!("&scope={}", how.scope);
    if let Some(nonce) = how.nonce {
        params.push_str(&format!("&nonce={nonce}"));
    }
    let url = authorize_url(server, how.client.0, how.redirect, &params);
    let mut landing = browser.open(&url).await;
    let login_page = match &landing {
        Landing::Page { url, .. } if landing.is_login() => Some(url.clone()),
        _ => None,
    };
    if landing.is_login() {
        landing = browser.login(&landing, how.user.0, how.user.1).await;
    }
    if landing.is_consent() {
        landing = browser.allow(&landing, how.remember_consent).await;
    }
    let code = landing.param("code").expect("a code");
    let (status, tokens) = redeem(server, how.client, how.redirect, &code, Some(VERIFIER)).await;
    assert_eq!(status, 200, "{tokens}");
    SignedIn { tokens, login_page }
}
