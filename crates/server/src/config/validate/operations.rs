//! `[admin]`, `[metrics]` and `[audit]`: where the admin API and `/metrics` are served, whether
//! metrics are recorded, and where the audit log goes.

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
