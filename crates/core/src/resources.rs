//! API scopes, APIs and identity resources made through the admin API, beside the
//! configuration's. The configuration's stay owned by it (read-only here); the live set is both
//! ([`merged`]). Changes are compare-and-set writes of the managed set, so two writers never
//! lose one another's change; an item is replaced only at the version its writer read (its
//! [`tag`]).

use serde::Serialize;

use crate::clients::metadata::MetadataProblem;
use crate::crypto::{handle_digest, random_handle};
use crate::model::{
    ADMIN_AUDIENCE, ADMIN_READ, ADMIN_WRITE, ApiResource, ApiScope, IdentityResource,
    OFFLINE_ACCESS, Resources,
};
use crate::protocol::scope::is_scope_token;
use crate::secret::Secret;
use crate::store::{ClientStore, ResourceStore, StoreError};
use crate::tokens::SigningAlg;

/// The longest name or claim accepted.
const MAX_NAME: usize = 200;
/// How often a change is retried when another writer came first.
const ATTEMPTS: usize = 8;

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// Nothing of this kind has the name.
    #[error("no {0} `{1}`")]
    NotFound(&'static str, String),
    /// The name is taken.
    #[error("`{0}` exists already")]
    Exists(String),
    /// The configuration file declares it (or it is built in).
    #[error("`{0}` is declared in the configuration file (or built in): change it there")]
    OwnedByConfig(String),
    /// Something still uses it.
    #[error("`{0}` is used by {1}; remove it there first")]
    InUse(String, String),
    /// The item breaks rules; every problem is listed.
    #[error("the resource is invalid")]
    Invalid(Vec<MetadataProblem>),
    /// It changed since the version the change was based on.
    #[error("`{0}` was changed meanwhile; read it again and retry")]
    Stale(String),
    /// Others kept changing the set.
    #[error("the resources are being changed by others; retry")]
    Busy,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No random bytes could be drawn for a secret.
    #[error("cannot draw random bytes for a secret")]
    Random,
}

/// One kind of resource the admin API manages.
pub trait Managed: Clone + PartialEq + Serialize + Send + Sync {
    /// What it is called in messages.
    const KIND: &'static str;
    /// Its name.
    fn name(&self) -> &str;
    /// Its list in a set.
    fn list(r: &Resources) -> &Vec<Self>;
    /// Its list in a set, to change.
    fn list_mut(r: &mut Resources) -> &mut Vec<Self>;
    /// What is wrong with it in the live set `live` (which does not hold it).
    fn problems(&self, live: &Resources, algs: &[SigningAlg]) -> Vec<MetadataProblem>;
}

fn problem(field: &str, message: impl Into<String>) -> MetadataProblem {
    MetadataProblem {
        field: field.into(),
        message: message.into(),
    }
}

/// A scope name's problems: a scope token (RFC 6749 §3.3) not used by another scope.
fn scope_name_problems(name: &str, live: &Resources) -> Vec<MetadataProblem> {
    let mut p = Vec::new();
    if !is_scope_token(name) || name.len() > MAX_NAME {
        p.push(problem("name", "is not a scope name (RFC 6749 §3.3)")); // 1-200 characters
    } else if name == OFFLINE_ACCESS
        || name == ADMIN_READ
        || name == ADMIN_WRITE
        || live.api_scopes.iter().any(|s| s.name == name)
        || live.identity_resources.iter().any(|s| s.name == name)
    {
        p.push(problem(
            "name",
            format!("the scope `{name}` exists already"),
        ));
    }
    p
}

impl Managed for ApiScope {
    const KIND: &'static str = "API scope";
    fn name(&self) -> &str {
        &self.name
    }
    fn list(r: &Resources) -> &Vec<Self> {
        &r.api_scopes
    }
    fn list_mut(r: &mut Resources) -> &mut Vec<Self> {
        &mut r.api_scopes
    }
    fn problems(&self, live: &Resources, _: &[SigningAlg]) -> Vec<MetadataProblem> {
        let mut p = scope_name_problems(&self.name, live);
        if self
            .display_name
            .as_ref()
            .is_some_and(|d| d.len() > MAX_NAME)
        {
            p.push(problem("display_name", "is longer than 200 characters"));
        }
        p
    }
}

