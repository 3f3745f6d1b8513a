//! Shared attempt counters: in memory on SQLite (one instance uses the file), in the
//! `attempt_counters` table on PostgreSQL, where each update is one transaction that locks its
//! rows.

use async_trait::async_trait;
use tessera_core::store::{Counter, CounterStore, CounterUpdate, StoreResult};

use crate::error::map_err;
use crate::query::{Fields, Query};
use crate::{SqlStore, observe, stopwatch};

fn counter_from_row(row: &dyn Fields) -> StoreResult<Counter> {
    Ok(Counter {
        count: u32::try_from(row.int("count")?.max(0)).unwrap_or(u32::MAX),
        at_ms: row.int("at_ms")?,
    })
}

impl SqlStore {
    async fn update_postgres(
        &self,
        keys: &[String],
        update: CounterUpdate<'_>,
    ) -> StoreResult<Vec<Counter>> {
        // Rows are locked in the order of their keys, whatever order the caller gives them
        // in, so two updates of the same keys wait for each other instead of deadlocking.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|a, b| keys[*a].cmp(&keys[*b]));
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let mut before = vec![Counter::default(); keys.len()];
        for &i in &order {
            // The upsert makes the row if it is missing and, either way, locks it until the
            // transaction ends.
            let lock = Query::new(
                "INSERT INTO attempt_counters (key, count, at_ms) VALUES ($1, 0, 0)
                 ON CONFLICT (key) DO UPDATE SET count = attempt_counters.count
                 RETURNING count, at_ms",
            )
            .text(&keys[i]);
            let row = lock.to_sqlx().fetch_one(&mut *tx).await.map_err(map_err)?;
            before[i] = counter_from_row(&row)?;
        }
        let mut after = before.clone();
        update(&mut after);
        for &i in &order {
            let write = if after[i].count == 0 {
                Query::new("DELETE FROM attempt_counters WHERE key = $1").text(&keys[i])
            } else if after[i] != before[i] {
                Query::new("UPDATE attempt_counters SET count = $2, at_ms = $3 WHERE key = $1")
                    .text(&keys[i])
                    .int(i64::from(after[i].count))
                    .int(after[i].at_ms)
            } else {
                continue;
            };
            write.to_sqlx().execute(&mut *tx).await.map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(before)
    }
}

#[async_trait]
impl CounterStore for SqlStore {
    async fn read_counters(&self, keys: &[String]) -> StoreResult<Vec<Counter>> {
        if self.lite.is_some() {
            return self.counters.read_counters(keys).await;
        }
        let mut counters = Vec::with_capacity(keys.len());
        for key in keys {
            let read =
                Query::new("SELECT count, at_ms FROM attempt_counters WHERE key = $1").text(key);
            let found = self.fetch_optional(read, counter_from_row).await?;
            counters.push(found.unwrap_or_default());
        }
        Ok(counters)
    }

    async fn update_counters(
        &self,
        keys: &[String],
        update: CounterUpdate<'_>,
    ) -> StoreResult<Vec<Counter>> {
        if self.lite.is_some() {
            return self.counters.update_counters(keys, update).await;
        }
        let started = stopwatch();
        let result = self.update_postgres(keys, update).await;
        observe("write", started, &result);
        result
    }

    async fn purge_counters(&self, before_ms: i64) -> StoreResult<u64> {
        if self.lite.is_some() {
            return self.counters.purge_counters(before_ms).await;
        }
        self.execute(Query::new("DELETE FROM attempt_counters WHERE at_ms < $1").int(before_ms))
            .await
    }
}
