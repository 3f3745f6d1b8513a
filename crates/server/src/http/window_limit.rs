//! Fixed-window counting per client address and overall: how unauthenticated work that
//! stores something or probes a secret (a parked request, a guessed user code) is bounded.
//! Kept in memory per instance; the per-address table is cleared with each window, so it
//! holds at most `overall` entries.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why something was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// This address used its share of the window.
    Address,
    /// The instance used its share of the window.
    Overall,
}

/// At most `per_address` per address (an IPv6 /64) and `overall` from everyone per window.
pub struct WindowLimit {
    per_address: u32,
    overall: u32,
    window: Duration,
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    started: Option<Instant>,
    overall: u32,
    per_address: HashMap<IpAddr, u32>,
}

impl WindowLimit {
    /// A limit of `per_address` and `overall` per `window`.
    pub fn new(per_address: u32, overall: u32, window: Duration) -> WindowLimit {
        WindowLimit {
            per_address,
            overall,
            window,
            windows: Mutex::default(),
        }
    }

    /// The window's length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Counts one from `address`, or refuses it when its address or everyone together used
    /// their share of the current window.
    pub fn admit(&self, address: Option<IpAddr>, now: Instant) -> Result<(), Exceeded> {
        self.check(address, now, true)
    }

    /// Whether one more from `address` would be admitted, counting nothing (a limit on
    /// failures is checked before the attempt and counted after it fails).
    pub fn allows(&self, address: Option<IpAddr>, now: Instant) -> Result<(), Exceeded> {
        self.check(address, now, false)
    }

    fn check(&self, address: Option<IpAddr>, now: Instant, count: bool) -> Result<(), Exceeded> {
        let Ok(mut w) = self.windows.lock() else {
            return Err(Exceeded::Overall);
        };
        if w.started
            .is_none_or(|s| now.duration_since(s) >= self.window)
        {
            *w = Windows {
                started: Some(now),
                ..Windows::default()
            };
        }
        if w.overall >= self.overall {
            return Err(Exceeded::Overall);
        }
        if let Some(a) = address.map(crate::http::ui::throttle::address_key) {
            let used = w.per_address.get(&a).copied().unwrap_or(0);
            if used >= self.per_address {
                return Err(Exceeded::Address);
            }
            if count {
                w.per_address.insert(a, used + 1);
            }
        }
        if count {
            w.overall += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualMonotonicClock, MonotonicClock as _};

    #[test]
    fn counts_are_bounded_per_address_and_overall() {
        let (per_address, overall) = (20, 1_000);
        let limit = WindowLimit::new(per_address, overall, Duration::from_secs(120));
        let clock = ManualMonotonicClock::new();
        let t0 = clock.now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..per_address {
            assert_eq!(limit.allows(Some(a), t0), Ok(()));
            assert_eq!(limit.admit(Some(a), t0), Ok(()));
        }
        assert_eq!(limit.allows(Some(a), t0), Err(Exceeded::Address));
        assert_eq!(limit.admit(Some(a), t0), Err(Exceeded::Address));
        // Another address of the same IPv6 /64 shares its limit; another /64 does not.
        let v6 = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        for _ in 0..per_address {
            assert_eq!(limit.admit(v6("2001:db8::1"), t0), Ok(()));
        }
        assert_eq!(limit.admit(v6("2001:db8::2"), t0), Err(Exceeded::Address));
        assert_eq!(limit.admit(v6("2001:db8:0:1::2"), t0), Ok(()));
        // Overall, whatever the addresses.
        let mut admitted = 2 * per_address + 1;
        let mut i = 0u32;
        while admitted < overall {
            let address = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            i += 1;
            if limit.admit(Some(address), t0).is_ok() {
                admitted += 1;
            }
        }
        let fresh: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(limit.admit(Some(fresh), t0), Err(Exceeded::Overall));
        // The next window starts afresh.
        clock.advance(limit.window());
        assert_eq!(limit.admit(Some(a), clock.now()), Ok(()));
    }
}
