//! Validation of a raw configuration into [`Config`]. Every problem is reported with the key it
//! is about, all at once, so one run shows everything to fix.

pub(crate) mod clients;
pub(crate) mod interactive;
pub(crate) mod operations;
pub(crate) mod profile;
pub(crate) mod providers;
pub(crate) mod smtp;
pub(crate) mod tls;

use clients::{check_clients, client_jwt_secrets, short_secrets};

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use tessera_core::crypto::handle_digest;
use tessera_core::model::{ApiResource, ApiScope, IdentityResource, OFFLINE_ACCESS, Resources};
use tessera_core::model::{check_profile_claim, check_username};
use tessera_core::passwords::is_argon2_hash;
use tessera_core::protocol::redirect::is_loopback_host;
use tessera_core::protocol::scope::is_scope_token;
use tessera_core::tokens::{JWKS_CACHE_SECONDS, KeyPolicy, SigningAlg};
use tessera_store_sql::{Backend, SqlOptions};

use super::{Config, ConfigError, HttpSettings, LogFormat, PasswordSpec, RawConfig, UserSeed};

#[derive(Default)]
pub(super) struct Problems(Vec<String>);

impl Problems {
    pub(super) fn add(&mut self, key: impl std::fmt::Display, message: impl std::fmt::Display) {
        self.0.push(format!("{key}: {message}"));
    }
}

pub(super) fn validate(raw: RawConfig, dev: bool) -> Result<Config, ConfigError> {
    let mut p = Problems::default();
    let issuer = check_issuer(&raw.issuer, &mut p);
    let listen = check_listen(&raw, &mut p);
    check_database(&raw, &mut p);
    check_dev_listen(listen, dev, &mut p);
    check_log_level(&raw, &mut p);
    let http = check_http(&raw, &mut p);
    let log_format = check_log_format(&raw, &mut p);
    let resources = check_resources(&raw, &mut p);
    let profile = profile::check_profile(&raw, &mut p);
    let requests = profile::check_authorize(&raw, profile, &mut p);
    let tls = tls::check_tls(&raw, &issuer, &mut p);
    let acr_levels = interactive::check_acr_levels(&raw, &mut p);
    let max_assertion_lifetime = interactive::check_assertion_lifetime(&raw, &mut p);
    let device_flow = interactive::check_device_flow(&raw, &mut p);
    let clients = check_clients(&raw, (&resources, &acr_levels, profile), &mut p);
    let short_secrets = short_secrets(&raw);
    let client_jwt_secrets = client_jwt_secrets(&raw, &clients);
    let keys = check_keys(&raw, &mut p);
    let users = check_users(&raw, &mut p);
    let identity_providers = providers::check_providers(&raw, &mut p);
    let sessions = interactive::check_sessions(&raw, &mut p);
    let login = interactive::check_login(&raw, &mut p);
    interactive::check_passwords(&raw, &mut p);
    let ui_templates = interactive::check_ui(&raw, &mut p);
    let outbound = interactive::check_outbound(&raw, dev, &mut p);
    let ciba = interactive::check_ciba(&raw, &outbound, &mut p);
    let smtp = smtp::check_smtp(&raw, &mut p);
    let operations = operations::check_operations(&raw, listen, dev, &mut p);
    let registration = operations::check_registration(&raw, &resources, &mut p);
    if !p.0.is_empty() {
        return Err(ConfigError::Invalid(p.0));
    }
    Ok(Config {
        issuer,
        listen,
        database_url: raw.database_url,
        database: SqlOptions {
            max_connections: raw.database.max_connections,
            acquire_timeout: Duration::from_secs(raw.database.acquire_timeout),
        },
        keys,
        key_refresh_interval: Duration::from_secs(raw.keys.refresh_interval),
        http,
        log_format,
        log_level: raw.log.level,
        resources,
        clients,
        client_jwt_secrets,
        short_secrets,
        users,
        identity_providers,
        sessions,
        login,
        password_policy: raw.passwords,
        introspection: raw.introspection,
        max_assertion_lifetime,
        device_flow,
        dpop: raw.dpop,
        acr_levels,
        ui_templates,
        outbound,
        smtp,
        operations,
        registration,
        profile,
        requests,
        tls,
        ciba,
        dev,
    })
}

