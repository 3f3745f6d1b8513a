//! Mutual-TLS client authentication and certificate-bound tokens (RFC 8705): what core needs of
//! the certificate a client presented, which the server reads from the TLS connection (or from
//! a trusted proxy's header, RFC 9440) and checks.

use crate::crypto::{base64url, sha256};
use crate::model::Client;

/// The certificate a request's client presented over TLS.
pub trait PresentedCertificate: Send + Sync {
    /// Its DER encoding.
    fn der(&self) -> &[u8];

    /// Whether it authenticates `client` by the client's registered mTLS method (RFC 8705
    /// §2.1: a chain to a trusted CA and the registered subject or SAN; §2.2: one of the
    /// client's registered keys); the reason when it does not.
    fn authenticates(&self, client: &Client) -> Result<(), String>;

    /// The certificate's thumbprint, the `x5t#S256` a bound token carries (RFC 8705 §3.1):
    /// base64url of the SHA-256 of its DER encoding.
    fn thumbprint(&self) -> String {
        certificate_thumbprint(self.der())
    }
}

/// RFC 8705 §3.1 `x5t#S256` of a DER certificate.
pub fn certificate_thumbprint(der: &[u8]) -> String {
    base64url(&sha256(der))
}

impl std::fmt::Debug for dyn PresentedCertificate + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PresentedCertificate({})", self.thumbprint())
    }
}
