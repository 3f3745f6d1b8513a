//! Registered clients in memory. Every token request authenticates a client, and reading it
//! from the database each time costs more than signing the token; clients change rarely (at
//! start, from the configuration), so each instance keeps them all in memory and re-reads the
//! table every `keys.refresh_interval` to pick up other instances' changes. Writes through this
//! cache update it at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use tessera_core::model::{Client, Source};
use tessera_core::store::{ClientStore, Store, StoreError, StoreResult};

/// The cache, in front of the store.
pub struct ClientCache {
    store: Arc<dyn Store>,
    clients: RwLock<Arc<HashMap<String, Client>>>,
}

impl ClientCache {
    /// Loads every client from `store`.
    pub async fn load(store: Arc<dyn Store>) -> StoreResult<Arc<ClientCache>> {
        let cache = Arc::new(ClientCache {
            store,
            clients: RwLock::new(Arc::default()),
        });
        cache.refresh().await?;
        Ok(cache)
    }

    /// Re-reads every client from the store.
    pub async fn refresh(&self) -> StoreResult<()> {
        let all: HashMap<String, Client> = self
            .store
            .list_clients()
            .await?
            .into_iter()
            .map(|(c, _)| (c.client_id.clone(), c))
            .collect();
        let mut clients = self
            .clients
            .write()
            .map_err(|_| StoreError::Internal("client cache lock poisoned".into()))?;
        *clients = Arc::new(all);
        Ok(())
    }

    fn snapshot(&self) -> StoreResult<Arc<HashMap<String, Client>>> {
        self.clients
            .read()
            .map(|c| c.clone())
            .map_err(|_| StoreError::Internal("client cache lock poisoned".into()))
    }
}

#[async_trait]
impl ClientStore for ClientCache {
    async fn upsert_client(&self, client: &Client, source: Source) -> StoreResult<()> {
        self.store.upsert_client(client, source).await?;
        self.refresh().await
    }

    async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        Ok(self.snapshot()?.get(client_id).cloned())
    }

    async fn client_enabled(&self, client_id: &str) -> StoreResult<bool> {
        Ok(self.snapshot()?.get(client_id).is_some_and(|c| c.enabled))
    }

    async fn list_clients(&self) -> StoreResult<Vec<(Client, Source)>> {
        self.store.list_clients().await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let deleted = self.store.delete_client(client_id).await?;
        self.refresh().await?;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::store::MemoryStore;

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
}
