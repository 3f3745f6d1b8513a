//! Elapsed time for the server's in-memory limits of one instance (parking, device polls,
//! user code guesses). They measure waits and windows, so they read a monotonic clock, which
//! setting the system time cannot move back; tokens, grants, sessions and the limits every
//! instance shares (sign-in throttle, introspection budget) ask the wall clock
//! ([`tessera_core::Clock`]). Both are parameters, so tests move time instead of sleeping.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera_core::{Clock, SystemClock};

/// The source of monotonic instants.
pub trait MonotonicClock: Send + Sync + Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The operating system's monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemMonotonicClock;

impl MonotonicClock for SystemMonotonicClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the monotonic clock
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A monotonic clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualMonotonicClock(Mutex<Instant>);

impl ManualMonotonicClock {
    /// A clock standing at the current instant.
    pub fn new() -> Self {
        Self(Mutex::new(SystemMonotonicClock.now()))
    }

    /// Moves the clock forward by `by` (not past the last instant the platform can represent).
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(later) = now.checked_add(by) {
            *now = later;
        }
    }
}

impl Default for ManualMonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl MonotonicClock for ManualMonotonicClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The clocks the server reads.
#[derive(Debug, Clone)]
pub struct Clocks {
    /// Seconds since the Unix epoch: what tokens, grants and sessions are stamped with.
    pub wall: Arc<dyn Clock>,
    /// Instants for the in-memory limits' waits and windows.
    pub monotonic: Arc<dyn MonotonicClock>,
}

impl Clocks {
    /// The operating system's clocks.
    pub fn system() -> Self {
        Self {
            wall: Arc::new(SystemClock),
            monotonic: Arc::new(SystemMonotonicClock),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualMonotonicClock::new();
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now() - t0, Duration::from_secs(90));
    }
}
