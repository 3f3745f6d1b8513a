//! Sign-in through external identity providers: an upstream OpenID Provider (OIDC Core
//! §3.1, the code flow with PKCE, `state` and `nonce`) or a plain OAuth 2.0 provider whose
//! user-info URL says who the user is. This module holds what is independent of HTTP: the
//! providers as configured, the pending sign-in at the upstream ([`state`]), the upstream ID
//! token's validation ([`id_token`]), the upstream identity and the local account it signs in
//! to ([`account`]), and the upstream's back-channel logout token ([`logout`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::secret::Secret;

pub mod account;
pub mod id_token;
pub mod logout;
pub mod state;

/// How an upstream provider is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// OpenID Connect: endpoints from discovery, an ID token validated in full.
    Oidc,
    /// Plain OAuth 2.0: configured endpoints, the user from the user-info URL.
    Oauth2,
}

/// How Tessera authenticates to the upstream's token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamAuth {
    /// HTTP Basic with the client secret.
    #[default]
    ClientSecretBasic,
    /// The client secret in the form.
    ClientSecretPost,
    /// A JWT signed with Tessera's own key for this provider (RFC 7523 §2.2, OIDC Core §9).
    PrivateKeyJwt,
}

/// An upstream provider's endpoints: configured, or (OIDC) read from its discovery document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// The authorization endpoint.
    pub authorization: String,
    /// The token endpoint.
    pub token: String,
    /// The user-info endpoint (OIDC Core §5.3; for OAuth 2.0 providers, the user's profile).
    pub userinfo: Option<String>,
    /// Its JWKS (OIDC).
    pub jwks_uri: Option<String>,
    /// Its RP-initiated logout endpoint (OIDC).
    pub end_session: Option<String>,
    /// It sends `iss` in authorization responses (RFC 9207 §3): then `iss` must be there.
    pub iss_parameter: bool,
}

/// An external identity provider as the configuration declares it (`[[identity_providers]]`).
#[derive(Debug, Clone)]
pub struct Provider {
    /// Its name: the `idp` claim of sign-ins through it, and part of its redirect URI.
    pub name: String,
    /// Shown on the login page's button.
    pub display_name: String,
    /// OIDC or plain OAuth 2.0.
    pub protocol: Protocol,
    /// The upstream's issuer (OIDC: its discovery document is read from it).
    pub issuer: Option<String>,
    /// Tessera's client id there.
    pub client_id: String,
    /// Tessera's client secret there.
    pub client_secret: Secret<String>,
    /// How Tessera authenticates at the token endpoint.
    pub auth_method: UpstreamAuth,
    /// The private key for `private_key_jwt`.
    pub client_key: Option<std::sync::Arc<crate::tokens::SigningKey>>,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// Endpoints that override (or, for OAuth 2.0, make up) the discovered ones.
    pub endpoints: Endpoints,
    /// Our claim name → the upstream's claim name; `sub` names the upstream's subject claim
    /// (`id` for many OAuth 2.0 providers).
    pub claims: Vec<(String, String)>,
    /// Read the user-info endpoint too (OIDC; always for OAuth 2.0).
    pub use_userinfo: bool,
    /// A first sign-in with an address the upstream says is verified may link to the local
    /// account with that address, once the user proves that account.
    pub link_by_verified_email: bool,
    /// Sign out at the upstream too (RP-initiated logout) when the user signs out here.
    pub upstream_logout: bool,
    /// Offered at all.
    pub enabled: bool,
}

impl Provider {
    /// The upstream claim that holds what our claim `ours` holds.
    pub fn upstream_claim<'a>(&'a self, ours: &'a str) -> &'a str {
        self.claims
            .iter()
            .find(|(o, _)| o == ours)
            .map_or(ours, |(_, upstream)| upstream.as_str())
    }
}

