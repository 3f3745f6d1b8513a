//! Batches in memory: each write is applied under the one lock with what undoes it, and a
//! refused or failed batch is undone in reverse order before the lock is released, so no one
//! sees part of it.

use async_trait::async_trait;

use super::{Inner, MemoryStore, live_of};
use crate::model::{Grant, Session};
use crate::store::{BatchStore, BatchWrite, Committed, StoreError, StoreResult, WriteBatch};

/// How to take one applied write back.
enum Undo {
    Unconsume(String),
    RestoreData {
        digest: String,
        data: serde_json::Value,
    },
    RemoveGrant(String),
    RemoveSession(String),
    Restore {
        renewed: String,
        old: Session,
    },
    Nothing,
}

/// The outcome of one write: applied (with its undo), or refused.
enum Applied {
    Done(Undo),
    Refused,
}

impl Inner {
    fn apply(&mut self, write: &BatchWrite, now: i64) -> StoreResult<Applied> {
        Ok(match write {
            BatchWrite::Consume {
                handle_digest,
                kind,
            } => match self.grants.get_mut(handle_digest) {
                Some(g) if live_of(g, *kind, now) => {
                    g.consumed_at = Some(now);
                    Applied::Done(Undo::Unconsume(handle_digest.clone()))
                }
                _ => Applied::Refused,
            },
            BatchWrite::UpdateData {
                handle_digest,
                kind,
                expected_version,
                data,
            } => match self.grants.get_mut(handle_digest) {
                Some(g) if live_of(g, *kind, now) && g.version == *expected_version => {
                    let old = std::mem::replace(&mut g.data, data.clone());
                    g.version += 1;
                    Applied::Done(Undo::RestoreData {
                        digest: handle_digest.clone(),
                        data: old,
                    })
                }
                _ => Applied::Refused,
            },
            BatchWrite::Insert(grant) => {
                if self.grant_conflicts(grant) {
                    return Err(StoreError::Conflict("grant exists".into()));
                }
                Applied::Done(self.insert(grant))
            }
            BatchWrite::InsertOnce(grant) => match self.grants.contains_key(&grant.handle_digest) {
                true => Applied::Done(Undo::Nothing),
                false if self.grant_conflicts(grant) => {
                    return Err(StoreError::Conflict("grant exists".into()));
                }
                false => Applied::Done(self.insert(grant)),
            },
            BatchWrite::InsertSession(session) => {
                if self.sessions.contains_key(&session.id_digest) {
                    return Err(StoreError::Conflict("session exists".into()));
                }
                let digest = session.id_digest.clone();
                self.sessions.insert(digest.clone(), session.clone());
                Applied::Done(Undo::RemoveSession(digest))
            }
            BatchWrite::RenewSession {
                old_digest,
                renewed,
            } => match self.renew(old_digest, renewed) {
                Some(old) => Applied::Done(Undo::Restore {
                    renewed: renewed.id_digest.clone(),
                    old,
                }),
                None => Applied::Refused,
            },
        })
    }

    fn insert(&mut self, grant: &Grant) -> Undo {
        let digest = grant.handle_digest.clone();
        self.grants.insert(digest.clone(), grant.clone());
        Undo::RemoveGrant(digest)
    }

    fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::Unconsume(digest) => {
                if let Some(g) = self.grants.get_mut(&digest) {
                    g.consumed_at = None;
                }
            }
            Undo::RestoreData { digest, data } => {
                if let Some(g) = self.grants.get_mut(&digest) {
                    g.data = data;
                    g.version -= 1;
                }
            }
            Undo::RemoveGrant(digest) => {
                self.grants.remove(&digest);
            }
            Undo::RemoveSession(digest) => {
                self.sessions.remove(&digest);
            }
            Undo::Restore { renewed, old } => {
                self.sessions.remove(&renewed);
                self.sessions.insert(old.id_digest.clone(), old);
            }
            Undo::Nothing => {}
        }
    }
}

#[async_trait]
impl BatchStore for MemoryStore {
    async fn commit(&self, batch: &WriteBatch) -> StoreResult<Committed> {
        let mut inner = self.lock()?;
        let mut done = Vec::with_capacity(batch.writes().len());
        let mut outcome = Ok(Committed::All);
        for (at, write) in batch.writes().iter().enumerate() {
            match inner.apply(write, batch.now()) {
                Ok(Applied::Done(undo)) => done.push(undo),
                Ok(Applied::Refused) => {
                    outcome = Ok(Committed::Refused(at));
                    break;
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        if outcome.as_ref().is_ok_and(|c| *c == Committed::All) {
            return outcome;
        }
        for undo in done.into_iter().rev() {
            inner.undo(undo);
        }
        outcome
    }
}
