//! Slowing down password guessing: after a number of failed sign-ins, an account (and,
//! separately, a client address) must wait before the next attempt, the wait doubling with
//! each further failure up to a limit. Counted in the store's shared counters, so every
//! instance on one database counts the same attempts (three instances do not allow three times
//! as many). Accounts and devices are counted by SHA-256 digest, so a key is short whatever was
//! typed.
//!
//! A browser where the user signed in before carries a device cookie for that account (OWASP,
//! "Slow Down Online Guessing Attacks with Device Cookies"): its attempts are counted for that
//! device alone, so others' failures never delay the real user there. Only when the device
//! itself has failed too often does it fall back to the account's and the address's limits.
//! From a browser without one, the wait an attacker can impose on an account is capped at
//! `[login] max_lockout`.
//!
//! Times are the wall clock's milliseconds (instances share no monotonic clock); a clock set
//! back counts as no time passed, so it lengthens a wait rather than ending it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tessera_core::store::{Counter, CounterStore, StoreResult};

use crate::config::LoginPolicy;

/// Failures are forgotten this long after the last one.
pub const FORGET_AFTER_MS: i64 = 3_600_000;

/// A counted attempt: what [`Throttle::succeeded`] takes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// Counted for a known device only.
    pub trusted: bool,
}

/// The throttle.
pub struct Throttle {
    policy: LoginPolicy,
    counters: Arc<dyn CounterStore>,
}

fn elapsed_ms(c: &Counter, now_ms: i64) -> i64 {
    now_ms.saturating_sub(c.at_ms).max(0)
}

fn wait(c: &Counter, free: u32, max: Duration, now_ms: i64) -> Duration {
    let elapsed = elapsed_ms(c, now_ms);
    if c.count < free || elapsed > FORGET_AFTER_MS {
        return Duration::ZERO;
    }
    let exponent = (c.count - free).min(20);
    let lockout = Duration::from_secs(1u64 << exponent).min(max);
    lockout.saturating_sub(Duration::from_millis(elapsed.unsigned_abs()))
}

