//! Checks of the settings of interactive sign-in: sessions, throttling, theme.

use serde::Deserialize;
use std::time::Duration;

use tessera_core::authorize::acr::{AcrLevel, AcrLevels};
use tessera_core::device::DeviceSettings;
use tessera_core::login::LoginMethod;
use tessera_core::sessions::SessionLifetimes;

use super::Problems;
use crate::config::{LoginPolicy, RawConfig};
use crate::outbound::{OutboundError, OutboundPolicy};

pub(super) fn check_sessions(raw: &RawConfig, p: &mut Problems) -> SessionLifetimes {
    let s = &raw.sessions;
    if s.idle_timeout < 60 {
        p.add("sessions.idle_timeout", "must be at least 60 seconds");
    }
    if s.max_lifetime < s.idle_timeout {
        p.add(
            "sessions.max_lifetime",
            "must be at least sessions.idle_timeout",
        );
    }
    SessionLifetimes {
        idle: s.idle_timeout,
        absolute: s.max_lifetime,
    }
}

pub(super) fn check_login(raw: &RawConfig, p: &mut Problems) -> LoginPolicy {
    let l = &raw.login;
    if l.max_failures_per_account == 0 {
        p.add("login.max_failures_per_account", "must be at least 1");
    }
    if l.max_failures_per_address == 0 {
        p.add("login.max_failures_per_address", "must be at least 1");
    }
    if l.max_lockout == 0 {
        p.add("login.max_lockout", "must be at least 1 second");
    }
    LoginPolicy {
        max_failures_per_account: l.max_failures_per_account,
        max_failures_per_address: l.max_failures_per_address,
        max_lockout: Duration::from_secs(l.max_lockout),
    }
}

/// `[passwords]`: SP 800-63B's floor of eight characters, and no more than the 64 every
/// password field must accept.
pub(super) fn check_passwords(raw: &RawConfig, p: &mut Problems) {
    let min = raw.passwords.min_length;
    if !(8..=64).contains(&min) {
        p.add(
            "passwords.min_length",
            format!("{min} is out of range: 8 to 64 characters (NIST SP 800-63B §3.1.1.2)"),
        );
    }
}

pub(super) fn check_ui(raw: &RawConfig, p: &mut Problems) -> Option<std::path::PathBuf> {
    let dir = raw.ui.templates.clone()?;
    if !dir.is_dir() {
        p.add(
            "ui.templates",
            format!("`{}` is not a readable directory", dir.display()),
        );
    } else if let Err(e) = crate::http::ui::pages::Pages::load(Some(&dir), &raw.issuer) {
        // A theme that does not compile is found now, not on the first sign-in.
        p.add("ui.templates", e.0);
    }
    Some(dir)
}

/// SEC-57: the server's own requests go to https URLs on public addresses, except what the
/// operator allows; client URLs they would be refused for are reported now.
pub(super) fn check_outbound(raw: &RawConfig, dev: bool, p: &mut Problems) -> OutboundPolicy {
    let mut networks = Vec::new();
    for (i, net) in raw.outbound.allowed_networks.iter().enumerate() {
        match net.parse::<ipnet::IpNet>() {
            Ok(n) => networks.push(n),
            Err(_) => p.add(
                format!("outbound.allowed_networks[{i}]"),
                format!("`{net}` is not a network in CIDR form (like 10.20.0.0/16)"),
            ),
        }
    }
    let policy = OutboundPolicy {
        allow_http: raw.outbound.allow_http || dev,
        allowed_networks: networks,
    };
    for (i, c) in raw.clients.iter().enumerate() {
        // Names are checked when they are resolved, at each delivery.
        if let Some(uri) = &c.backchannel_logout_uri
            && let Err(e) = policy.check_url(uri)
        {
            let hint = match e {
                OutboundError::NotHttps => " (outbound.allow_http allows http for development)",
                OutboundError::Forbidden(_) => " (outbound.allowed_networks can allow it)",
                _ => "",
            };
            p.add(
                format!("clients[{i}].backchannel_logout_uri"),
                format!("{e}{hint}"),
            );
        }
    }
    policy
}

