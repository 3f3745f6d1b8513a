//! The management commands: migrate, keys, clients, users.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, anyhow, bail};
use tessera_core::model::Source;
use tessera_core::secret::Secret;
use tessera_core::store::{IdentityLinkStore as _, KeyStore as _, UserStore as _};
use tessera_core::tokens::keyring::classify;
use tessera_core::tokens::keys::SigningAlg;
use tessera_core::tokens::rotate_keys;
use tessera_core::users::{NewUser, UserError, Users, check_profile_claim, check_username};
use tessera_core::{Clock, SystemClock};
use tessera_store_sql::SqlStore;

use super::format::{table, utc};
use super::{KeysCommand, UsersCommand};
use crate::config::Config;
use crate::provision::hash_password_blocking;

pub(super) async fn open(config: &Config) -> anyhow::Result<SqlStore> {
    SqlStore::open(config.database_url.expose(), &config.database)
        .await
        .with_context(|| format!("cannot open database {}", config.database_url_redacted()))
}

/// `tessera migrate`
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = SqlStore::connect(config.database_url.expose(), &config.database)
        .await
        .with_context(|| format!("cannot open database {}", config.database_url_redacted()))?;
    let applied = store.migrate().await?;
    if applied.is_empty() {
        println!("database schema is up to date");
    } else {
        println!("applied migrations: {applied:?}");
    }
    store.close().await;
    Ok(())
}

/// `tessera keys list|rotate`
pub async fn keys(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let store = open(config).await?;
    let outcome = match command {
        KeysCommand::List => list_keys(config, &store).await,
        KeysCommand::Rotate {
            algorithms,
            activate_in,
            force,
        } => rotate(config, &store, &algorithms, activate_in, force).await,
        KeysCommand::Reencrypt { from_key_file } => reencrypt(config, &store, from_key_file).await,
        KeysCommand::Retire { kid } => retire(config, &store, &kid).await,
    };
    store.close().await;
    outcome
}

/// `tessera keys retire KID`: the key leaves the published set at once.
async fn retire(config: &Config, store: &SqlStore, kid: &str) -> anyhow::Result<()> {
    let alg =
        tessera_core::tokens::manager::retire_key(store, &SystemClock, &config.keys, kid).await?;
    audit(config, "key.retire", kid)?;
    println!(
        "retired {alg} key {kid}: running servers stop publishing it within {} s",
        config.key_refresh_interval.as_secs()
    );
    Ok(())
}

/// `tessera keys reencrypt`: every key under the configured key-encryption key.
async fn reencrypt(
    config: &Config,
    store: &SqlStore,
    from_key_file: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    use tessera_core::tokens::sealing::KeyEncryptionKey;
    let old = match &from_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                KeyEncryptionKey::parse(&text)
                    .map_err(|why| anyhow!("{}: the key {why}", path.display()))?,
            )
        }
        None => None,
    };
    let new = config.keys.encryption.as_ref();
    let count = tessera_core::tokens::manager::reencrypt_keys(store, old.as_ref(), new).await?;
    // What the keys replaced leaves the file and its log (SQLite).
    tessera_core::store::Store::reclaim_space(store).await?;
    match new {
        Some(kek) => println!(
            "{count} signing key(s) stored under the key-encryption key {}",
            kek.fingerprint()
        ),
        None => {
            println!("{count} signing key(s) stored in clear: no key-encryption key is configured")
        }
    }
    Ok(())
}

