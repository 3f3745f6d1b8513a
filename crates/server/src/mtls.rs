//! Mutual TLS (RFC 8705): the TLS listener's rustls configuration, which asks every client for
//! a certificate and takes any (it proves possession of the key, nothing more), and the check
//! of a presented certificate against a client's registration:
//! - `tls_client_auth` (§2.1): the certificate chains to a CA of `[tls] client_ca_file`
//!   (webpki, no revocation fetch: SEC-68, CVE-58) and carries the registered subject DN or
//!   subject alternative name;
//! - `self_signed_tls_client_auth` (§2.2): the certificate's public key is one of the client's
//!   registered keys (by RFC 7638 thumbprint); no chain is checked.

use std::sync::Arc;

use anyhow::Context as _;
use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, TrustAnchor, UnixTime};
use serde_json::json;
use tessera_core::clients::PresentedCertificate;
use tessera_core::clients::jwk::ClientJwk;
use tessera_core::crypto::base64url;
use tessera_core::model::{CertificateMatch, Client, TokenEndpointAuthMethod};
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::config::validate::tls::TlsListener;

/// A client certificate taken from a TLS handshake, in the request's extensions; its presence
/// marks the connection as TLS, where no certificate header is read (SEC-68).
#[derive(Debug, Clone)]
pub struct TlsConnection {
    /// The client's certificate (DER), if it sent one.
    pub certificate: Option<Arc<Vec<u8>>>,
}