/// The authentication context classes: unique values, each reachable by the login methods the
/// server has (a level no sign-in can reach would only ever fail requests for it).
pub(super) fn check_acr_levels(raw: &RawConfig, p: &mut Problems) -> AcrLevels {
    let Some(levels) = &raw.acr_levels else {
        return AcrLevels::default();
    };
    let mut out = Vec::new();
    for (i, level) in levels.iter().enumerate() {
        let key = format!("acr_levels[{i}]");
        if level.acr.is_empty() || level.acr.len() > 255 || level.acr.contains(' ') {
            p.add(
                format!("{key}.acr"),
                "must be 1-255 characters without spaces (OIDC Core §2)",
            );
        }
        if levels[..i].iter().any(|o| o.acr == level.acr) {
            p.add(
                format!("{key}.acr"),
                format!("`{}` is listed twice", level.acr),
            );
        }
        if level.amr.is_empty() {
            p.add(
                format!("{key}.amr"),
                "is empty; name the methods a sign-in needs, e.g. [\"pwd\"]",
            );
        }
        for (j, m) in level.amr.iter().enumerate() {
            if !LoginMethod::known_amr().any(|known| known == m) {
                p.add(
                    format!("{key}.amr[{j}]"),
                    format!(
                        "no login method gives `{m}`; the methods are: {}",
                        LoginMethod::known_amr().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        out.push(AcrLevel {
            acr: level.acr.clone(),
            amr: level.amr.clone(),
        });
    }
    AcrLevels(out)
}

/// The longest client assertion lifetime: at least a minute, at most a day.
pub(super) fn check_assertion_lifetime(raw: &RawConfig, p: &mut Problems) -> i64 {
    let seconds = raw.client_authentication.max_assertion_lifetime;
    if !(60..=86_400).contains(&seconds) {
        p.add(
            "client_authentication.max_assertion_lifetime",
            "must be between 60 and 86400 seconds",
        );
    }
    tessera_core::clock::seconds(seconds)
}

/// `[device_flow]`: a user needs a few minutes to find a browser and type the code, and a
/// short-lived code is what keeps its few bits safe (RFC 8628 §5.1, §6.1).
pub(super) fn check_device_flow(raw: &RawConfig, p: &mut Problems) -> DeviceSettings {
    let d = raw.device_flow;
    if !(60..=600).contains(&d.code_lifetime) {
        p.add(
            "device_flow.code_lifetime",
            "must be between 60 and 600 seconds",
        );
    }
    if !(1..=60).contains(&d.polling_interval) {
        p.add(
            "device_flow.polling_interval",
            "must be between 1 and 60 seconds",
        );
    }
    DeviceSettings {
        code_lifetime: d.code_lifetime,
        polling_interval: d.polling_interval,
    }
}

/// `[ciba]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCiba {
    /// Seconds a backchannel authentication request lives (CIBA Core §7.3 `expires_in`).
    pub request_lifetime: u64,
    /// Seconds between a client's polls (§7.3 `interval`).
    pub polling_interval: u64,
    /// Where each request is sent, as a JWT Tessera signs, so that the user's device asks them
    /// (the authentication-device channel); unset: requests are decided through the admin API.
    pub device_channel: Option<String>,
}

impl Default for RawCiba {
    fn default() -> Self {
        let d = tessera_core::ciba::CibaSettings::default();
        RawCiba {
            request_lifetime: d.request_lifetime,
            polling_interval: d.polling_interval,
            device_channel: None,
        }
    }
}

/// CIBA, validated.
#[derive(Debug, Clone, Default)]
pub struct CibaConfig {
    /// Lifetimes.
    pub settings: tessera_core::ciba::CibaSettings,
    /// The authentication-device channel.
    pub device_channel: Option<String>,
}

pub(super) fn check_ciba(
    raw: &RawConfig,
    outbound: &OutboundPolicy,
    p: &mut Problems,
) -> CibaConfig {
    let c = &raw.ciba;
    if !(60..=600).contains(&c.request_lifetime) {
        p.add(
            "ciba.request_lifetime",
            "must be between 60 and 600 seconds",
        );
    }
    if !(1..=60).contains(&c.polling_interval) {
        p.add("ciba.polling_interval", "must be between 1 and 60 seconds");
    }
    if let Some(url) = &c.device_channel
        && let Err(e) = outbound.check_url(url)
    {
        p.add("ciba.device_channel", e);
    }
    CibaConfig {
        settings: tessera_core::ciba::CibaSettings {
            request_lifetime: c.request_lifetime,
            polling_interval: c.polling_interval,
        },
        device_channel: c.device_channel.clone(),
    }
}

/// `[device_flow]`
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDeviceFlow {
    /// Seconds a device code and its user code live (RFC 8628 §3.2 `expires_in`).
    pub code_lifetime: u64,
    /// Seconds a device waits between polls (RFC 8628 §3.2 `interval`).
    pub polling_interval: u64,
}

impl Default for RawDeviceFlow {
    fn default() -> Self {
        let d = tessera_core::device::DeviceSettings::default();
        Self {
            code_lifetime: d.code_lifetime,
            polling_interval: d.polling_interval,
        }
    }
}

/// `[dpop]`
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDpop {
    /// Every DPoP proof must carry a nonce the server gave out (RFC 9449 §8), so that a
    /// proof made ahead of time is refused; clients retry once with the nonce they are sent.
    pub require_nonce: bool,
}
