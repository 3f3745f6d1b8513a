//! `[admin]`, `[metrics]` and `[audit]`: where the admin API and `/metrics` are served, whether
//! metrics are recorded, and where the audit log goes.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

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
