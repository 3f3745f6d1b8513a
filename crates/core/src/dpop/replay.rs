//! Where accepted proofs' `jti`s are remembered, so that each proof is used once (RFC 9449
//! §11.1). Servers that share a database with other instances remember them in the database;
//! a server that owns its database alone (SQLite, whose file one process holds) remembers them
//! in memory, which every instance of it, the one, sees; a proof made before it started is
//! refused there, so a restart opens no window for a replay.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::UnixTime;

/// Proofs remembered at most; past that, expired ones are dropped and, if none has expired, the
/// database is asked instead.
const MAX_REMEMBERED: usize = 500_000;

/// The in-memory memory of a server that is its database's only instance.
#[derive(Debug)]
pub struct LocalReplay {
    started_at: UnixTime,
    seen: Mutex<HashMap<String, UnixTime>>,
}

/// What the local memory says of a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstUse {
    /// Its first use: remembered until its expiry.
    Yes,
    /// Seen before, or made before this server started.
    No,
    /// No room: the database decides.
    Unknown,
}

impl LocalReplay {
    /// A memory for a server started at `started_at`.
    pub fn new(started_at: UnixTime) -> LocalReplay {
        LocalReplay {
            started_at,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Records `key`, a proof made at `iat`, until `until`.
    pub fn first_use(
        &self,
        key: String,
        iat: UnixTime,
        now: UnixTime,
        until: UnixTime,
    ) -> FirstUse {
        if iat < self.started_at {
            return FirstUse::No;
        }
        let Ok(mut seen) = self.seen.lock() else {
            return FirstUse::Unknown;
        };
        if seen.get(&key).is_some_and(|expiry| *expiry >= now) {
            return FirstUse::No;
        }
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, expiry| *expiry >= now);
            if seen.len() >= MAX_REMEMBERED {
                return FirstUse::Unknown;
            }
        }
        seen.insert(key, until);
        FirstUse::Yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_is_used_once_and_none_from_before_the_start() {
        let local = LocalReplay::new(1_000);
        assert_eq!(local.first_use("a".into(), 999, 1_000, 1_060), FirstUse::No);
        assert_eq!(
            local.first_use("a".into(), 1_000, 1_000, 1_061),
            FirstUse::Yes
        );
        assert_eq!(
            local.first_use("a".into(), 1_000, 1_030, 1_061),
            FirstUse::No
        );
        assert_eq!(
            local.first_use("b".into(), 1_010, 1_030, 1_071),
            FirstUse::Yes
        );
    }
}
