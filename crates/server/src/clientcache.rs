//! Registered clients in memory. Every token request authenticates a client, and reading it
//! from the database each time costs more than signing the token; clients change rarely (at
//! start, from the configuration), so each instance keeps them all in memory and re-reads the
//! table every `keys.refresh_interval` to pick up other instances' changes.
//!
//! A client this instance does not know is read from the store (read-through), so a client
//! added at another instance works at once rather than after the next refresh. An id the store
//! does not have either is remembered as absent until that refresh: a caller repeating an
//! unknown `client_id` costs one read per refresh interval, not one per request. The absent
//! ids are bounded; once that many are remembered, further unknown ids are not read until the
//! refresh clears them, so a flood of made-up ids costs at most that many reads per interval
//! (a client added elsewhere meanwhile is then found at that refresh).
//!
//! Writes through this cache update it at once, for this instance; other instances see them
//! at their next miss or refresh.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use tessera_core::model::{Client, Source};
use tessera_core::store::{ClientStore, StoreError, StoreResult};

/// How many unknown client ids are remembered between two refreshes.
const MAX_ABSENT: usize = 10_000;

/// The cache, in front of the store.
pub struct ClientCache {
    store: Arc<dyn ClientStore>,
    clients: RwLock<Arc<HashMap<String, Client>>>,
    /// Ids the store did not have when last asked, since the last refresh.
    absent: Mutex<HashSet<String>>,
    /// Counts the writes through this cache. A read of the store that a write overtook may
    /// return what the write replaced, so it is answered but not kept.
    writes: AtomicU64,
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Internal("client cache lock poisoned".into())
}

impl ClientCache {
    /// Loads every client from `store`.
    pub async fn load(store: Arc<dyn ClientStore>) -> StoreResult<Arc<ClientCache>> {
        let cache = Arc::new(ClientCache {
            store,
            clients: RwLock::new(Arc::default()),
            absent: Mutex::new(HashSet::new()),
            writes: AtomicU64::new(0),
        });
        cache.refresh().await?;
        Ok(cache)
    }

    /// Re-reads every client from the store, and forgets the ids found absent.
    pub async fn refresh(&self) -> StoreResult<()> {
        let writes = self.writes.load(Ordering::SeqCst);
        let all: HashMap<String, Client> = self
            .store
            .list_clients()
            .await?
            .into_iter()
            .map(|(c, _)| (c.client_id.clone(), c))
            .collect();
        {
            let mut clients = self.clients.write().map_err(poisoned)?;
            // A write went through while the list was read: memory has it and the list may
            // not, so memory stays; the next refresh brings the other instances' changes.
            if self.writes.load(Ordering::SeqCst) == writes {
                *clients = Arc::new(all);
            }
        }
        self.absent.lock().map_err(poisoned)?.clear();
        Ok(())
    }

    fn snapshot(&self) -> StoreResult<Arc<HashMap<String, Client>>> {
        self.clients.read().map(|c| c.clone()).map_err(poisoned)
    }

    /// Whether an enabled client this instance knows registers `origin` for CORS. A CORS
    /// preflight carries no credentials, so it is answered for any registered origin; the
    /// request that follows is checked against its own client. A client added at another
    /// instance counts from the next refresh.
    pub fn any_allows_origin(&self, origin: &str) -> bool {
        self.snapshot().is_ok_and(|clients| {
            clients
                .values()
                .any(|c| c.enabled && c.allows_origin(origin))
        })
    }

    /// A client not in memory: from the store, unless it was found absent since the last
    /// refresh (or too many were).
    async fn read_through(&self, client_id: &str) -> StoreResult<Option<Client>> {
        {
            let absent = self.absent.lock().map_err(poisoned)?;
            if absent.contains(client_id) || absent.len() >= MAX_ABSENT {
                return Ok(None);
            }
        }
        let writes = self.writes.load(Ordering::SeqCst);
        let found = self.store.find_client(client_id).await?;
        // Checked under the lock that writes take to update memory: a write either came
        // before (and is seen here) or updates memory after this.
        let mut clients = self.clients.write().map_err(poisoned)?;
        if self.writes.load(Ordering::SeqCst) == writes {
            match &found {
                // A refresh may have brought a newer copy meanwhile: it is kept.
                Some(client) => {
                    Arc::make_mut(&mut clients)
                        .entry(client_id.to_string())
                        .or_insert_with(|| client.clone());
                }
                None => {
                    self.absent
                        .lock()
                        .map_err(poisoned)?
                        .insert(client_id.to_string());
                }
            }
        }
        Ok(found)
    }