/// Who the upstream says the user is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamIdentity {
    /// The provider's name.
    pub provider: String,
    /// The upstream subject.
    pub subject: String,
    /// The e-mail address it gave.
    pub email: Option<String>,
    /// The upstream says the address is verified (`email_verified` true, nothing else).
    pub email_verified: bool,
    /// A name for a new account's username.
    pub preferred_username: Option<String>,
    /// Profile claims, mapped to ours.
    pub claims: Map<String, Value>,
    /// The upstream sign-in's `amr` (RFC 8176), where it gave them.
    pub amr: Vec<String>,
    /// Its `acr`, where it gave one.
    pub acr: Option<String>,
    /// Its session id (`sid`, for back-channel logout), where it gave one.
    pub sid: Option<String>,
}

/// Profile claims a new account takes from the upstream (OIDC Core §5.1), under our names.
const PROFILE_CLAIMS: &[&str] = &[
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
];

/// Reads the identity from the upstream's claims (an ID token's, user info's or both,
/// merged), mapped by the provider's `claims`. `None` without a subject.
pub fn identity_from_claims(
    provider: &Provider,
    upstream: &Map<String, Value>,
) -> Option<UpstreamIdentity> {
    let get = |ours: &str| upstream.get(provider.upstream_claim(ours));
    let subject = match get("sub")? {
        Value::String(s) if !s.is_empty() && s.len() <= 255 => s.clone(),
        // GitHub-style numeric ids.
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let text = |ours: &str| get(ours).and_then(Value::as_str).map(str::to_string);
    let mut claims = Map::new();
    for name in PROFILE_CLAIMS {
        if let Some(v) = get(name).filter(|v| v.is_string() || v.is_boolean()) {
            claims.insert((*name).to_string(), v.clone());
        }
    }
    // §5.7: only `true` says verified.
    let email_verified = get("email_verified") == Some(&Value::Bool(true));
    claims.insert("email_verified".into(), Value::Bool(email_verified));
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(UpstreamIdentity {
        provider: provider.name.clone(),
        subject,
        email: text("email").filter(|e| e.contains('@') && e.len() <= 254),
        email_verified,
        preferred_username: text("preferred_username"),
        claims,
        amr: strings(upstream.get("amr")),
        acr: upstream
            .get("acr")
            .and_then(Value::as_str)
            .map(str::to_string),
        sid: upstream
            .get("sid")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Why a sign-in through an upstream failed: the user sees the category, the log the detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FederationError {
    /// The upstream could not be reached or answered badly.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The upstream's answer failed a check (signature, issuer, audience, nonce, time…).
    #[error("the provider's answer was refused: {0}")]
    Refused(String),
    /// The upstream said no (`error` in the authorization response).
    #[error("the provider declined the sign-in: {0}")]
    Declined(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn provider(protocol: Protocol) -> Provider {
        Provider {
            name: "corp".into(),
            display_name: "Corp".into(),
            protocol,
            issuer: Some("https://corp.example".into()),
            client_id: "tessera".into(),
            client_secret: Secret::new("s".into()),
            auth_method: UpstreamAuth::default(),
            client_key: None,
            scopes: vec!["openid".into()],
            endpoints: Endpoints::default(),
            claims: vec![],
            use_userinfo: false,
            link_by_verified_email: false,
            upstream_logout: false,
            enabled: true,
        }
    }

    #[test]
    fn claims_are_mapped_and_only_true_is_verified() {
        let mut p = provider(Protocol::Oauth2);
        p.claims = vec![
            ("sub".into(), "id".into()),
            ("preferred_username".into(), "login".into()),
        ];
        let claims = json!({"id": 42, "login": "octo", "email": "o@example.com", "email_verified": "true", "amr": ["pwd"]});
        let id = identity_from_claims(&p, claims.as_object().unwrap()).unwrap();
        assert_eq!(id.subject, "42");
        assert_eq!(id.preferred_username.as_deref(), Some("octo"));
        assert!(!id.email_verified, "a string is not true");
        assert_eq!(id.claims["email_verified"], json!(false));
        assert_eq!(id.amr, ["pwd"]);
        assert!(identity_from_claims(&p, json!({"login": "x"}).as_object().unwrap()).is_none());
        assert!(identity_from_claims(&p, json!({"id": ""}).as_object().unwrap()).is_none());
    }
}
