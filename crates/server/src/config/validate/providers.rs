//! `[[identity_providers]]`: external identity providers users may sign in through. Each is
//! checked whole at start: its name (it is the `idp` claim and part of the redirect URI
//! `ISSUER/federation/NAME/callback`), its protocol's endpoints, its credentials and its claim
//! mapping.

use std::collections::BTreeMap;

use serde::Deserialize;
use tessera_core::federation::{Endpoints, Protocol, Provider, UpstreamAuth};
use tessera_core::login::LOCAL_IDP;
use tessera_core::secret::Secret;

use super::Problems;
use crate::config::RawConfig;

/// One `[[identity_providers]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentityProvider {
    /// The `idp` claim of sign-ins through it; letters, digits, `-` and `_`.
    pub name: String,
    /// The login page's button (default: the name).
    pub display_name: Option<String>,
    /// `oidc` or `oauth2`.
    #[serde(rename = "type")]
    pub protocol: Protocol,
    /// OIDC: the upstream's issuer; its discovery document says the rest.
    pub issuer: Option<String>,
    /// Tessera's client id at the upstream.
    pub client_id: String,
    /// Tessera's client secret at the upstream (not for `private_key_jwt`).
    #[serde(default)]
    pub client_secret: Option<Secret<String>>,
    /// `client_secret_basic` (default), `client_secret_post` or `private_key_jwt`.
    #[serde(default)]
    pub token_endpoint_auth_method: UpstreamAuth,
    /// For `private_key_jwt`: a PKCS#8 PEM file with Tessera's private key for this provider
    /// (P-256 or RSA); `check-config` prints its public JWK to register there.
    pub private_key_file: Option<std::path::PathBuf>,
    /// Scopes asked for (default: `openid profile email` for OIDC, none for OAuth 2.0).
    pub scopes: Option<Vec<String>>,
    /// Our claim name = the upstream's claim name (`sub = "id"`, `preferred_username = "login"`).
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
    /// OAuth 2.0 (and OIDC overrides): the authorization endpoint.
    pub authorization_endpoint: Option<String>,
    /// OAuth 2.0 (and OIDC overrides): the token endpoint.
    pub token_endpoint: Option<String>,
    /// OAuth 2.0: the user's profile; OIDC: where user info is read (default: discovery's).
    pub userinfo_endpoint: Option<String>,
    /// OIDC: read user info after the ID token (default true; OAuth 2.0 providers always).
    #[serde(default = "yes")]
    pub use_userinfo: bool,
    /// Link a first sign-in to the local account with the same address when the upstream says
    /// it is verified, after the user proves that account (default false).
    #[serde(default)]
    pub link_by_verified_email: bool,
    /// Offer a link to sign out at the upstream too when the user signs out here.
    #[serde(default)]
    pub upstream_logout: bool,
    /// Offered at all (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An absolute http(s) URL without a fragment.
fn check_url(field: String, url: &str, p: &mut Problems) {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.fragment().is_none() => {}
        _ => p.add(field, format!("`{url}` is not an absolute http(s) URL")),
    }
}

/// Checks every provider.
pub(super) fn check_providers(raw: &RawConfig, p: &mut Problems) -> Vec<Provider> {
    let mut providers: Vec<Provider> = Vec::new();
    for (i, r) in raw.identity_providers.iter().enumerate() {
        let at = |f: &str| format!("identity_providers[{i}].{f}");
        if !valid_name(&r.name) || r.name == LOCAL_IDP {
            p.add(
                at("name"),
                format!(
                    "`{}` must be 1-64 letters, digits, `-` or `_`, and not `{LOCAL_IDP}`",
                    r.name
                ),
            );
        }
        if providers.iter().any(|o| o.name == r.name) {
            p.add(at("name"), format!("duplicate provider `{}`", r.name));
        }
        if r.client_id.is_empty() {
            p.add(at("client_id"), "is empty");
        }
        let key = check_credentials(r, &at, p);
        check_endpoints(r, &at, p);
        for ours in r.claims.keys() {
            if ours != "sub" && tessera_core::model::check_profile_claim(ours).is_err() {
                p.add(
                    at(&format!("claims.{ours}")),
                    "is not a claim a user may be given",
                );
            }
        }
        let mut provider = provider_of(r);
        provider.client_key = key;
        providers.push(provider);
    }
    providers
}