/// `tessera keys list`: every key with its status and times.
async fn list_keys(config: &Config, store: &SqlStore) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let rows: Vec<Vec<String>> = classify(&store.list_keys().await?, now, config.keys.retention)
        .into_iter()
        .map(|(k, status)| {
            let until = match status {
                tessera_core::tokens::keyring::KeyStatus::Retiring { until } => utc(until),
                _ => String::new(),
            };
            let label = status.label().to_string();
            vec![
                k.kid,
                k.alg,
                label,
                utc(k.created_at),
                utc(k.activates_at),
                until,
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("no signing keys yet: they are created when the server first starts");
        return Ok(());
    }
    let headers = [
        "KID",
        "ALG",
        "STATUS",
        "CREATED",
        "SIGNS FROM",
        "PUBLISHED UNTIL",
    ];
    println!("{}", table(&headers, &rows));
    Ok(())
}

/// `tessera keys rotate`: new keys, published now, signing once every server and relying
/// party can know them (unless forced).
async fn rotate(
    config: &Config,
    store: &SqlStore,
    algorithms: &[String],
    activate_in: Option<u32>,
    force: bool,
) -> anyhow::Result<()> {
    let minimum = config.key_refresh_interval.as_secs() + tessera_core::tokens::JWKS_CACHE_SECONDS;
    if let Some(seconds) = activate_in
        && u64::from(seconds) < minimum
        && !force
    {
        bail!(
            "--activate-in {seconds} is shorter than keys.refresh_interval + the JWKS cache \
             time ({minimum} s): servers and relying parties would not know the key before \
             it signs; add --force to do it anyway"
        );
    }
    let algs = if algorithms.is_empty() {
        config.keys.algorithms.clone()
    } else {
        algorithms
            .iter()
            .map(|a| SigningAlg::parse(a))
            .collect::<Result<Vec<_>, _>>()?
    };
    let activate_in = activate_in.map(i64::from);
    let created = rotate_keys(store, &SystemClock, &config.keys, &algs, activate_in).await?;
    for k in created {
        println!(
            "created {} key {}: published now, signs from {}",
            k.alg,
            k.kid,
            utc(k.activates_at)
        );
    }
    println!(
        "running servers pick the new keys up within {} s",
        config.key_refresh_interval.as_secs()
    );
    Ok(())
}

/// Reads a new password and checks it by the password policy (NIST SP 800-63B) for the user
/// known by `context` (username, name, address).
fn read_new_password(
    config: &Config,
    from_stdin: bool,
    context: &[&str],
) -> anyhow::Result<Secret<String>> {
    let password = read_password(from_stdin)?;
    let min = config.password_policy.min_length;
    if let Err(why) =
        tessera_core::password_policy::check_new_password(password.expose(), min, context)
    {
        bail!("{why}");
    }
    Ok(password)
}

fn read_password(from_stdin: bool) -> anyhow::Result<Secret<String>> {
    let stdin = std::io::stdin();
    let password = if from_stdin || !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let first = rpassword::prompt_password("password: ")?;
        let again = rpassword::prompt_password("again:    ")?;
        if first != again {
            bail!("the passwords differ");
        }
        first
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(Secret::new(password))
}

fn parse_claim(text: &str) -> anyhow::Result<(String, serde_json::Value)> {
    let (name, value) = text
        .split_once('=')
        .with_context(|| format!("`{text}` is not NAME=VALUE"))?;
    if let Err(why) = check_profile_claim(name) {
        bail!("--claim {text}: {why}");
    }
    let value =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.into()));
    Ok((name.to_string(), value))
}

/// A refusal of the users service, in the words of this command line.
fn refusal(error: UserError) -> anyhow::Error {
    match error {
        UserError::Exists(username) => {
            anyhow!("user `{username}` exists; use `tessera users passwd` to change the password")
        }
        other => other.into(),
    }
}

/// `tessera users add|list|passwd|disable|enable|delete|links`
pub async fn users(config: &Config, command: UsersCommand) -> anyhow::Result<()> {
    let store = open(config).await?;
    let clock = SystemClock;
    let users = Users::new(&store, &clock);
    match command {
        UsersCommand::Add {
            username,
            claims,
            password_stdin,
        } => add_user(config, &users, &username, &claims, password_stdin).await?,
        UsersCommand::List => {
            let rows: Vec<Vec<String>> = store
                .list_users()
                .await?
                .into_iter()
                .map(|u| {
                    vec![
                        u.username,
                        u.subject,
                        u.source.as_str().into(),
                        if u.disabled { "yes" } else { "no" }.into(),
                        utc(u.created_at),
                    ]
                })
                .collect();
            println!(
                "{}",
                table(&["USERNAME", "SUB", "SOURCE", "DISABLED", "CREATED"], &rows)
            );
        }
        UsersCommand::Passwd {
            username,
            password_stdin,
        } => {
            let Some(mut user) = store.find_user_by_username(&username).await? else {
                bail!("no user `{username}`");
            };
            if user.source == Source::Config {
                eprintln!(
                    "note: {username} is declared in the configuration file; a clear-text password there replaces this one at the next start"
                );
            }
            let context = user_context(&user);
            let password = read_new_password(config, password_stdin, &context)?;
            let hash = hash_password_blocking(password).await?;
            match users.set_password_hash(&mut user, Secret::new(hash)).await {
                Err(UserError::NotFound) => bail!("no user `{username}`"),
                other => other?,
            };
            println!("password of {username} changed");
        }
        UsersCommand::Links { username, remove } => links(&store, &username, remove).await?,
        UsersCommand::Factors { username, remove } => {
            super::factors::factors(&store, &username, remove).await?;
        }
        UsersCommand::Disable { username } => {
            lifecycle(&store, &users, &username, Life::Disable).await?;
            audit(config, "user.disable", &username)?;
        }
        UsersCommand::Enable { username } => {
            lifecycle(&store, &users, &username, Life::Enable).await?;
            audit(config, "user.enable", &username)?;
        }
        UsersCommand::Delete { username, yes } => {
            if !yes {
                bail!("deleting {username} cannot be undone: run it again with --yes");
            }
            lifecycle(&store, &users, &username, Life::Delete).await?;
            audit(config, "user.delete", &username)?;
        }
    }
    store.close().await;
    Ok(())
}

