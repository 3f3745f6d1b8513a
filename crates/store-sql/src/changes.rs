//! Change notices between instances on one PostgreSQL database: a write to what instances keep
//! in memory (clients, signing keys, resources) announces its topic on one channel (`NOTIFY`), and every
//! instance listening (`LISTEN`) reloads it at once instead of at its next periodic refresh.
//! SQLite has one instance per file: nothing is announced there.

use sqlx::postgres::PgListener;
use tessera_core::store::StoreResult;

use crate::error::map_err;
use crate::query::Query;
use crate::{Backend, SqlStore};

/// The channel every instance listens on.
const CHANNEL: &str = "tessera_changes";

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A topic's data changed: `clients`, `keys` or `resources`.
    Topic(String),
    /// The listening connection was lost and made again: anything may have changed meanwhile.
    Reconnected,
}

/// A connection listening for change notices.
pub struct ChangeListener {
    listener: PgListener,
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangeListener")
    }
}

impl ChangeListener {
    /// Waits for the next change. A lost connection is made again by the next call; it is
    /// reported as [`Change::Reconnected`] since notices sent meanwhile are lost.
    pub async fn next(&mut self) -> StoreResult<Change> {
        match self.listener.try_recv().await.map_err(map_err)? {
            Some(notice) => Ok(Change::Topic(notice.payload().to_string())),
            None => Ok(Change::Reconnected),
        }
    }
}

impl SqlStore {
    /// Tells every listening instance that `topic` changed (PostgreSQL; nothing on SQLite). A
    /// notice that cannot be sent is logged: instances then see the change at their refresh.
    pub(crate) async fn announce(&self, topic: &'static str) {
        if self.backend != Backend::Postgres {
            return;
        }
        let q = Query::new("SELECT pg_notify($1, $2)")
            .text(CHANNEL)
            .text(topic);
        if let Err(e) = self.fetch_optional(q, |_| Ok(())).await {
            tracing::warn!(error = %e, topic, "cannot announce a change to other instances");
        }
    }

    /// A listener for other instances' changes; `None` on SQLite (one instance per file).
    pub async fn change_listener(&self) -> StoreResult<Option<ChangeListener>> {
        let Some(url) = &self.postgres_url else {
            return Ok(None);
        };
        let mut listener = PgListener::connect(url).await.map_err(map_err)?;
        listener.listen(CHANNEL).await.map_err(map_err)?;
        // Notices stay with the listener across reconnections: try_recv reports the gap.
        listener.ignore_pool_close_event(true);
        Ok(Some(ChangeListener { listener }))
    }
}
