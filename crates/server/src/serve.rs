//! Starting and stopping the server: store, provisioning, keys, listener, background work,
//! graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use tessera_core::store::Store;
use tessera_store_sql::SqlStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::Clocks;
use crate::config::Config;
use crate::http::{self, AppState};
use crate::provision::PendingPassword;

/// How often expired grants and sessions are purged: short-lived entries (parked requests,
/// interactions, codes) then take little room for long.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// Deletes grants and sessions that expired before `now`, then gives their space back to the
/// file system (SQLite); returns how many were deleted (REL-12).
pub async fn purge_expired(store: &dyn Store, now: i64) -> anyhow::Result<u64> {
    let grants = store.purge_expired_grants(now).await?;
    let sessions = store.purge_expired_sessions(now).await?;
    // Attempt counters are forgotten an hour after their last change.
    let forget_ms = crate::http::ui::throttle::FORGET_AFTER_MS;
    store
        .purge_counters(now.saturating_mul(1_000).saturating_sub(forget_ms))
        .await?;
    if grants + sessions > 0 {
        store.reclaim_space().await?;
        tracing::info!(grants, sessions, "purged expired entries");
    }
    Ok(grants + sessions)
}

/// A server that is accepting connections.
pub struct RunningServer {
    /// The bound address (useful with port 0).
    pub local_addr: SocketAddr,
    /// The admin listener's bound address, when `[admin] listen` gives it one.
    pub admin_addr: Option<SocketAddr>,
    /// The TLS listener's bound address, when `[tls] listen` sets one.
    pub tls_addr: Option<SocketAddr>,
    /// The application state, for tests and the dev banner.
    pub state: AppState,
    sql: Arc<SqlStore>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    /// The admin listener's server, when it has its own address.
    admin_server: Option<JoinHandle<()>>,
    /// The TLS listener's server.
    tls_server: Option<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    /// Held while serving: one server per SQLite file.
    _file_lock: Option<std::fs::File>,
    /// Set when background work the server cannot run without failed.
    failed: watch::Receiver<Option<String>>,
}