/// The rustls server configuration of the TLS listener: TLS 1.2 and 1.3 (FAPI 2.0 SP §5.2.1),
/// HTTP/1.1, client certificates asked for and optional.
pub fn server_config(listener: &TlsListener) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&listener.certificate_file)
            .and_then(|certs| certs.collect())
            .with_context(|| {
                format!(
                    "cannot read {} (tls.certificate_file)",
                    listener.certificate_file.display()
                )
            })?;
    let key = PrivateKeyDer::from_pem_file(&listener.private_key_file).with_context(|| {
        format!(
            "cannot read {} (tls.private_key_file)",
            listener.private_key_file.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(AnyClientCertificate {
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("choosing TLS versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts any client certificate, or none: which certificate authenticates which client is
/// decided per client once the request is read. The handshake still proves the client holds
/// the certificate's private key.
#[derive(Debug)]
struct AnyClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// How long a certificate found to chain to a CA is taken as chaining without a new check, in
/// seconds (never past its own `notAfter`).
const CHAIN_REMEMBERED: i64 = 60;

/// At most this many certificates are remembered; past it the memory starts again.
const CHAINS_REMEMBERED: usize = 4096;

/// The CAs of `tls_client_auth` certificates (webpki trust anchors), and the certificates
/// lately found to chain to one. A client that keeps its connection (or its proxy's) open sends
/// the same certificate with every request: its chain's signatures are checked once a minute
/// rather than once a request. The CAs are fixed for the process's life, so a certificate's
/// verdict changes only with time.
pub struct ClientCas {
    anchors: Vec<TrustAnchor<'static>>,
    /// Certificate thumbprint → until when it is taken as chaining.
    chained: std::sync::Mutex<std::collections::HashMap<String, i64>>,
}

impl ClientCas {
    /// The CAs of `[tls] client_ca_file` (DER).
    pub fn new(cas: &[Vec<u8>]) -> ClientCas {
        let anchors = cas
            .iter()
            .filter_map(|der| {
                webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                    .ok()
                    .map(|a| a.to_owned())
            })
            .collect();
        ClientCas {
            anchors,
            chained: Default::default(),
        }
    }

    fn remembered(&self, thumbprint: &str, now: i64) -> bool {
        let chained = self.chained.lock().unwrap_or_else(|e| e.into_inner());
        chained.get(thumbprint).is_some_and(|until| now <= *until)
    }

    fn remember(&self, thumbprint: String, until: i64) {
        let mut chained = self.chained.lock().unwrap_or_else(|e| e.into_inner());
        if chained.len() >= CHAINS_REMEMBERED {
            chained.clear();
        }
        chained.insert(thumbprint, until);
    }
}

/// A certificate a request presented, checked against clients' registrations.
pub struct CheckedCertificate<'a> {
    /// DER.
    pub der: Vec<u8>,
    /// The CAs of `tls_client_auth` certificates.
    pub cas: &'a ClientCas,
    /// The time certificates are valid at.
    pub now: i64,
}

impl PresentedCertificate for CheckedCertificate<'_> {
    fn der(&self) -> &[u8] {
        &self.der
    }

    fn authenticates(&self, client: &Client) -> Result<(), String> {
        let (_, cert) = X509Certificate::from_der(&self.der)
            .map_err(|_| "the certificate cannot be read".to_string())?;
        match client.token_endpoint_auth_method {
            TokenEndpointAuthMethod::TlsClientAuth => {
                self.chains_to_a_trusted_ca(&cert)?;
                let wanted = client
                    .tls_client_auth
                    .as_ref()
                    .ok_or("the client registered nothing to match")?;
                names(&cert, wanted).then_some(()).ok_or_else(|| {
                    format!(
                        "it does not carry the registered {}",
                        wanted.metadata_name()
                    )
                })
            }
            TokenEndpointAuthMethod::SelfSignedTlsClientAuth => {
                let thumbprint = key_thumbprint(&cert)?;
                // A key registered for encryption proves nothing of a TLS handshake's
                // signature (RFC 7517 §4.2).
                client
                    .jwks
                    .iter()
                    .filter(|k| k.use_.as_deref() != Some("enc"))
                    .any(|k| k.thumbprint() == thumbprint)
                    .then_some(())
                    .ok_or_else(|| "its key is none of the client's registered keys".into())
            }
            other => Err(format!("the client is registered for {}", other.as_str())),
        }
    }
}

impl CheckedCertificate<'_> {
    /// RFC 8705 §2.1: a chain from the certificate to a configured CA, valid now, for client
    /// authentication. Nothing is fetched to check it (no CRL, OCSP or AIA: CVE-58).
    fn chains_to_a_trusted_ca(&self, parsed: &X509Certificate<'_>) -> Result<(), String> {
        if self.cas.anchors.is_empty() {
            return Err("no CA for tls_client_auth is configured (tls.client_ca_file)".into());
        }
        let thumbprint = self.thumbprint();
        if self.cas.remembered(&thumbprint, self.now) {
            return Ok(());
        }
        let der = CertificateDer::from(self.der.as_slice());
        let cert = webpki::EndEntityCert::try_from(&der)
            .map_err(|e| format!("the certificate cannot be read ({e})"))?;
        let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(self.now).unwrap_or_default(),
        ));
        cert.verify_for_usage(
            rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms
                .all,
            &self.cas.anchors,
            &[],
            now,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(|e| format!("it does not chain to a trusted CA ({e})"))?;
        let not_after = parsed.validity().not_after.timestamp();
        self.cas.remember(
            thumbprint,
            self.now.saturating_add(CHAIN_REMEMBERED).min(not_after),
        );
        Ok(())
    }
}

/// Whether `cert` carries what `wanted` names (RFC 8705 §2.1.2).
fn names(cert: &X509Certificate<'_>, wanted: &CertificateMatch) -> bool {
    if let CertificateMatch::SubjectDn(dn) = wanted {
        return same_dn(&subject_attributes(cert), dn);
    }
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    san.value
        .general_names
        .iter()
        .any(|name| match (wanted, name) {
            (CertificateMatch::SanDns(v), GeneralName::DNSName(n)) => n.eq_ignore_ascii_case(v),
            (CertificateMatch::SanUri(v), GeneralName::URI(n)) => n == v,
            (CertificateMatch::SanEmail(v), GeneralName::RFC822Name(n)) => {
                n.eq_ignore_ascii_case(v)
            }
            (CertificateMatch::SanIp(v), GeneralName::IPAddress(bytes)) => {
                let ip = match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes).ok().map(std::net::IpAddr::from),
                    16 => <[u8; 16]>::try_from(*bytes)
                        .ok()
                        .map(std::net::IpAddr::from),
                    _ => None,
                };
                ip.is_some_and(|ip| v.parse::<std::net::IpAddr>() == Ok(ip))
            }
            _ => false,
        })
}

