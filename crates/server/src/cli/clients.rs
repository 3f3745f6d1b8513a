//! `tessera clients list|show|add|update|remove|secret`: the admin API's client verbs over the
//! same service ([`ClientManager`]), on the configured database. A registration is a file in
//! the names of the configuration file's `[[clients]]`: TOML (`.toml`) or JSON (`-` reads JSON
//! from standard input); `show` prints one as JSON, ready to edit and `update`. Clients the
//! configuration file declares stay its own. Running servers see a change at their next
//! refresh (`keys.refresh_interval`), a new client at once.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use figment::Figment;
use figment::providers::{Format as _, Toml};
use tessera_core::clients::ServerOffer;
use tessera_core::clients::manage::{Changed, ClientManager, ManageError};
use tessera_core::events::Event;

use super::ClientsCommand;
use super::commands::open;
use super::format::table;
use crate::config::validate::clients::metadata_of;
use crate::config::{Config, RawClient};
use crate::http::admin::clients::registration;

/// Reads a registration from `file`.
fn read_registration(file: &Path) -> anyhow::Result<RawClient> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        return serde_json::from_str(&text).context("standard input is not a client in JSON");
    }
    if file.extension().is_some_and(|e| e == "toml") {
        return Figment::from(Toml::file_exact(file))
            .extract()
            .with_context(|| format!("{} is not a client in TOML", file.display()));
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a client in JSON", file.display()))
}

/// A refusal, with every problem on its own line.
fn refusal(e: ManageError) -> anyhow::Error {
    match e {
        ManageError::Invalid(problems) => {
            let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
            anyhow::anyhow!("the client is invalid:\n{}", lines.join("\n"))
        }
        other => anyhow::anyhow!(other),
    }
}

fn report(changed: &Changed, what: &str) {
    let id = &changed.client.client.client_id;
    println!("client {id} {what}");
    if let Some(secret) = &changed.secret {
        println!(
            "client secret (shown this once; only its digest is kept): {}",
            secret.expose()
        );
    }
}

/// `tessera clients ...`
pub async fn clients(config: &Config, command: ClientsCommand) -> anyhow::Result<()> {
    let store = open(config).await?;
    // The resources in force: the configuration's and those made through the admin API.
    let managed = tessera_core::store::ResourceStore::load_managed_resources(&store).await?;
    let resources = tessera_core::resources::merged(&config.resources, &managed);
    let manager = ClientManager {
        store: &store,
        offer: ServerOffer {
            resources: &resources,
            acr_levels: &config.acr_levels,
            signing_algs: &config.keys.algorithms,
            profile: config.profile,
        },
    };
    // Changes are logged and audited as the admin API's are, with the CLI as their author.
    let events = crate::state::events(
        config,
        std::sync::Arc::new(tessera_core::SystemClock),
        false,
    )?;
    let changed = |action: &'static str, target: &str| {
        events.emit(Event::AdminChanged {
            actor: "cli",
            action,
            target,
        });
    };
    let outcome: anyhow::Result<()> = async {
        match command {
            ClientsCommand::List => list(&manager).await?,
            ClientsCommand::Show { client_id } => {
                let client = manager.get(&client_id).await.map_err(refusal)?;
                println!("{}", serde_json::to_string_pretty(&registration(&client.client))?);
            }
            ClientsCommand::Add { file } => {
                let raw = read_registration(&file)?;
                let done = manager.create(metadata_of(&raw)).await.map_err(refusal)?;
                changed("client.create", &raw.client_id);
                report(&done, "added");
            }
            ClientsCommand::Update { file } => {
                let raw = read_registration(&file)?;
                let done = manager
                    .update(metadata_of(&raw), None)
                    .await
                    .map_err(refusal)?;
                changed("client.update", &raw.client_id);
                report(&done, "updated");
            }
            ClientsCommand::Remove { client_id, yes } => {
                if !yes {
                    bail!("removing {client_id} ends its tokens and cannot be undone: run it again with --yes");
                }
                manager.remove(&client_id, None).await.map_err(refusal)?;
                changed("client.remove", &client_id);
                println!("client {client_id} removed");
            }
            ClientsCommand::Secret { client_id } => {
                let done = manager
                    .rotate_secret(&client_id, None)
                    .await
                    .map_err(refusal)?;
                changed("client.secret", &client_id);
                report(&done, "has a new secret; the old ones no longer work");
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    outcome
}

async fn list(manager: &ClientManager<'_>) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = manager
        .list()
        .await
        .map_err(refusal)?
        .into_iter()
        .map(|m| {
            let c = m.client;
            vec![
                c.client_id,
                c.client_name.unwrap_or_default(),
                c.token_endpoint_auth_method.as_str().into(),
                c.grant_types.join(","),
                c.allowed_scopes.join(" "),
                m.source.as_str().into(),
                if c.enabled { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    let headers = [
        "CLIENT_ID",
        "NAME",
        "AUTH",
        "GRANTS",
        "SCOPES",
        "SOURCE",
        "ENABLED",
    ];
    println!("{}", table(&headers, &rows));
    Ok(())
}
