//! Configuration: one TOML file, then `TESSERA_*` environment variables, validated at start.
//!
//! [`RawConfig`] is the file as written (its key names are a contract); [`Config`] is the
//! validated, typed result that the rest of the server uses.

mod demo;
mod entities;
mod load;
pub(crate) mod validate;

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use tessera_core::Secret;
use tessera_core::authorize::acr::AcrLevels;
use tessera_core::model::{Client, Resources};
use tessera_core::tokens::KeyPolicy;

pub use demo::{DEMO_USER_PASSWORD, apply_demo};
pub use entities::{RawApiResource, RawApiScope, RawClient, RawIdentityResource, RawJwks, RawUser};
pub use load::{ConfigError, load, load_str};
pub use validate::interactive::{RawDeviceFlow, RawDpop};
pub use validate::operations::{
    AuditTarget, OperationsSettings, RawAdmin, RawAudit, RawMetrics, RawTracing, TracingSettings,
};
pub use validate::smtp::{RawSmtp, SmtpSettings, SmtpTls};

/// The configuration file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The issuer identifier (OIDC Discovery §3; RFC 8414 §2).
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// Address and port to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The security profile every client is checked against: `rfc9700` or `fapi2`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Authorization requests: pushed (RFC 9126) and signed (RFC 9101).
    #[serde(default)]
    pub authorize: validate::profile::RawAuthorize,
    /// The TLS listener and client certificates (RFC 8705, RFC 9440).
    #[serde(default)]
    pub tls: validate::tls::RawTls,
    /// `sqlite://FILE` or `postgres://...`.
    #[serde(default = "default_database_url")]
    pub database_url: Secret<String>,
    /// Connection pool settings.
    #[serde(default)]
    pub database: RawDatabase,
    /// Signing keys.
    #[serde(default)]
    pub keys: RawKeys,
    /// HTTP limits and timeouts.
    #[serde(default)]
    pub http: RawHttp,
    /// Logging.
    #[serde(default)]
    pub log: RawLog,
    /// Single sign-on sessions.
    #[serde(default)]
    pub sessions: RawSessions,
    /// Sign-in throttling.
    #[serde(default)]
    pub login: RawLogin,
    /// The policy for new passwords.
    #[serde(default)]
    pub passwords: RawPasswords,
    /// Login and consent pages.
    #[serde(default)]
    pub ui: RawUi,
    /// The introspection endpoint.
    #[serde(default)]
    pub introspection: RawIntrospection,
    /// Client authentication at the token, introspection and revocation endpoints.
    #[serde(default)]
    pub client_authentication: RawClientAuthentication,
    /// The device authorization grant (RFC 8628).
    #[serde(default)]
    pub device_flow: RawDeviceFlow,
    /// Sender-constrained tokens (RFC 9449).
    #[serde(default)]
    pub dpop: RawDpop,
    /// Client-initiated backchannel authentication (OpenID CIBA Core 1.0).
    #[serde(default)]
    pub ciba: validate::interactive::RawCiba,
    /// Authentication context classes (`acr`) offered, weakest first.
    #[serde(default)]
    pub acr_levels: Option<Vec<RawAcrLevel>>,
    /// Requests the server makes itself (back-channel logout).
    #[serde(default)]
    pub outbound: RawOutbound,
    /// API scopes.
    #[serde(default)]
    pub api_scopes: Vec<RawApiScope>,
    /// APIs (audiences).
    #[serde(default)]
    pub api_resources: Vec<RawApiResource>,
    /// Identity resources beyond the built-in ones.
    #[serde(default)]
    pub identity_resources: Vec<RawIdentityResource>,
    /// The kinds of rich authorization requests (RFC 9396) clients may ask for.
    #[serde(default)]
    pub authorization_details_types: Vec<validate::profile::RawAuthorizationDetailsType>,
    /// Clients.
    #[serde(default)]
    pub clients: Vec<RawClient>,
    /// Local users.
    #[serde(default)]
    pub users: Vec<RawUser>,
    /// External identity providers.
    #[serde(default)]
    pub identity_providers: Vec<validate::providers::RawIdentityProvider>,
    /// The mail relay for password reset links; none: no reset by mail.
    #[serde(default)]
    pub smtp: Option<validate::smtp::RawSmtp>,
    /// Where the admin API and `/metrics` are served.
    #[serde(default)]
    pub admin: validate::operations::RawAdmin,
    /// Prometheus metrics.
    #[serde(default)]
    pub metrics: validate::operations::RawMetrics,
    /// The audit log.
    #[serde(default)]
    pub audit: validate::operations::RawAudit,
    /// Dynamic client registration.
    #[serde(default)]
    pub registration: validate::operations::RawRegistration,
    /// OpenTelemetry traces.
    #[serde(default)]
    pub tracing: validate::operations::RawTracing,
}