fn bump(c: &mut Counter, now_ms: i64) {
    if elapsed_ms(c, now_ms) > FORGET_AFTER_MS {
        c.count = 0;
    }
    c.count = c.count.saturating_add(1);
    c.at_ms = now_ms;
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

fn account_key(username: &str) -> String {
    let digest = tessera_core::crypto::sha256(username.to_lowercase().as_bytes());
    format!("login:account:{}", hex(&digest))
}

fn device_key(device: &[u8; 32]) -> String {
    format!("login:device:{}", hex(device))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Throttle {
    /// A throttle with `policy`, counting in `counters`.
    pub fn new(policy: LoginPolicy, counters: Arc<dyn CounterStore>) -> Self {
        Self { policy, counters }
    }

    /// The account's counter first, then the address's, if any.
    fn keys(username: &str, address: Option<IpAddr>) -> Vec<String> {
        let mut keys = vec![account_key(username)];
        if let Some(a) = address {
            keys.push(format!("login:address:{}", address_key(a)));
        }
        keys
    }

    /// How long the account and address counters `c` (see [`Throttle::keys`]) make one wait.
    fn needed(&self, c: &[Counter], now_ms: i64) -> Duration {
        let p = &self.policy;
        let account = wait(&c[0], p.max_failures_per_account, p.max_lockout, now_ms);
        let address = c
            .get(1)
            .map(|a| wait(a, p.max_failures_per_address, p.max_lockout, now_ms))
            .unwrap_or_default();
        account.max(address)
    }

    /// Begins an attempt for `username` from `address`, from a browser holding this account's
    /// device cookie (`device`, its digest) or not: refused with the time to wait when it is
    /// slowed down; otherwise the attempt is counted as a failure at once (so that parallel
    /// attempts, at any instance, cannot all pass the check) until [`Throttle::succeeded`]
    /// takes it back.
    pub async fn begin(
        &self,
        username: &str,
        address: Option<IpAddr>,
        device: Option<[u8; 32]>,
        now_ms: i64,
    ) -> StoreResult<Result<Attempt, Duration>> {
        let (free, max) = (
            self.policy.max_failures_per_account,
            self.policy.max_lockout,
        );
        if let Some(device) = device {
            let before = self
                .counters
                .update_counters(&[device_key(&device)], &|c: &mut [Counter]| {
                    if wait(&c[0], free, max, now_ms).is_zero() {
                        bump(&mut c[0], now_ms);
                    }
                })
                .await?;
            if wait(&before[0], free, max, now_ms).is_zero() {
                return Ok(Ok(Attempt { trusted: true }));
            }
            // The device has failed too often itself: it is a browser like any other now.
        }
        let keys = Self::keys(username, address);
        let before = self
            .counters
            .update_counters(&keys, &|c: &mut [Counter]| {
                if self.needed(c, now_ms).is_zero() {
                    c.iter_mut().for_each(|c| bump(c, now_ms));
                }
            })
            .await?;
        let needed = self.needed(&before, now_ms);
        Ok(if needed.is_zero() {
            Ok(Attempt { trusted: false })
        } else {
            Err(needed)
        })
    }

    /// A successful sign-in forgets the failures of what the attempt was counted for: the
    /// device's, or the account's (and takes the attempt back from the address). A success on a
    /// known device leaves the account's count for unknown browsers as it is: the guessing
    /// there goes on being slowed down.
    pub async fn succeeded(
        &self,
        username: &str,
        address: Option<IpAddr>,
        device: Option<[u8; 32]>,
        attempt: Attempt,
    ) -> StoreResult<()> {
        if attempt.trusted {
            if let Some(d) = device {
                let forget = |c: &mut [Counter]| c[0] = Counter::default();
                self.counters
                    .update_counters(&[device_key(&d)], &forget)
                    .await?;
            }
            return Ok(());
        }
        let keys = Self::keys(username, address);
        self.counters
            .update_counters(&keys, &|c: &mut [Counter]| {
                c[0] = Counter::default();
                if let Some(a) = c.get_mut(1) {
                    a.count = a.count.saturating_sub(1);
                }
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::store::MemoryCounters;

    const T0: i64 = 1_700_000_000_000;

    fn throttle() -> Throttle {
        Throttle::new(
            LoginPolicy {
                max_failures_per_account: 3,
                max_failures_per_address: 5,
                max_lockout: Duration::from_secs(60),
            },
            Arc::new(MemoryCounters::default()),
        )
    }

    async fn begin(
        t: &Throttle,
        name: &str,
        ip: Option<IpAddr>,
        device: Option<[u8; 32]>,
        now: i64,
    ) -> Result<Attempt, Duration> {
        t.begin(name, ip, device, now).await.unwrap()
    }

    #[tokio::test]
    async fn slows_down_after_the_free_failures() {
        let t = throttle();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(begin(&t, "Alice", Some(ip), None, T0).await.is_ok());
        }
        // Three failures counted: the next attempt, in any spelling, waits.
        assert!(
            begin(&t, "ALICE", None, None, T0).await.is_err(),
            "per account"
        );
        let bob = begin(&t, "bob", Some(ip), None, T0).await.unwrap();
        t.succeeded("bob", Some(ip), None, bob).await.unwrap();
        let untrusted = Attempt { trusted: false };
        t.succeeded("alice", None, None, untrusted).await.unwrap();
        assert!(begin(&t, "alice", None, None, T0).await.is_ok());
        // Three attempts from the address count (bob's success was taken back): two more, then
        // the address waits.
        assert!(begin(&t, "user0", Some(ip), None, T0).await.is_ok());
        assert!(begin(&t, "user1", Some(ip), None, T0).await.is_ok());
        assert!(
            begin(&t, "carol", Some(ip), None, T0).await.is_err(),
            "per address"
        );
        assert!(begin(&t, "carol", None, None, T0).await.is_ok());
        // IPv6 addresses count by /64.
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2:3".parse().unwrap();
        for i in 0..5 {
            let ip = if i % 2 == 0 { a } else { b };
            assert!(
                begin(&t, &format!("v6-{i}"), Some(ip), None, T0)
                    .await
                    .is_ok()
            );
        }
        assert!(begin(&t, "v6-x", Some(b), None, T0).await.is_err());
    }

    /// OWASP device cookies: others' failures never delay a browser that signed in to the
    /// account before; its own failures are counted for it, and past the limit it is treated
    /// like any other browser.
    #[tokio::test]
    async fn a_known_device_is_not_locked_out_by_others() {
        let t = throttle();
        let attacker: IpAddr = "203.0.113.9".parse().unwrap();
        let home: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..3 {
            assert!(begin(&t, "alice", Some(attacker), None, T0).await.is_ok());
        }
        assert!(begin(&t, "alice", Some(attacker), None, T0).await.is_err());
        let new_browser = begin(&t, "alice", Some(home), None, T0).await;
        assert!(new_browser.is_err(), "a new browser waits");
        let device = Some([7u8; 32]);
        let attempt = begin(&t, "alice", Some(attacker), device, T0)
            .await
            .unwrap();
        assert!(attempt.trusted, "even from the attacker's own address");
        // The device's own failures: three, then it falls back to the account's limit.
        for _ in 0..2 {
            let again = begin(&t, "alice", Some(home), device, T0).await.unwrap();
            assert!(again.trusted);
        }
        assert!(begin(&t, "alice", Some(home), device, T0).await.is_err());
        // A success from it forgets its failures.
        t.succeeded("alice", Some(home), device, attempt)
            .await
            .unwrap();
        let after = begin(&t, "alice", Some(home), device, T0).await.unwrap();
        assert!(after.trusted);
    }

    #[test]
    fn keys_are_digests_whatever_the_input() {
        let huge = "x".repeat(60 * 1024);
        let keys = Throttle::keys(&huge, Some("2001:db8::1".parse().unwrap()));
        assert!(keys.iter().all(|k| k.len() < 80), "{keys:?}");
        assert_eq!(account_key("Alice"), account_key("ALICE"));
    }

    /// The wait doubles with each failure past the free ones, up to `max_lockout`, and is over
    /// once that long has passed since the last failure.
    #[tokio::test]
    async fn the_wait_doubles_and_then_runs_out() {
        let t = throttle();
        let mut now = T0;
        for _ in 0..3 {
            assert!(begin(&t, "alice", None, None, now).await.is_ok());
        }
        assert_eq!(
            begin(&t, "alice", None, None, now).await,
            Err(Duration::from_secs(1))
        );
        now += 400;
        assert_eq!(
            begin(&t, "alice", None, None, now).await,
            Err(Duration::from_millis(600))
        );
        now += 600;
        let fourth = begin(&t, "alice", None, None, now).await;
        assert!(fourth.is_ok(), "the fourth attempt, after the wait");
        assert_eq!(
            begin(&t, "alice", None, None, now).await,
            Err(Duration::from_secs(2))
        );
        // A clock set back shortens no wait.
        assert_eq!(
            begin(&t, "alice", None, None, now - 10_000).await,
            Err(Duration::from_secs(2))
        );
        // Capped at max_lockout (60 s), however many failures.
        for _ in 0..10 {
            now += 60_000;
            assert!(begin(&t, "alice", None, None, now).await.is_ok());
        }
        assert_eq!(
            begin(&t, "alice", None, None, now).await,
            Err(Duration::from_secs(60))
        );
        // Forgotten an hour after the last failure: the free attempts again.
        now += FORGET_AFTER_MS + 1_000;
        for _ in 0..3 {
            assert!(begin(&t, "alice", None, None, now).await.is_ok());
        }
        assert!(begin(&t, "alice", None, None, now).await.is_err());
    }
}
