//! `[admin]`, `[metrics]`, `[audit]` and `[tracing]`: where the admin API and `/metrics` are
//! served, whether metrics are recorded, where the audit log goes, and where traces are sent.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use tessera_core::clients::registration::RegistrationPolicy;
use tessera_core::model::{ADMIN_READ, ADMIN_WRITE, OFFLINE_ACCESS, TokenEndpointAuthMethod};
use tessera_core::protocol::grant_type::GrantType;
use tessera_core::tokens::sealing::KeyEncryptionKey;

use super::Problems;
use crate::config::RawConfig;

/// `[admin]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAdmin {
    /// An address:port of their own for `/admin/...` and `/metrics`; unset: the main listener
    /// serves them.
    pub listen: Option<String>,
}

/// `[metrics]` as written.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMetrics {
    /// Record metrics and serve `/metrics` (on by default).
    pub enabled: bool,
}

impl Default for RawMetrics {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[audit]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudit {
    /// A file the audit log is appended to, or `-` for standard output; unset: no audit log.
    pub path: Option<String>,
}

/// `[tracing]` as written: OpenTelemetry traces over OTLP/HTTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTracing {
    /// The collector's OTLP/HTTP base URL (e.g. `http://127.0.0.1:4318`; spans go to
    /// `/v1/traces` under it); unset: no traces are exported.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` of the spans.
    pub service_name: String,
    /// The share of new traces recorded (0 to 1); a request that comes with a W3C
    /// `traceparent` follows its caller's decision.
    pub sample_ratio: f64,
}

impl Default for RawTracing {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "tessera".into(),
            sample_ratio: 1.0,
        }
    }
}

/// The checked `[tracing]`, when traces are exported.
#[derive(Debug, Clone)]
pub struct TracingSettings {
    /// Where spans are posted: the endpoint's `/v1/traces`.
    pub traces_url: url::Url,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// The share of new traces recorded.
    pub sample_ratio: f64,
}

fn check_tracing(raw: &RawTracing, p: &mut Problems) -> Option<TracingSettings> {
    let written = raw.otlp_endpoint.as_deref()?;
    if !cfg!(feature = "otel") {
        p.add(
            "tracing.otlp_endpoint",
            "this build has no OpenTelemetry exporter; build with the `otel` feature (on by default), or remove the key",
        );
        return None;
    }
    let endpoint = match url::Url::parse(written) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
        _ => {
            p.add(
                "tracing.otlp_endpoint",
                "must be an http or https URL, e.g. http://127.0.0.1:4318",
            );
            return None;
        }
    };
    if !(0.0..=1.0).contains(&raw.sample_ratio) {
        p.add("tracing.sample_ratio", "must be between 0 and 1");
    }
    if raw.service_name.trim().is_empty() {
        p.add("tracing.service_name", "is empty");
    }
    // OTLP/HTTP §"OTLP/HTTP Request": the signal's path is appended to the base URL.
    let base = endpoint.as_str().trim_end_matches('/');
    let traces_url = url::Url::parse(&format!("{base}/v1/traces")).ok()?;
    Some(TracingSettings {
        traces_url,
        service_name: raw.service_name.clone(),
        sample_ratio: raw.sample_ratio,
    })
}

/// `[registration]` as written: dynamic client registration (RFC 7591) at `/register`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRegistration {
    /// Anyone may register a client, without an initial access token (off by default:
    /// initial access tokens come from the admin API).
    pub open: bool,
    /// The grant types a registration may ask for.
    pub grant_types: Vec<String>,
    /// The client authentication methods it may choose.
    pub token_endpoint_auth_methods: Vec<String>,
    /// The schemes its redirect URIs may use.
    pub redirect_uri_schemes: Vec<String>,
    /// The scopes registered clients may be allowed.
    pub scopes: Vec<String>,
    /// Seconds registered clients' access tokens live.
    pub access_token_lifetime: u64,
    /// Open registrations one client address may attempt in an hour.
    pub open_per_address_per_hour: u32,
    /// Confidential registered clients must use PKCE (public ones always do).
    pub require_pkce: bool,
}

impl Default for RawRegistration {
    fn default() -> Self {
        let policy = RegistrationPolicy::default();
        Self {
            open: policy.open,
            grant_types: policy.grant_types,
            token_endpoint_auth_methods: policy
                .auth_methods
                .iter()
                .map(|m| m.as_str().to_string())
                .collect(),
            redirect_uri_schemes: policy.redirect_uri_schemes,
            scopes: policy.scopes,
            access_token_lifetime: policy.access_token_lifetime,
            open_per_address_per_hour: policy.open_per_address,
            require_pkce: policy.require_pkce,
        }
    }
}

