//! `tessera users factors NAME [--remove ID]`: a user's second factors (authenticator apps,
//! recovery codes, passkeys) as the operator sees them, never their secrets; and removing one,
//! for a user who lost their phone or key.

use anyhow::bail;
use tessera_core::model::FactorData;
use tessera_core::store::{FactorStore as _, UserStore as _};
use tessera_store_sql::SqlStore;

use super::format::{table, utc};

/// What the listing says of a factor besides its kind: how many recovery codes are left.
fn detail(data: &FactorData) -> String {
    match data {
        FactorData::RecoveryCodes { hashes } => format!("{} unused", hashes.len()),
        FactorData::Totp { .. } | FactorData::Passkey { .. } => String::new(),
    }
}

/// `tessera users factors USERNAME [--remove ID]`
pub async fn factors(
    store: &SqlStore,
    username: &str,
    remove: Option<String>,
) -> anyhow::Result<()> {
    let Some(user) = store.find_user_by_username(username).await? else {
        bail!("no user `{username}`");
    };
    let factors = store.list_factors(&user.subject).await?;
    let Some(id) = remove else {
        let rows: Vec<Vec<String>> = factors
            .iter()
            .map(|f| {
                vec![
                    f.id.clone(),
                    f.kind().as_str().to_string(),
                    f.label.clone(),
                    detail(&f.data),
                    utc(f.created_at),
                    f.last_used_at.map(utc).unwrap_or_default(),
                ]
            })
            .collect();
        let header = ["ID", "KIND", "LABEL", "STATE", "ENROLLED", "LAST USED"];
        println!("{}", table(&header, &rows));
        return Ok(());
    };
    if !store.delete_factor(&user.subject, &id).await? {
        bail!("{username} has no factor `{id}`");
    }
    tracing::info!(username, factor = id, "an operator removed a user's factor");
    let left = factors.len().saturating_sub(1);
    println!("removed factor {id} of {username}; {left} factor(s) left");
    Ok(())
}