/// `listen`: an address and port.
fn check_listen(raw: &RawConfig, p: &mut Problems) -> SocketAddr {
    raw.listen.parse::<SocketAddr>().unwrap_or_else(|e| {
        p.add(
            "listen",
            format!(
                "`{}` is not an address:port ({e}); e.g. 127.0.0.1:8080",
                raw.listen
            ),
        );
        SocketAddr::from(([127, 0, 0, 1], 8080))
    })
}

/// `--dev` serves well-known demo credentials: never beyond this machine.
fn check_dev_listen(listen: SocketAddr, dev: bool, p: &mut Problems) {
    if dev && !listen.ip().is_loopback() {
        p.add(
            "listen",
            format!("`{listen}` is not a loopback address; --dev serves demo credentials and only listens on 127.0.0.1 or [::1]"),
        );
    }
}

/// `database_url` names a supported backend; the pool has room and a wait.
fn check_database(raw: &RawConfig, p: &mut Problems) {
    if Backend::of_url(raw.database_url.expose()).is_none() {
        p.add(
            "database_url",
            format!(
                "`{}` is not supported; use sqlite://FILE or postgres://USER@HOST/DB",
                tessera_store_sql::redact_database_url(raw.database_url.expose())
            ),
        );
    }
    if raw.database.max_connections == 0 {
        p.add("database.max_connections", "must be at least 1");
    }
    if raw.database.acquire_timeout == 0 {
        p.add("database.acquire_timeout", "must be at least 1 second");
    }
}

/// `log.level` is a filter.
fn check_log_level(raw: &RawConfig, p: &mut Problems) {
    if tracing_subscriber::EnvFilter::try_new(&raw.log.level).is_err() {
        p.add(
            "log.level",
            format!(
                "`{}` is not a log filter such as `info` or `tessera=debug,warn`",
                raw.log.level
            ),
        );
    }
}

/// `log.format`: text or JSON.
fn check_log_format(raw: &RawConfig, p: &mut Problems) -> LogFormat {
    match raw.log.format.as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            p.add("log.format", format!("`{other}` is not `text` or `json`"));
            LogFormat::Text
        }
    }
}

/// OIDC Discovery §3 and OIDC Core §16.15: an https URL with no query or fragment; plain http
/// only on a loopback host, for development. Compared byte for byte by relying parties, so it is
/// kept exactly as written: a trailing slash is refused rather than silently removed.
fn check_issuer(issuer: &str, p: &mut Problems) -> String {
    match url::Url::parse(issuer) {
        Err(e) => p.add("issuer", format!("`{issuer}` is not an absolute URL ({e})")),
        Ok(u) => {
            // Any address of 127.0.0.0/8 is this machine too.
            let loopback = u.host_str().is_some_and(|h| {
                is_loopback_host(h)
                    || h.parse::<std::net::Ipv4Addr>()
                        .is_ok_and(|a| a.is_loopback())
            });
            if issuer.ends_with('/') {
                p.add("issuer", format!("`{issuer}` ends with `/`; write it without (relying parties compare it exactly)"));
            } else if u.path() != "/" {
                p.add(
                    "issuer",
                    "an issuer with a path is not supported; serve Tessera at the root of its host",
                );
            }
            if u.scheme() != "https" && !(u.scheme() == "http" && loopback) {
                p.add(
                    "issuer",
                    format!("`{issuer}` must use https (http only on a loopback host: localhost, 127.0.0.0/8, [::1])"),
                );
            }
            if u.query().is_some() || u.fragment().is_some() || issuer.contains(['?', '#']) {
                p.add(
                    "issuer",
                    "must not have a query or fragment (OIDC Discovery §3)",
                );
            }
            if !u.username().is_empty() || u.password().is_some() {
                p.add("issuer", "must not contain user information");
            }
        }
    }
    issuer.to_string()
}

