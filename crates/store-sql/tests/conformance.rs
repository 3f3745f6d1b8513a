//! The store conformance suite on every backend: memory, SQLite and PostgreSQL.
//!
//! PostgreSQL tests need `TESSERA_TEST_DATABASE_URL` (a server where the user may create
//! databases); `scripts/test.sh` starts a throw-away cluster and sets it. They fail, rather than
//! pass silently, when it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;

use tessera_core::store::Store;
use tessera_store_sql::{SqlOptions, SqlStore};

mod memory {
    tessera_core::store_conformance_tests!(async {
        std::sync::Arc::new(tessera_core::store::MemoryStore::new())
    });
}

mod sqlite {
    tessera_core::store_conformance_tests!(super::fresh_sqlite());
}

mod postgres {
    tessera_core::store_conformance_tests!(super::fresh_postgres());
}

async fn fresh_sqlite() -> Arc<dyn Store> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tessera.db");
    // The directory must outlive the store: leak it for the test's lifetime.
    std::mem::forget(dir);
    let url = format!("sqlite://{}", path.display());
    Arc::new(SqlStore::open(&url, &SqlOptions::default()).await.unwrap())
}

/// A new, empty database on the test PostgreSQL server.
pub async fn fresh_postgres() -> Arc<dyn Store> {
    let admin_url = std::env::var("TESSERA_TEST_DATABASE_URL").expect(
        "TESSERA_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh, which starts \
         a throw-away PostgreSQL server",
    );
    let name = format!(
        "conformance_{}",
        tessera_core::crypto::random_bytes(8)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let url = tessera_store_sql::create_postgres_database(&admin_url, &name)
        .await
        .unwrap();
    Arc::new(SqlStore::open(&url, &SqlOptions::default()).await.unwrap())
}

#[tokio::test]
async fn sqlite_migrations_are_idempotent_and_data_survives_reopen() {
    use tessera_core::model::KeyRecord;
    use tessera_core::secret::Secret;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = SqlStore::open(&url, &SqlOptions::default()).await.unwrap();
    assert!(
        store.migrate().await.unwrap().is_empty(),
        "nothing left to apply"
    );
    let key = KeyRecord {
        kid: "k".into(),
        alg: "ES256".into(),
        private_pkcs8: Secret::new(vec![1, 2, 3]),
        created_at: 1,
        activates_at: 1,
    };
    tessera_core::store::KeyStore::insert_key(&store, &key)
        .await
        .unwrap();
    store.close().await;
    let reopened = SqlStore::open(&url, &SqlOptions::default()).await.unwrap();
    assert_eq!(
        tessera_core::store::KeyStore::list_keys(&reopened)
            .await
            .unwrap(),
        vec![key]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { SqlStore::open(&url, &SqlOptions::default()).await })
        })
        .collect();
    for r in runs {
        r.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn unreachable_postgres_is_reported_unavailable() {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let options = SqlOptions {
        max_connections: 1,
        acquire_timeout: std::time::Duration::from_secs(2),
    };
    let err = SqlStore::connect("postgres://tessera@127.0.0.1:9/tessera", &options)
        .await
        .unwrap_err();
    assert!(
        matches!(err, tessera_core::store::StoreError::Unavailable(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn unsupported_url_is_refused_with_redacted_message() {
    let err = SqlStore::connect("mysql://root:hunter2@localhost/db", &SqlOptions::default())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("unsupported database URL"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

/// SQLite file of `dir`, opened as a store.
async fn sqlite_in(dir: &std::path::Path) -> (String, SqlStore) {
    let url = format!("sqlite://{}", dir.join("t.db").display());
    let store = SqlStore::open(&url, &SqlOptions::default()).await.unwrap();
    (url, store)
}

/// The database holds the signing keys: its files are created for their owner only, and a file
/// other accounts can read is refused with the fix.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_private_and_readable_ones_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = sqlite_in(dir.path()).await;
    tessera_core::store::ClientStore::list_clients(&store)
        .await
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("t.db{suffix}"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", file.display());
    }
    store.close().await;
    let db = dir.path().join("t.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = SqlStore::open(&url, &SqlOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("other accounts") && refused.contains("chmod 600"),
        "{refused}"
    );
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    SqlStore::open(&url, &SqlOptions::default()).await.unwrap();
}

fn file_size(dir: &std::path::Path) -> u64 {
    ["t.db", "t.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// REL-12: expired entries are purged and the file gives their space back (incremental
/// vacuum); a file made before incremental vacuum was the default is converted once.
#[tokio::test]
async fn rel12_purged_space_is_given_back_to_the_file_system() {
    use tessera_core::model::Grant;
    use tessera_core::store::{GrantStore as _, Store as _};
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = sqlite_in(dir.path()).await;
    store.close().await;
    // A file of the old kind: no auto-vacuum.
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    conn.execute_batch("PRAGMA auto_vacuum = NONE; VACUUM;")
        .unwrap();
    drop(conn);
    let store = SqlStore::open(&url, &SqlOptions::default()).await.unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    let mode: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, 2, "converted to incremental auto-vacuum");
    drop(conn);

    let padding = "x".repeat(16 * 1024);
    for i in 0..1_500 {
        let grant = Grant {
            handle_digest: format!("parked-{i}"),
            kind: tessera_core::model::GrantKind::ParkedRequest,
            client_id: "c".into(),
            subject: None,
            session_id: None,
            family: None,
            lookup_digest: None,
            data: serde_json::Value::String(padding.clone()),
            version: 0,
            created_at: 0,
            expires_at: 100,
            consumed_at: None,
        };
        store.insert_grant(&grant).await.unwrap();
    }
    store.reclaim_space().await.unwrap();
    let full = file_size(dir.path());
    assert!(full > 20 * 1024 * 1024, "{full} bytes");
    assert_eq!(store.purge_expired_grants(101).await.unwrap(), 1_500);
    assert!(store.find_grant("parked-0").await.unwrap().is_none());
    store.reclaim_space().await.unwrap();
    let after = file_size(dir.path());
    assert!(
        after < full / 10,
        "the file kept its space: {full} bytes before, {after} after"
    );
}

/// Grants as version 2 of the schema stored them: a consent remembered as a list of scopes, a
/// session's client record (no data), a refresh token.
const VERSION_2_GRANTS: &str = "
    CREATE TABLE tessera_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL);
    INSERT INTO tessera_migrations (version, name) VALUES (1, 'initial'), (2, 'server_secrets');
    INSERT INTO grants (handle_digest, kind, client_id, subject, session_id, family, data,
                        created_at, expires_at, consumed_at)
    VALUES ('consent-1', 'consent', 'web', 'alice', NULL, NULL, '[\"openid\",\"profile\"]',
            1, 5000, NULL),
           ('client-1', 'session_client', 'web', 'alice', 'sid-1', NULL, 'null', 1, 5000, NULL),
           ('refresh-1', 'refresh_token', 'web', 'alice', 'sid-1', 'fam', '{\"scopes\":[]}',
            1, 5000, 2);
";

/// The grants of [`VERSION_2_GRANTS`] after the migrations that followed: every kind and
/// payload reads as before, with no lookup key and version 0, and they can be decided on.
async fn version_2_grants_read_as_before(store: &dyn Store) {
    use tessera_core::model::GrantKind;
    use tessera_core::sessions::RememberedConsent;
    let consent = store.find_grant("consent-1").await.unwrap().unwrap();
    assert_eq!(consent.kind, GrantKind::Consent);
    assert_eq!(
        (consent.lookup_digest.as_deref(), consent.version),
        (None, 0)
    );
    let remembered: RememberedConsent = consent.payload().unwrap();
    assert_eq!(remembered.scopes, ["openid", "profile"]);
    let client = store.find_grant("client-1").await.unwrap().unwrap();
    assert_eq!(client.kind, GrantKind::SessionClient);
    assert_eq!(client.data, serde_json::Value::Null);
    let refresh = store.find_grant("refresh-1").await.unwrap().unwrap();
    assert_eq!(
        (refresh.kind, refresh.family.as_deref(), refresh.consumed_at),
        (GrantKind::RefreshToken, Some("fam"), Some(2))
    );
    let decided = serde_json::json!({"scopes": ["openid"], "claims": []});
    assert!(
        store
            .update_grant_data("consent-1", GrantKind::Consent, 0, &decided, 10)
            .await
            .unwrap()
    );
}

/// A SQLite database of schema version 2 is migrated with its grants readable as before.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_grants_of_schema_version_2_read_as_before() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(include_str!("../migrations/0001_initial.sql"))
        .unwrap();
    conn.execute_batch(include_str!("../migrations/0002_server_secrets.sql"))
        .unwrap();
    conn.execute_batch(VERSION_2_GRANTS).unwrap();
    drop(conn);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let url = format!("sqlite://{}", path.display());
    let store = SqlStore::open(&url, &SqlOptions::default()).await.unwrap();
    version_2_grants_read_as_before(&store).await;
}

/// A PostgreSQL database of schema version 2 is migrated with its grants readable as before.
#[tokio::test]
async fn postgres_grants_of_schema_version_2_read_as_before() {
    use sqlx::Connection as _;
    let admin_url = std::env::var("TESSERA_TEST_DATABASE_URL")
        .expect("TESSERA_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh");
    let name = format!(
        "version2_{}",
        tessera_core::crypto::random_bytes(8)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let url = tessera_store_sql::create_postgres_database(&admin_url, &name)
        .await
        .unwrap();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    for sql in [
        include_str!("../migrations/0001_initial.sql"),
        include_str!("../migrations/0002_server_secrets.sql"),
        VERSION_2_GRANTS,
    ] {
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    let store = SqlStore::open(&url, &SqlOptions::default()).await.unwrap();
    version_2_grants_read_as_before(&store).await;
}
