//! Checks of the settings of interactive sign-in: sessions, throttling, theme.

use std::time::Duration;

use tessera_core::sessions::SessionLifetimes;

use super::Problems;
use crate::config::{LoginPolicy, RawConfig};

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
