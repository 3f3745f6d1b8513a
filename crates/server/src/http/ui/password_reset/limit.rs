//! How many password reset mails may go out, so that the forgot-password form cannot flood a
//! mailbox nor walk many accounts: at most [`PER_RECIPIENT`] per account and per recipient
//! address, and [`PER_PEER`] asked from one client address (IPv6 by its /64), in any
//! [`WINDOW`]. Kept in memory per instance, as the sign-in throttle; bounded in size, keys
//! kept as SHA-256 digests.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::super::throttle::address_key;

/// The window the limits count in.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Mails per account, and per recipient address, in a window.
pub const PER_RECIPIENT: usize = 3;
/// Mails asked from one client address in a window.
pub const PER_PEER: usize = 10;
/// At most this many keys are tracked; beyond it, those with nothing in the window go, then
/// the oldest.
const MAX_KEYS: usize = 100_000;

/// Recent mails, by what they count against.
#[derive(Default)]
pub struct MailLimit {
    sent: Mutex<HashMap<[u8; 32], VecDeque<Instant>>>,
}

fn key(kind: &str, value: &str) -> [u8; 32] {
    tessera_core::crypto::sha256(format!("{kind}\0{}", value.to_lowercase()).as_bytes())
}

impl MailLimit {
    /// Counts a mail for the account `subject` to `address`, asked from `peer`, at `now`:
    /// false (and nothing counted) when any of them has had its share in the window.
    pub fn allow(&self, subject: &str, address: &str, peer: Option<IpAddr>, now: Instant) -> bool {
        let Ok(mut sent) = self.sent.lock() else {
            return false;
        };
        let mut keys = vec![
            (key("account", subject), PER_RECIPIENT),
            (key("address", address), PER_RECIPIENT),
        ];
        if let Some(peer) = peer {
            keys.push((key("peer", &address_key(peer).to_string()), PER_PEER));
        }
        let recent = |times: &VecDeque<Instant>| {
            times
                .iter()
                .filter(|t| now.duration_since(**t) < WINDOW)
                .count()
        };
        if keys
            .iter()
            .any(|(k, most)| sent.get(k).is_some_and(|times| recent(times) >= *most))
        {
            return false;
        }
        prune(&mut sent, now);
        for (k, most) in keys {
            let times = sent.entry(k).or_default();
            times.retain(|t| now.duration_since(*t) < WINDOW);
            times.push_back(now);
            while times.len() > most {
                times.pop_front();
            }
        }
        true
    }
}

/// Makes room for new keys: forgets those with nothing in the window, then the oldest tenth.
fn prune(sent: &mut HashMap<[u8; 32], VecDeque<Instant>>, now: Instant) {
    if sent.len() < MAX_KEYS {
        return;
    }
    sent.retain(|_, times| {
        times
            .back()
            .is_some_and(|t| now.duration_since(*t) < WINDOW)
    });
    if sent.len() >= MAX_KEYS {
        let mut ages: Vec<Instant> = sent.values().filter_map(|t| t.back().copied()).collect();
        ages.sort_unstable();
        let cutoff = ages.get(ages.len() / 10).copied();
        sent.retain(|_, times| times.back().copied() > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualMonotonicClock, MonotonicClock as _};

    #[test]
    fn a_few_mails_per_account_and_address_in_a_window() {
        let limit = MailLimit::default();
        let start = ManualMonotonicClock::new().now();
        let peer = Some(IpAddr::from([192, 0, 2, 1]));
        for _ in 0..PER_RECIPIENT {
            assert!(limit.allow("alice", "a@example.com", peer, start));
        }
        assert!(!limit.allow("alice", "a@example.com", peer, start));
        assert!(
            !limit.allow("other", "A@Example.com", peer, start),
            "the same mailbox"
        );
        assert!(
            !limit.allow("alice", "new@example.com", None, start),
            "the same account"
        );
        assert!(limit.allow("bob", "b@example.com", peer, start));
        let later = start + WINDOW;
        assert!(limit.allow("alice", "a@example.com", peer, later));
    }

    #[test]
    fn one_client_address_asks_for_a_bounded_number() {
        let limit = MailLimit::default();
        let now = ManualMonotonicClock::new().now();
        let peer = Some(IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]));
        for i in 0..PER_PEER {
            assert!(limit.allow(&format!("u{i}"), &format!("u{i}@example.com"), peer, now));
        }
        let neighbour = Some(IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 2]));
        assert!(
            !limit.allow("z", "z@example.com", neighbour, now),
            "same /64"
        );
        assert!(limit.allow("z", "z@example.com", None, now));
    }
}