impl Managed for IdentityResource {
    const KIND: &'static str = "identity resource";
    fn name(&self) -> &str {
        &self.name
    }
    fn list(r: &Resources) -> &Vec<Self> {
        &r.identity_resources
    }
    fn list_mut(r: &mut Resources) -> &mut Vec<Self> {
        &mut r.identity_resources
    }
    fn problems(&self, live: &Resources, _: &[SigningAlg]) -> Vec<MetadataProblem> {
        let mut p = scope_name_problems(&self.name, live);
        if self
            .display_name
            .as_ref()
            .is_some_and(|d| d.len() > MAX_NAME)
        {
            p.push(problem("display_name", "is longer than 200 characters"));
        }
        if self.claims.is_empty() {
            p.push(problem("claims", "names no claim the scope releases"));
        }
        for (i, claim) in self.claims.iter().enumerate() {
            if claim.is_empty() || claim.len() > MAX_NAME || claim.chars().any(char::is_control) {
                p.push(problem(&format!("claims[{i}]"), "is not a claim name"));
            }
        }
        p
    }
}

impl Managed for ApiResource {
    const KIND: &'static str = "API";
    fn name(&self) -> &str {
        &self.name
    }
    fn list(r: &Resources) -> &Vec<Self> {
        &r.api_resources
    }
    fn list_mut(r: &mut Resources) -> &mut Vec<Self> {
        &mut r.api_resources
    }
    fn problems(&self, live: &Resources, algs: &[SigningAlg]) -> Vec<MetadataProblem> {
        let mut p = Vec::new();
        let name = &self.name;
        if name.is_empty() || name.len() > MAX_NAME || name.chars().any(|c| c.is_whitespace()) {
            p.push(problem("name", "is not a resource identifier"));
        } else if name == ADMIN_AUDIENCE || live.api_resources.iter().any(|r| &r.name == name) {
            p.push(problem("name", format!("the API `{name}` exists already")));
        }
        if self.scopes.is_empty() {
            p.push(problem("scopes", "names no scope"));
        }
        for (i, scope) in self.scopes.iter().enumerate() {
            let known = live.api_scopes.iter().any(|s| &s.name == scope);
            if !known || scope == ADMIN_READ || scope == ADMIN_WRITE {
                p.push(problem(
                    &format!("scopes[{i}]"),
                    format!("`{scope}` is not an API scope; make it first"),
                ));
            }
        }
        if let Some(alg) = self.signing_alg
            && !algs.contains(&alg)
        {
            p.push(problem(
                "signing_alg",
                format!("`{}` is not in keys.algorithms", alg.name()),
            ));
        }
        p
    }
}

/// The live set: the configuration's resources, then the managed ones.
pub fn merged(configured: &Resources, managed: &Resources) -> Resources {
    let mut all = configured.clone();
    all.api_scopes.extend(managed.api_scopes.iter().cloned());
    all.api_resources
        .extend(managed.api_resources.iter().cloned());
    all.identity_resources
        .extend(managed.identity_resources.iter().cloned());
    all
}

/// An item's version: a digest of what it holds.
pub fn tag<T: Managed>(item: &T) -> String {
    let json = serde_json::to_string(item).unwrap_or_default();
    handle_digest(&json)[..22].to_string()
}

/// Makes, replaces and removes managed resources, checked against the live set.
pub struct ResourceManager<'a> {
    /// Where the managed set is kept.
    pub store: &'a dyn ResourceStore,
    /// The clients, whose allowed scopes keep a scope in use.
    pub clients: &'a dyn ClientStore,
    /// The configuration's resources (read-only).
    pub configured: &'a Resources,
    /// The algorithms the server signs with.
    pub algs: &'a [SigningAlg],
}

