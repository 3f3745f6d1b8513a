//! `tessera sessions list|end`: an operator's view of single sign-on sessions, and ending them
//! (with back-channel logout to the clients signed in through them).

use anyhow::bail;
use tessera_core::logout::end_session;
use tessera_core::model::Session;
use tessera_core::sessions::session_data;
use tessera_core::store::{SessionStore as _, UserStore as _};
use tessera_core::tokens::load_key_ring;
use tessera_core::{Clock, SystemClock};
use tessera_store_sql::SqlStore;

use super::SessionsCommand;
use super::commands::open;
use super::format::{table, utc};
use crate::backchannel::Backchannel;
use crate::config::Config;

/// Which sessions a command is about.
async fn select(
    store: &SqlStore,
    now: i64,
    sid: Option<&str>,
    user: Option<&str>,
    client: Option<&str>,
) -> anyhow::Result<Vec<Session>> {
    let subject = match user {
        Some(name) => match store.find_user_by_username(name).await? {
            Some(u) => Some(u.subject),
            None => bail!("no user named `{name}`"),
        },
        None => None,
    };
    let all = match &subject {
        Some(s) => store.list_sessions_for_subject(s, now).await?,
        None => store.list_sessions(now).await?,
    };
    Ok(all
        .into_iter()
        .filter(|s| sid.is_none_or(|sid| s.sid == sid))
        .filter(|s| client.is_none_or(|c| session_data(s).clients.iter().any(|x| x == c)))
        .collect())
}

/// `tessera sessions ...`
pub async fn sessions(config: &Config, command: SessionsCommand) -> anyhow::Result<()> {
    let store = open(config).await?;
    let clock = SystemClock;
    let now = clock.now();
    match command {
        SessionsCommand::List { user, client } => {
            let mut rows = Vec::new();
            for s in select(&store, now, None, user.as_deref(), client.as_deref()).await? {
                let username = store
                    .find_user_by_subject(&s.subject)
                    .await?
                    .map(|u| u.username)
                    .unwrap_or_default();
                rows.push(vec![
                    s.sid.clone(),
                    username,
                    session_data(&s).clients.join(","),
                    utc(s.created_at),
                    utc(s.last_seen),
                    utc(s.expires_at.min(s.absolute_expires_at)),
                ]);
            }
            println!(
                "{}",
                table(
                    &["SID", "USER", "CLIENTS", "CREATED", "LAST_SEEN", "EXPIRES"],
                    &rows
                )
            );
        }
        SessionsCommand::End { sid, user, client } => {
            if sid.is_none() && user.is_none() && client.is_none() {
                bail!("name the sessions to end: --sid, --user or --client");
            }
            let chosen = select(
                &store,
                now,
                sid.as_deref(),
                user.as_deref(),
                client.as_deref(),
            )
            .await?;
            let ring = load_key_ring(&store, &clock, &config.keys).await?;
            let alg = config
                .keys
                .algorithms
                .first()
                .copied()
                .unwrap_or(tessera_core::tokens::SigningAlg::Es256);
            let sender = Backchannel::new()?;
            let mut deliveries = Vec::new();
            for session in &chosen {
                let clients = end_session(&store, &store, &store, session).await?;
                deliveries.extend(sender.notify(
                    &config.issuer,
                    &ring,
                    alg,
                    session,
                    &clients,
                    now,
                ));
            }
            let mut failed = 0;
            let total = deliveries.len();
            for delivery in deliveries {
                if !delivery.await.unwrap_or(false) {
                    failed += 1;
                }
            }
            println!(
                "ended {} session(s); back-channel logout delivered to {} of {} client(s)",
                chosen.len(),
                total - failed,
                total
            );
        }
    }
    store.close().await;
    Ok(())
}
