//! Store traits, sized to one role each, and the in-memory implementation.
//!
//! Every implementation (memory, SQLite, PostgreSQL) passes the same conformance suite
//! ([`conformance`], behind the `conformance` feature).

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::model::{
    Client, ExternalIdentity, Factor, Grant, GrantKind, KeyRecord, Resources, Session, Source, User,
};
use crate::secret::Secret;

mod batch;
#[cfg(feature = "conformance")]
pub mod conformance;
mod counters;
pub mod memory;
pub mod persisted;

pub use batch::{BatchStore, BatchWrite, Committed, WriteBatch};
pub use counters::{Counter, CounterStore, CounterUpdate, MAX_MEMORY_COUNTERS, MemoryCounters};
pub use memory::MemoryStore;
pub use persisted::{GrantPayload, replace_payload};

/// A store failure. Callers map `Unavailable` to `temporarily_unavailable` (503) and the rest
/// to `server_error`, logging the detail.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached right now (connection refused, pool exhausted, timeout).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness constraint was violated.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data could not be read back (corrupt row, failed migration, bad JSON).
    #[error("store error: {0}")]
    Internal(String),
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Registered clients.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Inserts or replaces a client.
    async fn upsert_client(&self, client: &Client, source: Source) -> StoreResult<()>;
    /// Inserts a client unless one with its id exists; true when inserted.
    async fn insert_client(&self, client: &Client, source: Source) -> StoreResult<bool>;
    /// Replaces the client with `client`'s id if it is still at `version`
    /// ([`crate::clients::manage::version_of`]): a compare-and-set, so that of two writers that
    /// read the same version one wins. True when replaced; false when missing or changed.
    async fn replace_client(
        &self,
        client: &Client,
        source: Source,
        version: &str,
    ) -> StoreResult<bool>;
    /// The client with this id.
    async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>>;
    /// Whether the client with this id exists and is enabled (a cache answers without a copy).
    async fn client_enabled(&self, client_id: &str) -> StoreResult<bool> {
        Ok(self
            .find_client(client_id)
            .await?
            .is_some_and(|c| c.enabled))
    }
    /// All clients, ordered by client_id, with their source.
    async fn list_clients(&self) -> StoreResult<Vec<(Client, Source)>>;
    /// Deletes a client; true when it existed.
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool>;
}

/// API scopes, API resources and identity resources, kept as one document.
#[async_trait]
pub trait ResourceStore: Send + Sync {
    /// Replaces the resources.
    async fn save_resources(&self, resources: &Resources) -> StoreResult<()>;
    /// The resources; empty when never saved.
    async fn load_resources(&self) -> StoreResult<Resources>;
    /// The resources made through the admin API, kept apart from the configuration's (which
    /// every start rewrites); empty when none were made.
    async fn load_managed_resources(&self) -> StoreResult<Resources>;
    /// Replaces the managed resources with `new` if they are still `expected`
    /// (compare-and-set); false when another change came first.
    async fn replace_managed_resources(
        &self,
        expected: &Resources,
        new: &Resources,
    ) -> StoreResult<bool>;
}