fn default_issuer() -> String {
    "http://localhost:8080".into()
}
fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_database_url() -> Secret<String> {
    Secret::new("sqlite://tessera.db".into())
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            issuer: default_issuer(),
            listen: default_listen(),
            database_url: default_database_url(),
            database: RawDatabase::default(),
            keys: RawKeys::default(),
            http: RawHttp::default(),
            log: RawLog::default(),
            sessions: RawSessions::default(),
            login: RawLogin::default(),
            passwords: RawPasswords::default(),
            introspection: RawIntrospection::default(),
            client_authentication: RawClientAuthentication::default(),
            profile: None,
            authorize: Default::default(),
            tls: Default::default(),
            device_flow: RawDeviceFlow::default(),
            dpop: RawDpop::default(),
            ciba: Default::default(),
            acr_levels: None,
            ui: RawUi::default(),
            outbound: RawOutbound::default(),
            api_scopes: vec![],
            api_resources: vec![],
            identity_resources: vec![],
            authorization_details_types: vec![],
            clients: vec![],
            users: vec![],
            identity_providers: vec![],
            smtp: None,
            admin: Default::default(),
            metrics: Default::default(),
            audit: Default::default(),
            registration: Default::default(),
            tracing: Default::default(),
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDatabase {
    /// PostgreSQL pool size. SQLite has one writer and reads on a connection per thread.
    pub max_connections: u32,
    /// Seconds to wait for a connection before answering 503.
    pub acquire_timeout: u64,
}

impl Default for RawDatabase {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: 3,
        }
    }
}

/// `[keys]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawKeys {
    /// Signing algorithms; the first is the default.
    pub algorithms: Vec<String>,
    /// Seconds a rotated key is published before it signs.
    pub propagation: u64,
    /// Seconds a superseded key stays published; at least the longest token lifetime.
    pub retention: u64,
    /// Seconds between re-reads of the key table (picks up rotations by other instances).
    pub refresh_interval: u64,
    /// Seconds after which each signing key is replaced automatically (published first for
    /// `propagation`, the old one kept for `retention`); unset: only `tessera keys rotate`.
    pub rotate_every: Option<u64>,
    /// The key-encryption key private keys are stored under (32 random bytes in base64 or
    /// hex); better given by the environment (`TESSERA_KEYS__ENCRYPTION_KEY`) than written here.
    pub encryption_key: Option<Secret<String>>,
    /// A file holding the key-encryption key, instead of `encryption_key`.
    pub encryption_key_file: Option<std::path::PathBuf>,
}

