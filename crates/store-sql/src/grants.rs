//! Grants (single-use handles) and sessions.

use async_trait::async_trait;
use tessera_core::clock::UnixTime;
use tessera_core::model::{Grant, GrantKind, Session};
use tessera_core::store::{GrantStore, SessionStore, StoreError, StoreResult};

use crate::SqlStore;
use crate::entities::{from_json, to_json};
use crate::query::{Fields, Query};

macro_rules! grant_columns {
    () => {
        "handle_digest, kind, client_id, subject, session_id, family, lookup_digest, data, \
         version, created_at, expires_at, consumed_at"
    };
}

fn grant_from_row(row: &dyn Fields) -> StoreResult<Grant> {
    Ok(Grant {
        handle_digest: row.text("handle_digest")?,
        kind: row
            .text("kind")?
            .parse()
            .map_err(|e| StoreError::Internal(format!("reading a grant: {e}")))?,
        client_id: row.text("client_id")?,
        subject: row.opt_text("subject")?,
        session_id: row.opt_text("session_id")?,
        family: row.opt_text("family")?,
        lookup_digest: row.opt_text("lookup_digest")?,
        data: from_json(&row.text("data")?, "grant data")?,
        version: row.int("version")?,
        created_at: row.int("created_at")?,
        expires_at: row.int("expires_at")?,
        consumed_at: row.opt_int("consumed_at")?,
    })
}

