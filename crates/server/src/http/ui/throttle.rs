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

fn prune<K: std::hash::Hash + Eq + Clone>(map: &mut HashMap<K, Failures>, now: Instant) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    map.retain(|_, f| now.duration_since(f.last) <= FORGET_AFTER);
    if map.len() >= MAX_ENTRIES {
        map.clear();
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

    /// How long the caller must wait before trying `username` from `address`; zero when an
    /// attempt is allowed now.
    pub fn wait(&self, username: &str, address: Option<IpAddr>) -> Duration {
        let now = Instant::now();
        let Ok(t) = self.tables.lock() else {
            return Duration::ZERO;
        };
        let account = wait(
            t.accounts.get(&Self::account_key(username)),
            self.policy.max_failures_per_account,
            self.policy.max_lockout,
            now,
        );
        let addr = address
            .map(|a| {
                wait(
                    t.addresses.get(&a),
                    self.policy.max_failures_per_address,
                    self.policy.max_lockout,
                    now,
                )
            })
            .unwrap_or_default();
        account.max(addr)
    }

    /// Records a failed attempt.
    pub fn failed(&self, username: &str, address: Option<IpAddr>) {
        let now = Instant::now();
        let Ok(mut t) = self.tables.lock() else {
            return;
        };
        let bump = |f: &mut Failures| {
            if now.duration_since(f.last) > FORGET_AFTER {
                f.count = 0;
            }
            f.count = f.count.saturating_add(1);
            f.last = now;
        };
        prune(&mut t.accounts, now);
        let fresh = Failures {
            count: 0,
            last: now,
        };
        bump(
            t.accounts
                .entry(Self::account_key(username))
                .or_insert(fresh),
        );
        if let Some(a) = address {
            prune(&mut t.addresses, now);
            bump(t.addresses.entry(a).or_insert(fresh));
        }
    }

    /// Forgets an account's failures after a successful sign-in.
    pub fn succeeded(&self, username: &str) {
        if let Ok(mut t) = self.tables.lock() {
            t.accounts.remove(&Self::account_key(username));
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
        for _ in 0..2 {
            t.failed("Alice", Some(ip));
            assert_eq!(t.wait("alice", Some(ip)), Duration::ZERO);
        }
        t.failed("alice", Some(ip));
        assert!(t.wait("ALICE", None) > Duration::ZERO, "per account");
        assert_eq!(t.wait("bob", Some(ip)), Duration::ZERO);
        t.succeeded("alice");
        assert_eq!(t.wait("alice", None), Duration::ZERO);
        for i in 0..2 {
            t.failed(&format!("user{i}"), Some(ip));
        }
        assert!(t.wait("carol", Some(ip)) > Duration::ZERO, "per address");
        assert_eq!(t.wait("carol", None), Duration::ZERO);
    }
}
