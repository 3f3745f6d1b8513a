//! Slowing down password guessing: after a number of failed sign-ins, an account (and,
//! separately, a client address) must wait before the next attempt, the wait doubling with
//! each further failure up to a limit. Kept in memory per instance; bounded in size: accounts
//! and devices are kept as SHA-256 digests, so a key is 32 bytes whatever was typed.
//!
//! A browser where the user signed in before carries a device cookie for that account (OWASP,
//! "Slow Down Online Guessing Attacks with Device Cookies"): its attempts are counted for that
//! device alone, so others' failures never delay the real user there. Only when the device
//! itself has failed too often does it fall back to the account's and the address's limits.
//! From a browser without one, the wait an attacker can impose on an account is capped at
//! `[login] max_lockout`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::LoginPolicy;

/// Failures are forgotten this long after the last one.
const FORGET_AFTER: Duration = Duration::from_secs(3_600);
/// At most this many accounts and addresses are tracked; beyond it, the oldest are dropped.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

#[derive(Default)]
struct Tables {
    accounts: HashMap<[u8; 32], Failures>,
    addresses: HashMap<IpAddr, Failures>,
    devices: HashMap<[u8; 32], Failures>,
}

/// A counted attempt: what [`Throttle::succeeded`] takes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// Counted for a known device only.
    pub trusted: bool,
}

/// The throttle.
pub struct Throttle {
    policy: LoginPolicy,
    tables: Mutex<Tables>,
}

fn wait(f: Option<&Failures>, free: u32, max: Duration, now: Instant) -> Duration {
    let Some(f) = f else {
        return Duration::ZERO;
    };
    if f.count < free || now.duration_since(f.last) > FORGET_AFTER {
        return Duration::ZERO;
    }
    let exponent = (f.count - free).min(20);
    let lockout = Duration::from_secs(1u64 << exponent).min(max);
    lockout.saturating_sub(now.duration_since(f.last))
}

/// Makes room for a new entry: forgets expired ones, then the oldest tenth. Never clears the
/// table, so flooding it with new names cannot reset the accounts under attack.
fn prune<K: std::hash::Hash + Eq + Clone>(map: &mut HashMap<K, Failures>, now: Instant) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    map.retain(|_, f| now.duration_since(f.last) <= FORGET_AFTER);
    if map.len() >= MAX_ENTRIES {
        let mut ages: Vec<Instant> = map.values().map(|f| f.last).collect();
        ages.sort_unstable();
        let cutoff = ages[ages.len() / 10];
        map.retain(|_, f| f.last > cutoff);
    }
}

/// The address an attempt is counted against: IPv4 as is, IPv6 by its /64 (one subscriber's
/// prefix), so that rotating addresses within it does not escape the limit.
pub(crate) fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// What a page says to a browser that must wait `wait` before its next attempt.
pub fn wait_message(wait: Duration) -> String {
    format!(
        "Too many failed attempts. Try again in {} seconds.",
        wait.as_secs().max(1)
    )
}

impl Throttle {
    /// A throttle with `policy`.
    pub fn new(policy: LoginPolicy) -> Self {
        Self {
            policy,
            tables: Mutex::new(Tables::default()),
        }
    }

    fn account_key(username: &str) -> [u8; 32] {
        tessera_core::crypto::sha256(username.to_lowercase().as_bytes())
    }

    /// Begins an attempt for `username` from `address`, from a browser holding this account's
    /// device cookie (`device`, its digest) or not: refused with the time to wait when it is
    /// slowed down; otherwise the attempt is counted as a failure at once (so that parallel
    /// attempts cannot all pass the check) until [`Throttle::succeeded`] takes it back.
    pub fn begin(
        &self,
        username: &str,
        address: Option<IpAddr>,
        device: Option<[u8; 32]>,
        now: Instant,
    ) -> Result<Attempt, Duration> {
        let Ok(mut t) = self.tables.lock() else {
            return Ok(Attempt { trusted: false });
        };
        let bump = |f: &mut Failures| {
            if now.duration_since(f.last) > FORGET_AFTER {
                f.count = 0;
            }
            f.count = f.count.saturating_add(1);
            f.last = now;
        };
        let fresh = Failures {
            count: 0,
            last: now,
        };
        if let Some(device) = device {
            let device_wait = wait(
                t.devices.get(&device),
                self.policy.max_failures_per_account,
                self.policy.max_lockout,
                now,
            );
            if device_wait.is_zero() {
                prune(&mut t.devices, now);
                bump(t.devices.entry(device).or_insert(fresh));
                return Ok(Attempt { trusted: true });
            }
            // The device has failed too often itself: it is a browser like any other now.
        }
        let account_key = Self::account_key(username);
        let address = address.map(address_key);
        let account_wait = wait(
            t.accounts.get(&account_key),
            self.policy.max_failures_per_account,
            self.policy.max_lockout,
            now,
        );
        let address_wait = address
            .map(|a| {
                wait(
                    t.addresses.get(&a),
                    self.policy.max_failures_per_address,
                    self.policy.max_lockout,
                    now,
                )
            })
            .unwrap_or_default();
        let needed = account_wait.max(address_wait);
        if !needed.is_zero() {
            return Err(needed);
        }
        prune(&mut t.accounts, now);
        bump(t.accounts.entry(account_key).or_insert(fresh));
        if let Some(a) = address {
            prune(&mut t.addresses, now);
            bump(t.addresses.entry(a).or_insert(fresh));
        }
        Ok(Attempt { trusted: false })
    }

