//! Tessera's SQL stores: SQLite (the embedded default) and PostgreSQL.
//!
//! One implementation serves both: the schema uses only TEXT and BIGINT, `$n` placeholders
//! work on both, and single-use grants are consumed with one conditional
//! `UPDATE ... RETURNING`, atomic on either database. PostgreSQL is reached through sqlx's
//! `Any` driver; SQLite through rusqlite, reading on the calling thread and writing through
//! one group-committing writer thread ([`lite`]). Migrations run through sqlx on both.

mod accounts;
mod batch;
mod changes;
mod counters;
mod entities;
mod error;
mod grants;
mod lite;
mod migrate;
mod query;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use tessera_core::store::{Store, StoreError, StoreResult};

pub use changes::{Change, ChangeListener};
use error::map_err;
pub use error::redact_database_url;
use lite::Lite;
use query::{Query, RowMap};

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

/// The file an `sqlite:` URL names, or `None` for other URLs and in-memory databases.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if Backend::of_url(url) != Some(Backend::Sqlite) {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (!file.as_os_str().is_empty() && file.as_os_str() != ":memory:").then(|| file.to_path_buf())
}

/// The SQLite file holds the signing keys (in clear until keys are encrypted at rest): it is
/// created readable and writable by its owner only, and a file (or its `-wal` and `-shm`
/// companions, which SQLite creates with the file's mode) that other accounts can read or
/// write is refused, naming the fix.
fn private_database_file(path: &std::path::Path) -> StoreResult<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot create the database file {}: {e}",
                    path.display()
                )));
            }
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = std::path::PathBuf::from(name);
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(StoreError::Internal(format!(
                    "the database file {} can be read or written by other accounts (mode \
                     {mode:03o}); it holds the signing keys: run `chmod 600 {}*` and start again",
                    file.display(),
                    path.display()
                )));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
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
    /// PostgreSQL's pool; on SQLite, one connection for migrations.
    pool: AnyPool,
    backend: Backend,
    /// SQLite's readers and writer.
    lite: Option<Arc<Lite>>,
    /// PostgreSQL's URL, for the connection that listens for other instances' changes.
    postgres_url: Option<String>,
    /// SQLite's attempt counters (one instance uses the file); PostgreSQL keeps them in a table.
    counters: Arc<tessera_core::store::MemoryCounters>,
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
        if let Some(file) = sqlite_file(url) {
            private_database_file(&file)?;
        }
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let max_connections = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => options.max_connections.max(1),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // auto_vacuum first, while a new file has no table yet: deleted rows'
                        // pages can then be given back (REL-12). WAL: readers do not block
                        // the writer; FULL: a commit survives power loss; busy_timeout: a
                        // write waits for another process's instead of failing with BUSY.
                        conn.execute(
                            "PRAGMA auto_vacuum = INCREMENTAL; \
                             PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
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
        let lite = match backend {
            Backend::Sqlite => {
                // The connection above created the file; rusqlite opens the same one.
                let options =
                    sqlx::sqlite::SqliteConnectOptions::from_str(&url).map_err(map_err)?;
                Some(Arc::new(Lite::open(options.get_filename())?))
            }
            Backend::Postgres => None,
        };
        Ok(SqlStore {
            pool,
            backend,
            lite,
            postgres_url: (backend == Backend::Postgres).then(|| url.clone()),
            counters: Default::default(),
        })
    }

    /// The rows `q` returns. On SQLite, read on this thread.
    pub(crate) async fn fetch_all<T: Send + 'static>(
        &self,
        q: Query,
        map: RowMap<T>,
    ) -> StoreResult<Vec<T>> {
        let started = stopwatch();
        let result = match &self.lite {
            Some(lite) => lite.read(&q, map),
            None => match q.to_sqlx().fetch_all(&self.pool).await {
                Ok(rows) => rows.iter().map(|row| map(row)).collect(),
                Err(e) => Err(map_err(e)),
            },
        };
        observe("read", started, &result);
        result
    }

    /// The first row `q` returns, if any.
    pub(crate) async fn fetch_optional<T: Send + 'static>(
        &self,
        q: Query,
        map: RowMap<T>,
    ) -> StoreResult<Option<T>> {
        let started = stopwatch();
        let result = self.fetch_first(q, map).await;
        observe("read", started, &result);
        result
    }

    async fn fetch_first<T: Send + 'static>(
        &self,
        q: Query,
        map: RowMap<T>,
    ) -> StoreResult<Option<T>> {
        match &self.lite {
            Some(lite) => Ok(lite.read(&q, map)?.into_iter().next()),
            None => q
                .to_sqlx()
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?
                .as_ref()
                .map(|row| map(row))
                .transpose(),
        }
    }

    /// Runs a write that returns no rows; the number of rows it changed.
    pub(crate) async fn execute(&self, q: Query) -> StoreResult<u64> {
        let started = stopwatch();
        let result = match &self.lite {
            Some(lite) => lite.write(move |conn| lite::execute(conn, &q)).await,
            None => q
                .to_sqlx()
                .execute(&self.pool)
                .await
                .map(|done| done.rows_affected())
                .map_err(map_err),
        };
        observe("write", started, &result);
        result
    }

    /// Runs a write with `RETURNING`; its first row, if any.
    pub(crate) async fn write_returning<T: Send + 'static>(
        &self,
        q: Query,
        map: RowMap<T>,
    ) -> StoreResult<Option<T>> {
        let started = stopwatch();
        let result = match &self.lite {
            Some(lite) => {
                lite.write(move |conn| Ok(lite::rows(conn, &q, map)?.into_iter().next()))
                    .await
            }
            None => self.fetch_first(q, map).await,
        };
        observe("write", started, &result);
        result
    }

    /// Runs `first` (a write with `RETURNING`) and, if it returned a row, every query of
    /// `then`, in one transaction: all happen or none does. The first row of `first`, if any.
    pub(crate) async fn write_then<T: Send + 'static>(
        &self,
        first: Query,
        map: RowMap<T>,
        then: Vec<Query>,
    ) -> StoreResult<Option<T>> {
        let started = stopwatch();
        let result = self.transaction(first, map, then).await;
        observe("write", started, &result);
        result
    }

    async fn transaction<T: Send + 'static>(
        &self,
        first: Query,
        map: RowMap<T>,
        then: Vec<Query>,
    ) -> StoreResult<Option<T>> {
        if let Some(lite) = &self.lite {
            return lite
                .write(move |conn| {
                    let Some(row) = lite::rows(conn, &first, map)?.into_iter().next() else {
                        return Ok(None);
                    };
                    for query in &then {
                        lite::execute(conn, query)?;
                    }
                    Ok(Some(row))
                })
                .await;
        }
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let row = first
            .to_sqlx()
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let Some(row) = row else {
            tx.rollback().await.map_err(map_err)?;
            return Ok(None);
        };
        let value = map(&row)?;
        for query in &then {
            query.to_sqlx().execute(&mut *tx).await.map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(Some(value))
    }

    /// Connects and brings the schema up to date.
    pub async fn open(url: &str, options: &SqlOptions) -> StoreResult<SqlStore> {
        let store = Self::connect(url, options).await?;
        store.migrate().await?;
        if let Some(lite) = &store.lite {
            let lite = lite.clone();
            tokio::task::spawn_blocking(move || lite.ensure_incremental_vacuum())
                .await
                .map_err(|e| StoreError::Internal(e.to_string()))??;
        }
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

/// The start of a measured statement. Only metrics read it: no decision depends on it.
#[allow(clippy::disallowed_methods)]
fn stopwatch() -> Instant {
    Instant::now()
}

/// Records a statement's duration and, when it failed, why (a conflict is an answer, not a
/// failure: single-use grants and unique names are enforced by it).
fn observe<T>(op: &'static str, started: Instant, result: &StoreResult<T>) {
    metrics::histogram!("tessera_database_query_duration_seconds", "op" => op)
        .record(started.elapsed().as_secs_f64());
    let kind = match result {
        Ok(_) | Err(StoreError::Conflict(_)) => return,
        Err(StoreError::Unavailable(_)) => "unavailable",
        Err(_) => "internal",
    };
    metrics::counter!("tessera_database_errors_total", "op" => op, "kind" => kind).increment(1);
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
        self.fetch_all(Query::new("SELECT CAST(1 AS BIGINT) AS one"), |row| {
            row.int("one")
        })
        .await
        .map(|_| ())
    }

    async fn reclaim_space(&self) -> StoreResult<()> {
        let Some(lite) = self.lite.clone() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || lite.reclaim_space())
            .await
            .map_err(|e| StoreError::Internal(e.to_string()))?
    }

    fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}
