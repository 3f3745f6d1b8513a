//! An in-memory store: for unit tests and for running without persistence.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

mod accounts;
mod batch;

use super::{
    ClientStore, GrantStore, KeyStore, ResourceStore, SecretStore, SessionStore, Store, StoreError,
    StoreResult, UserStore,
};
use crate::clock::UnixTime;
use crate::model::{
    Client, ExternalIdentity, Factor, Grant, GrantKind, KeyRecord, Resources, Session, Source, User,
};
use crate::secret::Secret;

#[derive(Default)]
struct Inner {
    clients: BTreeMap<String, (Client, Source)>,
    resources: Option<Resources>,
    managed_resources: Resources,
    grants: HashMap<String, Grant>,
    keys: Vec<KeyRecord>,
    users: BTreeMap<String, User>,
    factors: Vec<Factor>,
    links: BTreeMap<(String, String), ExternalIdentity>,
    sessions: HashMap<String, Session>,
    secrets: HashMap<String, Secret<String>>,
}

/// Keeps everything in one mutex; every operation is atomic.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    counters: super::MemoryCounters,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> StoreResult<MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Internal("memory store lock poisoned".into()))
    }
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn upsert_client(&self, client: &Client, source: Source) -> StoreResult<()> {
        self.lock()?
            .clients
            .insert(client.client_id.clone(), (client.clone(), source));
        Ok(())
    }

    async fn insert_client(&self, client: &Client, source: Source) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        if inner.clients.contains_key(&client.client_id) {
            return Ok(false);
        }
        inner
            .clients
            .insert(client.client_id.clone(), (client.clone(), source));
        Ok(true)
    }

    async fn replace_client(
        &self,
        client: &Client,
        source: Source,
        version: &str,
    ) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        match inner.clients.get_mut(&client.client_id) {
            Some(current) if crate::clients::manage::version_of(&current.0) == version => {
                *current = (client.clone(), source);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        Ok(self.lock()?.clients.get(client_id).map(|(c, _)| c.clone()))
    }

    async fn list_clients(&self) -> StoreResult<Vec<(Client, Source)>> {
        Ok(self.lock()?.clients.values().cloned().collect())
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        Ok(self.lock()?.clients.remove(client_id).is_some())
    }
}

#[async_trait]
impl ResourceStore for MemoryStore {
    async fn save_resources(&self, resources: &Resources) -> StoreResult<()> {
        self.lock()?.resources = Some(resources.clone());
        Ok(())
    }

    async fn load_resources(&self) -> StoreResult<Resources> {
        Ok(self.lock()?.resources.clone().unwrap_or_default())
    }

    async fn load_managed_resources(&self) -> StoreResult<Resources> {
        Ok(self.lock()?.managed_resources.clone())
    }

    async fn replace_managed_resources(
        &self,
        expected: &Resources,
        new: &Resources,
    ) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        if &inner.managed_resources != expected {
            return Ok(false);
        }
        inner.managed_resources = new.clone();
        Ok(true)
    }
}

impl Inner {
    /// Whether `grant` cannot be stored: its digest, or its lookup digest, is taken (the SQL
    /// stores' primary key and unique index).
    fn grant_conflicts(&self, grant: &Grant) -> bool {
        self.grants.contains_key(&grant.handle_digest)
            || grant.lookup_digest.as_ref().is_some_and(|lookup| {
                self.grants
                    .values()
                    .any(|g| g.lookup_digest.as_ref() == Some(lookup))
            })
    }
}

impl Inner {
    /// Moves the session `old_digest` to `renewed`'s digest with `renewed`'s times and data
    /// (its `sid`, subject and creation time stay); the old record, if there was one.
    fn renew(&mut self, old_digest: &str, renewed: &Session) -> Option<Session> {
        let old = self.sessions.remove(old_digest)?;
        let session = Session {
            id_digest: renewed.id_digest.clone(),
            auth_time: renewed.auth_time,
            last_seen: renewed.last_seen,
            expires_at: renewed.expires_at,
            absolute_expires_at: renewed.absolute_expires_at,
            data: renewed.data.clone(),
            ..old.clone()
        };
        self.sessions.insert(session.id_digest.clone(), session);
        Some(old)
    }
}

