//! `[smtp]`: the mail relay that password reset links go out through. Without the section
//! nothing is mailed and password reset by mail is not offered.

use serde::Deserialize;
use tessera_core::protocol::redirect::is_loopback_host;
use tessera_core::secret::Secret;

use super::Problems;
use crate::config::RawConfig;

/// `[smtp]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    /// The relay's host name or address.
    pub host: String,
    /// Its port (default 587, the submission port, RFC 6409 §3.1).
    #[serde(default = "default_port")]
    pub port: u64,
    /// The user name to authenticate with, if the relay asks for one.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<Secret<String>>,
    /// The sender: `tessera@example.com` or `Example ID <tessera@example.com>`.
    pub from: String,
    /// `starttls` (default), `tls` (implicit TLS, RFC 8314 §3.3, usually port 465) or `none`
    /// (plain SMTP, only to a relay on this machine).
    #[serde(default = "default_tls")]
    pub tls: String,
}

fn default_port() -> u64 {
    587
}

fn default_tls() -> String {
    "starttls".into()
}

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP upgraded by STARTTLS (RFC 3207), which the relay must offer.
    StartTls,
    /// TLS from the first byte (RFC 8314 §3.3).
    Tls,
    /// No TLS: a relay on this machine only.
    None,
}

/// The validated `[smtp]`.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// The relay's host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// User name and password, when the relay asks for them.
    pub credentials: Option<(String, Secret<String>)>,
    /// The sender mailbox, as written (checked to parse).
    pub from: String,
    /// Connection protection.
    pub tls: SmtpTls,
}

/// `[smtp]`: every key checked, each problem named by its key.
pub(super) fn check_smtp(raw: &RawConfig, p: &mut Problems) -> Option<SmtpSettings> {
    let smtp = raw.smtp.as_ref()?;
    let host = smtp.host.trim();
    if host.is_empty() || host.len() > 253 || host.contains(|c: char| c.is_whitespace() || c == '/')
    {
        p.add(
            "smtp.host",
            "must be a host name or an address, e.g. smtp.example.com",
        );
    }
    let port = u16::try_from(smtp.port).ok().filter(|port| *port != 0);
    if port.is_none() {
        p.add(
            "smtp.port",
            format!("{} is not a port (1-65535)", smtp.port),
        );
    }
    let tls = check_tls(&smtp.tls, host, p);
    let credentials = check_credentials(smtp, p);
    if let Err(e) = smtp.from.parse::<lettre::message::Mailbox>() {
        p.add(
            "smtp.from",
            format!("is not a mail address such as tessera@example.com ({e})"),
        );
    }
    let settings = SmtpSettings {
        host: host.to_string(),
        port: port.unwrap_or(587),
        credentials,
        from: smtp.from.clone(),
        tls: tls.unwrap_or(SmtpTls::StartTls),
    };
    if let Err(e) = crate::mail::Mailer::new(&settings, "localhost") {
        p.add("smtp.host", format!("cannot be used: {e}"));
    }
    Some(settings)
}

/// `smtp.tls`: one of the three; `none` only to a loopback host (mail carries reset links, and
/// the password too when there is one).
fn check_tls(tls: &str, host: &str, p: &mut Problems) -> Option<SmtpTls> {
    let chosen = match tls {
        "starttls" => SmtpTls::StartTls,
        "tls" => SmtpTls::Tls,
        "none" => SmtpTls::None,
        other => {
            p.add(
                "smtp.tls",
                format!("`{other}` is not `starttls`, `tls` or `none`"),
            );
            return None;
        }
    };
    let loopback = is_loopback_host(host)
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    if chosen == SmtpTls::None && !loopback {
        p.add(
            "smtp.tls",
            "`none` sends reset links in clear; it is allowed only for a relay on a loopback host (localhost, 127.0.0.0/8, [::1]); use `starttls` or `tls`",
        );
    }
    Some(chosen)
}

/// `smtp.username` and `smtp.password`: both or neither, neither empty.
fn check_credentials(smtp: &RawSmtp, p: &mut Problems) -> Option<(String, Secret<String>)> {
    match (&smtp.username, &smtp.password) {
        (None, None) => None,
        (Some(user), Some(password)) => {
            if user.is_empty() {
                p.add("smtp.username", "is empty");
            }
            if password.expose().is_empty() {
                p.add("smtp.password", "is empty");
            }
            Some((user.clone(), password.clone()))
        }
        (Some(_), None) => {
            p.add("smtp.password", "is missing: give it with smtp.username");
            None
        }
        (None, Some(_)) => {
            p.add("smtp.username", "is missing: give it with smtp.password");
            None
        }
    }
}
