//! Grants (single-use handles) and sessions.

use async_trait::async_trait;
use sqlx::any::{AnyArguments, AnyRow};
use tessera_core::clock::UnixTime;
use tessera_core::model::{Grant, Session};
use tessera_core::store::{GrantStore, SessionStore, StoreResult};

use crate::SqlStore;
use crate::entities::{from_json, get, to_json};
use crate::error::map_err;

macro_rules! grant_columns {
    () => {
        "handle_digest, kind, client_id, subject, session_id, family, data, created_at, \
         expires_at, consumed_at"
    };
}

fn grant_from_row(row: &AnyRow) -> StoreResult<Grant> {
    Ok(Grant {
        handle_digest: get(row, "handle_digest")?,
        kind: get(row, "kind")?,
        client_id: get(row, "client_id")?,
        subject: get(row, "subject")?,
        session_id: get(row, "session_id")?,
        family: get(row, "family")?,
        data: from_json(&get::<String>(row, "data")?, "grant data")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        consumed_at: get(row, "consumed_at")?,
    })
}

/// The INSERT of a grant.
fn insert(grant: &Grant) -> StoreResult<sqlx::query::Query<'_, sqlx::Any, AnyArguments>> {
    let sql: &str = concat!(
        "INSERT INTO grants (",
        grant_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    );
    Ok(sqlx::query(sql)
        .bind(&grant.handle_digest)
        .bind(&grant.kind)
        .bind(&grant.client_id)
        .bind(grant.subject.as_deref())
        .bind(grant.session_id.as_deref())
        .bind(grant.family.as_deref())
        .bind(to_json(&grant.data)?)
        .bind(grant.created_at)
        .bind(grant.expires_at)
        .bind(grant.consumed_at))
}

/// The conditional UPDATE that consumes a live grant: the database decides the single winner,
/// on one instance or many, so no read-then-write race is possible.
const CONSUME: &str = concat!(
    "UPDATE grants SET consumed_at = $1
     WHERE handle_digest = $2 AND kind = $3 AND consumed_at IS NULL AND expires_at > $4
     RETURNING ",
    grant_columns!(),
    ""
);

#[async_trait]
impl GrantStore for SqlStore {
    async fn insert_grant(&self, grant: &Grant) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        insert(grant)?.execute(&self.pool).await.map_err(map_err)?;
        Ok(())
    }

    async fn find_grant(&self, handle_digest: &str) -> StoreResult<Option<Grant>> {
        let sql: &str = concat!(
            "SELECT ",
            grant_columns!(),
            " FROM grants WHERE handle_digest = $1"
        );
        let row = sqlx::query(sql)
            .bind(handle_digest)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(grant_from_row).transpose()
    }

    async fn consume_grant(
        &self,
        handle_digest: &str,
        kind: &str,
        now: UnixTime,
    ) -> StoreResult<Option<Grant>> {
        let _turn = self.write_turn().await;
        let row = sqlx::query(CONSUME)
            .bind(now)
            .bind(handle_digest)
            .bind(kind)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(grant_from_row).transpose()
    }

    async fn rotate_grant(
        &self,
        handle_digest: &str,
        kind: &str,
        now: UnixTime,
        next: &Grant,
    ) -> StoreResult<Option<Grant>> {
        let _turn = self.write_turn().await;
        // One transaction, one commit (one fsync): the consume and the insert happen together
        // or not at all.
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let row = sqlx::query(CONSUME)
            .bind(now)
            .bind(handle_digest)
            .bind(kind)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let Some(row) = row else {
            tx.rollback().await.map_err(map_err)?;
            return Ok(None);
        };
        let consumed = grant_from_row(&row)?;
        insert(next)?.execute(&mut *tx).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some(consumed))
    }

    async fn delete_grant(&self, handle_digest: &str) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("DELETE FROM grants WHERE handle_digest = $1")
            .bind(handle_digest)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_grant_family(&self, family: &str) -> StoreResult<u64> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("DELETE FROM grants WHERE family = $1")
            .bind(family)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn delete_session_grants(&self, sid: &str, keep_kind: &str) -> StoreResult<u64> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("DELETE FROM grants WHERE session_id = $1 AND kind <> $2")
            .bind(sid)
            .bind(keep_kind)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn session_grant_clients(&self, sid: &str, kind: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT client_id FROM grants WHERE session_id = $1 AND kind = $2 \
             ORDER BY client_id",
        )
        .bind(sid)
        .bind(kind)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(|r| get::<String>(r, "client_id")).collect()
    }

    async fn purge_expired_grants(&self, before: UnixTime) -> StoreResult<u64> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("DELETE FROM grants WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}

macro_rules! session_columns {
    () => {
        "id_digest, sid, subject, auth_time, created_at, last_seen, expires_at, \
         absolute_expires_at, data"
    };
}

fn session_from_row(row: &AnyRow) -> StoreResult<Session> {
    Ok(Session {
        id_digest: get(row, "id_digest")?,
        sid: get(row, "sid")?,
        subject: get(row, "subject")?,
        auth_time: get(row, "auth_time")?,
        created_at: get(row, "created_at")?,
        last_seen: get(row, "last_seen")?,
        expires_at: get(row, "expires_at")?,
        absolute_expires_at: get(row, "absolute_expires_at")?,
        data: from_json(&get::<String>(row, "data")?, "session data")?,
    })
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        let sql: &str = concat!(
            "INSERT INTO sessions (",
            session_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        sqlx::query(sql)
            .bind(&session.id_digest)
            .bind(&session.sid)
            .bind(&session.subject)
            .bind(session.auth_time)
            .bind(session.created_at)
            .bind(session.last_seen)
            .bind(session.expires_at)
            .bind(session.absolute_expires_at)
            .bind(to_json(&session.data)?)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn find_session(&self, id_digest: &str, now: UnixTime) -> StoreResult<Option<Session>> {
        let sql: &str = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions
             WHERE id_digest = $1 AND expires_at > $2 AND absolute_expires_at > $3"
        );
        let row = sqlx::query(sql)
            .bind(id_digest)
            .bind(now)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn update_session(&self, session: &Session) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "UPDATE sessions SET last_seen = $1, expires_at = $2, data = $3 WHERE id_digest = $4",
        )
        .bind(session.last_seen)
        .bind(session.expires_at)
        .bind(to_json(&session.data)?)
        .bind(&session.id_digest)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_session(&self, id_digest: &str) -> StoreResult<Option<Session>> {
        let _turn = self.write_turn().await;
        let sql: &str = concat!(
            "DELETE FROM sessions WHERE id_digest = $1 RETURNING ",
            session_columns!(),
            ""
        );
        let row = sqlx::query(sql)
            .bind(id_digest)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn list_sessions(&self, now: UnixTime) -> StoreResult<Vec<Session>> {
        let sql: &str = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions
             WHERE expires_at > $1 AND absolute_expires_at > $2
             ORDER BY created_at"
        );
        let rows = sqlx::query(sql)
            .bind(now)
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(session_from_row).collect()
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
        let rows = sqlx::query(sql)
            .bind(subject)
            .bind(now)
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn purge_expired_sessions(&self, before: UnixTime) -> StoreResult<u64> {
        let _turn = self.write_turn().await;
        let done =
            sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR absolute_expires_at < $2")
                .bind(before)
                .bind(before)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
