//! `[tls]`: the optional TLS listener, which asks clients for certificates (mutual TLS, RFC
//! 8705), the CAs that issue `tls_client_auth` clients' certificates, and the header a trusted
//! TLS-terminating proxy passes the client's certificate in (RFC 9440).

use std::net::SocketAddr;
use std::path::PathBuf;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde::Deserialize;

use super::Problems;
use crate::config::RawConfig;

/// `[tls]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTls {
    /// Address and port of the TLS listener (`0.0.0.0:8443`); unset: none.
    pub listen: Option<String>,
    /// The server's certificate chain (PEM), leaf first.
    pub certificate_file: Option<PathBuf>,
    /// The server's private key (PEM, PKCS#8, SEC1 or PKCS#1).
    pub private_key_file: Option<PathBuf>,
    /// The CAs whose certificates authenticate `tls_client_auth` clients (PEM, one or more).
    pub client_ca_file: Option<PathBuf>,
    /// The TLS listener's public base URL, for `mtls_endpoint_aliases` (RFC 8705 §5); default
    /// `https://` and the issuer's host with the listener's port.
    pub public_url: Option<String>,
    /// The header a TLS-terminating proxy of `client_certificate_proxies` passes the client's
    /// certificate in: `Client-Cert` (RFC 9440) or `X-SSL-Client-Cert` (URL-encoded PEM, as
    /// nginx's `$ssl_client_escaped_cert`). Unset: no header is ever read.
    pub client_certificate_header: Option<String>,
    /// The proxies (addresses or CIDR networks) whose certificate header is read: a list of
    /// its own, apart from `[http] trusted_proxies`, since a proxy trusted for the client's
    /// address may not be one that overwrites the certificate header.
    pub client_certificate_proxies: Vec<String>,
}

/// The header a trusted proxy passes a client certificate in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateHeader {
    /// RFC 9440 §2.2: `Client-Cert: :<base64 DER>:`.
    ClientCert,
    /// `X-SSL-Client-Cert: <URL-encoded PEM>`.
    XSslClientCert,
}

impl CertificateHeader {
    /// The header's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ClientCert => "client-cert",
            Self::XSslClientCert => "x-ssl-client-cert",
        }
    }
}

/// The TLS listener.
#[derive(Debug, Clone)]
pub struct TlsListener {
    /// Where it listens.
    pub listen: SocketAddr,
    /// The server's certificate chain, PEM.
    pub certificate_file: PathBuf,
    /// The server's private key, PEM.
    pub private_key_file: PathBuf,
}

/// `[tls]`, validated.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// The TLS listener, if any.
    pub listener: Option<TlsListener>,
    /// The CAs of `tls_client_auth` certificates (DER).
    pub client_cas: Vec<Vec<u8>>,
    /// The base URL of `mtls_endpoint_aliases`.
    pub public_url: Option<String>,
    /// The header trusted proxies pass certificates in.
    pub header: Option<CertificateHeader>,
    /// The proxies it is read from.
    pub proxies: Vec<ipnet::IpNet>,
}

impl TlsSettings {
    /// Whether clients can present certificates at all (a TLS listener or a trusted proxy).
    pub fn offers_mtls(&self) -> bool {
        self.listener.is_some() || self.header.is_some()
    }
}

pub(super) fn check_tls(raw: &RawConfig, issuer: &str, p: &mut Problems) -> TlsSettings {
    let t = &raw.tls;
    let listener = t.listen.as_ref().and_then(|listen| {
        let addr = match listen.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(e) => {
                p.add(
                    "tls.listen",
                    format!("`{listen}` is not an address:port ({e})"),
                );
                None
            }
        };
        let mut file = |value: &Option<PathBuf>, key: &str| match value {
            Some(path) if path.is_file() => Some(path.clone()),
            Some(path) => {
                p.add(key, format!("{} is not a readable file", path.display()));
                None
            }
            None => {
                p.add(key, "is required with tls.listen");
                None
            }
        };
        let cert = file(&t.certificate_file, "tls.certificate_file");
        let key = file(&t.private_key_file, "tls.private_key_file");
        Some(TlsListener {
            listen: addr?,
            certificate_file: cert?,
            private_key_file: key?,
        })
    });
    let client_cas = match &t.client_ca_file {
        None => Vec::new(),
        Some(path) => match CertificateDer::pem_file_iter(path) {
            Ok(certs) => {
                let certs: Result<Vec<_>, _> = certs.map(|c| c.map(|c| c.to_vec())).collect();
                match certs {
                    Ok(certs) if !certs.is_empty() => certs,
                    _ => {
                        p.add(
                            "tls.client_ca_file",
                            format!("{} holds no PEM certificate", path.display()),
                        );
                        Vec::new()
                    }
                }
            }
            Err(e) => {
                p.add(
                    "tls.client_ca_file",
                    format!("cannot read {}: {e}", path.display()),
                );
                Vec::new()
            }
        },
    };
    let header = t.client_certificate_header.as_deref().and_then(|name| {
        match name.to_ascii_lowercase().as_str() {
            "client-cert" => Some(CertificateHeader::ClientCert),
            "x-ssl-client-cert" => Some(CertificateHeader::XSslClientCert),
            _ => {
                p.add(
                    "tls.client_certificate_header",
                    format!(
                        "`{name}` is not supported; use Client-Cert (RFC 9440) or X-SSL-Client-Cert"
                    ),
                );
                None
            }
        }
    });
    let mut proxies = Vec::new();
    for (i, entry) in t.client_certificate_proxies.iter().enumerate() {
        let net = entry
            .parse::<ipnet::IpNet>()
            .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match net {
            Ok(net) => proxies.push(net),
            Err(_) => p.add(
                format!("tls.client_certificate_proxies[{i}]"),
                format!("`{entry}` is not an address or a network in CIDR form"),
            ),
        }
    }
    if header.is_some() && t.client_certificate_proxies.is_empty() {
        p.add(
            "tls.client_certificate_header",
            "is read only from tls.client_certificate_proxies, which lists none",
        );
    }
    let public_url = match (&t.public_url, &listener) {
        (Some(url), _) => {
            if !url.starts_with("https://") {
                p.add("tls.public_url", "must be an https URL");
            }
            Some(url.trim_end_matches('/').to_string())
        }
        (None, Some(l)) => url::Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .map(|host| format!("https://{host}:{}", l.listen.port())),
        (None, None) => None,
    };
    TlsSettings {
        listener,
        client_cas,
        public_url,
        header,
        proxies,
    }
}
