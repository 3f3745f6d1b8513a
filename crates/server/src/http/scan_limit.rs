//! RFC 7662 §4: introspection is rate-limited against token scanning. Guessing tokens produces
//! inactive answers, so each client calling introspection (always authenticated) has a budget
//! of inactive answers per minute; past it, its requests get 429 until the minute is over.
//! Active answers do not use the budget. API resources are not limited: they pass on the tokens
//! their own callers send, so anyone able to call an API could otherwise use up its budget and
//! stop its introspection. Counted in the store's shared counters, so the budget is the same
//! however many instances answer; the callers are the registered clients, so the counters are
//! bounded by them.

use std::sync::Arc;
use std::time::Duration;

use tessera_core::store::{Counter, CounterStore, StoreResult};

const WINDOW_MS: i64 = 60_000;

/// Inactive answers per caller in the current window (a counter's time is its window's start).
pub struct ScanLimit {
    per_window: u32,
    counters: Arc<dyn CounterStore>,
}

fn key(caller: &str) -> [String; 1] {
    [format!("introspection:{caller}")]
}

impl ScanLimit {
    /// A limit of `per_window` inactive answers a minute, counted in `counters`; 0 is no limit.
    pub fn new(per_window: u32, counters: Arc<dyn CounterStore>) -> ScanLimit {
        ScanLimit {
            per_window,
            counters,
        }
    }

    /// `Err(wait)` when `caller` has used its budget and must wait.
    pub async fn check(&self, caller: &str, now_ms: i64) -> StoreResult<Result<(), Duration>> {
        if self.per_window == 0 {
            return Ok(Ok(()));
        }
        let c = self.counters.read_counters(&key(caller)).await?[0];
        // A clock set back counts as no time passed.
        let elapsed = now_ms.saturating_sub(c.at_ms).max(0);
        Ok(if c.count >= self.per_window && elapsed < WINDOW_MS {
            Err(Duration::from_millis((WINDOW_MS - elapsed).unsigned_abs()))
        } else {
            Ok(())
        })
    }

    /// Counts an inactive answer given to `caller`.
    pub async fn record_inactive(&self, caller: &str, now_ms: i64) -> StoreResult<()> {
        if self.per_window == 0 {
            return Ok(());
        }
        let count = |c: &mut [Counter]| {
            let c = &mut c[0];
            if c.count == 0 || now_ms.saturating_sub(c.at_ms) >= WINDOW_MS {
                *c = Counter {
                    count: 1,
                    at_ms: now_ms,
                };
            } else {
                c.count = c.count.saturating_add(1);
            }
        };
        self.counters.update_counters(&key(caller), &count).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::store::MemoryCounters;

    #[tokio::test]
    async fn budget_per_caller_and_window() {
        let counters: Arc<dyn CounterStore> = Arc::new(MemoryCounters::default());
        let limit = ScanLimit::new(3, counters.clone());
        let mut now = 1_700_000_000_000;
        for _ in 0..3 {
            assert!(limit.check("api", now).await.unwrap().is_ok());
            limit.record_inactive("api", now).await.unwrap();
        }
        now += 10_000;
        let wait = limit.check("api", now).await.unwrap().unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(
            limit.check("other", now).await.unwrap().is_ok(),
            "callers are counted apart"
        );
        // Another instance on the same counters sees the same budget.
        let other_instance = ScanLimit::new(3, counters);
        assert!(other_instance.check("api", now).await.unwrap().is_err());
        now += WINDOW_MS - 10_000;
        assert!(
            limit.check("api", now).await.unwrap().is_ok(),
            "a new minute"
        );
        limit.record_inactive("api", now).await.unwrap();
        assert!(
            limit.check("api", now).await.unwrap().is_ok(),
            "counting starts again"
        );
        let off = ScanLimit::new(0, Arc::new(MemoryCounters::default()));
        for _ in 0..10 {
            off.record_inactive("api", now).await.unwrap();
        }
        assert!(off.check("api", now).await.unwrap().is_ok());
    }
}