    /// A successful sign-in forgets the failures of what the attempt was counted for: the
    /// device's, or the account's (and takes the attempt back from the address). A success on a
    /// known device leaves the account's count for unknown browsers as it is: the guessing
    /// there goes on being slowed down.
    pub fn succeeded(
        &self,
        username: &str,
        address: Option<IpAddr>,
        device: Option<[u8; 32]>,
        attempt: Attempt,
    ) {
        let Ok(mut t) = self.tables.lock() else {
            return;
        };
        if attempt.trusted {
            if let Some(d) = device {
                t.devices.remove(&d);
            }
            return;
        }
        t.accounts.remove(&Self::account_key(username));
        if let Some(f) = address.and_then(|a| t.addresses.get_mut(&address_key(a))) {
            f.count = f.count.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualMonotonicClock, MonotonicClock as _};

    fn throttle() -> Throttle {
        Throttle::new(LoginPolicy {
            max_failures_per_account: 3,
            max_failures_per_address: 5,
            max_lockout: Duration::from_secs(60),
        })
    }

    #[test]
    fn slows_down_after_the_free_failures() {
        let t = throttle();
        let now = ManualMonotonicClock::new().now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let begin = |name: &str, ip| t.begin(name, ip, None, now);
        for _ in 0..3 {
            assert!(begin("Alice", Some(ip)).is_ok());
        }
        // Three failures counted: the next attempt, in any spelling, waits.
        assert!(begin("ALICE", None).is_err(), "per account");
        let bob = begin("bob", Some(ip)).unwrap();
        t.succeeded("bob", Some(ip), None, bob);
        t.succeeded("alice", None, None, Attempt { trusted: false });
        assert!(begin("alice", None).is_ok());
        // Three attempts from the address count (bob's success was taken back): two more, then
        // the address waits.
        assert!(begin("user0", Some(ip)).is_ok());
        assert!(begin("user1", Some(ip)).is_ok());
        assert!(begin("carol", Some(ip)).is_err(), "per address");
        assert!(begin("carol", None).is_ok());
        // IPv6 addresses count by /64.
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2:3".parse().unwrap();
        for i in 0..5 {
            assert!(begin(&format!("v6-{i}"), Some(if i % 2 == 0 { a } else { b })).is_ok());
        }
        assert!(begin("v6-x", Some(b)).is_err());
    }

    /// OWASP device cookies: others' failures never delay a browser that signed in to the
    /// account before; its own failures are counted for it, and past the limit it is treated
    /// like any other browser.
    #[test]
    fn a_known_device_is_not_locked_out_by_others() {
        let t = throttle();
        let now = ManualMonotonicClock::new().now();
        let attacker: IpAddr = "203.0.113.9".parse().unwrap();
        let home: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.begin("alice", Some(attacker), None, now).is_ok());
        }
        assert!(t.begin("alice", Some(attacker), None, now).is_err());
        assert!(
            t.begin("alice", Some(home), None, now).is_err(),
            "a new browser waits"
        );
        let device = [7u8; 32];
        let attempt = t.begin("alice", Some(attacker), Some(device), now).unwrap();
        assert!(attempt.trusted, "even from the attacker's own address");
        // The device's own failures: three, then it falls back to the account's limit.
        for _ in 0..2 {
            assert!(
                t.begin("alice", Some(home), Some(device), now)
                    .unwrap()
                    .trusted
            );
        }
        assert!(t.begin("alice", Some(home), Some(device), now).is_err());
        // A success from it forgets its failures.
        t.succeeded("alice", Some(home), Some(device), attempt);
        assert!(
            t.begin("alice", Some(home), Some(device), now)
                .unwrap()
                .trusted
        );
    }

    #[test]
    fn keys_are_digests_whatever_the_input() {
        let t = throttle();
        let now = ManualMonotonicClock::new().now();
        let huge = "x".repeat(60 * 1024);
        for i in 0..50 {
            let _ = t.begin(&format!("{huge}{i}"), None, None, now);
        }
        let tables = t.tables.lock().unwrap();
        assert_eq!(tables.accounts.len(), 50);
        // The key type is a 32-byte digest: 50 entries hold 50 × 32 bytes of keys, not 3 MB.
        assert_eq!(
            std::mem::size_of_val(tables.accounts.keys().next().unwrap()),
            32
        );
    }

    /// The wait doubles with each failure past the free ones, up to `max_lockout`, and is over
    /// once that long has passed since the last failure.
    #[test]
    fn the_wait_doubles_and_then_runs_out() {
        let t = throttle();
        let clock = ManualMonotonicClock::new();
        let begin = |clock: &ManualMonotonicClock| t.begin("alice", None, None, clock.now());
        for _ in 0..3 {
            assert!(begin(&clock).is_ok());
        }
        assert_eq!(begin(&clock), Err(Duration::from_secs(1)));
        clock.advance(Duration::from_millis(400));
        assert_eq!(begin(&clock), Err(Duration::from_millis(600)));
        clock.advance(Duration::from_millis(600));
        assert!(begin(&clock).is_ok(), "the fourth attempt, after the wait");
        assert_eq!(begin(&clock), Err(Duration::from_secs(2)));
        // Capped at max_lockout (60 s), however many failures.
        for _ in 0..10 {
            clock.advance(Duration::from_secs(60));
            assert!(begin(&clock).is_ok());
        }
        assert_eq!(begin(&clock), Err(Duration::from_secs(60)));
        // Forgotten an hour after the last failure: the free attempts again.
        clock.advance(FORGET_AFTER + Duration::from_secs(1));
        for _ in 0..3 {
            assert!(begin(&clock).is_ok());
        }
        assert!(begin(&clock).is_err());
    }
}
