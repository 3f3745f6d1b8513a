//! Signing keys encrypted at rest (`[keys] encryption_key` / `encryption_key_file`): the
//! database holds no usable private key, the server refuses to start without the right
//! key-encryption key, keys stored in clear are sealed at start, and `tessera keys reencrypt`
//! moves them to a new one.

use tessera_core::Clock as _;
use tessera_server::clock::Clocks;
use tessera_server::config::load_str;

use crate::support::{TestServer, config_text, free_port, run_cli, sqlite_url, write_file};
use crate::tokens::{MACHINES, client_credentials};

const OLD: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const NEW: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// Lands in the test configuration's `[keys]` table.
fn with_kek(kek: &str) -> String {
    format!("encryption_key = \"{kek}\"\n{MACHINES}")
}

/// The stored material of every key.
fn stored(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let db = rusqlite::Connection::open(dir.join("tessera.db")).unwrap();
    let mut q = db
        .prepare("SELECT private_pkcs8 FROM signing_keys")
        .unwrap();
    q.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|s| tessera_core::crypto::base64url_decode(&s.unwrap()).unwrap())
        .collect()
}

/// Why a server on `url` with `extra` does not start.
async fn refusal(url: &str, extra: &str) -> String {
    crate::support::init();
    let config = load_str(&config_text(free_port(), url, extra), false).unwrap();
    let clock = std::sync::Arc::new(tessera_core::FixedClock::new(
        tessera_core::SystemClock.now(),
    ));
    let clocks = Clocks {
        wall: clock,
        monotonic: std::sync::Arc::new(tessera_server::clock::ManualMonotonicClock::new()),
    };
    match tessera_server::serve::start(config, clocks).await {
        Ok(_) => panic!("started"),
        Err(e) => format!("{e:#}"),
    }
}

async fn issues_tokens(server: &TestServer) {
    let (status, body) = client_credentials(server, "machine", "machine-secret", &[]).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn sec43_keys_are_sealed_at_rest_and_need_their_key_encryption_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    // Keys made in clear before a KEK was configured…
    let server = TestServer::start_on(&url, MACHINES).await;
    issues_tokens(&server).await;
    server.stop().await;
    assert!(
        stored(dir.path()).iter().all(|k| k[0] == 0x30),
        "clear PKCS#8 at first"
    );
    // …are sealed at the first start with one, and keep signing.
    let server = TestServer::start_on(&url, &with_kek(OLD)).await;
    let kids_before = server.get_json(tessera_core::protocol::paths::JWKS).await;
    issues_tokens(&server).await;
    server.stop().await;
    let keys = stored(dir.path());
    assert_eq!(keys.len(), 2);
    for key in &keys {
        assert!(key.starts_with(b"tessera-sealed-v1:"), "sealed");
    }
    // A copy of the database holds no private key in any form a reader could use.
    let mut dump = std::fs::read(dir.path().join("tessera.db")).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("tessera.db-wal")) {
        dump.extend(wal);
    }
    // The DER prefixes of PKCS#8 EC P-256 and RSA private keys, as stored (base64url).
    for clear_prefix in [
        "AgEAMBMGByqGSM49AgEGCCqGSM49AwEH",
        "ADANBgkqhkiG9w0BAQEFAASC",
    ] {
        assert!(
            !dump
                .windows(clear_prefix.len())
                .any(|w| w == clear_prefix.as_bytes()),
            "{clear_prefix}"
        );
    }

    // Without the KEK, or with another, the server says why and does not start.
    let why = refusal(&url, MACHINES).await;
    assert!(
        why.contains("encrypted") && why.contains("TESSERA_KEYS__ENCRYPTION_KEY"),
        "{why}"
    );
    let why = refusal(&url, &with_kek(NEW)).await;
    assert!(why.contains("another key-encryption key"), "{why}");
    let short = config_text(free_port(), &url, "encryption_key = \"c2hvcnQ=\"\n");
    let why = load_str(&short, false).unwrap_err().to_string();
    assert!(
        why.contains("keys.encryption_key") && why.contains("32 random bytes"),
        "{why}"
    );

    // keys reencrypt moves them to the new KEK; the same keys sign.
    let old_file = write_file(dir.path(), "old.kek", OLD);
    let config = write_file(
        dir.path(),
        "tessera.toml",
        &format!(
            "database_url = \"{url}\"\n[keys]\nencryption_key_file = \"{}\"\n",
            write_file(dir.path(), "new.kek", NEW).display()
        ),
    );
    let out = run_cli(&config, &["keys", "reencrypt"], "");
    assert!(
        !out.status.success(),
        "without the old KEK the sealed keys cannot be opened"
    );
    assert_eq!(stored(dir.path()), keys, "nothing rewritten");
    let out = run_cli(
        &config,
        &[
            "keys",
            "reencrypt",
            "--from-key-file",
            old_file.to_str().unwrap(),
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 signing key(s) stored under"));
    let server = TestServer::start_on(&url, &with_kek(NEW)).await;
    assert_eq!(
        server.get_json(tessera_core::protocol::paths::JWKS).await,
        kids_before
    );
    issues_tokens(&server).await;
    server.stop().await;
    let why = refusal(&url, &with_kek(OLD)).await;
    assert!(why.contains("another key-encryption key"), "{why}");
    // The log and the error never show a KEK.
    assert!(!why.contains(OLD) && !why.contains(NEW));
}