/// Checks `[registration]` against what the server offers.
pub(super) fn check_registration(
    raw: &RawConfig,
    resources: &tessera_core::model::Resources,
    p: &mut Problems,
) -> RegistrationPolicy {
    let r = &raw.registration;
    for (i, g) in r.grant_types.iter().enumerate() {
        if GrantType::from_name(g).is_none() {
            p.add(
                format!("registration.grant_types[{i}]"),
                format!("`{g}` is not a grant type this server knows"),
            );
        }
    }
    let mut auth_methods = Vec::new();
    for (i, m) in r.token_endpoint_auth_methods.iter().enumerate() {
        match TokenEndpointAuthMethod::parse(m) {
            Some(TokenEndpointAuthMethod::ClientSecretJwt) => p.add(
                format!("registration.token_endpoint_auth_methods[{i}]"),
                "client_secret_jwt needs the secret in clear, which registered clients' are not kept in; offer private_key_jwt",
            ),
            Some(method) => auth_methods.push(method),
            None => p.add(
                format!("registration.token_endpoint_auth_methods[{i}]"),
                format!("`{m}` is not a client authentication method"),
            ),
        }
    }
    for (i, s) in r.scopes.iter().enumerate() {
        let known = s == OFFLINE_ACCESS
            || resources.identity_resources.iter().any(|ir| &ir.name == s)
            || resources.api_scopes.iter().any(|a| &a.name == s);
        if !known || s == ADMIN_READ || s == ADMIN_WRITE {
            p.add(
                format!("registration.scopes[{i}]"),
                format!("`{s}` is not a scope registered clients can be given"),
            );
        }
    }
    if !(60..=86_400).contains(&r.access_token_lifetime) {
        p.add(
            "registration.access_token_lifetime",
            "must be between 60 and 86400 seconds",
        );
    }
    RegistrationPolicy {
        open: r.open,
        grant_types: r.grant_types.clone(),
        auth_methods,
        redirect_uri_schemes: r
            .redirect_uri_schemes
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect(),
        scopes: r.scopes.clone(),
        access_token_lifetime: r.access_token_lifetime,
        open_per_address: r.open_per_address_per_hour.max(1),
        require_pkce: r.require_pkce,
    }
}

/// Where the audit log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// Standard output, one JSON object per line.
    Stdout,
    /// A file, appended to.
    File(PathBuf),
}

/// The checked `[admin]`, `[metrics]` and `[audit]`.
#[derive(Debug, Clone)]
pub struct OperationsSettings {
    /// The admin listener's address, if it has its own.
    pub admin_listen: Option<SocketAddr>,
    /// Metrics are recorded and served.
    pub metrics: bool,
    /// The audit log, if any.
    pub audit: Option<AuditTarget>,
    /// Where traces are exported, if anywhere.
    pub tracing: Option<TracingSettings>,
}

/// Checks the three sections.
pub(super) fn check_operations(
    raw: &RawConfig,
    listen: SocketAddr,
    dev: bool,
    p: &mut Problems,
) -> OperationsSettings {
    let admin_listen = raw.admin.listen.as_deref().and_then(|written| {
        let Ok(addr) = written.parse::<SocketAddr>() else {
            p.add(
                "admin.listen",
                format!("`{written}` is not an address:port; e.g. 127.0.0.1:9090"),
            );
            return None;
        };
        if addr == listen && addr.port() != 0 {
            p.add(
                "admin.listen",
                format!("`{addr}` is also `listen`; give the admin listener its own port, or leave admin.listen unset to serve it on the main one"),
            );
        }
        if dev && !addr.ip().is_loopback() {
            p.add(
                "admin.listen",
                format!("`{addr}` is not a loopback address; --dev only listens on 127.0.0.1 or [::1]"),
            );
        }
        Some(addr)
    });
    let audit = raw
        .audit
        .path
        .as_deref()
        .and_then(|path| match path.trim() {
            "" => {
                p.add(
                    "audit.path",
                    "is empty; give a file, or `-` for standard output",
                );
                None
            }
            "-" => Some(AuditTarget::Stdout),
            file => Some(AuditTarget::File(PathBuf::from(file))),
        });
    OperationsSettings {
        admin_listen,
        metrics: raw.metrics.enabled,
        audit,
        tracing: check_tracing(&raw.tracing, p),
    }
}

/// `keys.encryption_key` or `keys.encryption_key_file`: the key-encryption key, read now.
pub(super) fn check_key_encryption(raw: &RawConfig, p: &mut Problems) -> Option<KeyEncryptionKey> {
    let keys = &raw.keys;
    let (key, text) = match (&keys.encryption_key, &keys.encryption_key_file) {
        (None, None) => return None,
        (Some(_), Some(_)) => {
            p.add(
                "keys.encryption_key",
                "is given twice: set encryption_key or encryption_key_file, not both",
            );
            return None;
        }
        (Some(text), None) => ("keys.encryption_key", text.expose().clone()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => ("keys.encryption_key_file", text),
            Err(e) => {
                p.add(
                    "keys.encryption_key_file",
                    format!("cannot read {}: {e}", path.display()),
                );
                return None;
            }
        },
    };
    match KeyEncryptionKey::parse(&text) {
        Ok(kek) => Some(kek),
        Err(why) => {
            p.add(key, why);
            None
        }
    }
}
