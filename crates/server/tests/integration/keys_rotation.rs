//! SECURITY.md REL-08 (with shortened timings): a signing-key rotation under load breaks no
//! token. The new key is in JWKS before it signs its first token; tokens of the old key still
//! validate with a validator that cached JWKS before the rotation (our validation crate, which
//! refetches on an unknown kid).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tessera_validation::{TokenValidator, ValidationConfig};

use crate::support::{TestServer, config_text, eventually, run_cli, sqlite_url, write_file};
use crate::tokens::{MACHINES, client_credentials};

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn published_kids(server: &TestServer) -> Vec<String> {
    server.get_json("/.well-known/jwks.json").await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// Tokens the load gets from each key before the test moves on.
const TOKENS_PER_KEY: usize = 20;

#[tokio::test(flavor = "multi_thread")]
#[allow(clippy::disallowed_methods)] // orders real events: publication before first signature
async fn rel08_key_rotation_under_load_breaks_no_token() {
    let server = Arc::new(TestServer::start(MACHINES).await);
    let dir = server.dir.as_ref().unwrap().path().to_path_buf();
    let port = server.running.local_addr.port();
    let cli_config = write_file(&dir, "cli.toml", &config_text(port, &sqlite_url(&dir), ""));

    let mut config = ValidationConfig::new(&server.base, "urn:api1");
    config.jwks_refetch_interval = Duration::ZERO;
    let validator = TokenValidator::new(config).unwrap();
    let (status, first) = client_credentials(&server, "machine", "machine-secret", &[]).await;
    assert_eq!(status, 200);
    let old_kid = kid(first["access_token"].as_str().unwrap());
    validator
        .validate(first["access_token"].as_str().unwrap())
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    // Tokens issued so far by the old key and by another one.
    let (by_old_count, by_new_count) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (server, stop, old_kid) = (server.clone(), stop.clone(), old_kid.clone());
        let (by_old_count, by_new_count) = (by_old_count.clone(), by_new_count.clone());
        load.spawn(async move {
            let mut issued = vec![];
            while !stop.load(Ordering::SeqCst) {
                let (status, body) =
                    client_credentials(&server, "machine", "machine-secret", &[]).await;
                assert_eq!(
                    status, 200,
                    "a token request failed during the rotation: {body}"
                );
                let token = body["access_token"].as_str().unwrap().to_string();
                let counter = if kid(&token) == old_kid {
                    &by_old_count
                } else {
                    &by_new_count
                };
                counter.fetch_add(1, Ordering::SeqCst);
                issued.push((Instant::now(), token));
            }
            issued
        });
    }
    // Watches JWKS: when each kid was first published.
    let watcher = {
        let (server, stop) = (server.clone(), stop.clone());
        tokio::spawn(async move {
            let mut first_seen: Vec<(String, Instant)> = vec![];
            while !stop.load(Ordering::SeqCst) {
                let jwks = server.get_json("/.well-known/jwks.json").await;
                let seen = Instant::now();
                for key in jwks["keys"].as_array().unwrap() {
                    let kid = key["kid"].as_str().unwrap().to_string();
                    if !first_seen.iter().any(|(k, _)| *k == kid) {
                        first_seen.push((kid, seen));
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            first_seen
        })
    };

    eventually("tokens signed by the old key", || {
        let n = by_old_count.load(Ordering::SeqCst);
        async move { n >= TOKENS_PER_KEY }
    })
    .await;
    let before = published_kids(&server).await;
    let out = run_cli(
        &cli_config,
        &[
            "keys",
            "rotate",
            "--alg",
            "ES256",
            "--activate-in",
            "2",
            "--force",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The server's clock is fixed: move it past the new key's activation (the CLI stamped it
    // with the real clock, 2 s ahead) once the key is published.
    eventually("the new key to be published", || {
        let (server, before) = (server.clone(), before.clone());
        async move {
            published_kids(&server)
                .await
                .iter()
                .any(|k| !before.contains(k))
        }
    })
    .await;
    server.clock.advance(3);
    // Run until the new key has been signing for a while.
    eventually("tokens signed by the new key", || {
        let n = by_new_count.load(Ordering::SeqCst);
        async move { n >= TOKENS_PER_KEY }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let issued: Vec<(Instant, String)> = load.join_all().await.into_iter().flatten().collect();
    let first_seen = watcher.await.unwrap();

    let new_kids: Vec<&(String, Instant)> =
        first_seen.iter().filter(|(k, _)| *k != old_kid).collect();
    let by_new: Vec<&(Instant, String)> =
        issued.iter().filter(|(_, t)| kid(t) != old_kid).collect();
    let by_old = issued.len() - by_new.len();
    eprintln!(
        "REL-08: {} tokens during the rotation, {by_old} by the old key, {} by the new one",
        issued.len(),
        by_new.len()
    );
    assert!(
        by_old > 0 && !by_new.is_empty(),
        "the load spans the rotation"
    );
    let new_kid = kid(&by_new[0].1);
    let published = new_kids
        .iter()
        .find(|(k, _)| *k == new_kid)
        .map(|(_, at)| *at)
        .expect("the new key was published");
    let first_signed = by_new.iter().map(|(at, _)| *at).min().unwrap();
    assert!(
        published < first_signed,
        "the new key signed before it was published"
    );
    // Every token validates: old-key ones from the cached JWKS, new-key ones after a refetch.
    for (_, token) in issued.iter().step_by(5).chain(by_new.iter().copied()) {
        validator
            .validate(token)
            .await
            .unwrap_or_else(|e| panic!("a token of kid {} does not validate: {e:?}", kid(token)));
    }
    // The old key is still published, so its tokens validate until they expire.
    let kids = published_kids(&server).await;
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
}

/// `[keys] rotate_every`: each key is replaced on schedule (announced first, as `keys rotate`
/// does), and instances sharing a database make one new key between them, not one each.
#[tokio::test]
async fn keys_rotate_on_schedule_once_across_instances() {
    let url = crate::support::postgres_url().await;
    // Lands in the test configuration's [keys] table.
    let config = "rotate_every = 7200\n";
    let issuer = "http://127.0.0.1:9";
    let a = TestServer::start_instance(&url, Some(issuer), config).await;
    let b = TestServer::start_instance(&url, Some(issuer), config).await;
    let kids = |server: &TestServer| {
        let url = server.url(tessera_core::protocol::paths::JWKS);
        let http = server.http.clone();
        async move {
            let jwks: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
            jwks["keys"].as_array().unwrap().len()
        }
    };
    assert_eq!(kids(&a).await, 2, "ES256 and RS256");
    a.clock.advance(7_200);
    b.clock.advance(7_200);
    crate::support::eventually("each algorithm's key rotated", || async {
        kids(&a).await == 4 && kids(&b).await == 4
    })
    .await;
    // A few more refreshes of both: still one new key per algorithm.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(kids(&a).await, 4);
    assert_eq!(kids(&b).await, 4);
    a.stop().await;
    b.stop().await;
}
