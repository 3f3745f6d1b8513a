//! Factors and external identity links in memory.

use async_trait::async_trait;

use super::MemoryStore;
use crate::clock::UnixTime;
use crate::model::{ExternalIdentity, Factor};
use crate::store::{FactorStore, IdentityLinkStore, StoreError, StoreResult};

#[async_trait]
impl FactorStore for MemoryStore {
    async fn insert_factor(&self, factor: &Factor) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if inner.factors.iter().any(|f| f.id == factor.id) {
            return Err(StoreError::Conflict("factor exists".into()));
        }
        inner.factors.push(factor.clone());
        Ok(())
    }

    async fn list_factors(&self, subject: &str) -> StoreResult<Vec<Factor>> {
        let inner = self.lock()?;
        let mut factors: Vec<Factor> = (inner.factors.iter())
            .filter(|f| f.subject == subject)
            .cloned()
            .collect();
        factors.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(factors)
    }

    async fn find_factor(&self, id: &str) -> StoreResult<Option<Factor>> {
        Ok(self.lock()?.factors.iter().find(|f| f.id == id).cloned())
    }

    async fn update_factor(&self, factor: &Factor) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        let stored = inner.factors.iter_mut().find(|f| {
            f.id == factor.id && f.subject == factor.subject && f.version == factor.version
        });
        Ok(match stored {
            Some(f) => {
                f.data = factor.data.clone();
                f.last_used_at = factor.last_used_at;
                f.version += 1;
                true
            }
            None => false,
        })
    }

    async fn delete_factor(&self, subject: &str, id: &str) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        let before = inner.factors.len();
        inner
            .factors
            .retain(|f| !(f.subject == subject && f.id == id));
        Ok(inner.factors.len() != before)
    }

    async fn delete_factors(&self, subject: &str) -> StoreResult<u64> {
        let mut inner = self.lock()?;
        let before = inner.factors.len();
        inner.factors.retain(|f| f.subject != subject);
        Ok((before - inner.factors.len()) as u64)
    }
}

fn key(provider: &str, upstream_subject: &str) -> (String, String) {
    (provider.to_string(), upstream_subject.to_string())
}

#[async_trait]
impl IdentityLinkStore for MemoryStore {
    async fn insert_link(&self, link: &ExternalIdentity) -> StoreResult<()> {
        let mut inner = self.lock()?;
        let k = key(&link.provider, &link.upstream_subject);
        if inner.links.contains_key(&k) {
            return Err(StoreError::Conflict(
                "the upstream account is linked".into(),
            ));
        }
        inner.links.insert(k, link.clone());
        Ok(())
    }

    async fn find_link(
        &self,
        provider: &str,
        upstream_subject: &str,
    ) -> StoreResult<Option<ExternalIdentity>> {
        Ok(self
            .lock()?
            .links
            .get(&key(provider, upstream_subject))
            .cloned())
    }

    async fn touch_link(
        &self,
        provider: &str,
        upstream_subject: &str,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        Ok(
            match inner.links.get_mut(&key(provider, upstream_subject)) {
                Some(link) => {
                    link.last_used_at = Some(now);
                    true
                }
                None => false,
            },
        )
    }

    async fn list_links(&self, subject: &str) -> StoreResult<Vec<ExternalIdentity>> {
        Ok((self.lock()?.links.values())
            .filter(|l| l.subject == subject)
            .cloned()
            .collect())
    }

    async fn delete_link(&self, provider: &str, upstream_subject: &str) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        Ok(inner
            .links
            .remove(&key(provider, upstream_subject))
            .is_some())
    }

    async fn delete_links(&self, subject: &str) -> StoreResult<u64> {
        let mut inner = self.lock()?;
        let before = inner.links.len();
        inner.links.retain(|_, l| l.subject != subject);
        Ok((before - inner.links.len()) as u64)
    }
}