/// Whether `grant` is of `kind` and live at `now`, as the SQL stores' conditions.
fn live_of(grant: &Grant, kind: GrantKind, now: UnixTime) -> bool {
    grant.kind == kind && grant.is_live(now)
}

#[async_trait]
impl GrantStore for MemoryStore {
    async fn insert_grant(&self, grant: &Grant) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if inner.grant_conflicts(grant) {
            return Err(StoreError::Conflict("grant exists".into()));
        }
        inner
            .grants
            .insert(grant.handle_digest.clone(), grant.clone());
        Ok(())
    }

    async fn find_grant(&self, handle_digest: &str) -> StoreResult<Option<Grant>> {
        Ok(self.lock()?.grants.get(handle_digest).cloned())
    }

    async fn find_grant_by_lookup(
        &self,
        lookup_digest: &str,
        kind: GrantKind,
        now: UnixTime,
    ) -> StoreResult<Option<Grant>> {
        Ok(self
            .lock()?
            .grants
            .values()
            .find(|g| g.lookup_digest.as_deref() == Some(lookup_digest) && live_of(g, kind, now))
            .cloned())
    }

    async fn consume_grant(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        now: UnixTime,
    ) -> StoreResult<Option<Grant>> {
        let mut inner = self.lock()?;
        match inner.grants.get_mut(handle_digest) {
            Some(g) if live_of(g, kind, now) => {
                g.consumed_at = Some(now);
                Ok(Some(g.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn rotate_grant(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        now: UnixTime,
        next: &[Grant],
    ) -> StoreResult<Option<Grant>> {
        let mut inner = self.lock()?;
        // As the SQL stores: not consumable is `None` before anything else; a successor that
        // exists (or repeats) is a conflict, and then nothing changes.
        match inner.grants.get(handle_digest) {
            Some(g) if live_of(g, kind, now) => {}
            _ => return Ok(None),
        }
        let mut digests = std::collections::HashSet::new();
        let mut lookups = std::collections::HashSet::new();
        if next.iter().any(|n| {
            inner.grant_conflicts(n)
                || !digests.insert(&n.handle_digest)
                || n.lookup_digest.as_ref().is_some_and(|l| !lookups.insert(l))
        }) {
            return Err(StoreError::Conflict("grant exists".into()));
        }
        let Some(grant) = inner.grants.get_mut(handle_digest) else {
            return Ok(None);
        };
        grant.consumed_at = Some(now);
        let consumed = grant.clone();
        for n in next {
            inner.grants.insert(n.handle_digest.clone(), n.clone());
        }
        Ok(Some(consumed))
    }

    async fn renew_grant(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        now: UnixTime,
        expires_at: UnixTime,
        next: &[Grant],
    ) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        match inner.grants.get(handle_digest) {
            Some(g) if live_of(g, kind, now) => {}
            _ => return Ok(false),
        }
        let mut digests = std::collections::HashSet::new();
        if next
            .iter()
            .any(|n| inner.grant_conflicts(n) || !digests.insert(&n.handle_digest))
        {
            return Err(StoreError::Conflict("grant exists".into()));
        }
        if let Some(grant) = inner.grants.get_mut(handle_digest) {
            grant.expires_at = expires_at;
        }
        for n in next {
            inner.grants.insert(n.handle_digest.clone(), n.clone());
        }
        Ok(true)
    }

    async fn update_grant_data(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        expected_version: i64,
        data: &serde_json::Value,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        match inner.grants.get_mut(handle_digest) {
            Some(g) if live_of(g, kind, now) && g.version == expected_version => {
                g.data = data.clone();
                g.version += 1;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_grant(&self, handle_digest: &str) -> StoreResult<bool> {
        Ok(self.lock()?.grants.remove(handle_digest).is_some())
    }

    async fn delete_grant_family(&self, family: &str) -> StoreResult<u64> {
        let mut inner = self.lock()?;
        let before = inner.grants.len();
        inner
            .grants
            .retain(|_, g| g.family.as_deref() != Some(family));
        Ok((before - inner.grants.len()) as u64)
    }

    async fn delete_session_grants(&self, sid: &str, keep_kind: GrantKind) -> StoreResult<u64> {
        let mut inner = self.lock()?;
        let before = inner.grants.len();
        inner
            .grants
            .retain(|_, g| g.session_id.as_deref() != Some(sid) || g.kind == keep_kind);
        Ok((before - inner.grants.len()) as u64)
    }

    async fn delete_subject_grants(
        &self,
        subject: &str,
        keep_kind: Option<GrantKind>,
    ) -> StoreResult<u64> {
        let mut inner = self.lock()?;
        let before = inner.grants.len();
        inner
            .grants
            .retain(|_, g| g.subject.as_deref() != Some(subject) || Some(g.kind) == keep_kind);
        Ok((before - inner.grants.len()) as u64)
    }

    async fn session_grant_clients(&self, sid: &str, kind: GrantKind) -> StoreResult<Vec<String>> {
        let mut clients: Vec<String> = self
            .lock()?
            .grants
            .values()
            .filter(|g| g.session_id.as_deref() == Some(sid) && g.kind == kind)
            .map(|g| g.client_id.clone())
            .collect();
        clients.sort();
        clients.dedup();
        Ok(clients)
    }

    async fn subject_grant_clients(
        &self,
        subject: &str,
        kind: GrantKind,
    ) -> StoreResult<Vec<String>> {
        let mut clients: Vec<String> = (self.lock()?.grants.values())
            .filter(|g| g.subject.as_deref() == Some(subject) && g.kind == kind)
            .map(|g| g.client_id.clone())
            .collect();
        clients.sort();
        clients.dedup();
        Ok(clients)
    }

    async fn delete_subject_client_grants(
        &self,
        subject: &str,
        client_id: &str,
    ) -> StoreResult<u64> {
        let mut inner = self.lock()?;
        let before = inner.grants.len();
        inner
            .grants
            .retain(|_, g| !(g.subject.as_deref() == Some(subject) && g.client_id == client_id));
        Ok((before - inner.grants.len()) as u64)
    }

    async fn purge_expired_grants(&self, before: UnixTime) -> StoreResult<u64> {
        let mut inner = self.lock()?;
        let count = inner.grants.len();
        inner.grants.retain(|_, g| g.expires_at >= before);
        Ok((count - inner.grants.len()) as u64)
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn insert_key(&self, key: &KeyRecord) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if inner.keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::Conflict("key exists".into()));
        }
        inner.keys.push(key.clone());
        Ok(())
    }

    async fn list_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        let mut keys = self.lock()?.keys.clone();
        keys.sort_by(|a, b| (a.activates_at, &a.kid).cmp(&(b.activates_at, &b.kid)));
        Ok(keys)
    }

    async fn delete_key(&self, kid: &str) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        let before = inner.keys.len();
        inner.keys.retain(|k| k.kid != kid);
        Ok(inner.keys.len() != before)
    }

    async fn replace_key_material(&self, kid: &str, material: &[u8]) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        match inner.keys.iter_mut().find(|k| k.kid == kid) {
            Some(key) => {
                key.private_pkcs8 = crate::secret::Secret::new(material.to_vec());
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if inner.users.contains_key(&user.username)
            || inner.users.values().any(|u| u.subject == user.subject)
        {
            return Err(StoreError::Conflict("user exists".into()));
        }
        inner.users.insert(user.username.clone(), user.clone());
        Ok(())
    }

    async fn update_user(&self, user: &User) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        match inner.users.values_mut().find(|u| u.subject == user.subject) {
            Some(u) => {
                u.password_hash = user.password_hash.clone();
                u.claims = user.claims.clone();
                u.disabled = user.disabled;
                u.updated_at = user.updated_at;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        Ok(self.lock()?.users.get(username).cloned())
    }

    async fn find_user_by_subject(&self, subject: &str) -> StoreResult<Option<User>> {
        Ok(self
            .lock()?
            .users
            .values()
            .find(|u| u.subject == subject)
            .cloned())
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        Ok(self.lock()?.users.values().cloned().collect())
    }

    async fn delete_user(&self, subject: &str) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        let before = inner.users.len();
        inner.users.retain(|_, u| u.subject != subject);
        Ok(inner.users.len() != before)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if inner.sessions.contains_key(&session.id_digest) {
            return Err(StoreError::Conflict("session exists".into()));
        }
        inner
            .sessions
            .insert(session.id_digest.clone(), session.clone());
        Ok(())
    }

    async fn find_session(&self, id_digest: &str, now: UnixTime) -> StoreResult<Option<Session>> {
        Ok(self
            .lock()?
            .sessions
            .get(id_digest)
            .filter(|s| s.expires_at > now && s.absolute_expires_at > now)
            .cloned())
    }

    async fn update_session(&self, session: &Session) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        match inner.sessions.get_mut(&session.id_digest) {
            Some(s) => {
                s.last_seen = session.last_seen;
                s.expires_at = session.expires_at;
                s.data = session.data.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn renew_session(&self, old_digest: &str, renewed: &Session) -> StoreResult<bool> {
        Ok(self.lock()?.renew(old_digest, renewed).is_some())
    }

    async fn delete_session(&self, id_digest: &str) -> StoreResult<Option<Session>> {
        Ok(self.lock()?.sessions.remove(id_digest))
    }

    async fn list_sessions(&self, now: UnixTime) -> StoreResult<Vec<Session>> {
        let mut list: Vec<Session> = self
            .lock()?
            .sessions
            .values()
            .filter(|s| s.expires_at > now && s.absolute_expires_at > now)
            .cloned()
            .collect();
        list.sort_by_key(|s| s.created_at);
        Ok(list)
    }

    async fn list_sessions_for_subject(
        &self,
        subject: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<Session>> {
        let mut list: Vec<Session> = self
            .lock()?
            .sessions
            .values()
            .filter(|s| s.subject == subject && s.expires_at > now && s.absolute_expires_at > now)
            .cloned()
            .collect();
        list.sort_by_key(|s| s.created_at);
        Ok(list)
    }

    async fn purge_expired_sessions(&self, before: UnixTime) -> StoreResult<u64> {
        let mut inner = self.lock()?;
        let count = inner.sessions.len();
        inner
            .sessions
            .retain(|_, s| s.expires_at >= before && s.absolute_expires_at >= before);
        Ok((count - inner.sessions.len()) as u64)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        self.lock().map(|_| ())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}

#[async_trait]
impl SecretStore for MemoryStore {
    async fn server_secret(
        &self,
        name: &str,
        candidate: &Secret<String>,
        _now: UnixTime,
    ) -> StoreResult<Secret<String>> {
        Ok(self
            .lock()?
            .secrets
            .entry(name.to_string())
            .or_insert_with(|| candidate.clone())
            .clone())
    }
}

#[async_trait]
impl super::CounterStore for MemoryStore {
    async fn read_counters(&self, keys: &[String]) -> StoreResult<Vec<super::Counter>> {
        self.counters.read_counters(keys).await
    }

    async fn update_counters(
        &self,
        keys: &[String],
        update: super::CounterUpdate<'_>,
    ) -> StoreResult<Vec<super::Counter>> {
        self.counters.update_counters(keys, update).await
    }

    async fn purge_counters(&self, before_ms: i64) -> StoreResult<u64> {
        self.counters.purge_counters(before_ms).await
    }
}
