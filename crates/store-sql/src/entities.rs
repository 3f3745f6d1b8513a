//! Clients, resources, signing keys and users.

use async_trait::async_trait;
use tessera_core::clock::UnixTime;
use tessera_core::crypto::{base64url, base64url_decode};
use tessera_core::model::{Client, KeyRecord, Resources, Source, User};
use tessera_core::secret::Secret;
use tessera_core::store::{
    ClientStore, KeyStore, ResourceStore, SecretStore, StoreError, StoreResult, UserStore,
};

use crate::SqlStore;
use crate::query::{Fields, Query};

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Internal(format!("stored {what}: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Internal(e.to_string()))
}

fn source(text: &str) -> StoreResult<Source> {
    Source::parse(text).ok_or_else(|| StoreError::Internal(format!("unknown source `{text}`")))
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn upsert_client(&self, client: &Client, source: Source) -> StoreResult<()> {
        let q = Query::new(
            "INSERT INTO clients (client_id, source, data) VALUES ($1, $2, $3)
             ON CONFLICT (client_id) DO UPDATE SET source = excluded.source, data = excluded.data",
        )
        .text(&client.client_id)
        .text(source.as_str())
        .text(to_json(client)?);
        self.execute(q).await?;
        self.announce("clients").await;
        Ok(())
    }

    async fn insert_client(&self, client: &Client, source: Source) -> StoreResult<bool> {
        let q = Query::new(
            "INSERT INTO clients (client_id, source, data) VALUES ($1, $2, $3)
             ON CONFLICT (client_id) DO NOTHING",
        )
        .text(&client.client_id)
        .text(source.as_str())
        .text(to_json(client)?);
        let inserted = self.execute(q).await? > 0;
        if inserted {
            self.announce("clients").await;
        }
        Ok(inserted)
    }

    async fn replace_client(
        &self,
        client: &Client,
        source: Source,
        version: &str,
    ) -> StoreResult<bool> {
        // The stored text is read, its version compared, and the update made only where the
        // row still holds that very text: a writer in between makes it change nothing.
        let q = Query::new("SELECT data FROM clients WHERE client_id = $1").text(&client.client_id);
        let Some(stored) = self.fetch_optional(q, |row| row.text("data")).await? else {
            return Ok(false);
        };
        let current: Client = from_json(&stored, "client")?;
        if tessera_core::clients::manage::version_of(&current) != version {
            return Ok(false);
        }
        let q = Query::new(
            "UPDATE clients SET source = $1, data = $2 WHERE client_id = $3 AND data = $4",
        )
        .text(source.as_str())
        .text(to_json(client)?)
        .text(&client.client_id)
        .text(stored);
        let replaced = self.execute(q).await? > 0;
        if replaced {
            self.announce("clients").await;
        }
        Ok(replaced)
    }

    async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        let q = Query::new("SELECT data FROM clients WHERE client_id = $1").text(client_id);
        self.fetch_optional(q, |row| from_json(&row.text("data")?, "client"))
            .await
    }

    async fn list_clients(&self) -> StoreResult<Vec<(Client, Source)>> {
        let q = Query::new("SELECT source, data FROM clients ORDER BY client_id");
        self.fetch_all(q, |row| {
            Ok((
                from_json(&row.text("data")?, "client")?,
                source(&row.text("source")?)?,
            ))
        })
        .await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let q = Query::new("DELETE FROM clients WHERE client_id = $1").text(client_id);
        let deleted = self.execute(q).await? > 0;
        self.announce("clients").await;
        Ok(deleted)
    }
}

#[async_trait]
impl ResourceStore for SqlStore {
    async fn save_resources(&self, resources: &Resources) -> StoreResult<()> {
        let q = Query::new(
            "INSERT INTO resources (id, data) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET data = excluded.data",
        )
        .text(to_json(resources)?);
        self.execute(q).await.map(|_| ())
    }

    async fn load_resources(&self) -> StoreResult<Resources> {
        let q = Query::new("SELECT data FROM resources WHERE id = 1");
        let found = self
            .fetch_optional(q, |row| from_json(&row.text("data")?, "resources"))
            .await?;
        Ok(found.unwrap_or_default())
    }

    // The admin API's resources are the row with id 2, replaced only while it holds what the
    // writer read (the same JSON text: serialisation is deterministic).
    async fn load_managed_resources(&self) -> StoreResult<Resources> {
        let q = Query::new("SELECT data FROM resources WHERE id = 2");
        let found = self
            .fetch_optional(q, |row| from_json(&row.text("data")?, "managed resources"))
            .await?;
        Ok(found.unwrap_or_default())
    }

    async fn replace_managed_resources(
        &self,
        expected: &Resources,
        new: &Resources,
    ) -> StoreResult<bool> {
        let update = Query::new("UPDATE resources SET data = $1 WHERE id = 2 AND data = $2")
            .text(to_json(new)?)
            .text(to_json(expected)?);
        let mut replaced = self.execute(update).await? == 1;
        if !replaced && expected == &Resources::default() {
            let insert = Query::new(
                "INSERT INTO resources (id, data) VALUES (2, $1) ON CONFLICT (id) DO NOTHING",
            )
            .text(to_json(new)?);
            replaced = self.execute(insert).await? == 1;
        }
        if replaced {
            self.announce("resources").await;
        }
        Ok(replaced)
    }
}

