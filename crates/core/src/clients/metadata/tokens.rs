//! The client's keys, the algorithms its tokens are signed with, their lifetimes, whether its
//! refresh tokens rotate, and what it may exchange.

use super::{ClientMetadata, Problems, has_grant};
use crate::clients::jwk::ClientJwk;
use crate::model::{CertificateMatch, Resources, TokenEndpointAuthMethod};
use crate::protocol::grant_type::GrantType;
use crate::tokens::SigningAlg;

/// Token exchange (RFC 8693; SEC-66) is for confidential clients that list the grant, and
/// reaches only the APIs their policy names, each one we know.
pub(super) fn check_token_exchange(
    m: &ClientMetadata,
    method: TokenEndpointAuthMethod,
    resources: &Resources,
    p: &mut Problems,
) {
    let policy = &m.token_exchange;
    let listed = has_grant(m, GrantType::TokenExchange);
    let set = *policy != crate::model::TokenExchangePolicy::default();
    if set && !listed {
        let urn = GrantType::TokenExchange.name();
        p.add(
            "token_exchange",
            format!("is set, but grant_types does not list `{urn}`"),
        );
    }
    if !listed {
        return;
    }
    if method == TokenEndpointAuthMethod::None {
        p.add(
            "grant_types",
            "a public client (no secrets) cannot exchange tokens",
        );
    }
    if policy.audiences.is_empty() {
        p.add(
            "token_exchange.audiences",
            "is empty; list the APIs (api_resources names) the client may get tokens for",
        );
    }
    let named = [
        ("audiences", &policy.audiences),
        ("subject_audiences", &policy.subject_audiences),
    ];
    for (list, names) in named {
        for (j, name) in names.iter().enumerate() {
            if !resources.api_resources.iter().any(|api| &api.name == name) {
                p.add(
                    format!("token_exchange.{list}[{j}]"),
                    format!("unknown API `{name}`; declare it under api_resources"),
                );
            }
        }
    }
}

/// RFC 7591 §2 `jwks`: public keys only, needed by `private_key_jwt` (RFC 7523 §2.2) and used
/// by nothing else. Returns the keys that parse.
pub(super) fn check_keys(
    m: &ClientMetadata,
    method: TokenEndpointAuthMethod,
    p: &mut Problems,
) -> Vec<ClientJwk> {
    let keys = m.jwks.as_deref().unwrap_or_default();
    let mut jwks = Vec::new();
    for (j, jwk) in keys.iter().enumerate() {
        match ClientJwk::from_json(jwk) {
            Ok(parsed) => jwks.push(parsed),
            Err(why) => p.add(format!("jwks.keys[{j}]"), why),
        }
    }
    // Keys verify assertions (private_key_jwt), self-signed certificates (RFC 8705 §2.2) and
    // request objects (RFC 9101).
    let needs_keys = matches!(
        method,
        TokenEndpointAuthMethod::PrivateKeyJwt | TokenEndpointAuthMethod::SelfSignedTlsClientAuth
    );
    if let Some(uri) = &m.jwks_uri {
        // RFC 7591 §2: jwks and jwks_uri MUST NOT both be present.
        if m.jwks.is_some() {
            p.add(
                "jwks_uri",
                "give the keys by value (jwks) or by reference (jwks_uri), not both",
            );
        }
        let fine = url::Url::parse(uri)
            .ok()
            .is_some_and(|u| matches!(u.scheme(), "https" | "http") && u.fragment().is_none());
        if !fine {
            p.add("jwks_uri", "must be an https URL without a fragment");
        }
        // OIDC Registration §2: the client's keys for every use (assertions now, request
        // objects later), whatever its authentication method.
        return jwks;
    }
    // An encryption key (`use` `enc`) never verifies a signature (RFC 7517 §4.2).
    let signing = |k: &ClientJwk| k.use_.as_deref() != Some("enc");
    if needs_keys && keys.is_empty() {
        p.add(
            "jwks",
            format!(
                "{} needs the client's public keys: jwks = {{ keys = [ ... ] }}",
                method.as_str()
            ),
        );
    } else if needs_keys && jwks.len() == keys.len() && !jwks.iter().any(signing) {
        p.add(
            "jwks",
            format!(
                "{} needs a signing key; every key registered is for encryption (use = \"enc\")",
                method.as_str()
            ),
        );
    }
    // Any client may register keys besides: they verify its request objects (RFC 9101) and
    // are what its tokens are encrypted to (`use` `enc`), whatever its authentication.
    jwks
}

