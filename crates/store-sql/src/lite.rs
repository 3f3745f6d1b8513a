//! SQLite without thread handoffs for reads, and with one commit for many writers.
//!
//! Reads run on the calling thread, on a connection taken from a small pool: a lookup by
//! primary key takes microseconds, far less than handing it to another thread and back.
//! Writes go to one writer thread, which is all SQLite allows anyway (one writer at a time).
//! It takes every write waiting in its queue, runs each in its own savepoint inside one
//! `BEGIN IMMEDIATE` transaction, commits once (one fsync for the batch: group commit), and
//! only then answers each writer. A write that fails rolls back its own savepoint and nothing
//! else; a commit that fails fails every write of the batch, none of which was answered yet.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};

use rusqlite::{Connection, ErrorCode, OpenFlags, Statement};
use tessera_core::store::{StoreError, StoreResult};

use crate::query::{Param, Query, RowMap};

/// Connections kept for reads; more are opened while more threads read at once.
const READERS_KEPT: usize = 8;

/// Writes committed together at most.
const MAX_BATCH: usize = 64;

/// `PRAGMA auto_vacuum` value of incremental vacuum.
const INCREMENTAL: i64 = 2;

/// Statements kept prepared per connection (the store uses about fifty).
const STATEMENT_CACHE: usize = 64;

/// A rusqlite error as a store error: busy or locked databases and I/O failures are
/// `Unavailable` (safe to retry), uniqueness violations `Conflict`, the rest `Internal`.
pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &e {
        match failure.code {
            ErrorCode::ConstraintViolation
                if matches!(
                    failure.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                return StoreError::Conflict(e.to_string());
            }
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen => return StoreError::Unavailable(e.to_string()),
            _ => {}
        }
    }
    StoreError::Internal(e.to_string())
}

fn copy(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Internal(m) => StoreError::Internal(m.clone()),
    }
}

fn open(path: &Path) -> StoreResult<Connection> {
    // The file exists: sqlx created it and applied the migrations before this opens it.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(map_err)?;
    // FULL: a commit survives power loss. busy_timeout: another process's write (the CLI,
    // a migration) is waited for instead of failing at once. secure_delete FAST: what a row
    // held before an update or delete is zeroed in its page, so that a copy of the file does
    // not keep a private key after it was sealed (or a handle after it was deleted).
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; \
         PRAGMA secure_delete = FAST;",
    )
    .map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Placeholder names: SQLite reads `$1` as a named parameter, so values are bound by name.
const NAMES: [&str; 16] = [
    "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15",
    "$16",
];

fn bind(stmt: &mut Statement<'_>, q: &Query) -> StoreResult<()> {
    for (i, param) in q.params.iter().enumerate() {
        let index = NAMES
            .get(i)
            .map(|name| stmt.parameter_index(name))
            .transpose()
            .map_err(map_err)?
            .flatten()
            .ok_or_else(|| {
                StoreError::Internal(format!("no placeholder ${} in statement", i + 1))
            })?;
        match param {
            Param::Text(v) => stmt.raw_bind_parameter(index, v),
            Param::Int(v) => stmt.raw_bind_parameter(index, v),
        }
        .map_err(map_err)?;
    }
    Ok(())
}

/// The rows `q` returns, mapped.
pub(crate) fn rows<T>(conn: &Connection, q: &Query, map: RowMap<T>) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(q.sql).map_err(map_err)?;
    bind(&mut stmt, q)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(map_err)? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// Runs `q`, which returns no rows; the number of rows it changed.