/// The subject's attributes as (RFC 4514 §3 short name, or the dotted OID, upper-cased; value).
fn subject_attributes(cert: &X509Certificate<'_>) -> Vec<(String, String)> {
    // RFC 4514 §3: the attribute types with a string name; others are written as dotted OIDs.
    const NAMES: &[(&str, &str)] = &[
        ("2.5.4.3", "CN"),
        ("2.5.4.7", "L"),
        ("2.5.4.8", "ST"),
        ("2.5.4.10", "O"),
        ("2.5.4.11", "OU"),
        ("2.5.4.6", "C"),
        ("2.5.4.9", "STREET"),
        ("0.9.2342.19200300.100.1.25", "DC"),
        ("0.9.2342.19200300.100.1.1", "UID"),
    ];
    cert.subject()
        .iter_attributes()
        .filter_map(|a| {
            let oid = a.attr_type().to_id_string();
            let name = NAMES
                .iter()
                .find(|(o, _)| *o == oid)
                .map_or(oid.clone(), |(_, n)| (*n).to_string());
            Some((name, a.as_str().ok()?.to_string()))
        })
        .collect()
}

/// RFC 4514 distinguished names compared as sets of `TYPE=value` (RDN order and the spaces
/// after commas vary between writers); `\,` escapes a comma in a value.
fn same_dn(attributes: &[(String, String)], registered: &str) -> bool {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = registered.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ',' | '+' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    let mut wanted: Vec<(String, String)> = parts
        .iter()
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_uppercase(), v.trim().to_string()))
        .collect();
    let mut have = attributes.to_vec();
    wanted.sort();
    have.sort();
    !wanted.is_empty() && wanted == have
}

/// The RFC 7638 thumbprint of the certificate's public key, as a JWK (P-256, RSA or Ed25519).
fn key_thumbprint(cert: &X509Certificate<'_>) -> Result<String, String> {
    let spki = cert.public_key();
    let jwk = match spki.parsed() {
        Ok(PublicKey::EC(point)) if point.data().len() == 65 && point.data()[0] == 4 => {
            let data = point.data();
            json!({"kty": "EC", "crv": "P-256", "x": base64url(&data[1..33]), "y": base64url(&data[33..])})
        }
        Ok(PublicKey::RSA(rsa)) => {
            let strip = |b: &[u8]| base64url(&b[b.iter().take_while(|x| **x == 0).count()..]);
            json!({"kty": "RSA", "n": strip(rsa.modulus), "e": strip(rsa.exponent)})
        }
        // RFC 8410 §3: id-Ed25519 is 1.3.101.112; the key is the bit string's 32 bytes.
        _ if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" => {
            json!({"kty": "OKP", "crv": "Ed25519", "x": base64url(&spki.subject_public_key.data)})
        }
        _ => return Err("its key type is not supported (use P-256, RSA or Ed25519)".into()),
    };
    ClientJwk::from_json(&jwk)
        .map(|k| k.thumbprint())
        .map_err(|why| format!("its key cannot be used: {why}"))
}

