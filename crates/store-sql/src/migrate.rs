//! Schema migrations, embedded in the binary and applied in order under a lock.

use sqlx::{AnyPool, Connection as _, Executor, Row};
use tessera_core::store::{StoreError, StoreResult};

use crate::Backend;
use crate::error::map_err;

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// Every migration, oldest first. Each has an SQLite and a PostgreSQL text; they are the
/// same file while the portable subset suffices.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sqlite: include_str!("../migrations/0001_initial.sql"),
        postgres: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "server_secrets",
        sqlite: include_str!("../migrations/0002_server_secrets.sql"),
        postgres: include_str!("../migrations/0002_server_secrets.sql"),
    },
    Migration {
        version: 3,
        name: "grant_lookup_and_version",
        sqlite: include_str!("../migrations/0003_grant_lookup_and_version.sql"),
        postgres: include_str!("../migrations/0003_grant_lookup_and_version.sql"),
    },
    Migration {
        version: 4,
        name: "factors_and_links",
        sqlite: include_str!("../migrations/0004_factors_and_links.sql"),
        postgres: include_str!("../migrations/0004_factors_and_links.sql"),
    },
    Migration {
        version: 5,
        name: "attempt_counters",
        sqlite: include_str!("../migrations/0005_attempt_counters.sql"),
        postgres: include_str!("../migrations/0005_attempt_counters.sql"),
    },
];

/// Takes Tessera's migration lock in PostgreSQL (an arbitrary constant key).
const PG_LOCK: &str = "SELECT pg_advisory_xact_lock(2119559072)";

pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> StoreResult<Vec<i64>> {
    let mut conn = pool.acquire().await.map_err(map_err)?;
    // Take the database-wide lock first so that two instances starting together apply each
    // migration once: SQLite's write lock, PostgreSQL's transaction-scoped advisory lock.
    // The transaction rolls back if anything below fails or the future is dropped.
    let mut tx = match backend {
        Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => conn.begin().await,
    }
    .map_err(map_err)?;
    if backend == Backend::Postgres {
        tx.execute(PG_LOCK).await.map_err(map_err)?;
    }
    let applied = apply_pending(&mut tx, backend).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(applied)
}

async fn apply_pending(conn: &mut sqlx::AnyConnection, backend: Backend) -> StoreResult<Vec<i64>> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tessera_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL
        )",
    )
    .await
    .map_err(map_err)?;
    let rows = sqlx::query("SELECT version FROM tessera_migrations")
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    let mut done = Vec::with_capacity(rows.len());
    for row in rows {
        done.push(row.try_get::<i64, _>("version").map_err(map_err)?);
    }
    if let Some(newest) = done.iter().max()
        && *newest > MIGRATIONS.last().map_or(0, |m| m.version)
    {
        return Err(StoreError::Internal(format!(
            "the database schema (version {newest}) is newer than this tessera binary; \
             upgrade the binary"
        )));
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        let sql = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        sqlx::raw_sql(sql)
            .execute(&mut *conn)
            .await
            .map_err(|e| StoreError::Internal(format!("migration {} failed: {e}", m.name)))?;
        sqlx::query("INSERT INTO tessera_migrations (version, name) VALUES ($1, $2)")
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied schema migration"
        );
        applied.push(m.version);
    }
    Ok(applied)
}