/// RFC 8705 §2.1.2: a `tls_client_auth` client names exactly one thing its certificate must
/// carry; other clients name none.
pub(super) fn check_certificate_match(
    m: &ClientMetadata,
    method: TokenEndpointAuthMethod,
    p: &mut Problems,
) -> Option<CertificateMatch> {
    let given: Vec<CertificateMatch> = [
        m.tls_client_auth_subject_dn
            .clone()
            .map(CertificateMatch::SubjectDn),
        m.tls_client_auth_san_dns
            .clone()
            .map(CertificateMatch::SanDns),
        m.tls_client_auth_san_uri
            .clone()
            .map(CertificateMatch::SanUri),
        m.tls_client_auth_san_ip
            .clone()
            .map(CertificateMatch::SanIp),
        m.tls_client_auth_san_email
            .clone()
            .map(CertificateMatch::SanEmail),
    ]
    .into_iter()
    .flatten()
    .collect();
    let names = "tls_client_auth_subject_dn, tls_client_auth_san_dns, tls_client_auth_san_uri, \
                 tls_client_auth_san_ip or tls_client_auth_san_email";
    match (method, given.as_slice()) {
        (TokenEndpointAuthMethod::TlsClientAuth, [one]) if !one.value().trim().is_empty() => {
            Some(one.clone())
        }
        (TokenEndpointAuthMethod::TlsClientAuth, _) => {
            p.add(
                "token_endpoint_auth_method",
                format!("tls_client_auth needs exactly one of {names} (RFC 8705 §2.1.2)"),
            );
            None
        }
        (_, []) => None,
        (_, [first, ..]) => {
            p.add(
                first.metadata_name(),
                "is only used with token_endpoint_auth_method = \"tls_client_auth\"",
            );
            None
        }
    }
}

pub(super) const ID_TOKEN_ALG: &str = "id_token_signed_response_alg";
pub(super) const USERINFO_ALG: &str = "userinfo_signed_response_alg";
pub(super) const AUTHORIZATION_ALG: &str = "authorization_signed_response_alg";

/// OIDC Registration §2 `id_token_signed_response_alg` (RS256 when unset) and
/// `userinfo_signed_response_alg` (plain JSON when unset): an algorithm the server signs with
/// (`keys.algorithms`).
pub(super) fn signing_alg(
    name: Option<&str>,
    field: &str,
    offered: &[SigningAlg],
    p: &mut Problems,
) -> Option<SigningAlg> {
    let name = name?;
    match SigningAlg::parse(name) {
        Ok(alg) => {
            if !offered.contains(&alg) {
                p.add(
                    field,
                    format!("`{name}` is not in keys.algorithms; add it there to sign with it"),
                );
            }
            Some(alg)
        }
        Err(e) => {
            p.add(field, e.to_string());
            None
        }
    }
}

/// Access and identity tokens live between a second and a year: a zero lifetime would issue
/// tokens already expired, and signing keys stay published as long as the longest lifetime.
pub(super) fn check_token_lifetimes(m: &ClientMetadata, p: &mut Problems) {
    for (field, value) in [
        ("access_token_lifetime", m.settings.access_token_lifetime),
        (
            "identity_token_lifetime",
            m.settings.identity_token_lifetime,
        ),
    ] {
        if value == 0 || value > 31_536_000 {
            p.add(field, "must be between 1 second and 1 year");
        }
    }
}

/// A refresh token's sliding lifetime ends within its family's absolute lifetime, or sliding
/// would never apply.
pub(super) fn check_refresh_lifetimes(m: &ClientMetadata, p: &mut Problems) {
    let sliding = m.settings.refresh_token_sliding_lifetime;
    if sliding == 0 || sliding > m.settings.refresh_token_absolute_lifetime {
        p.add(
            "refresh_token_sliding_lifetime",
            "must be at least 1 second and at most refresh_token_absolute_lifetime",
        );
    }
}

/// Whether the client's refresh tokens rotate: as registered, or by the profile's default
/// (FAPI 2.0 SP §5.3.2.1: no rotation but in extraordinary circumstances; rotation otherwise).
/// A public client's refresh tokens are rotated unless they are sender-constrained
/// (RFC 9700 §4.14.2).
pub(super) fn refresh_rotation(
    m: &ClientMetadata,
    method: TokenEndpointAuthMethod,
    profile: Option<crate::profile::Profile>,
    p: &mut Problems,
) -> bool {
    let constrained =
        m.settings.require_dpop || m.settings.tls_client_certificate_bound_access_tokens;
    let public = method == TokenEndpointAuthMethod::None;
    match m.refresh_token_rotation {
        Some(false) if public && !constrained => {
            p.add(
                "refresh_token_rotation",
                "must be true for a public client whose tokens are not bound by DPoP or mutual TLS (RFC 9700 §4.14.2)",
            );
            true
        }
        Some(rotate) => rotate,
        None => profile != Some(crate::profile::Profile::Fapi2) || (public && !constrained),
    }
}