fn check_http(raw: &RawConfig, p: &mut Problems) -> HttpSettings {
    if raw.http.request_timeout == 0 {
        p.add("http.request_timeout", "must be at least 1 second");
    }
    if !(1024..=16 * 1024 * 1024).contains(&raw.http.body_limit) {
        p.add("http.body_limit", "must be between 1024 and 16777216 bytes");
    }
    if !(4096..=256 * 1024).contains(&raw.http.max_header_bytes) {
        p.add(
            "http.max_header_bytes",
            "must be between 4096 and 262144 bytes",
        );
    }
    if raw.http.header_read_timeout == 0 {
        p.add("http.header_read_timeout", "must be at least 1 second");
    }
    if raw.http.max_connections == 0 {
        p.add("http.max_connections", "must be at least 1");
    }
    let mut trusted_proxies = Vec::new();
    for (i, entry) in raw.http.trusted_proxies.iter().enumerate() {
        let net = entry
            .parse::<ipnet::IpNet>()
            .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match net {
            Ok(net) => trusted_proxies.push(net),
            Err(_) => p.add(
                format!("http.trusted_proxies[{i}]"),
                format!("`{entry}` is not an address or a network in CIDR form (like 10.0.0.0/8)"),
            ),
        }
    }
    HttpSettings {
        request_timeout: Duration::from_secs(raw.http.request_timeout),
        header_read_timeout: Duration::from_secs(raw.http.header_read_timeout),
        max_connections: raw.http.max_connections,
        shutdown_delay: Duration::from_secs(raw.http.shutdown_delay),
        body_limit: raw.http.body_limit,
        max_header_bytes: raw.http.max_header_bytes,
        shutdown_grace: Duration::from_secs(raw.http.shutdown_grace),
        trusted_proxies,
    }
}

fn check_secrets(
    key: &str,
    secrets: &[tessera_core::Secret<String>],
    p: &mut Problems,
) -> Vec<String> {
    secrets
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            if s.expose().is_empty() {
                p.add(format!("{key}[{i}]"), "is empty");
                None
            } else {
                Some(handle_digest(s.expose()))
            }
        })
        .collect()
}

fn check_resources(raw: &RawConfig, p: &mut Problems) -> Resources {
    let identity_resources = check_identity_resources(raw, p);
    let mut names: HashSet<String> = HashSet::from([OFFLINE_ACCESS.to_string()]);
    names.extend(identity_resources.iter().map(|r| r.name.clone()));
    let mut api_scopes = check_api_scopes(raw, &mut names, p);
    let mut api_resources = check_api_resources(raw, &identity_resources, &mut api_scopes, p);
    add_admin_resource(&mut api_scopes, &mut api_resources, p);
    Resources {
        api_scopes,
        api_resources,
        identity_resources,
        authorization_details_types: profile::check_detail_types(raw, p),
    }
}

/// The admin API is a built-in resource with two scopes (not in discovery); the configuration
/// cannot redefine them.
fn add_admin_resource(
    api_scopes: &mut Vec<ApiScope>,
    api_resources: &mut Vec<ApiResource>,
    p: &mut Problems,
) {
    use tessera_core::model::{ADMIN_AUDIENCE, ADMIN_READ, ADMIN_WRITE};
    if let Some(i) = api_resources.iter().position(|r| r.name == ADMIN_AUDIENCE) {
        p.add(
            format!("api_resources[{i}].name"),
            format!("`{ADMIN_AUDIENCE}` is the built-in admin API; choose another name"),
        );
    }
    for scope in [ADMIN_READ, ADMIN_WRITE] {
        if api_scopes.iter().any(|s| s.name == scope) {
            p.add(
                "api_scopes",
                format!("`{scope}` is a built-in scope of the admin API and cannot be redefined"),
            );
        }
        api_scopes.push(ApiScope {
            name: scope.into(),
            display_name: None,
            show_in_discovery: false,
        });
    }
    api_resources.push(ApiResource {
        name: ADMIN_AUDIENCE.into(),
        scopes: vec![ADMIN_READ.into(), ADMIN_WRITE.into()],
        secret_digests: vec![],
        signing_alg: None,
    });
}