impl Default for RawKeys {
    fn default() -> Self {
        Self {
            algorithms: vec!["ES256".into(), "RS256".into()],
            propagation: 3_600,
            retention: 86_400,
            refresh_interval: 30,
            rotate_every: None,
            encryption_key: None,
            encryption_key_file: None,
        }
    }
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHttp {
    /// Seconds a request may take before it gets 408.
    pub request_timeout: u64,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Largest total size of request headers in bytes.
    pub max_header_bytes: usize,
    /// Seconds a client has to send a request's headers (slow clients are disconnected); also
    /// how long an idle keep-alive connection is kept.
    pub header_read_timeout: u64,
    /// Most connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Seconds `/readyz` fails before the listener closes at shutdown, so load balancers stop
    /// sending new requests first.
    pub shutdown_delay: u64,
    /// Seconds in-flight requests get to finish at shutdown.
    pub shutdown_grace: u64,
    /// Reverse proxies (addresses or CIDR networks) whose `Forwarded` / `X-Forwarded-For`
    /// headers give the client's address; nobody else's are read.
    pub trusted_proxies: Vec<String>,
}

impl Default for RawHttp {
    fn default() -> Self {
        Self {
            request_timeout: 10,
            body_limit: 64 * 1024,
            max_header_bytes: 16 * 1024,
            header_read_timeout: 10,
            max_connections: 10_000,
            shutdown_delay: 0,
            shutdown_grace: 10,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `tessera=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// `[sessions]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSessions {
    /// Seconds a sign-on session lasts after it was last used.
    pub idle_timeout: u64,
    /// Seconds a sign-on session lasts at most after the sign-in.
    pub max_lifetime: u64,
}

impl Default for RawSessions {
    fn default() -> Self {
        Self {
            idle_timeout: 8 * 3_600,
            max_lifetime: 7 * 86_400,
        }
    }
}

/// `[login]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLogin {
    /// Failed sign-ins of one account before it is slowed down.
    pub max_failures_per_account: u32,
    /// Failed sign-ins from one address before it is slowed down.
    pub max_failures_per_address: u32,
    /// Longest wait, in seconds, imposed after repeated failures.
    pub max_lockout: u64,
}

impl Default for RawLogin {
    fn default() -> Self {
        Self {
            max_failures_per_account: 5,
            max_failures_per_address: 50,
            max_lockout: 900,
        }
    }
}

/// `[passwords]`: the policy for new passwords (NIST SP 800-63B §3.1.1.2), on the account page,
/// in the CLI and for clear-text passwords in this file.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPasswords {
    /// Fewest characters (8 to 64; SP 800-63B asks for 15 where a password is the only
    /// factor).
    pub min_length: usize,
}

impl Default for RawPasswords {
    fn default() -> Self {
        Self {
            min_length: tessera_core::password_policy::DEFAULT_MIN_LENGTH,
        }
    }
}

/// `[introspection]`
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIntrospection {
    /// Inactive answers one client may get per minute before it must wait (RFC 7662 §4:
    /// against token scanning); 0 turns the limit off. Active answers do not count, and API
    /// resources are not limited (they pass on tokens their own callers send).
    pub max_inactive_per_minute: u32,
}

impl Default for RawIntrospection {
    fn default() -> Self {
        Self {
            max_inactive_per_minute: 600,
        }
    }
}

/// `[client_authentication]`
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawClientAuthentication {
    /// Longest lifetime, in seconds, of a client assertion (`private_key_jwt`,
    /// `client_secret_jwt`): its `exp` may be at most this far ahead (plus 60 s of clock skew).
    pub max_assertion_lifetime: u64,
}

impl Default for RawClientAuthentication {
    fn default() -> Self {
        Self {
            max_assertion_lifetime: tessera_core::clients::assertion::DEFAULT_MAX_LIFETIME
                .unsigned_abs(),
        }
    }
}

/// `[[acr_levels]]`: an authentication context class and the methods that reach it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAcrLevel {
    /// The `acr` value.
    pub acr: String,
    /// The authentication methods (RFC 8176 `amr` values) a sign-in must all have used.
    pub amr: Vec<String>,
}

/// `[ui]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawUi {
    /// A directory of templates (`layout.html`, `login.html`, `consent.html`, `error.html`,
    /// `form_post.html`, `logout.html`, `signed_out.html`, `password_forgot.html`,
    /// `password_reset.html`, ...) and `style.css` that replace the built-in ones of the same
    /// name.
    pub templates: Option<std::path::PathBuf>,
}

/// `[outbound]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawOutbound {
    /// Allow plain http (on with `--dev`); otherwise only https.
    pub allow_http: bool,
    /// Networks (CIDR, e.g. `10.20.0.0/16`) that may be reached although they are not public:
    /// loopback, private, link-local and other special addresses are refused otherwise.
    pub allowed_networks: Vec<String>,
}

/// Sign-in throttling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Free failures per account.
    pub max_failures_per_account: u32,
    /// Free failures per address.
    pub max_failures_per_address: u32,
    /// Longest wait.
    pub max_lockout: Duration,
}

/// A user as the configuration declares it; hashed when provisioned.
#[derive(Debug, Clone)]
pub struct UserSeed {
    /// Login name.
    pub username: String,
    /// The password, in clear or as a hash.
    pub password: PasswordSpec,
    /// Profile claims.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Disabled flag.
    pub disabled: bool,
}

