//! A user's factors beyond the password, and links to accounts at external identity providers.

use async_trait::async_trait;
use tessera_core::clock::UnixTime;
use tessera_core::model::{ExternalIdentity, Factor, FactorData};
use tessera_core::store::{FactorStore, IdentityLinkStore, StoreError, StoreResult};

use crate::SqlStore;
use crate::entities::{from_json, to_json};
use crate::query::{Fields, Query};

macro_rules! factor_columns {
    () => {
        "id, subject, kind, label, data, version, created_at, last_used_at"
    };
}

fn factor_from_row(row: &dyn Fields) -> StoreResult<Factor> {
    let id = row.text("id")?;
    let data: FactorData = from_json(&row.text("data")?, "factor data")?;
    let kind = row.text("kind")?;
    if kind != data.kind().as_str() {
        return Err(StoreError::Internal(format!(
            "stored factor {id} is of kind `{kind}` but holds the data of a `{}`",
            data.kind().as_str()
        )));
    }
    Ok(Factor {
        subject: row.text("subject")?,
        label: row.text("label")?,
        data,
        version: row.int("version")?,
        created_at: row.int("created_at")?,
        last_used_at: row.opt_int("last_used_at")?,
        id,
    })
}

#[async_trait]
impl FactorStore for SqlStore {
    async fn insert_factor(&self, factor: &Factor) -> StoreResult<()> {
        let sql: &str = concat!(
            "INSERT INTO user_factors (",
            factor_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        let q = Query::new(sql)
            .text(&factor.id)
            .text(&factor.subject)
            .text(factor.kind().as_str())
            .text(&factor.label)
            .text(to_json(&factor.data)?)
            .int(factor.version)
            .int(factor.created_at)
            .opt_int(factor.last_used_at);
        self.execute(q).await.map(|_| ())
    }

    async fn list_factors(&self, subject: &str) -> StoreResult<Vec<Factor>> {
        let sql: &str = concat!(
            "SELECT ",
            factor_columns!(),
            " FROM user_factors WHERE subject = $1 ORDER BY created_at, id"
        );
        self.fetch_all(Query::new(sql).text(subject), factor_from_row)
            .await
    }

    async fn find_factor(&self, id: &str) -> StoreResult<Option<Factor>> {
        let sql: &str = concat!(
            "SELECT ",
            factor_columns!(),
            " FROM user_factors WHERE id = $1"
        );
        self.fetch_optional(Query::new(sql).text(id), factor_from_row)
            .await
    }

    async fn update_factor(&self, factor: &Factor) -> StoreResult<bool> {
        // One conditional statement: of concurrent updates expecting the same version, the
        // database lets one match and the others then find the version moved on.
        let q = Query::new(
            "UPDATE user_factors SET data = $1, last_used_at = $2, version = version + 1
             WHERE id = $3 AND subject = $4 AND version = $5",
        )
        .text(to_json(&factor.data)?)
        .opt_int(factor.last_used_at)
        .text(&factor.id)
        .text(&factor.subject)
        .int(factor.version);
        Ok(self.execute(q).await? == 1)
    }

    async fn delete_factor(&self, subject: &str, id: &str) -> StoreResult<bool> {
        let q = Query::new("DELETE FROM user_factors WHERE subject = $1 AND id = $2")
            .text(subject)
            .text(id);
        Ok(self.execute(q).await? > 0)
    }

    async fn delete_factors(&self, subject: &str) -> StoreResult<u64> {
        let q = Query::new("DELETE FROM user_factors WHERE subject = $1").text(subject);
        self.execute(q).await
    }
}

macro_rules! link_columns {
    () => {
        "provider, upstream_subject, subject, email, created_at, last_used_at"
    };
}

fn link_from_row(row: &dyn Fields) -> StoreResult<ExternalIdentity> {
    Ok(ExternalIdentity {
        provider: row.text("provider")?,
        upstream_subject: row.text("upstream_subject")?,
        subject: row.text("subject")?,
        email: row.opt_text("email")?,
        created_at: row.int("created_at")?,
        last_used_at: row.opt_int("last_used_at")?,
    })
}

#[async_trait]
impl IdentityLinkStore for SqlStore {
    async fn insert_link(&self, link: &ExternalIdentity) -> StoreResult<()> {
        let sql: &str = concat!(
            "INSERT INTO external_identities (",
            link_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6)"
        );
        let q = Query::new(sql)
            .text(&link.provider)
            .text(&link.upstream_subject)
            .text(&link.subject)
            .opt_text(link.email.as_deref())
            .int(link.created_at)
            .opt_int(link.last_used_at);
        self.execute(q).await.map(|_| ())
    }

    async fn find_link(
        &self,
        provider: &str,
        upstream_subject: &str,
    ) -> StoreResult<Option<ExternalIdentity>> {
        let sql: &str = concat!(
            "SELECT ",
            link_columns!(),
            " FROM external_identities WHERE provider = $1 AND upstream_subject = $2"
        );
        let q = Query::new(sql).text(provider).text(upstream_subject);
        self.fetch_optional(q, link_from_row).await
    }

    async fn touch_link(
        &self,
        provider: &str,
        upstream_subject: &str,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let q = Query::new(
            "UPDATE external_identities SET last_used_at = $1
             WHERE provider = $2 AND upstream_subject = $3",
        )
        .int(now)
        .text(provider)
        .text(upstream_subject);
        Ok(self.execute(q).await? > 0)
    }

    async fn list_links(&self, subject: &str) -> StoreResult<Vec<ExternalIdentity>> {
        let sql: &str = concat!(
            "SELECT ",
            link_columns!(),
            " FROM external_identities WHERE subject = $1 ORDER BY provider, upstream_subject"
        );
        self.fetch_all(Query::new(sql).text(subject), link_from_row)
            .await
    }

    async fn delete_link(&self, provider: &str, upstream_subject: &str) -> StoreResult<bool> {
        let q = Query::new(
            "DELETE FROM external_identities WHERE provider = $1 AND upstream_subject = $2",
        )
        .text(provider)
        .text(upstream_subject);
        Ok(self.execute(q).await? > 0)
    }

    async fn delete_links(&self, subject: &str) -> StoreResult<u64> {
        let q = Query::new("DELETE FROM external_identities WHERE subject = $1").text(subject);
        self.execute(q).await
    }
}
