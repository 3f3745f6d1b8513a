//! What the configuration says of users holds from the first request: disabled flags and
//! removals are applied before the server listens (the attack run signed a disabled user in
//! 0.09 s after a restart); only the hashing of configured passwords runs in the background.

use std::sync::Arc;

use tessera_core::{Clock as _, FixedClock, SystemClock};
use tessera_server::clock::{Clocks, SystemMonotonicClock};
use tessera_server::config::load_str;
use tessera_server::serve::start;

use crate::support::{config_text, free_port, init, sqlite_url};

const USERS: &str = r#"
[[users]]
username = "alice"
password = "alice-password"

[[users]]
username = "carol"
password = "carol-password"
"#;

#[tokio::test]
async fn disabled_and_removed_users_are_applied_before_the_server_listens() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let clocks = Clocks {
        wall: Arc::new(FixedClock::new(SystemClock.now())),
        monotonic: Arc::new(SystemMonotonicClock),
    };
    let config = |extra: &str| load_str(&config_text(free_port(), &url, extra), false).unwrap();
    let first = start(config(USERS), clocks.clone()).await.unwrap();
    let store = first.state.store.clone();
    let carol = store.find_user_by_username("carol").await.unwrap().unwrap();
    first.shutdown().await.unwrap();

    // Alice disabled, carol gone, dave new: true as soon as `start` returns, when the
    // listener is up and before any background work.
    let second = start(
        config(
            r#"
[[users]]
username = "alice"
password = "alice-password"
disabled = true

[[users]]
username = "dave"
password = "dave-password"
"#,
        ),
        clocks,
    )
    .await
    .unwrap();
    let store = second.state.store.clone();
    let alice = store.find_user_by_username("alice").await.unwrap().unwrap();
    assert!(alice.disabled, "disabled before the first request");
    assert!(
        store
            .find_user_by_subject(&carol.subject)
            .await
            .unwrap()
            .is_none()
    );
    let dave = store.find_user_by_username("dave").await.unwrap().unwrap();
    assert!(!dave.disabled, "a new user exists from the start");
    second.shutdown().await.unwrap();
}

/// Disabling a user in the configuration ends what they hold (sessions, refresh and access
/// tokens): enabling them again revives none of it.
#[tokio::test]
async fn disabling_a_user_in_the_configuration_ends_what_they_hold() {
    use crate::browser::Browser;
    use crate::flows::{SignIn, sign_in};
    use crate::signin::{PEOPLE, refresh};
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let server = crate::support::TestServer::start_on(&url, PEOPLE).await;
    let browser = Browser::new(&server.base);
    let tokens = sign_in(
        &server,
        &browser,
        SignIn::new(
            ("web", "web-secret"),
            "https://web.example/cb",
            "openid+offline_access",
            ("bob", "bob-password"),
        ),
    )
    .await
    .tokens;
    server.stop().await;
    let disabled = PEOPLE.replace(
        "password = \"bob-password\"",
        "password = \"bob-password\"\ndisabled = true",
    );
    assert_ne!(disabled, PEOPLE);
    crate::support::TestServer::start_on(&url, &disabled)
        .await
        .stop()
        .await;
    let server = crate::support::TestServer::start_on(&url, PEOPLE).await;
    let status = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401, "the access token ended with the disabling");
    let (status, body) = refresh(
        &server,
        ("web", "web-secret"),
        tokens["refresh_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    server.stop().await;
}
