//! Clients, resources, signing keys and users.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;
use tessera_core::crypto::{base64url, base64url_decode};
use tessera_core::model::{Client, KeyRecord, Resources, Source, User};
use tessera_core::secret::Secret;
use tessera_core::store::{
    ClientStore, KeyStore, ResourceStore, StoreError, StoreResult, UserStore,
};

use crate::SqlStore;
use crate::error::map_err;

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Internal(format!("stored {what}: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Internal(e.to_string()))
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, column: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(map_err)
}

fn source(text: &str) -> StoreResult<Source> {
    Source::parse(text).ok_or_else(|| StoreError::Internal(format!("unknown source `{text}`")))
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn upsert_client(&self, client: &Client, source: Source) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO clients (client_id, source, data) VALUES ($1, $2, $3)
             ON CONFLICT (client_id) DO UPDATE SET source = excluded.source, data = excluded.data",
        )
        .bind(&client.client_id)
        .bind(source.as_str())
        .bind(to_json(client)?)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        let row = sqlx::query("SELECT data FROM clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| from_json(&get::<String>(&r, "data")?, "client"))
            .transpose()
    }

    async fn list_clients(&self) -> StoreResult<Vec<(Client, Source)>> {
        let rows = sqlx::query("SELECT source, data FROM clients ORDER BY client_id")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    from_json(&get::<String>(r, "data")?, "client")?,
                    source(&get::<String>(r, "source")?)?,
                ))
            })
            .collect()
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait]
impl ResourceStore for SqlStore {
    async fn save_resources(&self, resources: &Resources) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO resources (id, data) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET data = excluded.data",
        )
        .bind(to_json(resources)?)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn load_resources(&self) -> StoreResult<Resources> {
        let row = sqlx::query("SELECT data FROM resources WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        match row {
            Some(r) => from_json(&get::<String>(&r, "data")?, "resources"),
            None => Ok(Resources::default()),
        }
    }
}

fn key_from_row(row: &AnyRow) -> StoreResult<KeyRecord> {
    let kid: String = get(row, "kid")?;
    let der = base64url_decode(&get::<String>(row, "private_pkcs8")?)
        .ok_or_else(|| StoreError::Internal(format!("stored key {kid} is not base64url")))?;
    Ok(KeyRecord {
        alg: get(row, "alg")?,
        private_pkcs8: Secret::new(der),
        created_at: get(row, "created_at")?,
        activates_at: get(row, "activates_at")?,
        kid,
    })
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn insert_key(&self, key: &KeyRecord) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_pkcs8, created_at, activates_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(base64url(key.private_pkcs8.expose()))
        .bind(key.created_at)
        .bind(key.activates_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn list_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, alg, private_pkcs8, created_at, activates_at FROM signing_keys
             ORDER BY activates_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn delete_key(&self, kid: &str) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }
}

macro_rules! user_columns {
    () => {
        "subject, username, password_hash, claims, source, disabled, created_at, updated_at"
    };
}

fn user_from_row(row: &AnyRow) -> StoreResult<User> {
    Ok(User {
        subject: get(row, "subject")?,
        username: get(row, "username")?,
        password_hash: Secret::new(get(row, "password_hash")?),
        claims: from_json(&get::<String>(row, "claims")?, "user claims")?,
        source: source(&get::<String>(row, "source")?)?,
        disabled: get::<i64>(row, "disabled")? != 0,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

impl SqlStore {
    async fn find_user_where(&self, sql: &'static str, value: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(user_from_row).transpose()
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        let sql: &str = concat!(
            "INSERT INTO users (",
            user_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        sqlx::query(sql)
            .bind(&user.subject)
            .bind(&user.username)
            .bind(user.password_hash.expose())
            .bind(to_json(&user.claims)?)
            .bind(user.source.as_str())
            .bind(i64::from(user.disabled))
            .bind(user.created_at)
            .bind(user.updated_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn update_user(&self, user: &User) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, claims = $2, disabled = $3, updated_at = $4
             WHERE subject = $5",
        )
        .bind(user.password_hash.expose())
        .bind(to_json(&user.claims)?)
        .bind(i64::from(user.disabled))
        .bind(user.updated_at)
        .bind(&user.subject)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        self.find_user_where(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE username = $1"
            ),
            username,
        )
        .await
    }

    async fn find_user_by_subject(&self, subject: &str) -> StoreResult<Option<User>> {
        self.find_user_where(
            concat!("SELECT ", user_columns!(), " FROM users WHERE subject = $1"),
            subject,
        )
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let sql: &str = concat!("SELECT ", user_columns!(), " FROM users ORDER BY username");
        let rows = sqlx::query(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn delete_user(&self, subject: &str) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("DELETE FROM users WHERE subject = $1")
            .bind(subject)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }
}
