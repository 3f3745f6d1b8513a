//! Batches of writes in one transaction: on SQLite one job of the writer thread (so one
//! commit, or part of a group commit), on PostgreSQL one transaction.

use async_trait::async_trait;
use tessera_core::store::{BatchStore, BatchWrite, Committed, StoreResult, WriteBatch};

use crate::SqlStore;
use crate::error::map_err;
use crate::grants::{
    consume_only, insert, insert_once, insert_session, renew_session, update_data,
};
use crate::lite;
use crate::query::Query;

/// One statement of a batch, and whether it must change exactly one row (else the batch is
/// refused).
struct Step {
    query: Query,
    one_row: bool,
}

fn step(write: &BatchWrite, now: i64) -> StoreResult<Step> {
    let (query, one_row) = match write {
        BatchWrite::Consume {
            handle_digest,
            kind,
        } => (consume_only(handle_digest, *kind, now), true),
        BatchWrite::UpdateData {
            handle_digest,
            kind,
            expected_version,
            data,
        } => (
            update_data(handle_digest, *kind, *expected_version, data, now)?,
            true,
        ),
        BatchWrite::Insert(grant) => (insert(grant)?, false),
        BatchWrite::InsertOnce(grant) => (insert_once(grant)?, false),
        BatchWrite::InsertSession(session) => (insert_session(session)?, false),
        BatchWrite::RenewSession {
            old_digest,
            renewed,
        } => (renew_session(old_digest, renewed)?, true),
    };
    Ok(Step { query, one_row })
}

/// Runs the steps on SQLite's writer connection inside a savepoint of their own; a refused
/// step rolls the savepoint back. The position of the refused step, if any.
fn run_lite(conn: &rusqlite::Connection, steps: &[Step]) -> StoreResult<Option<usize>> {
    conn.execute_batch("SAVEPOINT batch")
        .map_err(lite::map_err)?;
    for (at, step) in steps.iter().enumerate() {
        let changed = lite::execute(conn, &step.query)?;
        if step.one_row && changed != 1 {
            conn.execute_batch("ROLLBACK TO batch; RELEASE batch")
                .map_err(lite::map_err)?;
            return Ok(Some(at));
        }
    }
    conn.execute_batch("RELEASE batch").map_err(lite::map_err)?;
    Ok(None)
}

impl SqlStore {
    async fn run_postgres(&self, steps: &[Step]) -> StoreResult<Option<usize>> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        for (at, step) in steps.iter().enumerate() {
            let changed = step
                .query
                .to_sqlx()
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
            if step.one_row && changed != 1 {
                tx.rollback().await.map_err(map_err)?;
                return Ok(Some(at));
            }
        }
        tx.commit().await.map_err(map_err)?;
        Ok(None)
    }
}

#[async_trait]
impl BatchStore for SqlStore {
    async fn commit(&self, batch: &WriteBatch) -> StoreResult<Committed> {
        if batch.is_empty() {
            return Ok(Committed::All);
        }
        let steps = batch
            .writes()
            .iter()
            .map(|w| step(w, batch.now()))
            .collect::<StoreResult<Vec<_>>>()?;
        let refused = match &self.lite {
            Some(lite) => lite.write(move |conn| run_lite(conn, &steps)).await?,
            None => self.run_postgres(&steps).await?,
        };
        Ok(refused.map_or(Committed::All, Committed::Refused))
    }
}