/// SECURITY-STATUS.md REL-14: one server per SQLite file. A second `tessera serve` on the same file
/// fails at once with a clear message instead of sharing it: the writer thread, the caches and
/// the key rotation assume they are alone. The lock is an OS file lock on `FILE.serve-lock`,
/// released by the OS when the process ends, however it ends. The CLI does not take it, so it
/// can work on the file of a running server.
fn lock_sqlite_file(database_url: &str) -> anyhow::Result<Option<std::fs::File>> {
    let Some(file) = tessera_store_sql::sqlite_file(database_url) else {
        return Ok(None);
    };
    let mut name = file.clone().into_os_string();
    name.push(".serve-lock");
    let path = std::path::PathBuf::from(name);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot create the lock file {}", path.display()))?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another tessera server is already using the database file {} (it holds the lock \
             on {}); run one server per SQLite file, or use PostgreSQL for several instances",
            file.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Opens the store, builds the state (configuration applied, keys loaded), binds and starts
/// serving, then starts the background work.
pub async fn start(config: Config, clocks: Clocks) -> anyhow::Result<RunningServer> {
    let config = Arc::new(config);
    let file_lock = lock_sqlite_file(config.database_url.expose())?;
    let sql = Arc::new(
        SqlStore::open(config.database_url.expose(), &config.database)
            .await
            .with_context(|| format!("cannot open database {}", config.database_url_redacted()))?,
    );
    let (state, pending_passwords) = AppState::build(config, sql.clone(), clocks).await?;
    // Background work starts once the listener is bound: a server that cannot listen leaves
    // nothing running behind it.
    let (local_addr, stop, server) = bind(&state).await?;
    let (admin_addr, admin_server) = match bind_admin(&state, &stop).await {
        Ok(admin) => admin,
        Err(e) => {
            let _ = stop.send(true);
            return Err(e);
        }
    };
    let (tls_addr, tls_server) = match bind_tls(&state, &stop).await {
        Ok(tls) => tls,
        Err(e) => {
            let _ = stop.send(true);
            return Err(e);
        }
    };
    let (mut background, failed) = spawn_background(&state, pending_passwords);
    // Listening before the server counts as started: no notice sent after that is missed.
    let listener = match sql.change_listener().await {
        Ok(listener) => listener.map(Ok),
        Err(e) => Some(Err(e)),
    };
    if let Some(listener) = listener {
        background.push(spawn_change_listener(&state, sql.clone(), listener));
    }
    Ok(RunningServer {
        local_addr,
        admin_addr,
        tls_addr,
        state,
        sql,
        stop,
        server,
        background,
        admin_server,
        tls_server,
        _file_lock: file_lock,
        failed,
    })
}

/// Binds the configured address and serves the application on it until `stop` is sent.
async fn bind(
    state: &AppState,
) -> anyhow::Result<(SocketAddr, watch::Sender<bool>, JoinHandle<()>)> {
    let config = &state.config;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local_addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(crate::connections::serve(
        listener,
        http::router(state.clone()),
        config.http.clone(),
        stopped,
        None,
    ));
    if !config.dev {
        for owner in &config.short_secrets {
            tracing::warn!(%owner, "a secret is shorter than 32 characters; use random secrets of 256 bits");
        }
    }
    tracing::info!(
        %local_addr,
        issuer = %config.issuer,
        database = %config.database_url_redacted(),
        "tessera is listening"
    );
    Ok((local_addr, stop, server))
}

/// Binds `[admin] listen`, if set, and serves the admin API and `/metrics` on it until `stop`
/// is sent.
async fn bind_admin(
    state: &AppState,
    stop: &watch::Sender<bool>,
) -> anyhow::Result<(Option<SocketAddr>, Option<JoinHandle<()>>)> {
    let Some(addr) = state.config.operations.admin_listen else {
        return Ok((None, None));
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (admin.listen)"))?;
    let local_addr = listener.local_addr()?;
    let server = tokio::spawn(crate::connections::serve(
        listener,
        http::admin_router(state.clone()),
        state.config.http.clone(),
        stop.subscribe(),
        None,
    ));
    tracing::info!(%local_addr, "the admin API and /metrics are listening");
    Ok((Some(local_addr), Some(server)))
}

/// Binds `[tls] listen`, if set, and serves the application over TLS on it (mutual TLS, RFC
/// 8705) until `stop` is sent.
async fn bind_tls(
    state: &AppState,
    stop: &watch::Sender<bool>,
) -> anyhow::Result<(Option<SocketAddr>, Option<JoinHandle<()>>)> {
    let Some(listener_settings) = &state.config.tls.listener else {
        return Ok((None, None));
    };
    let tls = crate::mtls::server_config(listener_settings)?;
    let addr = listener_settings.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (tls.listen)"))?;
    let local_addr = listener.local_addr()?;
    let server = tokio::spawn(crate::connections::serve(
        listener,
        http::router(state.clone()),
        state.config.http.clone(),
        stop.subscribe(),
        Some(tls),
    ));
    tracing::info!(%local_addr, "the TLS listener (mutual TLS) is listening");
    Ok((Some(local_addr), Some(server)))
}

/// Starts what runs beside the requests: the configured passwords' check, the refresh of keys
/// and clients, and the purge. The receiver holds the reason when work the server cannot run
/// without failed.
fn spawn_background(
    state: &AppState,
    pending_passwords: Vec<PendingPassword>,
) -> (Vec<JoinHandle<()>>, watch::Receiver<Option<String>>) {
    // Configured clear passwords last and in the background: checking each costs an Argon2
    // computation, which must not delay the first request. /readyz waits for it; a failure
    // stops the server (`RunningServer::failed`).
    let (failed_tx, failed) = watch::channel(None);
    let users = {
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = state.check_configured_passwords(pending_passwords).await {
                tracing::error!(error = %e, "cannot provision configured users' passwords");
                let _ = failed_tx.send(Some(format!("cannot provision configured users: {e}")));
            }
        })
    };
    let mut tasks = vec![users, spawn_refresh(state), spawn_purge(state)];
    if let Some(handle) = state.metrics.clone() {
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(crate::metrics::UPKEEP_INTERVAL);
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        }));
    }
    (tasks, failed)
}

/// Reloads the signing keys, the clients and the resources every `key_refresh_interval`, so
/// that what another instance or the CLI changed is seen here.
fn spawn_refresh(state: &AppState) -> JoinHandle<()> {
    let (store, clock, config, keys, clients) = (
        state.store.clone(),
        state.clock.clone(),
        state.config.clone(),
        state.keys.clone(),
        state.clients.clone(),
    );
    let resources = state.resources.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(config.key_refresh_interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            match tessera_core::tokens::manager::rotate_due_keys(
                store.as_ref(),
                store.as_ref(),
                clock.as_ref(),
                &config.keys,
            )
            .await
            {
                Ok(created) => {
                    for key in created {
                        tracing::info!(kid = %key.kid, alg = %key.alg, activates_at = key.activates_at, "signing key rotated on schedule");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot rotate signing keys on schedule"),
            }
            if let Err(e) = keys
                .refresh(store.as_ref(), clock.as_ref(), &config.keys)
                .await
            {
                tracing::warn!(error = %e, "cannot refresh signing keys; keeping the current ones");
            }
            if let Err(e) = clients.refresh().await {
                tracing::warn!(error = %e, "cannot refresh the clients; keeping the current ones");
            }
            if let Err(e) = resources.reload(store.as_ref()).await {
                tracing::warn!(error = %e, "cannot refresh the resources; keeping the current ones");
            }
        }
    })
}