/// Grants stored under the digest of their handle, with atomic single use. Callers store and
/// read them typed ([`persisted`]).
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a new grant; `Conflict` if the digest exists, or its lookup digest is another
    /// grant's (expired or not).
    async fn insert_grant(&self, grant: &Grant) -> StoreResult<()>;
    /// The grant with this digest, consumed or not, expired or not.
    async fn find_grant(&self, handle_digest: &str) -> StoreResult<Option<Grant>>;
    /// The grant of `kind` whose lookup digest is `lookup_digest` (a device flow's user code),
    /// if it has not been consumed and has not expired at `now`.
    async fn find_grant_by_lookup(
        &self,
        lookup_digest: &str,
        kind: GrantKind,
        now: UnixTime,
    ) -> StoreResult<Option<Grant>>;
    /// Atomically marks the grant consumed and returns it, if it exists, is of `kind`, has not
    /// been consumed and has not expired at `now`. Of several concurrent callers exactly one
    /// gets `Some`.
    async fn consume_grant(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        now: UnixTime,
    ) -> StoreResult<Option<Grant>>;
    /// Consumes the live grant `handle_digest` of `kind` (as [`GrantStore::consume_grant`])
    /// and inserts every grant of `next` in one transaction: all happen or none does (CVE-22:
    /// a code's or a refresh token's successors exist exactly when it is consumed). Returns
    /// the consumed grant; `None` when it was not consumable, and then nothing is inserted.
    async fn rotate_grant(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        now: UnixTime,
        next: &[Grant],
    ) -> StoreResult<Option<Grant>>;
    /// Moves the end of the live grant `handle_digest` of `kind` to `expires_at` and inserts
    /// every grant of `next`, in one transaction, if it is live at `now` (not consumed, not
    /// expired): a refresh token that does not rotate stays, and what it issued exists exactly
    /// when it was still live (CVE-22). False when it was not live, and then nothing changes.
    async fn renew_grant(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        now: UnixTime,
        expires_at: UnixTime,
        next: &[Grant],
    ) -> StoreResult<bool>;
    /// Replaces the data of the grant `handle_digest` of `kind` with `data` and counts its
    /// version up, in one step, if its version is still `expected_version` and it has been
    /// neither consumed nor expired at `now` (compare-and-set: of two instances deciding a
    /// pending grant at once, one wins). True when it was replaced.
    async fn update_grant_data(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        expected_version: i64,
        data: &serde_json::Value,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Deletes one grant; true when it existed.
    async fn delete_grant(&self, handle_digest: &str) -> StoreResult<bool>;
    /// Deletes every grant of a family; returns how many.
    async fn delete_grant_family(&self, family: &str) -> StoreResult<u64>;
    /// Deletes the grants bound to a session (`session_id` = its `sid`) except those of
    /// `keep_kind` (offline refresh tokens outlive the session); returns how many.
    async fn delete_session_grants(&self, sid: &str, keep_kind: GrantKind) -> StoreResult<u64>;
    /// Deletes every grant of the user `subject` except those of `keep_kind`, if any
    /// (remembered consent); returns how many.
    async fn delete_subject_grants(
        &self,
        subject: &str,
        keep_kind: Option<GrantKind>,
    ) -> StoreResult<u64>;
    /// The distinct clients of the grants of `kind` bound to session `sid`.
    async fn session_grant_clients(&self, sid: &str, kind: GrantKind) -> StoreResult<Vec<String>>;
    /// The distinct clients of the user `subject`'s grants of `kind`, in order.
    async fn subject_grant_clients(
        &self,
        subject: &str,
        kind: GrantKind,
    ) -> StoreResult<Vec<String>>;
    /// Deletes every grant of the user `subject` for `client_id` (consent, refresh and access
    /// tokens, codes); returns how many.
    async fn delete_subject_client_grants(
        &self,
        subject: &str,
        client_id: &str,
    ) -> StoreResult<u64>;
    /// Deletes grants that expired before `before`; returns how many.
    async fn purge_expired_grants(&self, before: UnixTime) -> StoreResult<u64>;
}

/// Signing keys, shared by every instance on one database.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a new key; `Conflict` if the kid exists.
    async fn insert_key(&self, key: &KeyRecord) -> StoreResult<()>;
    /// All keys, oldest activation first.
    async fn list_keys(&self) -> StoreResult<Vec<KeyRecord>>;
    /// Deletes a key; true when it existed.
    async fn delete_key(&self, kid: &str) -> StoreResult<bool>;
    /// Replaces a key's stored private material (sealed or opened under another key-encryption
    /// key); true when the key exists.
    async fn replace_key_material(&self, kid: &str, material: &[u8]) -> StoreResult<bool>;
}

/// Local user accounts.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Stores a new user; `Conflict` if the username or subject exists.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    /// Replaces a user's password hash, claims and disabled flag, found by subject; false when
    /// there is no such user.
    async fn update_user(&self, user: &User) -> StoreResult<bool>;
    /// The user with this username.
    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// The user with this subject.
    async fn find_user_by_subject(&self, subject: &str) -> StoreResult<Option<User>>;
    /// All users, ordered by username.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Deletes a user; true when it existed.
    async fn delete_user(&self, subject: &str) -> StoreResult<bool>;
}

