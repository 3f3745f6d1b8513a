//! `tessera sessions list` and `tessera sessions end`: the operator ends sessions as a
//! sign-out would, and the back-channel deliveries are waited for and reported.

use crate::browser::Browser;
use crate::signin::{VERIFIER, authorize_url, jwt_claims, redeem, refresh};
use crate::signout::{clients, receiver, tokens, verify_logout_token};
use crate::support::{TestServer, free_port};

// Multi-threaded: the CLI runs as a blocking child process while the test's back-channel
// receiver answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_session_from_the_cli_revokes_what_belonged_to_it() {
    let port = free_port();
    let received = receiver(port).await;
    let extra = clients(port, free_port());
    let server = TestServer::start(&extra).await;
    let browser = Browser::new(&server.base);
    let alpha = tokens(&server, &browser, "alpha", "openid+offline_access").await;
    tokens(&server, &browser, "beta", "openid").await;
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
    let sid = jwt_claims(alpha["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_string();

    // The operator's configuration: same database and issuer.
    let dir = server.dir.as_ref().unwrap().path();
    let port_of = server.running.local_addr.port();
    let config = crate::support::write_file(
        dir,
        "operator.toml",
        &crate::support::config_text(port_of, &crate::support::sqlite_url(dir), &extra),
    );
    let list = crate::support::run_cli(&config, &["sessions", "list", "--client", "beta"], "");
    assert!(list.status.success());
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains(&sid) && listed.contains("alice") && listed.contains("alpha,beta"));
    let none = crate::support::run_cli(&config, &["sessions", "list", "--client", "slow"], "");
    assert!(!String::from_utf8_lossy(&none.stdout).contains(&sid));
    let refused = crate::support::run_cli(&config, &["sessions", "end"], "");
    assert!(!refused.status.success(), "ending needs a selection");

    let ended = crate::support::run_cli(&config, &["sessions", "end", "--user", "alice"], "");
    assert!(
        ended.status.success(),
        "{}",
        String::from_utf8_lossy(&ended.stderr)
    );
    let out = String::from_utf8_lossy(&ended.stdout);
    assert!(
        out.contains("ended 1 session(s); back-channel logout delivered to 2 of 2 client(s)"),
        "{out}"
    );
    let got = received.lock().unwrap().clone();
    for client in ["alpha", "beta"] {
        let (_, token) = got.iter().find(|(who, _)| who == client).unwrap();
        assert_eq!(
            verify_logout_token(&server, token, client).await["sid"],
            sid.as_str()
        );
    }
    // Signed out everywhere, the session's code revoked, the offline refresh token kept.
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
    let (status, _) = redeem(
        &server,
        ("beta", "beta-secret"),
        "https://beta.example/cb",
        &pending,
        Some(VERIFIER),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = refresh(
        &server,
        ("alpha", "alpha-secret"),
        alpha["refresh_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(status, 200);
}