/// Reloads the clients or the keys as soon as another instance on the same PostgreSQL database
/// says they changed (LISTEN/NOTIFY), rather than at the next refresh; everything after the
/// listening connection was lost and made again. Nothing to do on SQLite (one instance).
fn spawn_change_listener(
    state: &AppState,
    sql: Arc<SqlStore>,
    first: Result<tessera_store_sql::ChangeListener, tessera_core::store::StoreError>,
) -> JoinHandle<()> {
    let (store, clock, config, keys, clients) = (
        state.store.clone(),
        state.clock.clone(),
        state.config.clone(),
        state.keys.clone(),
        state.clients.clone(),
    );
    let resources = state.resources.clone();
    tokio::spawn(async move {
        let mut attempt = first;
        let mut listener = loop {
            match attempt {
                Ok(listener) => break listener,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other instances' changes; retrying");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
            attempt = match sql.change_listener().await {
                Ok(Some(listener)) => Ok(listener),
                Ok(None) => return,
                Err(e) => Err(e),
            };
        };
        loop {
            let (reload_clients, reload_keys, reload_resources) = match listener.next().await {
                Ok(tessera_store_sql::Change::Topic(topic)) => {
                    (topic == "clients", topic == "keys", topic == "resources")
                }
                Ok(tessera_store_sql::Change::Reconnected) => (true, true, true),
                Err(e) => {
                    tracing::warn!(error = %e, "lost the change notices; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    (true, true, true)
                }
            };
            if reload_resources && let Err(e) = resources.reload(store.as_ref()).await {
                tracing::warn!(error = %e, "cannot reload the resources after a change");
            }
            if reload_clients && let Err(e) = clients.refresh().await {
                tracing::warn!(error = %e, "cannot reload the clients after a change");
            }
            if reload_keys
                && let Err(e) = keys
                    .refresh(store.as_ref(), clock.as_ref(), &config.keys)
                    .await
            {
                tracing::warn!(error = %e, "cannot reload the signing keys after a change");
            }
        }
    })
}

/// Purges expired entries every [`PURGE_INTERVAL`].
fn spawn_purge(state: &AppState) -> JoinHandle<()> {
    let (store, clock) = (state.store.clone(), state.clock.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_INTERVAL);
        loop {
            tick.tick().await;
            if let Err(e) = purge_expired(store.as_ref(), clock.now()).await {
                tracing::warn!(error = %e, "cannot purge expired entries");
            }
        }
    })
}

impl RunningServer {
    /// Resolves with the reason when background work the server cannot run without fails.
    pub async fn failure(&self) -> String {
        let mut failed = self.failed.clone();
        loop {
            if let Some(reason) = failed.borrow_and_update().clone() {
                return reason;
            }
            if failed.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// Stops gracefully: `/readyz` fails first (for `http.shutdown_delay`), then the listener
    /// closes and in-flight requests get `http.shutdown_grace` to finish, then the database
    /// pool closes.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let readiness = &self.state.readiness;
        readiness.shutting_down.store(true, Ordering::SeqCst);
        let http = &self.state.config.http;
        tokio::time::sleep(http.shutdown_delay).await;
        let _ = self.stop.send(true);
        let grace = http.shutdown_grace;
        // The main and the admin listener drain together, within one grace period.
        let servers = std::iter::once(self.server)
            .chain(self.admin_server)
            .chain(self.tls_server);
        let mut servers: Vec<JoinHandle<()>> = servers.collect();
        let drained = tokio::time::timeout(grace, async {
            for server in &mut servers {
                server.await?;
            }
            Ok::<(), tokio::task::JoinError>(())
        })
        .await;
        match drained {
            Ok(joined) => joined?,
            Err(_) => {
                tracing::warn!(
                    ?grace,
                    "shutdown grace period over; stopping with requests in flight"
                );
                for server in &servers {
                    server.abort();
                }
            }
        }
        for task in self.background {
            task.abort();
        }
        // Requests abandoned above may still hold connections: do not wait for them forever.
        if tokio::time::timeout(Duration::from_secs(5), self.sql.close())
            .await
            .is_err()
        {
            tracing::warn!("database connections still in use at exit");
        }
        tracing::info!("tessera stopped");
        Ok(())
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// `tessera serve`: runs until a signal, then shuts down gracefully.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let dev = config.dev;
    let server = start(config, Clocks::system()).await?;
    if dev {
        println!(
            "{}",
            crate::cli::dev_banner(&server.state.config, server.local_addr)
        );
    }
    let failure = tokio::select! {
        () = shutdown_signal() => None,
        reason = server.failure() => Some(reason),
    };
    match &failure {
        None => tracing::info!("shutdown signal received; draining"),
        Some(reason) => tracing::error!(%reason, "stopping"),
    }
    server.shutdown().await?;
    match failure {
        None => Ok(()),
        Some(reason) => Err(anyhow::anyhow!(reason)),
    }
}