/// `[[identity_resources]]`: scope names, each once; a configured profile/email/address/phone
/// replaces the built-in one; `openid` cannot be redefined.
fn check_identity_resources(raw: &RawConfig, p: &mut Problems) -> Vec<IdentityResource> {
    let mut identity_resources = IdentityResource::builtin();
    for (i, r) in raw.identity_resources.iter().enumerate() {
        let key = format!("identity_resources[{i}]");
        if !is_scope_token(&r.name) {
            p.add(
                format!("{key}.name"),
                format!("`{}` is not a valid scope name", r.name),
            );
        }
        if raw.identity_resources[..i].iter().any(|o| o.name == r.name) {
            p.add(
                format!("{key}.name"),
                format!("`{}` is declared twice", r.name),
            );
        }
        if r.name == "openid" {
            p.add(
                format!("{key}.name"),
                "`openid` is built in and cannot be redefined",
            );
        }
        let resource = IdentityResource {
            name: r.name.clone(),
            display_name: r.display_name.clone(),
            claims: r.claims.clone(),
        };
        match identity_resources.iter_mut().find(|b| b.name == r.name) {
            Some(existing) => *existing = resource,
            None => identity_resources.push(resource),
        }
    }
    identity_resources
}

/// `[[api_scopes]]`: scope names (RFC 6749 §3.3) not declared before.
fn check_api_scopes(
    raw: &RawConfig,
    names: &mut HashSet<String>,
    p: &mut Problems,
) -> Vec<ApiScope> {
    let mut api_scopes: Vec<ApiScope> = Vec::new();
    for (i, s) in raw.api_scopes.iter().enumerate() {
        let key = format!("api_scopes[{i}].name");
        if !is_scope_token(&s.name) {
            p.add(
                &key,
                format!("`{}` is not a valid scope name (RFC 6749 §3.3)", s.name),
            );
        } else if !names.insert(s.name.clone()) {
            p.add(&key, format!("`{}` is already declared", s.name));
        }
        api_scopes.push(ApiScope {
            name: s.name.clone(),
            display_name: s.display_name.clone(),
            show_in_discovery: s.show_in_discovery,
        });
    }
    api_scopes
}

/// `[[api_resources]]`: named once, with API scopes (an API's scope not declared under
/// `api_scopes` is declared implicitly) and their secrets.
fn check_api_resources(
    raw: &RawConfig,
    identity_resources: &[IdentityResource],
    api_scopes: &mut Vec<ApiScope>,
    p: &mut Problems,
) -> Vec<ApiResource> {
    let mut api_resources = Vec::new();
    for (i, r) in raw.api_resources.iter().enumerate() {
        let key = format!("api_resources[{i}]");
        if r.name.is_empty() {
            p.add(format!("{key}.name"), "is empty");
        }
        if raw.api_resources[..i].iter().any(|o| o.name == r.name) {
            p.add(
                format!("{key}.name"),
                format!("`{}` is declared twice", r.name),
            );
        }
        for (j, scope) in r.scopes.iter().enumerate() {
            let skey = format!("{key}.scopes[{j}]");
            if !is_scope_token(scope) {
                p.add(skey, format!("`{scope}` is not a valid scope name"));
            } else if identity_resources.iter().any(|ir| &ir.name == scope)
                || scope == OFFLINE_ACCESS
            {
                p.add(
                    skey,
                    format!("`{scope}` is an identity scope, not an API scope"),
                );
            } else if !api_scopes.iter().any(|s| &s.name == scope) {
                api_scopes.push(ApiScope {
                    name: scope.clone(),
                    display_name: None,
                    show_in_discovery: true,
                });
            }
        }
        api_resources.push(ApiResource {
            name: r.name.clone(),
            scopes: r.scopes.clone(),
            secret_digests: check_secrets(&format!("{key}.secrets"), &r.secrets, p),
            signing_alg: check_resource_alg(raw, &key, r.signing_alg.as_deref(), p),
        });
    }
    api_resources
}

/// `[[api_resources]] signing_alg`: one of `keys.algorithms`, since only those have keys.
fn check_resource_alg(
    raw: &RawConfig,
    key: &str,
    alg: Option<&str>,
    p: &mut Problems,
) -> Option<SigningAlg> {
    let name = alg?;
    match SigningAlg::parse(name) {
        Ok(alg) if raw.keys.algorithms.iter().any(|a| a == name) => Some(alg),
        _ => {
            p.add(
                format!("{key}.signing_alg"),
                format!(
                    "`{name}` is not one of keys.algorithms ({})",
                    raw.keys.algorithms.join(", ")
                ),
            );
            None
        }
    }
}