impl ResourceManager<'_> {
    /// Reads the managed set, lets `change` make the next one from it and the live set, and
    /// writes it if nobody else wrote meanwhile (else starts again).
    async fn change<R>(
        &self,
        mut change: impl FnMut(&Resources, &Resources) -> Result<(Resources, R), ResourceError>,
    ) -> Result<R, ResourceError> {
        for _ in 0..ATTEMPTS {
            let managed = self.store.load_managed_resources().await?;
            let live = merged(self.configured, &managed);
            let (next, answer) = change(&managed, &live)?;
            if self
                .store
                .replace_managed_resources(&managed, &next)
                .await?
            {
                return Ok(answer);
            }
        }
        Err(ResourceError::Busy)
    }

    fn check_owned<T: Managed>(
        &self,
        name: &str,
        managed: &Resources,
    ) -> Result<(), ResourceError> {
        if T::list(self.configured).iter().any(|i| i.name() == name) {
            return Err(ResourceError::OwnedByConfig(name.to_string()));
        }
        if !T::list(managed).iter().any(|i| i.name() == name) {
            return Err(ResourceError::NotFound(T::KIND, name.to_string()));
        }
        Ok(())
    }

    /// Makes `item`.
    pub async fn create<T: Managed>(&self, item: T) -> Result<(), ResourceError> {
        self.change(|managed, live| {
            if T::list(live).iter().any(|i| i.name() == item.name()) {
                return Err(ResourceError::Exists(item.name().to_string()));
            }
            let problems = item.problems(live, self.algs);
            if !problems.is_empty() {
                return Err(ResourceError::Invalid(problems));
            }
            let mut next = managed.clone();
            T::list_mut(&mut next).push(item.clone());
            Ok((next, ()))
        })
        .await
    }

    /// Makes an API with a generated secret for introspection, returned once.
    pub async fn create_api(&self, mut api: ApiResource) -> Result<Secret<String>, ResourceError> {
        let secret = random_handle().map_err(|_| ResourceError::Random)?;
        api.secret_digests = vec![handle_digest(&secret)];
        self.create(api).await?;
        Ok(Secret::new(secret))
    }

    /// Replaces the item named `name` with `item` if it is still at version `expected` (any
    /// version when `None`); an API keeps its secrets.
    pub async fn replace<T: Managed>(
        &self,
        name: &str,
        expected: Option<&str>,
        item: T,
        keep: impl Fn(&T, &mut T),
    ) -> Result<T, ResourceError> {
        self.change(|managed, _| {
            self.check_owned::<T>(name, managed)?;
            let mut next = managed.clone();
            let list = T::list_mut(&mut next);
            let Some(at) = list.iter().position(|i| i.name() == name) else {
                return Err(ResourceError::NotFound(T::KIND, name.to_string()));
            };
            if expected.is_some_and(|t| t != tag(&list[at])) {
                return Err(ResourceError::Stale(name.to_string()));
            }
            let mut item = item.clone();
            keep(&list[at], &mut item);
            list.remove(at);
            // Checked against the live set without the old version of itself.
            let live = merged(self.configured, &next);
            let problems = item.problems(&live, self.algs);
            if !problems.is_empty() {
                return Err(ResourceError::Invalid(problems));
            }
            T::list_mut(&mut next).insert(at, item.clone());
            Ok((next, item))
        })
        .await
    }

    /// Removes the item named `name`; a scope still allowed to a client, or an API scope of an
    /// API, is kept.
    pub async fn remove<T: Managed>(&self, name: &str) -> Result<(), ResourceError> {
        let users: Vec<String> = self
            .clients
            .list_clients()
            .await?
            .into_iter()
            .filter(|(c, _)| c.allowed_scopes.iter().any(|s| s == name))
            .map(|(c, _)| format!("client `{}`", c.client_id))
            .collect();
        self.change(|managed, live| {
            self.check_owned::<T>(name, managed)?;
            let mut using = users.clone();
            if T::KIND == ApiScope::KIND || T::KIND == IdentityResource::KIND {
                using.extend(
                    live.api_resources
                        .iter()
                        .filter(|r| r.scopes.iter().any(|s| s == name))
                        .map(|r| format!("API `{}`", r.name)),
                );
            }
            if T::KIND != ApiResource::KIND && !using.is_empty() {
                return Err(ResourceError::InUse(name.to_string(), using.join(", ")));
            }
            let mut next = managed.clone();
            T::list_mut(&mut next).retain(|i| i.name() != name);
            Ok((next, ()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Client;
    use crate::store::MemoryStore;

    fn scope(name: &str) -> ApiScope {
        ApiScope {
            name: name.into(),
            display_name: None,
            show_in_discovery: true,
        }
    }

    #[tokio::test]
    async fn made_checked_replaced_at_their_version_and_removed_when_unused() {
        let store = MemoryStore::new();
        let configured = Resources {
            authorization_details_types: vec![],
            api_scopes: vec![scope("orders.read")],
            identity_resources: IdentityResource::builtin(),
            ..Resources::default()
        };
        let algs = [SigningAlg::Es256, SigningAlg::Rs256];
        let m = ResourceManager {
            store: &store,
            clients: &store,
            configured: &configured,
            algs: &algs,
        };
        m.create(scope("stock.read")).await.unwrap();
        for taken in [
            "stock.read",
            "orders.read",
            "email",
            OFFLINE_ACCESS,
            ADMIN_READ,
        ] {
            assert!(m.create(scope(taken)).await.is_err(), "{taken}");
        }
        assert!(matches!(
            m.create(scope("two words")).await,
            Err(ResourceError::Invalid(_))
        ));
        let api = ApiResource {
            name: "urn:stock".into(),
            scopes: vec!["stock.read".into(), "nope".into()],
            secret_digests: vec![],
            signing_alg: Some(SigningAlg::Ps256),
        };
        let Err(ResourceError::Invalid(problems)) = m.create_api(api.clone()).await else {
            panic!("an unknown scope and algorithm are refused");
        };
        assert_eq!(problems.len(), 2, "{problems:?}");
        let api = ApiResource {
            scopes: vec!["stock.read".into()],
            signing_alg: None,
            ..api
        };
        let secret = m.create_api(api.clone()).await.unwrap();
        let managed = store.load_managed_resources().await.unwrap();
        assert_eq!(
            managed.api_resources[0].secret_digests,
            [handle_digest(secret.expose())]
        );
        // Replaced at its version only; the secret stays.
        let version = tag(&managed.api_resources[0]);
        let keep = |old: &ApiResource, new: &mut ApiResource| {
            new.secret_digests.clone_from(&old.secret_digests);
        };
        let renamed = ApiResource {
            signing_alg: Some(SigningAlg::Rs256),
            ..api.clone()
        };
        let replaced = m
            .replace("urn:stock", Some(&version), renamed.clone(), keep)
            .await
            .unwrap();
        assert_eq!(
            replaced.secret_digests,
            managed.api_resources[0].secret_digests
        );
        assert!(matches!(
            m.replace("urn:stock", Some(&version), renamed, keep).await,
            Err(ResourceError::Stale(_))
        ));
        // The configuration's items are read-only; a scope in use stays.
        assert!(matches!(
            m.remove::<ApiScope>("orders.read").await,
            Err(ResourceError::OwnedByConfig(_))
        ));
        assert!(matches!(
            m.remove::<ApiScope>("stock.read").await,
            Err(ResourceError::InUse(..))
        ));
        m.remove::<ApiResource>("urn:stock").await.unwrap();
        let client = Client::builder("c").scopes(&["stock.read"]).build();
        store
            .upsert_client(&client, crate::model::Source::Managed)
            .await
            .unwrap();
        let Err(ResourceError::InUse(_, by)) = m.remove::<ApiScope>("stock.read").await else {
            panic!("a client's scope stays");
        };
        assert_eq!(by, "client `c`");
        store.delete_client("c").await.unwrap();
        m.remove::<ApiScope>("stock.read").await.unwrap();
        assert_eq!(
            store.load_managed_resources().await.unwrap(),
            Resources::default()
        );
        assert!(matches!(
            m.remove::<ApiScope>("stock.read").await,
            Err(ResourceError::NotFound(..))
        ));
    }
}
