//! Counters that every instance on one database shares: how failed sign-ins, factor codes and
//! introspection scans are limited across a cluster, so that three instances do not allow three
//! times the attempts. Each counter is a count and the time it was last changed (Unix
//! milliseconds); what they mean is the caller's. Keys are short names the caller makes
//! (digests, addresses, client ids), never what a user typed.
//!
//! A store that serves a single instance (memory, SQLite) keeps them in [`MemoryCounters`];
//! PostgreSQL keeps them in a table, each update in one transaction that locks its rows.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{StoreError, StoreResult};

/// One counter: a count and when it last changed. The zero value is what an absent counter
/// reads as, and writing it removes the counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counter {
    /// The count.
    pub count: u32,
    /// When it last changed, in Unix milliseconds.
    pub at_ms: i64,
}

/// How an update changes the counters it read, in the order of the keys given. It must be a
/// pure function of them: the caller reads what was there from the update's result and decides
/// from it what the update did.
pub type CounterUpdate<'a> = &'a (dyn Fn(&mut [Counter]) + Send + Sync);

/// Shared counters.
#[async_trait]
pub trait CounterStore: Send + Sync {
    /// The counters `keys`, in their order (absent ones as zero).
    async fn read_counters(&self, keys: &[String]) -> StoreResult<Vec<Counter>>;
    /// Reads the counters `keys`, applies `update` to them and writes the result, atomically
    /// with respect to every other update of any of them (at every instance). Returns the
    /// counters as they were before the update.
    async fn update_counters(
        &self,
        keys: &[String],
        update: CounterUpdate<'_>,
    ) -> StoreResult<Vec<Counter>>;
    /// Forgets counters last changed before `before_ms`; how many.
    async fn purge_counters(&self, before_ms: i64) -> StoreResult<u64>;
}

/// At most this many counters are kept in memory; beyond it, the oldest are dropped.
pub const MAX_MEMORY_COUNTERS: usize = 200_000;

/// Counters of one instance, bounded in number: when full, the oldest tenth is forgotten (never
/// all, so flooding it with new names cannot reset the counters under attack).
#[derive(Default)]
pub struct MemoryCounters {
    map: Mutex<HashMap<String, Counter>>,
}

impl std::fmt::Debug for MemoryCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCounters")
            .field("len", &self.len())
            .finish()
    }
}

impl MemoryCounters {
    fn lock(&self) -> StoreResult<std::sync::MutexGuard<'_, HashMap<String, Counter>>> {
        self.map
            .lock()
            .map_err(|_| StoreError::Internal("counter lock poisoned".into()))
    }

    /// How many counters are kept.
    pub fn len(&self) -> usize {
        self.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn make_room(map: &mut HashMap<String, Counter>) {
    if map.len() < MAX_MEMORY_COUNTERS {
        return;
    }
    let mut ages: Vec<i64> = map.values().map(|c| c.at_ms).collect();
    ages.sort_unstable();
    let cutoff = ages[ages.len() / 10];
    map.retain(|_, c| c.at_ms > cutoff);
}

#[async_trait]
impl CounterStore for MemoryCounters {
    async fn read_counters(&self, keys: &[String]) -> StoreResult<Vec<Counter>> {
        let map = self.lock()?;
        Ok(keys
            .iter()
            .map(|k| map.get(k).copied().unwrap_or_default())
            .collect())
    }

    async fn update_counters(
        &self,
        keys: &[String],
        update: CounterUpdate<'_>,
    ) -> StoreResult<Vec<Counter>> {
        let mut map = self.lock()?;
        let before: Vec<Counter> = keys
            .iter()
            .map(|k| map.get(k).copied().unwrap_or_default())
            .collect();
        let mut after = before.clone();
        update(&mut after);
        for (key, (old, new)) in keys.iter().zip(before.iter().zip(&after)) {
            if new == old {
                continue;
            }
            if new.count == 0 {
                map.remove(key);
            } else {
                if !map.contains_key(key) {
                    make_room(&mut map);
                }
                map.insert(key.clone(), *new);
            }
        }
        Ok(before)
    }

    async fn purge_counters(&self, before_ms: i64) -> StoreResult<u64> {
        let mut map = self.lock()?;
        let was = map.len();
        map.retain(|_, c| c.at_ms >= before_ms);
        Ok((was - map.len()) as u64)
    }
}
