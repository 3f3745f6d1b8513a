//! Writes what the configuration declares into the store. Entities declared by the file are
//! tagged `config`: removing one from the file removes it from the store on the next start,
//! while entities created with the CLI are kept.

use std::collections::HashSet;

use tessera_core::Clock;
use tessera_core::model::{Source, User};
use tessera_core::passwords::{hash_password, verify_password};
use tessera_core::secret::Secret;
use tessera_core::store::Store;
use tessera_core::users::{NewUser, Updated, UserChange, UserError, Users};

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
    check_stored_clients(store, config).await
}

/// Clients made through the admin API, the CLI or registration were checked against the
/// profile in force when they were made; a profile declared since may refuse them. The server
/// does not start until each is changed or removed, and names every violation.
async fn check_stored_clients(store: &dyn Store, config: &Config) -> anyhow::Result<()> {
    let Some(profile) = config.profile else {
        return Ok(());
    };
    let mut violations = Vec::new();
    for (client, source) in store.list_clients().await? {
        if source == Source::Config {
            continue;
        }
        for v in tessera_core::profile::client_violations(profile, &client) {
            violations.push(format!(
                "client {} ({}): {}: {}",
                client.client_id,
                source.as_str(),
                v.field,
                v.message
            ));
        }
    }
    if violations.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "stored clients break profile = \"{}\" ({} violation(s)); change or remove them (tessera clients):\n  {}",
        profile.name(),
        violations.len(),
        violations.join("\n  ")
    )
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
    let users = Users::new(store, clock);
    let mut pending = Vec::new();
    for seed in seeds {
        let configured_hash = match &seed.password {
            PasswordSpec::Hash(h) => Some(h.clone()),
            PasswordSpec::Clear(_) => None,
        };
        let subject = match store.find_user_by_username(&seed.username).await? {
            None => create_user(&users, seed, configured_hash.clone()).await?,
            Some(user) => update_user(&users, user, seed, configured_hash.clone()).await?,
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
            if let Some(deleted) = users.delete(&user.subject).await? {
                log_ended(deleted);
            }
            tracing::info!(username = %user.username, "removed user no longer in the configuration");
        }
    }
    Ok(pending)
}

/// Creates a configured user; without a configured hash, with one no password matches until
/// [`apply_passwords`] stores the real one. Returns the new subject.
async fn create_user(
    users: &Users<'_>,
    seed: &UserSeed,
    configured_hash: Option<String>,
) -> anyhow::Result<String> {
    let new = NewUser {
        username: seed.username.clone(),
        subject: None,
        claims: seed.claims.clone(),
        source: Source::Config,
        disabled: seed.disabled,
    };
    let hash = configured_hash.unwrap_or_else(|| NOT_YET_HASHED.into());
    let user = users.create(new, Secret::new(hash)).await?;
    tracing::info!(username = %user.username, "created user from the configuration");
    Ok(user.subject)
}

/// Brings a stored user in line with its configuration: claims, `disabled` (disabling ends
/// what the user holds) and a configured hash. Returns the subject.
async fn update_user(
    users: &Users<'_>,
    mut user: User,
    seed: &UserSeed,
    configured_hash: Option<String>,
) -> anyhow::Result<String> {
    let change = UserChange {
        password_hash: configured_hash.map(Secret::new),
        claims: Some(seed.claims.clone()),
        disabled: Some(seed.disabled),
    };
    let updated = match users.update(&mut user, change).await {
        // Removed meanwhile by another instance whose configuration no longer has it: this
        // start goes on, and the next one creates it again.
        Err(UserError::NotFound) => Updated::default(),
        other => other?,
    };
    if let Some(deleted) = updated.ended_grants {
        log_ended(deleted);
    }
    if updated.written {
        tracing::info!(username = %user.username, "updated user from the configuration");
    }
    Ok(user.subject)
}

fn log_ended(deleted: u64) {
    tracing::info!(
        deleted,
        "ended the sessions and grants of a disabled or removed user"
    );
}

/// Checks configured clear passwords against the stored hashes and stores a new hash where one
/// changed (an Argon2 computation each, so this runs after the server listens; `/readyz`
/// waits for it).
pub async fn apply_passwords(
    store: &dyn Store,
    clock: &dyn Clock,
    pending: Vec<PendingPassword>,
    (waiting, min_length): (&PendingSubjects, usize),
) -> anyhow::Result<()> {
    for PendingPassword { subject, seed } in pending {
        warn_if_weak(&seed, min_length);
        apply_password(store, clock, &subject, &seed).await?;
        if let Ok(mut waiting) = waiting.write() {
            waiting.remove(&subject);
        }
    }
    Ok(())
}

/// A clear password in the configuration that the password policy would refuse is used (the
/// file is the operator's to fix), and the log says so at every start.
fn warn_if_weak(seed: &UserSeed, min_length: usize) {
    let PasswordSpec::Clear(clear) = &seed.password else {
        return;
    };
    let claim = |n: &str| {
        seed.claims
            .get(n)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    };
    let context = [seed.username.as_str(), claim("name"), claim("email")];
    if let Err(why) =
        tessera_core::password_policy::check_new_password(clear.expose(), min_length, &context)
    {
        tracing::warn!(
            username = %seed.username,
            reason = %why,
            "a configured password does not meet the password policy ([passwords]); choose a stronger one"
        );
    }
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
    let hash = Secret::new(hash_password_blocking(clear.clone()).await?);
    match Users::new(store, clock)
        .set_password_hash(&mut user, hash)
        .await
    {
        Ok(_) => {}
        // Removed meanwhile (by another instance's configuration): nothing to set, as when it
        // was not found above.
        Err(UserError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(username = %user.username, "set the configured password");
    Ok(())
}
