//! RFC 7662 §4: introspection is rate-limited against token scanning. Guessing tokens produces
//! inactive answers, so each client calling introspection (always authenticated) has a budget
//! of inactive answers per minute; past it, its requests get 429 until the minute is over.
//! Active answers do not use the budget. API resources are not limited: they pass on the tokens
//! their own callers send, so anyone able to call an API could otherwise use up its budget and
//! stop its introspection. Kept in memory per instance; the callers are the registered
//! clients, so the table is bounded by the configuration.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// Inactive answers per caller in the current window.
pub struct ScanLimit {
    per_window: u32,
    callers: Mutex<HashMap<String, (Instant, u32)>>,
}

impl ScanLimit {
    /// A limit of `per_window` inactive answers a minute; 0 is no limit.
    pub fn new(per_window: u32) -> ScanLimit {
        ScanLimit {
            per_window,
            callers: Mutex::default(),
        }
    }

    /// `Err(wait)` when `caller` has used its budget and must wait.
    pub fn check(&self, caller: &str, now: Instant) -> Result<(), Duration> {
        if self.per_window == 0 {
            return Ok(());
        }
        let callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        match callers.get(caller) {
            Some((start, count))
                if *count >= self.per_window && now.duration_since(*start) < WINDOW =>
            {
                Err(WINDOW.saturating_sub(now.duration_since(*start)))
            }
            _ => Ok(()),
        }
    }

    /// Counts an inactive answer given to `caller`.
    pub fn record_inactive(&self, caller: &str, now: Instant) {
        if self.per_window == 0 {
            return;
        }
        let mut callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        let entry = callers.entry(caller.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualMonotonicClock, MonotonicClock as _};

    #[test]
    fn budget_per_caller_and_window() {
        let limit = ScanLimit::new(3);
        let clock = ManualMonotonicClock::new();
        for _ in 0..3 {
            assert!(limit.check("api", clock.now()).is_ok());
            limit.record_inactive("api", clock.now());
        }
        clock.advance(Duration::from_secs(10));
        let wait = limit.check("api", clock.now()).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(
            limit.check("other", clock.now()).is_ok(),
            "callers are counted apart"
        );
        clock.advance(WINDOW - Duration::from_secs(10));
        assert!(limit.check("api", clock.now()).is_ok(), "a new minute");
        limit.record_inactive("api", clock.now());
        assert!(
            limit.check("api", clock.now()).is_ok(),
            "counting starts again"
        );
        let off = ScanLimit::new(0);
        for _ in 0..10 {
            off.record_inactive("api", clock.now());
        }
        assert!(off.check("api", clock.now()).is_ok());
    }
}
