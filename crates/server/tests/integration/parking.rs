//! Browser POSTs to `/authorize` and `/end_session` are parked for a moment (they arrive
//! without our cookies). Parking is an unauthenticated write, so it is bounded: in size, per
//! address and overall; past a bound the browser gets our page that posts the form again from
//! our own site, so nobody is refused and nothing is stored. A used request is deleted at once
//! and unused ones are purged when they expire (REL-12), their space given back.

use reqwest::redirect::Policy;
use tessera_core::Clock as _;
use tessera_core::crypto::handle_digest;

use crate::signin::PEOPLE;
use crate::support::TestServer;

const PER_ADDRESS: usize = 20;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// POSTs an authorization request of the `web` client with `extra` parameters.
async fn post_authorize(
    http: &reqwest::Client,
    server: &TestServer,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("client_id", "web"),
        ("redirect_uri", "https://web.example/cb"),
        ("response_type", "code"),
        ("scope", "openid"),
    ];
    form.extend_from_slice(extra);
    http.post(server.url("/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// POSTs an authorization request; the status and the parked handle, if any.
async fn park(
    http: &reqwest::Client,
    server: &TestServer,
    padding: usize,
) -> (u16, Option<String>) {
    let response = post_authorize(http, server, &[("state", &"s".repeat(padding))]).await;
    let status = response.status().as_u16();
    let handle = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.split_once("continue="))
        .map(|(_, h)| h.to_string());
    (status, handle)
}

#[tokio::test]
async fn parked_requests_are_bounded_deleted_when_used_and_purged_when_expired() {
    let server = TestServer::start(PEOPLE).await;
    let http = no_redirects();
    let store = server.running.state.store.clone();

    // Too large to park: posted again from our page, not stored.
    let (status, handle) = park(&http, &server, 17 * 1024).await;
    assert_eq!((status, handle), (200, None));

    let mut handles = vec![];
    for _ in 0..PER_ADDRESS {
        let (status, handle) = park(&http, &server, 10).await;
        assert_eq!(status, 303);
        handles.push(handle.unwrap());
    }
    // The address parked its share: the next one is posted again from our page, with a
    // marker, and then handled at once (with the browser's cookies), nothing stored.
    let response = post_authorize(&http, &server, &[]).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    let action = server.url("/authorize").replace('/', "&#x2f;");
    assert!(page.contains(&format!(r#"action="{action}""#)), "{page}");
    assert!(page.contains(r#"name="resubmitted" value="1""#), "{page}");
    let again = post_authorize(&http, &server, &[("resubmitted", "1")]).await;
    assert_eq!(again.status(), 303);
    let location = again.headers()["location"].to_str().unwrap();
    assert!(
        location.contains("/login?interaction=") || location.contains("error="),
        "handled at once, not parked: {location}"
    );
    assert!(!location.contains("continue="));

    // A parked request is used once and deleted at once.
    let used = handles.pop().unwrap();
    assert!(
        store
            .find_grant(&handle_digest(&used))
            .await
            .unwrap()
            .is_some()
    );
    let response = http
        .get(server.url(&format!("/authorize?continue={used}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "continued to the login page");
    assert!(
        store
            .find_grant(&handle_digest(&used))
            .await
            .unwrap()
            .is_none()
    );

    // Unused ones expire and the purge removes them.
    server.clock.advance(121);
    let purged = tessera_server::serve::purge_expired(store.as_ref(), server.clock.now())
        .await
        .unwrap();
    assert!(purged >= handles.len() as u64, "{purged}");
    for handle in &handles {
        assert!(
            store
                .find_grant(&handle_digest(handle))
                .await
                .unwrap()
                .is_none()
        );
    }
    server.stop().await;
}