/// A certificate from a trusted proxy's header: RFC 9440 §2.2 `Client-Cert: :<base64 DER>:`,
/// or `X-SSL-Client-Cert`'s URL-encoded PEM. `None` for anything else.
pub fn certificate_from_header(
    header: crate::config::validate::tls::CertificateHeader,
    value: &str,
) -> Option<Vec<u8>> {
    use crate::config::validate::tls::CertificateHeader;
    use base64::Engine as _;
    match header {
        CertificateHeader::ClientCert => {
            let inner = value.trim().strip_prefix(':')?.strip_suffix(':')?;
            base64::engine::general_purpose::STANDARD.decode(inner).ok()
        }
        CertificateHeader::XSslClientCert => {
            let pem = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .ok()?;
            CertificateDer::from_pem_slice(pem.as_bytes())
                .ok()
                .map(|c| c.to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair,
    };

    /// A CA, a client certificate it issued that ends on 2030-03-17, and that end (Unix time).
    fn issued() -> (Vec<u8>, Vec<u8>, i64) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let mut params = CertificateParams::new(vec!["client.example".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "client");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = rcgen::date_time_ymd(2030, 3, 1);
        params.not_after = rcgen::date_time_ymd(2030, 3, 17);
        let leaf = params
            .signed_by(&KeyPair::generate().unwrap(), &ca)
            .unwrap();
        let (_, parsed) = X509Certificate::from_der(leaf.der()).unwrap();
        let not_after = parsed.validity().not_after.timestamp();
        (ca.der().to_vec(), leaf.der().to_vec(), not_after)
    }

    fn chains(cas: &ClientCas, der: &[u8], now: i64) -> Result<(), String> {
        let (_, parsed) = X509Certificate::from_der(der).unwrap();
        CheckedCertificate {
            der: der.to_vec(),
            cas,
            now,
        }
        .chains_to_a_trusted_ca(&parsed)
    }

    /// A chain once verified is taken for a minute, never past the certificate's notAfter:
    /// a remembered certificate that expires is refused at once.
    #[test]
    fn a_remembered_chain_still_expires_with_its_certificate() {
        let (ca, leaf, not_after) = issued();
        let cas = ClientCas::new(&[ca]);
        assert_eq!(chains(&cas, &leaf, not_after - 10), Ok(()));
        assert!(cas.remembered(&certificate_thumbprint_of(&leaf), not_after - 1));
        let late = chains(&cas, &leaf, not_after + 1).unwrap_err();
        assert!(late.contains("does not chain"), "{late}");
        // Another CA's certificate is never taken from the memory of this one.
        let (_, stranger, _) = issued();
        assert!(chains(&cas, &stranger, not_after - 10).is_err());
        // What is remembered is taken without a check, until its end: a verdict written by
        // hand for the stranger's certificate lets it through, then no longer.
        cas.remember(certificate_thumbprint_of(&stranger), not_after - 5);
        assert_eq!(chains(&cas, &stranger, not_after - 6), Ok(()));
        assert!(chains(&cas, &stranger, not_after - 4).is_err());
        // The memory is bounded.
        for i in 0..CHAINS_REMEMBERED + 1 {
            cas.remember(format!("t{i}"), not_after);
        }
        assert!(cas.chained.lock().unwrap().len() <= CHAINS_REMEMBERED);
    }

    /// RFC 8705 §2.2: a self-signed certificate's key must be a registered signing key; the
    /// same key registered for encryption (`use: enc`) authenticates nothing.
    #[test]
    fn a_self_signed_certificate_matches_signing_keys_only() {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "selfie");
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let point = key.public_key_raw();
        let jwk = |usage: &str| {
            ClientJwk::from_json(&json!({
                "kty": "EC", "crv": "P-256", "use": usage,
                "x": base64url(&point[1..33]), "y": base64url(&point[33..]),
            }))
            .unwrap()
        };
        let cas = ClientCas::new(&[]);
        let presented = CheckedCertificate {
            der,
            cas: &cas,
            now: 0,
        };
        let client = |usage| {
            Client::builder("selfie")
                .auth_method(TokenEndpointAuthMethod::SelfSignedTlsClientAuth)
                .jwks(vec![jwk(usage)])
                .build()
        };
        assert_eq!(presented.authenticates(&client("sig")), Ok(()));
        assert!(presented.authenticates(&client("enc")).is_err());
    }

    fn certificate_thumbprint_of(der: &[u8]) -> String {
        tessera_core::clients::mtls::certificate_thumbprint(der)
    }
}
