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
    /// Tessera's client secret at the upstream.
    pub client_secret: Secret<String>,
    /// `client_secret_basic` (default) or `client_secret_post`.
    #[serde(default)]
    pub token_endpoint_auth_method: UpstreamAuth,
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
        if r.client_secret.expose().is_empty() {
            p.add(at("client_secret"), "is empty");
        }
        check_endpoints(r, &at, p);
        for ours in r.claims.keys() {
            if ours != "sub" && tessera_core::model::check_profile_claim(ours).is_err() {
                p.add(
                    at(&format!("claims.{ours}")),
                    "is not a claim a user may be given",
                );
            }
        }
        providers.push(provider_of(r));
    }
    providers
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
        client_secret: r.client_secret.clone(),
        auth_method: r.token_endpoint_auth_method,
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
