//! The live resources: the configuration's and those made through the admin API, reloaded when
//! they change (here, or at another instance: PostgreSQL's change notices and the periodic
//! refresh), with the discovery document that lists their scopes and claims.

use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use tessera_core::model::Resources;
use tessera_core::resources::merged;
use tessera_core::store::{ResourceStore, StoreResult};

use crate::config::Config;

struct Current {
    resources: Arc<Resources>,
    discovery_json: Bytes,
}

/// The resources in force and the discovery document made from them.
pub struct LiveResources {
    config: Arc<Config>,
    current: RwLock<Current>,
}

fn make(config: &Config, managed: &Resources) -> anyhow::Result<Current> {
    let resources = merged(&config.resources, managed);
    let metadata = crate::http::discovery::metadata(config, &resources);
    Ok(Current {
        discovery_json: Bytes::from(serde_json::to_vec(&metadata)?),
        resources: Arc::new(resources),
    })
}

impl LiveResources {
    /// The configuration's resources and the managed ones now in `store`.
    pub async fn load(config: Arc<Config>, store: &dyn ResourceStore) -> anyhow::Result<Self> {
        let managed = store.load_managed_resources().await?;
        let current = RwLock::new(make(&config, &managed)?);
        Ok(LiveResources { config, current })
    }

    /// The resources in force.
    pub fn current(&self) -> Arc<Resources> {
        self.current
            .read()
            .map(|c| c.resources.clone())
            .unwrap_or_else(|e| e.into_inner().resources.clone())
    }

    /// The discovery document (OIDC Discovery §3) as served.
    pub fn discovery_json(&self) -> Bytes {
        self.current
            .read()
            .map(|c| c.discovery_json.clone())
            .unwrap_or_else(|e| e.into_inner().discovery_json.clone())
    }

    /// Reads the managed resources again.
    pub async fn reload(&self, store: &dyn ResourceStore) -> StoreResult<()> {
        let managed = store.load_managed_resources().await?;
        let Ok(next) = make(&self.config, &managed) else {
            return Ok(());
        };
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        *current = next;
        Ok(())
    }
}