fn key_from_row(row: &dyn Fields) -> StoreResult<KeyRecord> {
    let kid = row.text("kid")?;
    let der = base64url_decode(&row.text("private_pkcs8")?)
        .ok_or_else(|| StoreError::Internal(format!("stored key {kid} is not base64url")))?;
    Ok(KeyRecord {
        alg: row.text("alg")?,
        private_pkcs8: Secret::new(der),
        created_at: row.int("created_at")?,
        activates_at: row.int("activates_at")?,
        kid,
    })
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn insert_key(&self, key: &KeyRecord) -> StoreResult<()> {
        let q = Query::new(
            "INSERT INTO signing_keys (kid, alg, private_pkcs8, created_at, activates_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .text(&key.kid)
        .text(&key.alg)
        .text(base64url(key.private_pkcs8.expose()))
        .int(key.created_at)
        .int(key.activates_at);
        self.execute(q).await?;
        self.announce("keys").await;
        Ok(())
    }

    async fn list_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        let q = Query::new(
            "SELECT kid, alg, private_pkcs8, created_at, activates_at FROM signing_keys
             ORDER BY activates_at, kid",
        );
        self.fetch_all(q, key_from_row).await
    }

    async fn delete_key(&self, kid: &str) -> StoreResult<bool> {
        let q = Query::new("DELETE FROM signing_keys WHERE kid = $1").text(kid);
        let deleted = self.execute(q).await? > 0;
        self.announce("keys").await;
        Ok(deleted)
    }

    async fn replace_key_material(&self, kid: &str, material: &[u8]) -> StoreResult<bool> {
        let q = Query::new("UPDATE signing_keys SET private_pkcs8 = $1 WHERE kid = $2")
            .text(base64url(material))
            .text(kid);
        let replaced = self.execute(q).await? > 0;
        self.announce("keys").await;
        Ok(replaced)
    }
}

macro_rules! user_columns {
    () => {
        "subject, username, password_hash, claims, source, disabled, created_at, updated_at"
    };
}

fn user_from_row(row: &dyn Fields) -> StoreResult<User> {
    Ok(User {
        subject: row.text("subject")?,
        username: row.text("username")?,
        password_hash: Secret::new(row.text("password_hash")?),
        claims: from_json(&row.text("claims")?, "user claims")?,
        source: source(&row.text("source")?)?,
        disabled: row.int("disabled")? != 0,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

#[async_trait]
impl UserStore for SqlStore {
    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        let sql: &str = concat!(
            "INSERT INTO users (",
            user_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        let q = Query::new(sql)
            .text(&user.subject)
            .text(&user.username)
            .text(user.password_hash.expose())
            .text(to_json(&user.claims)?)
            .text(user.source.as_str())
            .int(i64::from(user.disabled))
            .int(user.created_at)
            .int(user.updated_at);
        self.execute(q).await.map(|_| ())
    }

    async fn update_user(&self, user: &User) -> StoreResult<bool> {
        let q = Query::new(
            "UPDATE users SET password_hash = $1, claims = $2, disabled = $3, updated_at = $4
             WHERE subject = $5",
        )
        .text(user.password_hash.expose())
        .text(to_json(&user.claims)?)
        .int(i64::from(user.disabled))
        .int(user.updated_at)
        .text(&user.subject);
        Ok(self.execute(q).await? > 0)
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let sql: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username = $1"
        );
        self.fetch_optional(Query::new(sql).text(username), user_from_row)
            .await
    }

    async fn find_user_by_subject(&self, subject: &str) -> StoreResult<Option<User>> {
        let sql: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE subject = $1");
        self.fetch_optional(Query::new(sql).text(subject), user_from_row)
            .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let sql: &str = concat!("SELECT ", user_columns!(), " FROM users ORDER BY username");
        self.fetch_all(Query::new(sql), user_from_row).await
    }

    async fn delete_user(&self, subject: &str) -> StoreResult<bool> {
        let q = Query::new("DELETE FROM users WHERE subject = $1").text(subject);
        Ok(self.execute(q).await? > 0)
    }
}

#[async_trait]
impl SecretStore for SqlStore {
    async fn server_secret(
        &self,
        name: &str,
        candidate: &Secret<String>,
        now: UnixTime,
    ) -> StoreResult<Secret<String>> {
        // Inserted once (the primary key decides between concurrent instances), then read.
        let insert = Query::new(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .text(name)
        .text(candidate.expose())
        .int(now);
        self.execute(insert).await?;
        let read = Query::new("SELECT value FROM server_secrets WHERE name = $1").text(name);
        self.fetch_optional(read, |row| row.text("value"))
            .await?
            .map(Secret::new)
            .ok_or_else(|| StoreError::Internal(format!("server secret `{name}` is missing")))
    }
}