/// Logs and audits a change the CLI made, as the admin API's are.
pub(super) fn audit(config: &Config, action: &'static str, target: &str) -> anyhow::Result<()> {
    let events = crate::state::events(config, std::sync::Arc::new(SystemClock), false)?;
    events.emit(tessera_core::events::Event::AdminChanged {
        actor: "cli",
        action,
        target,
    });
    Ok(())
}

/// What `users disable|enable|delete` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Disable,
    Enable,
    Delete,
}

/// `tessera users disable|enable|delete USERNAME`, through the users service, which ends what
/// a disabled or deleted user holds. A user the configuration file declares is the file's: the
/// command says so and changes nothing, since the next start would undo it.
async fn lifecycle(
    store: &tessera_store_sql::SqlStore,
    users: &Users<'_>,
    username: &str,
    what: Life,
) -> anyhow::Result<()> {
    let Some(user) = store.find_user_by_username(username).await? else {
        bail!("no user `{username}`");
    };
    if user.source == Source::Config {
        let change = match what {
            Life::Delete => "remove it from the file",
            Life::Disable | Life::Enable => "set `disabled` in the file",
        };
        bail!(
            "{username} is declared in the configuration file, which owns it: {change} and restart"
        );
    }
    let subject = user.subject.as_str();
    match what {
        Life::Disable => {
            let updated = users.disable(subject).await?;
            match updated.ended_grants {
                Some(ended) => {
                    println!("{username} disabled; their sessions ended and {ended} grant(s) went")
                }
                None => println!("{username} was disabled already"),
            }
        }
        Life::Enable => {
            let updated = users.enable(subject).await?;
            let done = if updated.written {
                "enabled"
            } else {
                "was enabled already"
            };
            println!("{username} {done}");
        }
        Life::Delete => {
            let ended = users.delete(subject).await?.unwrap_or_default();
            println!("{username} deleted with {ended} grant(s), their factors and links");
        }
    }
    Ok(())
}

/// What a password must not be made of: the user's name, display name and address.
fn user_context(user: &tessera_core::model::User) -> Vec<&str> {
    let claim = |n: &str| user.claims.get(n).and_then(|v| v.as_str());
    [Some(user.username.as_str()), claim("name"), claim("email")]
        .into_iter()
        .flatten()
        .collect()
}

/// `tessera users links USERNAME [--remove PROVIDER[:SUBJECT]]`
async fn links(
    store: &tessera_store_sql::SqlStore,
    username: &str,
    remove: Option<String>,
) -> anyhow::Result<()> {
    let Some(user) = store.find_user_by_username(username).await? else {
        bail!("no user `{username}`");
    };
    let links = store.list_links(&user.subject).await?;
    let Some(remove) = remove else {
        let rows: Vec<Vec<String>> = links
            .into_iter()
            .map(|l| {
                vec![
                    l.provider,
                    l.upstream_subject,
                    l.email.unwrap_or_default(),
                    utc(l.created_at),
                    l.last_used_at.map(utc).unwrap_or_default(),
                ]
            })
            .collect();
        let header = ["PROVIDER", "UPSTREAM SUB", "EMAIL", "LINKED", "LAST USED"];
        println!("{}", table(&header, &rows));
        return Ok(());
    };
    let (provider, subject) = match remove.split_once(':') {
        Some((p, s)) => (p, Some(s)),
        None => (remove.as_str(), None),
    };
    let chosen: Vec<_> = links
        .iter()
        .filter(|l| l.provider == provider && subject.is_none_or(|s| s == l.upstream_subject))
        .collect();
    match chosen.as_slice() {
        [] => bail!("{username} has no link to `{remove}`"),
        [one] => {
            store
                .delete_link(&one.provider, &one.upstream_subject)
                .await?;
            println!(
                "removed the link of {username} to {}:{}",
                one.provider, one.upstream_subject
            );
            Ok(())
        }
        _ => bail!("{username} has several links to `{provider}`: name one as PROVIDER:SUBJECT"),
    }
}

/// `tessera users add`
async fn add_user(
    config: &Config,
    users: &Users<'_>,
    username: &str,
    claims: &[String],
    password_stdin: bool,
) -> anyhow::Result<()> {
    // Checked before the password is asked for, so that no one types it in vain.
    if let Err(why) = check_username(username) {
        bail!("username `{username}` {why}");
    }
    users
        .ensure_username_free(username)
        .await
        .map_err(refusal)?;
    let new = NewUser {
        username: username.to_string(),
        subject: None,
        claims: claims
            .iter()
            .map(|c| parse_claim(c))
            .collect::<anyhow::Result<_>>()?,
        source: Source::Managed,
        disabled: false,
    };
    let context: Vec<&str> = [
        Some(username),
        new.claims.get("name").and_then(|v| v.as_str()),
        new.claims.get("email").and_then(|v| v.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let password = read_new_password(config, password_stdin, &context)?;
    let hash = hash_password_blocking(password).await?;
    let user = users
        .create(new, Secret::new(hash))
        .await
        .map_err(refusal)?;
    println!("created user {username} (sub {})", user.subject);
    Ok(())
}