/// A client secret, or for `private_key_jwt` a readable key file (and no secret).
fn check_credentials(
    r: &RawIdentityProvider,
    at: &dyn Fn(&str) -> String,
    p: &mut Problems,
) -> Option<std::sync::Arc<tessera_core::tokens::SigningKey>> {
    let secret = r.client_secret.as_ref().map(|s| s.expose().as_str());
    if r.token_endpoint_auth_method != UpstreamAuth::PrivateKeyJwt {
        if secret.is_none_or(str::is_empty) {
            p.add(at("client_secret"), "is missing or empty");
        }
        return None;
    }
    if secret.is_some() {
        p.add(
            at("client_secret"),
            "is not used with private_key_jwt; remove it",
        );
    }
    let Some(path) = &r.private_key_file else {
        p.add(
            at("private_key_file"),
            "private_key_jwt needs a PKCS#8 PEM key file",
        );
        return None;
    };
    match read_private_key(path) {
        Ok(key) => Some(std::sync::Arc::new(key)),
        Err(why) => {
            p.add(
                at("private_key_file"),
                format!("`{}`: {why}", path.display()),
            );
            None
        }
    }
}

/// A PKCS#8 PEM private key: P-256 (ES256) or RSA (RS256).
pub fn read_private_key(
    path: &std::path::Path,
) -> Result<tessera_core::tokens::SigningKey, String> {
    use tessera_core::tokens::{SigningAlg, SigningKey};
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read ({e})"))?;
    let block = pem::parse(text).map_err(|_| "is not a PEM file".to_string())?;
    if block.tag() != "PRIVATE KEY" {
        return Err(format!(
            "holds a `{}`, not a PKCS#8 `PRIVATE KEY`",
            block.tag()
        ));
    }
    SigningKey::from_pkcs8(SigningAlg::Es256, block.contents())
        .or_else(|_| SigningKey::from_pkcs8(SigningAlg::Rs256, block.contents()))
        .map_err(|_| "is not a P-256 or RSA PKCS#8 key".to_string())
}

fn check_endpoints(r: &RawIdentityProvider, at: &dyn Fn(&str) -> String, p: &mut Problems) {
    match r.protocol {
        Protocol::Oidc => match &r.issuer {
            Some(issuer) => check_url(at("issuer"), issuer, p),
            None => p.add(at("issuer"), "an oidc provider needs its issuer"),
        },
        Protocol::Oauth2 => {
            for (name, value) in [
                ("authorization_endpoint", &r.authorization_endpoint),
                ("token_endpoint", &r.token_endpoint),
                ("userinfo_endpoint", &r.userinfo_endpoint),
            ] {
                if value.is_none() {
                    p.add(at(name), "an oauth2 provider needs it");
                }
            }
        }
    }
    for (name, value) in [
        ("authorization_endpoint", &r.authorization_endpoint),
        ("token_endpoint", &r.token_endpoint),
        ("userinfo_endpoint", &r.userinfo_endpoint),
    ] {
        if let Some(url) = value {
            check_url(at(name), url, p);
        }
    }
}

fn provider_of(r: &RawIdentityProvider) -> Provider {
    let default_scopes = match r.protocol {
        Protocol::Oidc => vec!["openid".into(), "profile".into(), "email".into()],
        Protocol::Oauth2 => vec![],
    };
    Provider {
        name: r.name.clone(),
        display_name: r.display_name.clone().unwrap_or_else(|| r.name.clone()),
        protocol: r.protocol,
        issuer: r.issuer.clone(),
        client_id: r.client_id.clone(),
        client_secret: r
            .client_secret
            .clone()
            .unwrap_or_else(|| Secret::new(String::new())),
        auth_method: r.token_endpoint_auth_method,
        client_key: None,
        scopes: r.scopes.clone().unwrap_or(default_scopes),
        endpoints: Endpoints {
            authorization: r.authorization_endpoint.clone().unwrap_or_default(),
            token: r.token_endpoint.clone().unwrap_or_default(),
            userinfo: r.userinfo_endpoint.clone(),
            ..Endpoints::default()
        },
        claims: r
            .claims
            .iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect(),
        use_userinfo: r.use_userinfo || r.protocol == Protocol::Oauth2,
        link_by_verified_email: r.link_by_verified_email,
        upstream_logout: r.upstream_logout,
        enabled: r.enabled,
    }
}
