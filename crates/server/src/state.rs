//! Building the application state from its parts: the configuration, an open store and the
//! clocks. It needs no socket and no particular backend: `serve::start` builds it on the
//! configured database, tests also on the memory store.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use tessera_core::events::Events;
use tessera_core::protocol::paths;
use tessera_core::store::Store;
use tessera_core::{Clock, Secret};

use crate::clientcache::ClientCache;
use crate::clock::Clocks;
use crate::config::Config;
use crate::http::{self, AppInner, AppState, Readiness};
use crate::keycache::initial_key_cache;
use crate::provision::{
    PendingPassword, PendingSubjects, apply_passwords, apply_users, provision_clients_and_resources,
};

impl AppState {
    /// Writes the configured clients, resources and users to `store`, loads the signing keys
    /// and the clients, and builds what every handler reaches. Returns the state with the
    /// configured clear passwords left to check ([`AppState::check_configured_passwords`]):
    /// until they are, `/readyz` fails and those users cannot sign in.
    pub async fn build(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        clocks: Clocks,
    ) -> anyhow::Result<(AppState, Vec<PendingPassword>)> {
        let clock = clocks.wall;
        provision_clients_and_resources(store.as_ref(), &config)
            .await
            .context("cannot write the configured clients and resources to the database")?;
        // Before listening: no request may see a user the configuration disabled or removed.
        let pending_passwords = apply_users(store.as_ref(), clock.as_ref(), &config.users)
            .await
            .context("cannot write the configured users to the database")?;
        let waiting_passwords: Arc<PendingSubjects> = Arc::new(RwLock::new(
            pending_passwords
                .iter()
                .map(|p| p.subject().to_string())
                .collect(),
        ));
        let keys = Arc::new(
            initial_key_cache(store.as_ref(), clock.as_ref(), &config.keys)
                .await
                .context("cannot load signing keys")?,
        );
        // What the keys replaced (clear keys now sealed) leaves the file and its log too.
        if let Err(e) = store.reclaim_space().await {
            tracing::warn!(error = %e, "cannot reclaim the database's free space");
        }
        let cookie_secret = cookie_secret(store.as_ref(), clock.as_ref()).await?;
        let counters: Arc<dyn tessera_core::store::CounterStore> = store.clone();
        let clients = ClientCache::load(store.clone())
            .await
            .context("cannot read the registered clients")?;
        let resources = Arc::new(
            crate::resources::LiveResources::load(config.clone(), store.as_ref())
                .await
                .context("cannot read the resources made through the admin API")?,
        );
        let endpoint_urls = client_authentication_endpoints(&config);
        let started_at = clock.now();
        let metrics = if config.operations.metrics {
            Some(crate::metrics::install()?)
        } else {
            None
        };
        let events = events(&config, clock.clone(), metrics.is_some())?;
        let admin_tokens = http::admin::token_validator(&config.issuer, keys.clone())?;
        let state = AppState(Arc::new(AppInner {
            config: config.clone(),
            store,
            clients,
            clock,
            monotonic: clocks.monotonic.clone(),
            keys,
            resources,
            readiness: Arc::new(Readiness::default()),
            endpoint_urls,
            pages: http::ui::pages::Pages::load(config.ui_templates.as_deref(), &config.issuer)?,
            cookies: http::ui::cookies::CookieNames::for_issuer(&config.issuer),
            cookie_mac: http::ui::cookies::CookieMac::new(cookie_secret.expose().as_bytes()),
            throttle: http::ui::throttle::Throttle::new(config.login, counters.clone()),
            parking: http::ui::park::parking_limit(),
            device_polls: http::device::DevicePolls::new(clocks.monotonic.clone()),
            // One process holds a SQLite database (serve locks the file): its memory is every
            // instance's. PostgreSQL is shared, and remembers proofs for all.
            dpop_replay: config
                .database_url
                .expose()
                .starts_with("sqlite:")
                .then(|| tessera_core::dpop::LocalReplay::new(started_at)),
            user_code_guesses: http::ui::device::guess_limit(),
            registration_limit: http::register::open_limit(config.registration.open_per_address),
            mtls_cas: crate::mtls::ClientCas::new(&config.tls.client_cas),
            ciba_http: crate::outbound::Outbound::new(config.outbound.clone())?,
            client_keys: crate::client_keys::RemoteClientKeys::new(
                config.outbound.clone(),
                clocks.monotonic.clone(),
            )?,
            scan_limit: http::scan_limit::ScanLimit::new(
                config.introspection.max_inactive_per_minute,
                counters,
            ),
            passwords: crate::hashing::PasswordCheckers::start(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )?,
            dummy_hash: tokio::sync::OnceCell::new(),
            backchannel: crate::backchannel::Backchannel::new(config.outbound.clone())?,
            webauthn: http::ui::passkey::relying_party(&config.issuer).map(Arc::new),
            upstreams: crate::federation::Upstreams::new(
                &config.identity_providers,
                config.outbound.clone(),
                clocks.monotonic.clone(),
            )?,
            events,
            metrics,
            admin_tokens,
            pending_passwords: waiting_passwords,
            mailer: mailer(&config)?,
            reset_limit: http::ui::password_reset::limit::MailLimit::default(),
        }));
        Ok((state, pending_passwords))
    }

    /// Checks the configured clear passwords [`AppState::build`] left (an Argon2 computation
    /// each), then marks the server provisioned for `/readyz`.
    pub async fn check_configured_passwords(
        &self,
        pending: Vec<PendingPassword>,
    ) -> anyhow::Result<()> {
        apply_passwords(
            self.store.as_ref(),
            self.clock.as_ref(),
            pending,
            (
                &self.pending_passwords,
                self.config.password_policy.min_length,
            ),
        )
        .await?;
        self.readiness.provisioned.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// Where domain events go: the log, metrics when they are on, the audit log when it is.
pub(crate) fn events(
    config: &Config,
    clock: Arc<dyn Clock>,
    metrics: bool,
) -> anyhow::Result<Events> {
    let mut events = Events::logged();
    if metrics {
        events.subscribe(Arc::new(crate::metrics::MetricsSubscriber::default()));
    }
    if let Some(target) = &config.operations.audit {
        events.subscribe(Arc::new(crate::audit::AuditLog::open(target, clock)?));
    }
    Ok(events)
}

/// One MAC key for the server's cookies, shared by every instance on this database.
async fn cookie_secret(store: &dyn Store, clock: &dyn Clock) -> anyhow::Result<Secret<String>> {
    store
        .server_secret(
            "cookie_mac",
            &Secret::new(tessera_core::crypto::random_handle()?),
            clock.now(),
        )
        .await
        .context("cannot read the cookie key")
}

/// The `[smtp]` relay, greeted with the issuer's host name.
fn mailer(config: &Config) -> anyhow::Result<Option<Arc<crate::mail::Mailer>>> {
    let Some(smtp) = &config.smtp else {
        return Ok(None);
    };
    let host = url::Url::parse(&config.issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "localhost".into());
    let mailer = crate::mail::Mailer::new(smtp, &host).context("cannot set up [smtp]")?;
    Ok(Some(Arc::new(mailer)))
}

/// Absolute URLs of the endpoints that authenticate clients: where a client assertion may point
/// its `aud` besides the issuer (RFC 7523 §3).
fn client_authentication_endpoints(config: &Config) -> Vec<String> {
    [
        paths::TOKEN,
        paths::INTROSPECT,
        paths::REVOKE,
        paths::DEVICE_AUTHORIZATION,
    ]
    .into_iter()
    .map(|p| format!("{}{p}", config.issuer))
    .collect()
}