/// The INSERT of a grant.
pub(crate) fn insert(grant: &Grant) -> StoreResult<Query> {
    let sql: &str = concat!(
        "INSERT INTO grants (",
        grant_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    bind_grant(Query::new(sql), grant)
}

/// The INSERT of a grant that does nothing when one with its digest exists.
pub(crate) fn insert_once(grant: &Grant) -> StoreResult<Query> {
    let sql: &str = concat!(
        "INSERT INTO grants (",
        grant_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (handle_digest) DO NOTHING"
    );
    bind_grant(Query::new(sql), grant)
}

fn bind_grant(q: Query, grant: &Grant) -> StoreResult<Query> {
    Ok(q.text(&grant.handle_digest)
        .text(grant.kind.as_str())
        .text(&grant.client_id)
        .opt_text(grant.subject.as_deref())
        .opt_text(grant.session_id.as_deref())
        .opt_text(grant.family.as_deref())
        .opt_text(grant.lookup_digest.as_deref())
        .text(to_json(&grant.data)?)
        .int(grant.version)
        .int(grant.created_at)
        .int(grant.expires_at)
        .opt_int(grant.consumed_at))
}

/// The conditional UPDATE that consumes a live grant: the database decides the single winner,
/// on one instance or many, so no read-then-write race is possible.
macro_rules! consume_sql {
    () => {
        "UPDATE grants SET consumed_at = $1
         WHERE handle_digest = $2 AND kind = $3 AND consumed_at IS NULL AND expires_at > $4"
    };
}

/// Consumes a live grant and returns it.
fn consume(handle_digest: &str, kind: GrantKind, now: UnixTime) -> Query {
    const CONSUME: &str = concat!(consume_sql!(), " RETURNING ", grant_columns!(), "");
    bind_consume(Query::new(CONSUME), handle_digest, kind, now)
}

/// Replaces a live grant's data if its version is still `expected_version`: one conditional
/// UPDATE, so the database lets one of several deciders through, as it does for consumption.
pub(crate) fn update_data(
    handle_digest: &str,
    kind: GrantKind,
    expected_version: i64,
    data: &serde_json::Value,
    now: UnixTime,
) -> StoreResult<Query> {
    Ok(Query::new(
        "UPDATE grants SET data = $1, version = version + 1
         WHERE handle_digest = $2 AND kind = $3 AND version = $4
           AND consumed_at IS NULL AND expires_at > $5",
    )
    .text(to_json(data)?)
    .text(handle_digest)
    .text(kind.as_str())
    .int(expected_version)
    .int(now))
}

/// Consumes a live grant; it changes one row when the grant was consumable.
pub(crate) fn consume_only(handle_digest: &str, kind: GrantKind, now: UnixTime) -> Query {
    bind_consume(Query::new(consume_sql!()), handle_digest, kind, now)
}

fn bind_consume(q: Query, handle_digest: &str, kind: GrantKind, now: UnixTime) -> Query {
    q.int(now).text(handle_digest).text(kind.as_str()).int(now)
}

#[async_trait]
impl GrantStore for SqlStore {
    async fn insert_grant(&self, grant: &Grant) -> StoreResult<()> {
        self.execute(insert(grant)?).await.map(|_| ())
    }

    async fn find_grant(&self, handle_digest: &str) -> StoreResult<Option<Grant>> {
        let sql: &str = concat!(
            "SELECT ",
            grant_columns!(),
            " FROM grants WHERE handle_digest = $1"
        );
        self.fetch_optional(Query::new(sql).text(handle_digest), grant_from_row)
            .await
    }

    async fn find_grant_by_lookup(
        &self,
        lookup_digest: &str,
        kind: GrantKind,
        now: UnixTime,
    ) -> StoreResult<Option<Grant>> {
        let sql: &str = concat!(
            "SELECT ",
            grant_columns!(),
            " FROM grants
             WHERE lookup_digest = $1 AND kind = $2 AND consumed_at IS NULL AND expires_at > $3"
        );
        let q = Query::new(sql)
            .text(lookup_digest)
            .text(kind.as_str())
            .int(now);
        self.fetch_optional(q, grant_from_row).await
    }

    async fn consume_grant(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        now: UnixTime,
    ) -> StoreResult<Option<Grant>> {
        self.write_returning(consume(handle_digest, kind, now), grant_from_row)
            .await
    }

    async fn rotate_grant(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        now: UnixTime,
        next: &[Grant],
    ) -> StoreResult<Option<Grant>> {
        // One transaction, one commit: the consume and the inserts happen together or not at
        // all.
        let inserts = next.iter().map(insert).collect::<StoreResult<Vec<_>>>()?;
        self.write_then(consume(handle_digest, kind, now), grant_from_row, inserts)
            .await
    }

    async fn renew_grant(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        now: UnixTime,
        expires_at: UnixTime,
        next: &[Grant],
    ) -> StoreResult<bool> {
        // One transaction: the inserts follow only when the UPDATE found the grant live.
        const RENEW: &str = concat!(
            "UPDATE grants SET expires_at = $1
             WHERE handle_digest = $2 AND kind = $3 AND consumed_at IS NULL AND expires_at > $4
             RETURNING ",
            grant_columns!()
        );
        let renew = Query::new(RENEW)
            .int(expires_at)
            .text(handle_digest)
            .text(kind.as_str())
            .int(now);
        let inserts = next.iter().map(insert).collect::<StoreResult<Vec<_>>>()?;
        Ok(self
            .write_then(renew, grant_from_row, inserts)
            .await?
            .is_some())
    }

    async fn update_grant_data(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        expected_version: i64,
        data: &serde_json::Value,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let q = update_data(handle_digest, kind, expected_version, data, now)?;
        Ok(self.execute(q).await? > 0)
    }

    async fn delete_grant(&self, handle_digest: &str) -> StoreResult<bool> {
        let q = Query::new("DELETE FROM grants WHERE handle_digest = $1").text(handle_digest);
        Ok(self.execute(q).await? > 0)
    }

    async fn delete_grant_family(&self, family: &str) -> StoreResult<u64> {
        self.execute(Query::new("DELETE FROM grants WHERE family = $1").text(family))
            .await
    }

    async fn delete_session_grants(&self, sid: &str, keep_kind: GrantKind) -> StoreResult<u64> {
        let q = Query::new("DELETE FROM grants WHERE session_id = $1 AND kind <> $2")
            .text(sid)
            .text(keep_kind.as_str());
        self.execute(q).await
    }

    async fn delete_subject_grants(
        &self,
        subject: &str,
        keep_kind: Option<GrantKind>,
    ) -> StoreResult<u64> {
        // No kind is named "": keeping it keeps nothing (a NULL would match no row at all).
        let q = Query::new("DELETE FROM grants WHERE subject = $1 AND kind <> $2")
            .text(subject)
            .text(keep_kind.map_or("", GrantKind::as_str));
        self.execute(q).await
    }

    async fn session_grant_clients(&self, sid: &str, kind: GrantKind) -> StoreResult<Vec<String>> {
        let q = Query::new(
            "SELECT DISTINCT client_id FROM grants WHERE session_id = $1 AND kind = $2 \
             ORDER BY client_id",
        )
        .text(sid)
        .text(kind.as_str());
        self.fetch_all(q, |row| row.text("client_id")).await
    }

    async fn subject_grant_clients(
        &self,
        subject: &str,
        kind: GrantKind,
    ) -> StoreResult<Vec<String>> {
        let q = Query::new(
            "SELECT DISTINCT client_id FROM grants WHERE subject = $1 AND kind = $2 \
             ORDER BY client_id",
        )
        .text(subject)
        .text(kind.as_str());
        self.fetch_all(q, |row| row.text("client_id")).await
    }

    async fn delete_subject_client_grants(
        &self,
        subject: &str,
        client_id: &str,
    ) -> StoreResult<u64> {
        let q = Query::new("DELETE FROM grants WHERE subject = $1 AND client_id = $2")
            .text(subject)
            .text(client_id);
        self.execute(q).await
    }

    async fn purge_expired_grants(&self, before: UnixTime) -> StoreResult<u64> {
        self.execute(Query::new("DELETE FROM grants WHERE expires_at < $1").int(before))
            .await
    }
}

macro_rules! session_columns {
    () => {
        "id_digest, sid, subject, auth_time, created_at, last_seen, expires_at, \
         absolute_expires_at, data"
    };
}

fn session_from_row(row: &dyn Fields) -> StoreResult<Session> {
    Ok(Session {
        id_digest: row.text("id_digest")?,
        sid: row.text("sid")?,
        subject: row.text("subject")?,
        auth_time: row.int("auth_time")?,
        created_at: row.int("created_at")?,
        last_seen: row.int("last_seen")?,
        expires_at: row.int("expires_at")?,
        absolute_expires_at: row.int("absolute_expires_at")?,
        data: from_json(&row.text("data")?, "session data")?,
    })
}

/// The INSERT of a session.
pub(crate) fn insert_session(session: &Session) -> StoreResult<Query> {
    let sql: &str = concat!(
        "INSERT INTO sessions (",
        session_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    Ok(Query::new(sql)
        .text(&session.id_digest)
        .text(&session.sid)
        .text(&session.subject)
        .int(session.auth_time)
        .int(session.created_at)
        .int(session.last_seen)
        .int(session.expires_at)
        .int(session.absolute_expires_at)
        .text(to_json(&session.data)?))
}

/// The UPDATE that moves a session to its renewed cookie digest; it changes one row when the
/// session still exists.
pub(crate) fn renew_session(old_digest: &str, renewed: &Session) -> StoreResult<Query> {
    Ok(Query::new(
        "UPDATE sessions SET id_digest = $1, auth_time = $2, last_seen = $3, expires_at = $4,
         absolute_expires_at = $5, data = $6 WHERE id_digest = $7",
    )
    .text(&renewed.id_digest)
    .int(renewed.auth_time)
    .int(renewed.last_seen)
    .int(renewed.expires_at)
    .int(renewed.absolute_expires_at)
    .text(to_json(&renewed.data)?)
    .text(old_digest))
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        self.execute(insert_session(session)?).await.map(|_| ())
    }

    async fn find_session(&self, id_digest: &str, now: UnixTime) -> StoreResult<Option<Session>> {
        let sql: &str = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions
             WHERE id_digest = $1 AND expires_at > $2 AND absolute_expires_at > $3"
        );
        let q = Query::new(sql).text(id_digest).int(now).int(now);
        self.fetch_optional(q, session_from_row).await
    }

    async fn update_session(&self, session: &Session) -> StoreResult<bool> {
        let q = Query::new(
            "UPDATE sessions SET last_seen = $1, expires_at = $2, data = $3 WHERE id_digest = $4",
        )
        .int(session.last_seen)
        .int(session.expires_at)
        .text(to_json(&session.data)?)
        .text(&session.id_digest);
        Ok(self.execute(q).await? > 0)
    }

    async fn renew_session(&self, old_digest: &str, renewed: &Session) -> StoreResult<bool> {
        Ok(self.execute(renew_session(old_digest, renewed)?).await? > 0)
    }

    async fn delete_session(&self, id_digest: &str) -> StoreResult<Option<Session>> {
        let sql: &str = concat!(
            "DELETE FROM sessions WHERE id_digest = $1 RETURNING ",
            session_columns!(),
            ""
        );
        self.write_returning(Query::new(sql).text(id_digest), session_from_row)
            .await
    }

    async fn list_sessions(&self, now: UnixTime) -> StoreResult<Vec<Session>> {
        let sql: &str = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions
             WHERE expires_at > $1 AND absolute_expires_at > $2
             ORDER BY created_at"
        );
        self.fetch_all(Query::new(sql).int(now).int(now), session_from_row)
            .await
    }

    async fn list_sessions_for_subject(
        &self,
        subject: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<Session>> {
        let sql: &str = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions
             WHERE subject = $1 AND expires_at > $2 AND absolute_expires_at > $3
             ORDER BY created_at"
        );
        let q = Query::new(sql).text(subject).int(now).int(now);
        self.fetch_all(q, session_from_row).await
    }

    async fn purge_expired_sessions(&self, before: UnixTime) -> StoreResult<u64> {
        let q =
            Query::new("DELETE FROM sessions WHERE expires_at < $1 OR absolute_expires_at < $2")
                .int(before)
                .int(before);
        self.execute(q).await
    }
}
