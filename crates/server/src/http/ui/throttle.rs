//! Slowing down password guessing: after a number of failed sign-ins, an account (and,
//! separately, a client address) must wait before the next attempt, the wait doubling with
//! each further failure up to a limit. Kept in memory per instance; bounded in size.

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
    accounts: HashMap<String, Failures>,
    addresses: HashMap<IpAddr, Failures>,
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
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl Throttle {
    /// A throttle with `policy`.
    pub fn new(policy: LoginPolicy) -> Self {
        Self {
            policy,
            tables: Mutex::new(Tables::default()),
        }
    }

    fn account_key(username: &str) -> String {
        username.to_lowercase()
    }

    /// Begins an attempt for `username` from `address`: refused with the time to wait when
    /// either is slowed down; otherwise the attempt is counted as a failure at once (so that
    /// parallel attempts cannot all pass the check) until [`Throttle::succeeded`] takes it back.
    pub fn begin(&self, username: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut t) = self.tables.lock() else {
            return Ok(());
        };
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
        prune(&mut t.accounts, now);
        bump(t.accounts.entry(account_key).or_insert(fresh));
        if let Some(a) = address {
            prune(&mut t.addresses, now);
            bump(t.addresses.entry(a).or_insert(fresh));
        }
        Ok(())
    }

    /// A successful sign-in: the account's failures are forgotten and the attempt is taken
    /// back from the address.
    pub fn succeeded(&self, username: &str, address: Option<IpAddr>) {
        if let Ok(mut t) = self.tables.lock() {
            t.accounts.remove(&Self::account_key(username));
            if let Some(f) = address.and_then(|a| t.addresses.get_mut(&address_key(a))) {
                f.count = f.count.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slows_down_after_the_free_failures() {
        let t = Throttle::new(LoginPolicy {
            max_failures_per_account: 3,
            max_failures_per_address: 5,
            max_lockout: Duration::from_secs(60),
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.begin("Alice", Some(ip)).is_ok());
        }
        // Three failures counted: the next attempt, in any spelling, waits.
        assert!(t.begin("ALICE", None).is_err(), "per account");
        assert!(t.begin("bob", Some(ip)).is_ok());
        t.succeeded("bob", Some(ip));
        t.succeeded("alice", None);
        assert!(t.begin("alice", None).is_ok());
        // Three attempts from the address count (bob's success was taken back): two more, then
        // the address waits.
        assert!(t.begin("user0", Some(ip)).is_ok());
        assert!(t.begin("user1", Some(ip)).is_ok());
        assert!(t.begin("carol", Some(ip)).is_err(), "per address");
        assert!(t.begin("carol", None).is_ok());
        // IPv6 addresses count by /64.
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2:3".parse().unwrap();
        for i in 0..5 {
            assert!(
                t.begin(&format!("v6-{i}"), Some(if i % 2 == 0 { a } else { b }))
                    .is_ok()
            );
        }
        assert!(t.begin("v6-x", Some(b)).is_err());
    }
}
