//! Writes what the configuration declares into the store. Entities declared by the file are
//! tagged `config`: removing one from the file removes it from the store on the next start,
//! while entities created with the CLI are kept.

use std::collections::HashSet;

use tessera_core::Clock;
use tessera_core::crypto::{base64url, random_bytes};
use tessera_core::model::{Source, User};
use tessera_core::passwords::{hash_password, verify_password};
use tessera_core::secret::Secret;
use tessera_core::store::Store;

use crate::config::{Config, PasswordSpec, UserSeed};

/// Saves resources and clients; removes config-declared clients the file no longer has.
pub async fn provision_clients_and_resources(
    store: &dyn Store,
    config: &Config,
) -> anyhow::Result<()> {
    store.save_resources(&config.resources).await?;
    for client in &config.clients {
        store.upsert_client(client, Source::Config).await?;
    }
    let declared: HashSet<&str> = config
        .clients
        .iter()
        .map(|c| c.client_id.as_str())
        .collect();
    for (client, source) in store.list_clients().await? {
        if source == Source::Config && !declared.contains(client.client_id.as_str()) {
            store.delete_client(&client.client_id).await?;
            tracing::info!(client_id = %client.client_id, "removed client no longer in the configuration");
        }
    }
    Ok(())
}

/// A new subject identifier: 128 random bits, base64url (OIDC Core §2: unique, never reassigned).
pub fn new_subject() -> anyhow::Result<String> {
    Ok(base64url(&random_bytes(16)?))
}

/// Argon2id off the async threads.
pub async fn hash_password_blocking(password: Secret<String>) -> anyhow::Result<String> {
    Ok(tokio::task::spawn_blocking(move || hash_password(password.expose())).await??)
}

async fn password_hash_for(seed: &UserSeed, current: Option<&str>) -> anyhow::Result<String> {
    match &seed.password {
        PasswordSpec::Hash(h) => Ok(h.clone()),
        PasswordSpec::Clear(clear) => {
            if let Some(current) = current {
                let (clear_copy, current_copy) = (clear.clone(), current.to_string());
                let same = tokio::task::spawn_blocking(move || {
                    verify_password(clear_copy.expose(), &current_copy)
                })
                .await?;
                if same {
                    return Ok(current.to_string());
                }
            }
            hash_password_blocking(clear.clone()).await
        }
    }
}

/// Creates or updates configured users; removes config-declared users the file no longer has.
/// Clear passwords are verified against the stored hash and hashed anew only when they changed.
pub async fn provision_users(
    store: &dyn Store,
    clock: &dyn Clock,
    seeds: &[UserSeed],
) -> anyhow::Result<()> {
    let now = clock.now();
    for seed in seeds {
        match store.find_user_by_username(&seed.username).await? {
            None => {
                let user = User {
                    subject: new_subject()?,
                    username: seed.username.clone(),
                    password_hash: Secret::new(password_hash_for(seed, None).await?),
                    claims: seed.claims.clone(),
                    source: Source::Config,
                    disabled: seed.disabled,
                    created_at: now,
                    updated_at: now,
                };
                store.insert_user(&user).await?;
                tracing::info!(username = %user.username, "created user from the configuration");
            }
            Some(mut user) => {
                let hash = password_hash_for(seed, Some(user.password_hash.expose())).await?;
                if hash != *user.password_hash.expose()
                    || user.claims != seed.claims
                    || user.disabled != seed.disabled
                {
                    user.password_hash = Secret::new(hash);
                    user.claims = seed.claims.clone();
                    user.disabled = seed.disabled;
                    user.updated_at = now;
                    store.update_user(&user).await?;
                    tracing::info!(username = %user.username, "updated user from the configuration");
                }
            }
        }
    }
    let declared: HashSet<&str> = seeds.iter().map(|u| u.username.as_str()).collect();
    for user in store.list_users().await? {
        if user.source == Source::Config && !declared.contains(user.username.as_str()) {
            store.delete_user(&user.subject).await?;
            tracing::info!(username = %user.username, "removed user no longer in the configuration");
        }
    }
    Ok(())
}