/// A user's factors beyond the password.
#[async_trait]
pub trait FactorStore: Send + Sync {
    /// Stores a new factor (its `version` as given); `Conflict` if the id exists.
    async fn insert_factor(&self, factor: &Factor) -> StoreResult<()>;
    /// The factors of a user, oldest first (then by id).
    async fn list_factors(&self, subject: &str) -> StoreResult<Vec<Factor>>;
    /// The factor with this id, whoever's it is (a passkey is found by its credential id).
    async fn find_factor(&self, id: &str) -> StoreResult<Option<Factor>>;
    /// Replaces the data and `last_used_at` of `factor` and counts its version up, if the
    /// stored version is still `factor.version` (compare-and-set: of two uses at once, one
    /// wins). True when it was replaced.
    async fn update_factor(&self, factor: &Factor) -> StoreResult<bool>;
    /// Deletes one factor of a user; true when it existed.
    async fn delete_factor(&self, subject: &str, id: &str) -> StoreResult<bool>;
    /// Deletes every factor of a user; returns how many.
    async fn delete_factors(&self, subject: &str) -> StoreResult<u64>;
}

/// Links of local accounts to accounts at external identity providers.
#[async_trait]
pub trait IdentityLinkStore: Send + Sync {
    /// Stores a new link; `Conflict` if the upstream account is linked already.
    async fn insert_link(&self, link: &ExternalIdentity) -> StoreResult<()>;
    /// The link of an upstream account.
    async fn find_link(
        &self,
        provider: &str,
        upstream_subject: &str,
    ) -> StoreResult<Option<ExternalIdentity>>;
    /// Records a sign-in through the link.
    async fn touch_link(
        &self,
        provider: &str,
        upstream_subject: &str,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// The links of a local user, by provider, then upstream subject.
    async fn list_links(&self, subject: &str) -> StoreResult<Vec<ExternalIdentity>>;
    /// Deletes one link; true when it existed.
    async fn delete_link(&self, provider: &str, upstream_subject: &str) -> StoreResult<bool>;
    /// Deletes every link of a local user; returns how many.
    async fn delete_links(&self, subject: &str) -> StoreResult<u64>;
}

/// Server-side sessions.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session.
    async fn insert_session(&self, session: &Session) -> StoreResult<()>;
    /// The session with this cookie digest, if it has not expired at `now`.
    async fn find_session(&self, id_digest: &str, now: UnixTime) -> StoreResult<Option<Session>>;
    /// Records use of the session: updates `last_seen`, sliding `expires_at` and `data`.
    async fn update_session(&self, session: &Session) -> StoreResult<bool>;
    /// Moves the session stored under `old_digest` to `renewed.id_digest` and sets its
    /// `auth_time`, `last_seen`, expiry and `data` from `renewed`, in one step (its `sid`,
    /// subject and creation time stay); false when there is no such session any more.
    async fn renew_session(&self, old_digest: &str, renewed: &Session) -> StoreResult<bool>;
    /// Ends a session and returns it.
    async fn delete_session(&self, id_digest: &str) -> StoreResult<Option<Session>>;
    /// The live sessions of a user.
    async fn list_sessions_for_subject(
        &self,
        subject: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<Session>>;
    /// Every live session, oldest first.
    async fn list_sessions(&self, now: UnixTime) -> StoreResult<Vec<Session>>;
    /// Deletes sessions that expired before `before`; returns how many.
    async fn purge_expired_sessions(&self, before: UnixTime) -> StoreResult<u64>;
}

/// Server-wide secrets (keys for the MACs of the server's own cookies), shared by every
/// instance on one database.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The secret named `name`: the stored one, or `candidate` when none was stored yet (it is
    /// stored now). Of several instances asking at once, every one gets the same value.
    async fn server_secret(
        &self,
        name: &str,
        candidate: &Secret<String>,
        now: UnixTime,
    ) -> StoreResult<Secret<String>>;
}

/// Everything the server needs from a store.
#[async_trait]
pub trait Store:
    ClientStore
    + ResourceStore
    + GrantStore
    + KeyStore
    + UserStore
    + FactorStore
    + IdentityLinkStore
    + SessionStore
    + SecretStore
    + BatchStore
    + CounterStore
    + Send
    + Sync
{
    /// Checks that the store answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    /// Gives the space of deleted rows back to the file system where the backend keeps it
    /// (SQLite's incremental vacuum); called after the purge of expired entries.
    async fn reclaim_space(&self) -> StoreResult<()> {
        Ok(())
    }
    /// A short name for logs: `memory`, `sqlite`, `postgres`.
    fn backend(&self) -> &'static str;
}