fn check_keys(raw: &RawConfig, p: &mut Problems) -> KeyPolicy {
    let mut algorithms = Vec::new();
    for (i, name) in raw.keys.algorithms.iter().enumerate() {
        match SigningAlg::parse(name) {
            Ok(alg) if algorithms.contains(&alg) => p.add(
                format!("keys.algorithms[{i}]"),
                format!("`{name}` is listed twice"),
            ),
            Ok(alg) => algorithms.push(alg),
            Err(e) => p.add(format!("keys.algorithms[{i}]"), e),
        }
    }
    if !raw.keys.algorithms.iter().any(|a| a == "RS256") {
        p.add(
            "keys.algorithms",
            "must include RS256 (OpenID Connect Discovery §3 requires it)",
        );
    }
    let refresh = raw.keys.refresh_interval;
    if refresh == 0 {
        p.add("keys.refresh_interval", "must be at least 1 second");
    }
    // A new key must reach every server (refresh) and every relying party's JWKS cache
    // before it signs.
    let min_propagation = refresh + JWKS_CACHE_SECONDS;
    if raw.keys.propagation < min_propagation {
        p.add(
            "keys.propagation",
            format!("{} s is too short: a new key must be published for keys.refresh_interval + {JWKS_CACHE_SECONDS} s (JWKS cache time) = {min_propagation} s before it signs", raw.keys.propagation),
        );
    }
    // A superseded key must stay published while tokens it signed are valid; a server that has
    // not refreshed yet may sign with it for up to one refresh interval after its successor
    // took over. Read from the entries as written, so that a client refused for another
    // reason still counts here.
    let longest = raw
        .clients
        .iter()
        .flat_map(|c| [c.access_token_lifetime, c.identity_token_lifetime])
        .max()
        .unwrap_or(0);
    if raw.keys.retention < longest + refresh {
        p.add(
            "keys.retention",
            format!("{} s is shorter than the longest token lifetime plus keys.refresh_interval ({} s); keys would leave JWKS while their tokens are valid", raw.keys.retention, longest + refresh),
        );
    }
    if let Some(every) = raw.keys.rotate_every
        && every < 2 * raw.keys.propagation
    {
        p.add(
            "keys.rotate_every",
            format!("{every} s is shorter than twice keys.propagation ({} s): a key would be replaced before it signed for long", 2 * raw.keys.propagation),
        );
    }
    KeyPolicy {
        algorithms,
        propagation: tessera_core::clock::seconds(raw.keys.propagation),
        retention: tessera_core::clock::seconds(raw.keys.retention),
        rotate_every: raw.keys.rotate_every.map(tessera_core::clock::seconds),
        encryption: operations::check_key_encryption(raw, p),
    }
}

fn check_users(raw: &RawConfig, p: &mut Problems) -> Vec<UserSeed> {
    let mut users = Vec::new();
    for (i, u) in raw.users.iter().enumerate() {
        let key = format!("users[{i}]");
        if let Err(why) = check_username(&u.username) {
            p.add(format!("{key}.username"), why);
        }
        if raw.users[..i].iter().any(|o| o.username == u.username) {
            p.add(
                format!("{key}.username"),
                format!("duplicate username `{}`", u.username),
            );
        }
        let password = match (&u.password, &u.password_hash) {
            (Some(_), Some(_)) => {
                p.add(&key, "give either `password` or `password_hash`, not both");
                None
            }
            (None, None) => {
                p.add(&key, "needs `password` or `password_hash`");
                None
            }
            (Some(pw), None) if pw.expose().is_empty() => {
                p.add(format!("{key}.password"), "is empty");
                None
            }
            (Some(pw), None) => Some(PasswordSpec::Clear(pw.clone())),
            (None, Some(h)) if !is_argon2_hash(h) => {
                p.add(format!("{key}.password_hash"), "is not an Argon2 PHC string ($argon2id$...); create one with `tessera users add`");
                None
            }
            (None, Some(h)) => Some(PasswordSpec::Hash(h.clone())),
        };
        for claim in u.claims.keys() {
            if let Err(why) = check_profile_claim(claim) {
                p.add(format!("{key}.claims.{claim}"), why);
            }
        }
        if let Some(password) = password {
            users.push(UserSeed {
                username: u.username.clone(),
                password,
                claims: u.claims.clone(),
                disabled: u.disabled,
            });
        }
    }
    users
}
