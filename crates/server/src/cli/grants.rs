//! `tessera grants list|revoke`: what a user has allowed applications, and taking it back, as
//! the account page's "revoke" does: the remembered consent and every grant the user holds for
//! the client (codes, refresh and access tokens) end together.

use anyhow::bail;
use tessera_core::sessions::remembered_consents;
use tessera_core::store::{GrantStore as _, UserStore as _};
use tessera_core::{Clock, SystemClock};
use tessera_store_sql::SqlStore;

use super::GrantsCommand;
use super::commands::open;
use super::format::table;
use crate::config::Config;

/// The subject of the user named `username`.
async fn subject_of(store: &SqlStore, username: &str) -> anyhow::Result<String> {
    match store.find_user_by_username(username).await? {
        Some(user) => Ok(user.subject),
        None => bail!("no user named `{username}`"),
    }
}

/// `tessera grants list|revoke`
pub async fn grants(config: &Config, command: GrantsCommand) -> anyhow::Result<()> {
    let store = open(config).await?;
    match command {
        GrantsCommand::List { user } => {
            let subject = subject_of(&store, &user).await?;
            let now = SystemClock.now();
            let rows: Vec<Vec<String>> = remembered_consents(&store, &subject, now)
                .await?
                .into_iter()
                .map(|(client_id, consent)| vec![client_id, consent.scopes.join(" ")])
                .collect();
            println!("{}", table(&["CLIENT", "SCOPES"], &rows));
        }
        GrantsCommand::Revoke { user, client } => {
            let subject = subject_of(&store, &user).await?;
            let ended = store
                .delete_subject_client_grants(&subject, &client)
                .await?;
            if ended == 0 {
                println!("{user} held nothing for {client}");
            } else {
                println!("revoked {client} for {user}: {ended} grant(s) ended");
            }
        }
    }
    store.close().await;
    Ok(())
}
