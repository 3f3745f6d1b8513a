//! Tessera's SQL stores: SQLite (the embedded default) and PostgreSQL.
//!
//! One implementation serves both through sqlx's `Any` driver: the schema uses only TEXT and
//! BIGINT, `$n` placeholders work on both, and single-use grants are consumed with one
//! conditional `UPDATE ... RETURNING`, atomic on either database.

mod entities;
mod error;
mod grants;
mod migrate;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use tessera_core::store::{Store, StoreError, StoreResult};

use error::map_err;
pub use error::redact_database_url;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (`sqlite://path`).
    Sqlite,
    /// A PostgreSQL server (`postgres://` or `postgresql://`).
    Postgres,
}

impl Backend {
    /// The backend a database URL names, if any.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct SqlOptions {
    /// Pool size.
    pub max_connections: u32,
    /// How long a request waits for a connection before the store reports `Unavailable`.
    pub acquire_timeout: Duration,
}

impl Default for SqlOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// A store on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl SqlStore {
    /// Connects to `url`. An SQLite file is created when missing and put in WAL mode.
    pub async fn connect(url: &str, options: &SqlOptions) -> StoreResult<SqlStore> {
        install_default_drivers();
        let backend = Backend::of_url(url).ok_or_else(|| {
            StoreError::Internal(format!(
                "unsupported database URL `{}`: use sqlite://FILE or postgres://...",
                redact_database_url(url)
            ))
        })?;
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL: readers do not block the writer; FULL: a commit survives power
                        // loss; busy_timeout: writers queue instead of failing with BUSY.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(map_err)?;
        Ok(SqlStore {
            pool,
            backend,
            writer: std::sync::Arc::default(),
        })
    }

    /// On SQLite, this process's writes take turns: SQLite allows one writer at a time anyway,
    /// and waiting in this queue is fair and prompt, where waiting in SQLite's busy handler is
    /// a series of growing sleeps (hundreds of milliseconds of tail latency under load).
    /// Reads never wait. PostgreSQL writes run concurrently.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.writer.lock().await),
            Backend::Postgres => None,
        }
    }

    /// Connects and brings the schema up to date.
    pub async fn open(url: &str, options: &SqlOptions) -> StoreResult<SqlStore> {
        let store = Self::connect(url, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending schema migrations; returns the versions applied. Safe to run from
    /// several instances at once.
    pub async fn migrate(&self) -> StoreResult<Vec<i64>> {
        migrate::run(&self.pool, self.backend).await
    }

    /// The backend.
    pub fn backend_kind(&self) -> Backend {
        self.backend
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates a new, empty PostgreSQL database named `name` on the server `admin_url` points at
/// (the user needs CREATEDB) and returns a URL for it. Used to give each test its own database.
pub async fn create_postgres_database(admin_url: &str, name: &str) -> StoreResult<String> {
    install_default_drivers();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StoreError::Internal(format!(
            "`{name}` is not a plain database name"
        )));
    }
    let mut url = url::Url::parse(admin_url)
        .map_err(|e| StoreError::Internal(format!("bad PostgreSQL URL: {e}")))?;
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(admin_url)
        .await
        .map_err(map_err)?;
    // The name was checked above to be [a-z0-9_]+, so it is safe in the statement.
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .map_err(map_err)?;
    url.set_path(name);
    Ok(url.to_string())
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}
