//! A TV signs in with the `openidconnect` crate's device flow (RFC 8628), polling at the
//! interval it is given and slowing down when told, while headless Chromium, as the user's
//! phone, opens `verification_uri_complete`, signs in and allows the TV.

use std::time::Duration;

use openidconnect::core::{
    CoreClient, CoreDeviceAuthorizationResponse, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthType, ClientId, DeviceAuthorizationUrl, IssuerUrl, Nonce, OAuth2TokenResponse as _, Scope,
    TokenResponse as _,
};

use crate::device::config;
use crate::support::{TestServer, oidc_http};
use crate::webdriver::Chromium;

#[tokio::test]
async fn a_tv_polls_with_openidconnect_while_chromium_enters_the_code() {
    let server = TestServer::start(&format!(
        "{}\n[device_flow]\npolling_interval = 1\n",
        config()
    ))
    .await;
    // The in-memory limits' clock stands still in tests; here it runs a little faster than
    // real time, so that a device waiting its interval is never early.
    let clock = server.monotonic.clone();
    let ticking = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            clock.advance(Duration::from_millis(110));
        }
    });
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(server.base.clone()).unwrap(),
        &oidc_http,
    )
    .await
    .unwrap();
    let client = CoreClient::from_provider_metadata(metadata, ClientId::new("tv".into()), None)
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(server.url("/device_authorization")).unwrap(),
        )
        .set_auth_type(AuthType::RequestBody);
    let details: CoreDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .request_async(&oidc_http)
        .await
        .unwrap();
    let user_code = details.user_code().secret().clone();
    let link = details
        .verification_uri_complete()
        .expect("verification_uri_complete")
        .secret()
        .clone();

    let tv = async {
        client
            .exchange_device_access_token(&details)
            .unwrap()
            .request_async(
                &oidc_http,
                tokio::time::sleep,
                Some(Duration::from_secs(90)),
            )
            .await
    };
    let phone = async {
        let browser = Chromium::start().await;
        browser.goto(&link).await;
        let page = browser.source().await;
        assert!(
            page.contains(&user_code),
            "the link fills the code in: {page}"
        );
        browser.click("button[type=submit]").await;
        browser.wait_for_url("/login").await;
        browser.type_into("#username", "alice").await;
        browser.type_into("#password", "alice-password").await;
        browser.click("button[value=login]").await;
        browser.wait_for_url("/consent").await;
        let consent = browser.source().await;
        assert!(consent.contains("Living-room TV") && consent.contains(&user_code));
        browser.click("button[value=allow]").await;
        for _ in 0..100 {
            if browser.source().await.contains("Your device is connected") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(browser.source().await.contains("Your device is connected"));
        browser.quit().await;
    };
    let (tokens, ()) = tokio::join!(tv, phone);
    let tokens = tokens.unwrap_or_else(|e| panic!("the TV got no tokens: {e:?}"));
    ticking.abort();

    // The library verifies the identity token (signature, issuer, audience, expiry) itself.
    let id_token = tokens.id_token().expect("an identity token");
    let claims = id_token
        .claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
        .unwrap();
    let userinfo: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&oidc_http)
        .await
        .unwrap();
    let name = userinfo
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str());
    assert_eq!(name, Some("Alice Smith"));
    // The TV stays signed in: its refresh token rotates.
    let refresh = tokens
        .refresh_token()
        .expect("offline_access gave a refresh token");
    let refreshed = client
        .exchange_refresh_token(refresh)
        .unwrap()
        .request_async(&oidc_http)
        .await
        .unwrap();
    let next = refreshed.refresh_token().expect("a new refresh token");
    assert_ne!(next.secret(), refresh.secret());
    server.stop().await;
}
