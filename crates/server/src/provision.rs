//! Writes what the configuration declares into the store. Entities declared by the file are
//! tagged `config`: removing one from the file removes it from the store on the next start,
//! while entities created with the CLI are kept.

use std::collections::HashSet;

use tessera_core::Clock;
use tessera_core::crypto::{base64url, random_bytes};
use tessera_core::model::{Source, User};
use tessera_core::passwords::{hash_password, verify_password};
use tessera_core::secret::Secret;
use tessera_core::sessions::CONSENT;
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

/// A stored hash that no password matches: a new configured user cannot sign in until the
/// password is hashed.
const NOT_YET_HASHED: &str = "!pending-hash";

/// A configured user whose password is set in the background.
pub struct PendingPassword {
    subject: String,
    seed: UserSeed,
}

impl PendingPassword {
    /// The user's subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// Users whose configured password is being checked: they cannot sign in until it is done,
/// neither with a new password nor with the one the configuration replaced.
pub type PendingSubjects = std::sync::RwLock<HashSet<String>>;

/// Applies what the configuration says of users and costs nothing: new users are created (their
/// password follows in [`apply_passwords`]), claims and `disabled` flags are updated, a
/// configured hash is stored, and config-declared users the file no longer has are removed.
/// Runs before the server listens, so that no request sees a user the file disabled or
/// removed. Returns the clear passwords left to check and hash.
pub async fn apply_users(
    store: &dyn Store,
    clock: &dyn Clock,
    seeds: &[UserSeed],
) -> anyhow::Result<Vec<PendingPassword>> {
    let now = clock.now();
    let mut pending = Vec::new();
    for seed in seeds {
        let configured_hash = match &seed.password {
            PasswordSpec::Hash(h) => Some(h.clone()),
            PasswordSpec::Clear(_) => None,
        };
        let subject = match store.find_user_by_username(&seed.username).await? {
            None => {
                let user = User {
                    subject: new_subject()?,
                    username: seed.username.clone(),
                    password_hash: Secret::new(
                        configured_hash
                            .clone()
                            .unwrap_or_else(|| NOT_YET_HASHED.into()),
                    ),
                    claims: seed.claims.clone(),
                    source: Source::Config,
                    disabled: seed.disabled,
                    created_at: now,
                    updated_at: now,
                };
                store.insert_user(&user).await?;
                tracing::info!(username = %user.username, "created user from the configuration");
                user.subject
            }
            Some(mut user) => {
                let hash = configured_hash
                    .clone()
                    .unwrap_or_else(|| user.password_hash.expose().clone());
                if seed.disabled && !user.disabled {
                    // Disabled: what the user holds ends now, not just while disabled.
                    end_everything_of(store, &user.subject, Some(CONSENT), now).await?;
                }
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
                user.subject
            }
        };
        if configured_hash.is_none() {
            pending.push(PendingPassword {
                subject,
                seed: seed.clone(),
            });
        }
    }
    let declared: HashSet<&str> = seeds.iter().map(|u| u.username.as_str()).collect();
    for user in store.list_users().await? {
        if user.source == Source::Config && !declared.contains(user.username.as_str()) {
            end_everything_of(store, &user.subject, None, now).await?;
            store.delete_user(&user.subject).await?;
            tracing::info!(username = %user.username, "removed user no longer in the configuration");
        }
    }
    Ok(pending)
}

/// Ends the sessions of user `subject` and deletes the grants they hold (refresh tokens, access
/// tokens, codes), keeping the kind `keep` (remembered consent of a disabled user), so that
/// re-enabling the account revives none of it.
async fn end_everything_of(
    store: &dyn Store,
    subject: &str,
    keep: Option<&str>,
    now: i64,
) -> anyhow::Result<()> {
    for session in store.list_sessions_for_subject(subject, now).await? {
        store.delete_session(&session.id_digest).await?;
    }
    let deleted = store
        .delete_subject_grants(subject, keep.unwrap_or(""))
        .await?;
    tracing::info!(
        deleted,
        "ended the sessions and grants of a disabled or removed user"
    );
    Ok(())
}

/// Checks configured clear passwords against the stored hashes and stores a new hash where one
/// changed (an Argon2 computation each, so this runs after the server listens; `/readyz`
/// waits for it).
pub async fn apply_passwords(
    store: &dyn Store,
    clock: &dyn Clock,
    pending: Vec<PendingPassword>,
    waiting: &PendingSubjects,
) -> anyhow::Result<()> {
    for PendingPassword { subject, seed } in pending {
        apply_password(store, clock, &subject, &seed).await?;
        if let Ok(mut waiting) = waiting.write() {
            waiting.remove(&subject);
        }
    }
    Ok(())
}

async fn apply_password(
    store: &dyn Store,
    clock: &dyn Clock,
    subject: &str,
    seed: &UserSeed,
) -> anyhow::Result<()> {
    let PasswordSpec::Clear(clear) = &seed.password else {
        return Ok(());
    };
    let Some(mut user) = store.find_user_by_subject(subject).await? else {
        return Ok(());
    };
    let current = user.password_hash.expose().clone();
    let (clear_copy, current_copy) = (clear.clone(), current.clone());
    let same =
        tokio::task::spawn_blocking(move || verify_password(clear_copy.expose(), &current_copy))
            .await?;
    if same {
        return Ok(());
    }
    user.password_hash = Secret::new(hash_password_blocking(clear.clone()).await?);
    user.updated_at = clock.now();
    store.update_user(&user).await?;
    tracing::info!(username = %user.username, "set the configured password");
    Ok(())
}
