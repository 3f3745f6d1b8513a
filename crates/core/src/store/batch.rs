//! Writes that happen together: one transaction, one commit. A sign-in takes the form it
//! answers, opens the session and issues the code or stores the next page in one batch, so
//! that it costs the database one commit instead of one per record, and so that none of it
//! exists unless all of it does (a form taken twice opens no second session).

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::UnixTime;
use crate::model::{Grant, GrantKind, Session};

/// One write of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq)]
pub enum BatchWrite {
    /// Consumes the grant `handle_digest` of `kind` as [`super::GrantStore::consume_grant`]
    /// does; when it is not consumable (taken already, expired, of another kind) the batch is
    /// refused.
    Consume {
        /// The grant's digest.
        handle_digest: String,
        /// Its kind.
        kind: GrantKind,
    },
    /// Inserts a grant; one that exists (digest or lookup digest) fails the batch with
    /// `Conflict`.
    Insert(Grant),
    /// Inserts a grant unless one with its digest exists (a record kept once, such as a
    /// session's client); then it is left as it is.
    InsertOnce(Grant),
    /// Replaces the data of a live grant whose version is still `expected_version`, as
    /// [`super::GrantStore::update_grant_data`] does; otherwise (decided meanwhile, consumed,
    /// expired) the batch is refused.
    UpdateData {
        /// The grant's digest.
        handle_digest: String,
        /// Its kind.
        kind: GrantKind,
        /// The version it was read at.
        expected_version: i64,
        /// The new data.
        data: serde_json::Value,
    },
    /// Stores a new session.
    InsertSession(Session),
    /// Moves the session `old_digest` to `renewed`, as [`super::SessionStore::renew_session`];
    /// when that session has ended the batch is refused.
    RenewSession {
        /// The digest of the session's current cookie.
        old_digest: String,
        /// The renewed session.
        renewed: Session,
    },
}

impl BatchWrite {
    /// Why this write refuses its batch, for the log.
    pub fn refusal(&self) -> &'static str {
        match self {
            BatchWrite::Consume { .. } => "the record was used already or has expired",
            BatchWrite::UpdateData { .. } => "the record was changed, used or expired meanwhile",
            BatchWrite::RenewSession { .. } => "the session has ended meanwhile",
            _ => "-",
        }
    }
}

/// Writes to commit together, in order, at `now` (when consumed grants are taken and
/// liveness is judged).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteBatch {
    now: UnixTime,
    writes: Vec<BatchWrite>,
}

impl WriteBatch {
    /// An empty batch at `now`.
    pub fn new(now: UnixTime) -> WriteBatch {
        WriteBatch {
            now,
            writes: Vec::new(),
        }
    }

    /// The time the batch is written at.
    pub fn now(&self) -> UnixTime {
        self.now
    }

    /// Adds a write; returns its position (what [`Committed::Refused`] names).
    pub fn push(&mut self, write: BatchWrite) -> usize {
        self.writes.push(write);
        self.writes.len() - 1
    }

    /// The writes, in order.
    pub fn writes(&self) -> &[BatchWrite] {
        &self.writes
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// What became of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Every write happened.
    All,
    /// The write at this position found its condition unmet (a grant not consumable, a
    /// session ended): nothing was written.
    Refused(usize),
}

/// Stores that write a batch in one transaction.
#[async_trait]
pub trait BatchStore: Send + Sync {
    /// Applies every write of `batch` in one transaction, in order: all happen or none does.
    /// A write whose condition fails refuses the batch ([`Committed::Refused`]); a store error
    /// (a conflicting insert among them) fails it, and nothing is written either way.
    async fn commit(&self, batch: &WriteBatch) -> StoreResult<Committed>;
}
