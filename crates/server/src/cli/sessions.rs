//! `tessera sessions list|end`: an operator's view of single sign-on sessions, and ending them
//! (with back-channel logout to the clients signed in through them).

use anyhow::bail;
use tessera_core::logout::end_session;
use tessera_core::model::Session;
use tessera_core::sessions::session_clients;
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
) -> anyhow::Result<Vec<(Session, Vec<String>)>> {
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
    let mut chosen = Vec::new();
    for s in all {
        if sid.is_some_and(|sid| s.sid != sid) {
            continue;
        }
        let clients = session_clients(store, &s.sid).await?;
        if client.is_none_or(|c| clients.iter().any(|x| x == c)) {
            chosen.push((s, clients));
        }
    }
    Ok(chosen)
}

/// `tessera sessions ...`
pub async fn sessions(config: &Config, command: SessionsCommand) -> anyhow::Result<()> {
    let store = open(config).await?;
    let clock = SystemClock;
    let now = clock.now();
    match command {
        SessionsCommand::List { user, client } => {
            let mut rows = Vec::new();
            for (s, clients) in
                select(&store, now, None, user.as_deref(), client.as_deref()).await?
            {
                let username = store
                    .find_user_by_subject(&s.subject)
                    .await?
                    .map(|u| u.username)
                    .unwrap_or_default();
                rows.push(vec![
                    s.sid.clone(),
                    username,
                    clients.join(","),
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
            let sender = Backchannel::new(config.outbound.clone())?;
            let mut deliveries = Vec::new();
            let mut ended = 0;
            for (session, _) in &chosen {
                // Already ended by someone else: its clients were notified then.
                let Some((session, clients)) =
                    end_session(&store, &store, &store, &session.id_digest).await?
                else {
                    continue;
                };
                ended += 1;
                deliveries.extend(sender.notify(&config.issuer, &ring, &session, &clients, now));
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
                ended,
                total - failed,
                total
            );
        }
    }
    store.close().await;
    Ok(())
}
