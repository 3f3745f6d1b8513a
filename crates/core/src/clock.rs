//! Time as a parameter: core code asks a [`Clock`], tests use a [`FixedClock`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, the unit of every JWT NumericDate (RFC 7519 §2).
pub type UnixTime = i64;

/// A configured number of seconds as a time difference. Configuration bounds every lifetime far
/// below `i64::MAX`; a larger value would mean "never" and saturates.
pub fn seconds(value: u64) -> UnixTime {
    UnixTime::try_from(value).unwrap_or(UnixTime::MAX)
}

/// The source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time in seconds since the Unix epoch.
    fn now(&self) -> UnixTime;
    /// The current time in milliseconds since the Unix epoch (for waits shorter than a
    /// second); a clock that knows only seconds gives the start of the current one.
    fn now_millis(&self) -> i64 {
        self.now().saturating_mul(1_000)
    }
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the real clock
    fn now(&self) -> UnixTime {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| seconds(d.as_secs()))
            .unwrap_or(0)
    }

    #[allow(clippy::disallowed_methods)] // the one place that reads the real clock
    fn now_millis(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock standing at `now`.
    pub fn new(now: UnixTime) -> Self {
        Self(AtomicI64::new(now))
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Sets the clock to `now`.
    pub fn set(&self, now: UnixTime) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }
}