pub(crate) fn execute(conn: &Connection, q: &Query) -> StoreResult<u64> {
    let mut stmt = conn.prepare_cached(q.sql).map_err(map_err)?;
    bind(&mut stmt, q)?;
    let changed = stmt.raw_execute().map_err(map_err)?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

/// One queued write.
trait Job: Send {
    /// Runs the write in its own savepoint. An error here (the savepoint itself failed)
    /// leaves the transaction in doubt: the batch is rolled back.
    fn run(&mut self, conn: &Connection) -> StoreResult<()>;
    /// Answers the writer: its own outcome if the batch committed, else the batch's error.
    fn finish(self: Box<Self>, batch: Result<(), &StoreError>);
}

struct Write<T, F> {
    work: Option<F>,
    outcome: Option<StoreResult<T>>,
    reply: tokio::sync::oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for Write<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> StoreResult<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> StoreResult<()> {
        let Some(work) = self.work.take() else {
            return Ok(());
        };
        conn.execute_batch("SAVEPOINT job").map_err(map_err)?;
        let outcome = work(conn);
        let end = if outcome.is_ok() {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        self.outcome = Some(outcome);
        conn.execute_batch(end).map_err(map_err)
    }

    fn finish(self: Box<Self>, batch: Result<(), &StoreError>) {
        let outcome = match batch {
            Err(e) => Err(copy(e)),
            Ok(()) => self
                .outcome
                .unwrap_or_else(|| Err(StoreError::Internal("write not run".into()))),
        };
        // The writer may have stopped waiting (its request was dropped); the write stands.
        let _ = self.reply.send(outcome);
    }
}

fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> StoreResult<()> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(map_err)?;
    let ran = catch_unwind(AssertUnwindSafe(|| {
        batch.iter_mut().try_for_each(|job| job.run(conn))
    }))
    .unwrap_or_else(|_| Err(StoreError::Internal("a write panicked".into())));
    let committed = ran.and_then(|()| conn.execute_batch("COMMIT").map_err(map_err));
    if committed.is_err() {
        // Nothing of the batch was answered, so nothing of it may stay.
        let _ = conn.execute_batch("ROLLBACK");
    }
    committed
}

fn writer_loop(conn: Connection, jobs: mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcome = run_batch(&conn, &mut batch);
        for job in batch {
            job.finish(outcome.as_ref().map(|_| ()));
        }
    }
}

/// An SQLite database file: a pool of reading connections and one writer thread.
pub(crate) struct Lite {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl std::fmt::Debug for Lite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lite").field("path", &self.path).finish()
    }
}

impl Lite {
    /// Opens the existing database file at `path` and starts its writer thread.
    pub(crate) fn open(path: &Path) -> StoreResult<Lite> {
        let writer = open(path)?;
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("tessera-sqlite-writer".into())
            .spawn(move || writer_loop(writer, queue))
            .map_err(|e| StoreError::Internal(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Lite {
            path: path.to_path_buf(),
            readers: Mutex::new(Vec::new()),
            jobs,
        })
    }

    /// Runs a read on this thread.
    pub(crate) fn read<T>(&self, q: &Query, map: RowMap<T>) -> StoreResult<Vec<T>> {
        let taken = self.readers.lock().ok().and_then(|mut r| r.pop());
        let conn = match taken {
            Some(conn) => conn,
            None => {
                let conn = open(&self.path)?;
                // Reading connections never write, whatever they are handed.
                conn.execute_batch("PRAGMA query_only = ON;")
                    .map_err(map_err)?;
                conn
            }
        };
        let result = rows(&conn, q, map);
        if let Ok(mut readers) = self.readers.lock()
            && readers.len() < READERS_KEPT
        {
            readers.push(conn);
        }
        result
    }

    /// Switches the file to incremental auto-vacuum if it is not in that mode yet (files made
    /// before it was the default): one `VACUUM`, outside any transaction. New files get the mode
    /// when their first connection sets it, before any table exists.
    pub(crate) fn ensure_incremental_vacuum(&self) -> StoreResult<()> {
        let conn = open(&self.path)?;
        let mode: i64 = conn
            .query_row("PRAGMA auto_vacuum", [], |row| row.get(0))
            .map_err(map_err)?;
        if mode != INCREMENTAL {
            // Rewrites the whole file once (and needs about its size again on disk meanwhile).
            tracing::info!(file = %self.path.display(), "converting the database file to incremental vacuum (once)");
            conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
                .map_err(map_err)?;
        }
        Ok(())
    }

    /// Gives the pages of deleted rows back to the file system: frees them from the database
    /// (incremental vacuum), then copies the log into the file and truncates the log.
    pub(crate) fn reclaim_space(&self) -> StoreResult<()> {
        let conn = open(&self.path)?;
        // Each step of the pragma frees one page: step it to the end.
        let mut vacuum = conn.prepare("PRAGMA incremental_vacuum").map_err(map_err)?;
        let mut steps = vacuum.raw_query();
        while steps.next().map_err(map_err)?.is_some() {}
        drop(steps);
        drop(vacuum);
        // Readers may hold the log a moment longer: the checkpoint then leaves some of it,
        // which the next one takes.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(map_err)
    }

    /// Queues a write for the writer thread; answers once its batch has committed.
    pub(crate) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let stopped = || StoreError::Unavailable("the SQLite writer has stopped".into());
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(Write {
                work: Some(work),
                outcome: None,
                reply,
            }))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