/// A configured password.
#[derive(Debug, Clone)]
pub enum PasswordSpec {
    /// In clear: verified against the stored hash, hashed anew when it differs.
    Clear(Secret<String>),
    /// An Argon2 PHC hash, stored as is.
    Hash(String),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// HTTP limits.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Body size limit in bytes.
    pub body_limit: usize,
    /// Header size limit in bytes.
    pub max_header_bytes: usize,
    /// Time allowed for receiving request headers and for idle keep-alive connections.
    pub header_read_timeout: Duration,
    /// Connection limit.
    pub max_connections: usize,
    /// Delay between failing `/readyz` and closing the listener at shutdown.
    pub shutdown_delay: Duration,
    /// Shutdown grace period.
    pub shutdown_grace: Duration,
    /// Proxies whose forwarding headers name the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Issuer identifier, exactly as tokens carry it.
    pub issuer: String,
    /// Listen address.
    pub listen: SocketAddr,
    /// Database URL (may hold a password: print with `redact_database_url`).
    pub database_url: Secret<String>,
    /// Pool settings.
    pub database: tessera_store_sql::SqlOptions,
    /// Key policy.
    pub keys: KeyPolicy,
    /// How often keys are re-read from the store.
    pub key_refresh_interval: Duration,
    /// HTTP limits.
    pub http: HttpSettings,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// Scopes and resources, built-in identity resources included.
    pub resources: Resources,
    /// Clients, secrets already digested.
    pub clients: Vec<Client>,
    /// Clear secrets of `client_secret_jwt` clients (HMAC keys), kept in memory only.
    pub client_jwt_secrets: tessera_core::clients::assertion::SharedSecrets,
    /// Keys of secrets shorter than 32 characters (stored as fast digests, so they should be
    /// random and long); warned about at start.
    pub short_secrets: Vec<String>,
    /// Users to provision.
    pub users: Vec<UserSeed>,
    /// External identity providers.
    pub identity_providers: Vec<tessera_core::federation::Provider>,
    /// Session lifetimes.
    pub sessions: tessera_core::sessions::SessionLifetimes,
    /// Sign-in throttling.
    pub login: LoginPolicy,
    /// The policy for new passwords.
    pub password_policy: RawPasswords,
    /// Introspection limits.
    pub introspection: RawIntrospection,
    /// Longest client assertion lifetime, in seconds.
    pub max_assertion_lifetime: i64,
    /// The device authorization grant.
    pub device_flow: tessera_core::device::DeviceSettings,
    /// DPoP.
    pub dpop: RawDpop,
    /// Authentication context classes offered, weakest first.
    pub acr_levels: AcrLevels,
    /// Theme directory.
    pub ui_templates: Option<std::path::PathBuf>,
    /// Where the server's own requests may go.
    pub outbound: crate::outbound::OutboundPolicy,
    /// The mail relay for password reset links, if any.
    pub smtp: Option<SmtpSettings>,
    /// The admin listener, metrics and the audit log.
    pub operations: OperationsSettings,
    /// Dynamic client registration's policy.
    pub registration: tessera_core::clients::registration::RegistrationPolicy,
    /// The declared security profile, if any.
    pub profile: Option<tessera_core::profile::Profile>,
    /// How authorization requests are resolved: pushed and signed requests.
    pub requests: tessera_core::authorize::pushed::RequestPolicy,
    /// The TLS listener and client certificates.
    pub tls: validate::tls::TlsSettings,
    /// CIBA.
    pub ciba: validate::interactive::CibaConfig,
    /// Started with `--dev`.
    pub dev: bool,
}

impl Config {
    /// Validates a raw configuration; with `dev`, adds the demo entities first.
    pub fn from_raw(raw: RawConfig, dev: bool) -> Result<Config, ConfigError> {
        let raw = if dev { apply_demo(raw) } else { raw };
        validate::validate(raw, dev)
    }

    /// The database URL with any password hidden.
    pub fn database_url_redacted(&self) -> String {
        tessera_store_sql::redact_database_url(self.database_url.expose())
    }
}