    /// Applies a write that went through to the store to memory: `client` replaces what was
    /// under `client_id`, or `None` removes it.
    fn written(&self, client_id: &str, client: Option<&Client>) -> StoreResult<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        let mut clients = self.clients.write().map_err(poisoned)?;
        // Readers hold snapshots of the map: it is copied while one is out, never changed
        // under them.
        let map = Arc::make_mut(&mut clients);
        match client {
            Some(client) => {
                map.insert(client_id.to_string(), client.clone());
                self.absent.lock().map_err(poisoned)?.remove(client_id);
            }
            None => {
                map.remove(client_id);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ClientStore for ClientCache {
    async fn upsert_client(&self, client: &Client, source: Source) -> StoreResult<()> {
        self.store.upsert_client(client, source).await?;
        self.written(&client.client_id, Some(client))
    }

    async fn insert_client(&self, client: &Client, source: Source) -> StoreResult<bool> {
        let inserted = self.store.insert_client(client, source).await?;
        if inserted {
            self.written(&client.client_id, Some(client))?;
        }
        Ok(inserted)
    }

    async fn replace_client(
        &self,
        client: &Client,
        source: Source,
        version: &str,
    ) -> StoreResult<bool> {
        let replaced = self.store.replace_client(client, source, version).await?;
        if replaced {
            self.written(&client.client_id, Some(client))?;
        }
        Ok(replaced)
    }

    async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        match self.snapshot()?.get(client_id) {
            Some(client) => Ok(Some(client.clone())),
            None => self.read_through(client_id).await,
        }
    }

    async fn client_enabled(&self, client_id: &str) -> StoreResult<bool> {
        match self.snapshot()?.get(client_id) {
            Some(client) => Ok(client.enabled),
            None => Ok(self
                .read_through(client_id)
                .await?
                .is_some_and(|c| c.enabled)),
        }
    }

    async fn list_clients(&self) -> StoreResult<Vec<(Client, Source)>> {
        self.store.list_clients().await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let deleted = self.store.delete_client(client_id).await?;
        self.written(client_id, None)?;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use tessera_core::store::{MemoryStore, Store};

    fn client(id: &str, enabled: bool) -> Client {
        Client::builder(id)
            .lifetimes(60, 60)
            .enabled(enabled)
            .build()
    }

    #[tokio::test]
    async fn serves_from_memory_and_sees_changes_after_a_refresh() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        store
            .upsert_client(&client("a", true), Source::Config)
            .await
            .unwrap();
        let cache = ClientCache::load(store.clone()).await.unwrap();
        assert!(cache.find_client("a").await.unwrap().unwrap().enabled);
        // Another instance disables it: seen at the next refresh.
        store
            .upsert_client(&client("a", false), Source::Config)
            .await
            .unwrap();
        assert!(cache.find_client("a").await.unwrap().unwrap().enabled);
        cache.refresh().await.unwrap();
        assert!(!cache.find_client("a").await.unwrap().unwrap().enabled);
        // Writes through the cache are seen at once.
        cache
            .upsert_client(&client("b", true), Source::Managed)
            .await
            .unwrap();
        assert!(cache.find_client("b").await.unwrap().is_some());
        assert!(cache.delete_client("b").await.unwrap());
        assert!(cache.find_client("b").await.unwrap().is_none());
    }

    /// A store that counts its reads by id and can hold a read until the test lets it go.
    #[derive(Default)]
    struct CountingStore {
        inner: MemoryStore,
        reads: AtomicUsize,
        gate: tokio::sync::Mutex<()>,
    }

    impl CountingStore {
        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl ClientStore for CountingStore {
        async fn upsert_client(&self, client: &Client, source: Source) -> StoreResult<()> {
            self.inner.upsert_client(client, source).await
        }
        async fn insert_client(&self, client: &Client, source: Source) -> StoreResult<bool> {
            self.inner.insert_client(client, source).await
        }
        async fn replace_client(
            &self,
            client: &Client,
            source: Source,
            version: &str,
        ) -> StoreResult<bool> {
            self.inner.replace_client(client, source, version).await
        }
        async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
            let found = self.inner.find_client(client_id).await;
            self.reads.fetch_add(1, Ordering::SeqCst);
            let _open = self.gate.lock().await;
            found
        }
        async fn list_clients(&self) -> StoreResult<Vec<(Client, Source)>> {
            self.inner.list_clients().await
        }
        async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
            self.inner.delete_client(client_id).await
        }
    }

    async fn empty_cache() -> (Arc<CountingStore>, Arc<ClientCache>) {
        let store = Arc::new(CountingStore::default());
        let cache = ClientCache::load(store.clone()).await.unwrap();
        (store, cache)
    }

    #[tokio::test]
    async fn a_client_added_at_another_instance_is_read_through_on_a_miss() {
        let (store, cache) = empty_cache().await;
        store
            .upsert_client(&client("new", true), Source::Managed)
            .await
            .unwrap();
        store
            .upsert_client(&client("other", true), Source::Managed)
            .await
            .unwrap();
        assert!(cache.find_client("new").await.unwrap().is_some());
        assert!(cache.client_enabled("other").await.unwrap());
        assert_eq!(store.reads(), 2);
        // Kept: later requests are answered from memory.
        assert!(cache.find_client("new").await.unwrap().is_some());
        assert!(cache.client_enabled("other").await.unwrap());
        assert_eq!(store.reads(), 2);
    }

    #[tokio::test]
    async fn an_unknown_id_is_read_once_until_the_next_refresh() {
        let (store, cache) = empty_cache().await;
        for _ in 0..5 {
            assert!(cache.find_client("nobody").await.unwrap().is_none());
            assert!(!cache.client_enabled("nobody").await.unwrap());
        }
        assert_eq!(store.reads(), 1);
        // Registered elsewhere after the miss: found from the next refresh on.
        store
            .upsert_client(&client("nobody", true), Source::Managed)
            .await
            .unwrap();
        assert!(cache.find_client("nobody").await.unwrap().is_none());
        cache.refresh().await.unwrap();
        assert!(cache.find_client("nobody").await.unwrap().is_some());
        assert_eq!(store.reads(), 1);
    }

    #[tokio::test]
    async fn a_flood_of_unknown_ids_costs_a_bounded_number_of_reads() {
        let (store, cache) = empty_cache().await;
        for i in 0..MAX_ABSENT + 100 {
            assert!(
                cache
                    .find_client(&format!("made-up-{i}"))
                    .await
                    .unwrap()
                    .is_none()
            );
        }
        assert_eq!(store.reads(), MAX_ABSENT);
        // The refresh forgets them, and reads go through again.
        cache.refresh().await.unwrap();
        assert!(cache.find_client("made-up-0").await.unwrap().is_none());
        assert_eq!(store.reads(), MAX_ABSENT + 1);
    }

    #[tokio::test]
    async fn writes_through_the_cache_update_it_without_a_refresh() {
        let (store, cache) = empty_cache().await;
        assert!(cache.find_client("app").await.unwrap().is_none());
        cache
            .upsert_client(&client("app", true), Source::Managed)
            .await
            .unwrap();
        // Found absent a moment ago, registered through the cache: found now.
        assert!(cache.client_enabled("app").await.unwrap());
        cache
            .upsert_client(&client("app", false), Source::Managed)
            .await
            .unwrap();
        assert!(!cache.client_enabled("app").await.unwrap());
        assert!(cache.delete_client("app").await.unwrap());
        assert!(cache.find_client("app").await.unwrap().is_none());
        assert!(store.inner.find_client("app").await.unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_overtaken_by_a_delete_is_not_kept() {
        let (store, cache) = empty_cache().await;
        store
            .upsert_client(&client("app", true), Source::Managed)
            .await
            .unwrap();
        let held = store.gate.lock().await;
        let reading = tokio::spawn({
            let cache = cache.clone();
            async move { cache.find_client("app").await }
        });
        while store.reads() == 0 {
            tokio::task::yield_now().await;
        }
        // The store has answered the read but the answer is not back yet: now a delete.
        assert!(cache.delete_client("app").await.unwrap());
        drop(held);
        assert!(
            reading.await.unwrap().unwrap().is_some(),
            "answered as read"
        );
        assert!(
            cache.find_client("app").await.unwrap().is_none(),
            "not kept"
        );
    }
}
