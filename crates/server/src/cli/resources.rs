//! `tessera resources list|add|remove`: API scopes, APIs and identity resources, as the admin
//! API manages them (the configuration's are read-only); the same checks, the same stored set.

use std::io::Read as _;
use std::path::Path;

use tessera_core::model::{ApiResource, ApiScope, IdentityResource, Resources};
use tessera_core::resources::{Managed, ResourceError, ResourceManager, merged};
use tessera_core::store::ResourceStore as _;

use super::commands::{audit, open};
use super::format::table;
use super::{ResourceKind, ResourcesCommand};
use crate::config::Config;
use crate::http::admin::resources::{api_of, identity_of, scope_of};

/// A refusal with every problem named.
fn explained(e: ResourceError) -> anyhow::Error {
    match e {
        ResourceError::Invalid(problems) => {
            let each: Vec<String> = (problems.iter())
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect();
            anyhow::anyhow!("the resource is invalid: {}", each.join("; "))
        }
        e => e.into(),
    }
}

/// The JSON in `file` (`-`: standard input), in the admin API's names.
fn read_json<T: serde::de::DeserializeOwned>(file: &Path) -> anyhow::Result<T> {
    let mut text = String::new();
    if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    }
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("not the expected JSON: {e}"))
}

fn rows(configured: &Resources, live: &Resources) -> Vec<Vec<String>> {
    fn source<T: Managed>(configured: &Resources, item: &T) -> String {
        let owned = T::list(configured).iter().any(|c| c.name() == item.name());
        if owned { "config" } else { "managed" }.to_string()
    }
    let scopes = live.api_scopes.iter().map(|s| {
        let shown = s.display_name.clone().unwrap_or_default();
        vec![
            "api-scope".into(),
            s.name.clone(),
            source(configured, s),
            shown,
        ]
    });
    let apis = live.api_resources.iter().map(|r| {
        let scopes = r.scopes.join(" ");
        vec![
            "api-resource".into(),
            r.name.clone(),
            source(configured, r),
            scopes,
        ]
    });
    let identity = live.identity_resources.iter().map(|r| {
        let claims = r.claims.join(" ");
        vec![
            "identity-resource".into(),
            r.name.clone(),
            source(configured, r),
            claims,
        ]
    });
    scopes.chain(apis).chain(identity).collect()
}

/// `tessera resources ...`
pub async fn resources(config: &Config, command: ResourcesCommand) -> anyhow::Result<()> {
    let store = open(config).await?;
    let manager = ResourceManager {
        store: &store,
        clients: &store,
        configured: &config.resources,
        algs: &config.keys.algorithms,
    };
    let outcome: anyhow::Result<()> = async {
        match command {
            ResourcesCommand::List => {
                let live = merged(&config.resources, &store.load_managed_resources().await?);
                let rows = rows(&config.resources, &live);
                println!("{}", table(&["KIND", "NAME", "SOURCE", "DETAIL"], &rows));
            }
            ResourcesCommand::Add { kind, file } => {
                let name = match kind {
                    ResourceKind::ApiScope => {
                        let scope = scope_of(read_json(&file)?);
                        manager.create(scope.clone()).await.map_err(explained)?;
                        scope.name
                    }
                    ResourceKind::ApiResource => {
                        let api = api_of(read_json(&file)?).map_err(|e| {
                            let problems: Vec<String> = (e.problems.iter())
                                .map(|p| format!("{}: {}", p.field, p.message))
                                .collect();
                            anyhow::anyhow!("{}", problems.join("; "))
                        })?;
                        let secret = manager.create_api(api.clone()).await.map_err(explained)?;
                        println!(
                            "the API's secret for /introspect (shown once): {}",
                            secret.expose()
                        );
                        api.name
                    }
                    ResourceKind::IdentityResource => {
                        let resource = identity_of(read_json(&file)?);
                        manager.create(resource.clone()).await.map_err(explained)?;
                        resource.name
                    }
                };
                audit(config, kind.action("create"), &name)?;
                println!("made {} {name}", kind.as_str());
            }
            ResourcesCommand::Remove { kind, name } => {
                match kind {
                    ResourceKind::ApiScope => manager.remove::<ApiScope>(&name).await?,
                    ResourceKind::ApiResource => manager.remove::<ApiResource>(&name).await?,
                    ResourceKind::IdentityResource => {
                        manager.remove::<IdentityResource>(&name).await?;
                    }
                }
                audit(config, kind.action("remove"), &name)?;
                println!("removed {} {name}", kind.as_str());
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    outcome
}
