//! Signing keys: JWKS content, signatures that verify with a third-party library, persistence
//! across restarts, and rotation (published before use, retired after retention).

use jsonwebtoken::jwk::{Jwk, JwkSet, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Value, json};
use tessera_core::tokens::jws::sign_compact;
use tessera_core::tokens::keys::SigningAlg;

use crate::support::{
    ServerProcess, TestServer, config_text, eventually, free_port, run_cli, sqlite_url, write_file,
};

const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "k", "oth"];

async fn jwks(base: &str) -> Value {
    reqwest::get(format!("{base}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn jwks_holds_public_keys_only_with_thumbprint_kids() {
    let server = TestServer::start("").await;
    let response = reqwest::get(server.url("/.well-known/jwks.json"))
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/jwk-set+json"
    );
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let doc: Value = response.json().await.unwrap();
    let keys = doc["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "ES256 and RS256 by default");
    for key in keys {
        for member in PRIVATE_MEMBERS {
            assert!(key.get(*member).is_none(), "JWKS leaks `{member}`");
        }
        assert_eq!(key["use"], "sig");
        // The kid is the RFC 7638 thumbprint, computed by a third-party library.
        let jwk: Jwk = serde_json::from_value(key.clone()).unwrap();
        assert_eq!(
            jwk.thumbprint(ThumbprintHash::SHA256).unwrap(),
            key["kid"].as_str().unwrap()
        );
    }
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, ["ES256", "RS256"]);
    assert_eq!(keys[0]["crv"], "P-256");
    // RSA keys are 2048 bits: a 256-byte modulus.
    let n = tessera_core::crypto::base64url_decode(keys[1]["n"].as_str().unwrap()).unwrap();
    assert_eq!(n.len(), 256);
    server.stop().await;
}

/// A token signed by the server's active keys verifies with the JWKS it publishes, checked by
/// `jsonwebtoken` (which picks the key by kid, as a relying party does).
#[tokio::test]
async fn server_signatures_verify_with_published_jwks() {
    let server = TestServer::start("").await;
    let set: JwkSet = serde_json::from_value(jwks(&server.base).await).unwrap();
    let ring = server.running.state.keys.current();
    for (alg, theirs) in [
        (SigningAlg::Es256, Algorithm::ES256),
        (SigningAlg::Rs256, Algorithm::RS256),
    ] {
        let key = ring.signing_key(alg).unwrap();
        let claims = json!({"iss": server.base, "sub": "alice", "aud": "web", "exp": server.clock.now_plus(300)});
        let token = sign_compact(key, "JWT", &claims).unwrap();
        let kid = decode_header(&token).unwrap().kid.unwrap();
        let jwk = set.find(&kid).expect("signing key is published");
        let mut validation = Validation::new(theirs);
        validation.set_audience(&["web"]);
        validation.set_issuer(&[&server.base]);
        let verified =
            decode::<Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap();
        assert_eq!(verified.claims["sub"], "alice");
        // And a token with a changed payload does not verify.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged =
            tessera_core::crypto::base64url(br#"{"sub":"mallory","aud":"web","exp":9999999999}"#);
        parts[1] = &forged;
        assert!(
            decode::<Value>(
                &parts.join("."),
                &DecodingKey::from_jwk(jwk).unwrap(),
                &validation
            )
            .is_err()
        );
    }
    server.stop().await;
}

trait NowPlus {
    fn now_plus(&self, seconds: i64) -> i64;
}
impl NowPlus for tessera_core::FixedClock {
    fn now_plus(&self, seconds: i64) -> i64 {
        tessera_core::Clock::now(self) + seconds
    }
}

/// The real binary: keys created on first start are the ones served after a restart, and
/// SIGTERM stops the server cleanly (exit status 0).
#[tokio::test]
async fn keys_survive_a_restart_of_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_file(
        dir.path(),
        "tessera.toml",
        &config_text(port, &sqlite_url(dir.path()), ""),
    );
    let first = ServerProcess::start(&config, port).await;
    let before = kids(&jwks(&first.base).await);
    assert_eq!(before.len(), 2);
    let status = first.terminate();
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );

    let second = ServerProcess::start(&config, port).await;
    assert_eq!(kids(&jwks(&second.base).await), before);
    assert!(second.terminate().success());
}

/// `tessera keys rotate`: the new key is in JWKS at once but does not sign until the
/// propagation time has passed; the old key stays published for the retention period.
#[tokio::test]
async fn rotated_key_is_published_before_it_signs_and_retired_after_retention() {
    let server = TestServer::start("").await;
    let dir = server.dir.as_ref().unwrap().path().to_path_buf();
    let es256 = |s: &TestServer| {
        s.running
            .state
            .keys
            .current()
            .signing_key(SigningAlg::Es256)
            .unwrap()
            .kid()
            .to_string()
    };
    let old = es256(&server);

    let port = server.running.local_addr.port();
    let config = write_file(&dir, "cli.toml", &config_text(port, &sqlite_url(&dir), ""));
    let out = run_cli(&config, &["keys", "rotate", "--alg", "ES256"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let new = stdout
        .split_whitespace()
        .nth(3)
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    assert_ne!(new, old);

    // Published ahead of use (the server re-reads keys every second).
    eventually("the rotated key to appear in JWKS", || async {
        kids(&jwks(&server.base).await).contains(&new)
    })
    .await;
    assert_eq!(
        es256(&server),
        old,
        "the new key must not sign before propagation"
    );

    // After the propagation time (1 h by default) the new key signs; the old one is still
    // published for tokens it signed. The CLI stamped the key with the real clock, which may
    // be a few seconds ahead of the server's fixed one: step past the boundary by a margin.
    server.clock.advance(3_600 + 120);
    eventually("the rotated key to start signing", || async {
        es256(&server) == new
    })
    .await;
    assert!(kids(&jwks(&server.base).await).contains(&old));

    // After the retention period (1 day by default) the old key leaves JWKS.
    server.clock.advance(86_400 - 120 + 60);
    eventually("the old key to be retired", || async {
        !kids(&jwks(&server.base).await).contains(&old)
    })
    .await;
    let listed =
        String::from_utf8_lossy(&run_cli(&config, &["keys", "list"], "").stdout).to_string();
    assert!(
        !listed.contains(&old),
        "retired key deleted from the store:\n{listed}"
    );
    server.stop().await;
}
