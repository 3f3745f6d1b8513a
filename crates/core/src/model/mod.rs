//! The domain: clients, resources, users, grants, sessions and signing-key records.
//! These are what the stores keep; the protocol modules work on them.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::secret::Secret;

mod client;
mod factor;
mod grant;

pub use client::*;
pub use factor::*;
pub use grant::*;

/// Where a stored entity came from. Entities from the configuration file are replaced on each
/// start, so removing one from the file removes it from the store; others are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Declared in the configuration file (or the `--dev` demo).
    Config,
    /// Created with the CLI or the admin API.
    Managed,
}

impl Source {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Managed => "managed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "config" => Some(Self::Config),
            "managed" => Some(Self::Managed),
            _ => None,
        }
    }
}

/// The admin API's audience: a built-in API resource whose scopes are [`ADMIN_READ`] and
/// [`ADMIN_WRITE`].
pub const ADMIN_AUDIENCE: &str = "urn:tessera:admin";
/// The scope that lets a client read through the admin API (a contract).
pub const ADMIN_READ: &str = "tessera.admin.read";
/// The scope that lets a client change things through the admin API (a contract).
pub const ADMIN_WRITE: &str = "tessera.admin.write";

/// A scope an API offers (Duende's ApiScope).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiScope {
    /// The scope value clients request.
    pub name: String,
    /// Shown on the consent page.
    pub display_name: Option<String>,
    /// Listed in discovery's `scopes_supported`.
    pub show_in_discovery: bool,
}

/// An API: the audience of access tokens (RFC 8707 resource).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiResource {
    /// The resource identifier, used as `aud`.
    pub name: String,
    /// The scopes that select this resource.
    pub scopes: Vec<String>,
    /// Digests of the secrets the API uses at the introspection endpoint.
    pub secret_digests: Vec<String>,
    /// The algorithm its JWT access tokens are signed with; `None`: the server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_alg: Option<crate::tokens::SigningAlg>,
}

/// A named group of user claims released by a scope (OIDC Core §5.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityResource {
    /// The scope value.
    pub name: String,
    /// Shown on the consent page.
    pub display_name: Option<String>,
    /// The claims the scope releases.
    pub claims: Vec<String>,
}

impl IdentityResource {
    /// The identity resources of OIDC Core §5.4 (and `openid`, §3.1.2.1).
    pub fn builtin() -> Vec<IdentityResource> {
        let r = |name: &str, display: &str, claims: &[&str]| IdentityResource {
            name: name.into(),
            display_name: Some(display.into()),
            claims: claims.iter().map(|c| c.to_string()).collect(),
        };
        vec![
            r("openid", "Your user identifier", &["sub"]),
            r(
                "profile",
                "Your profile: name, picture and similar",
                &[
                    "name",
                    "family_name",
                    "given_name",
                    "middle_name",
                    "nickname",
                    "preferred_username",
                    "profile",
                    "picture",
                    "website",
                    "gender",
                    "birthdate",
                    "zoneinfo",
                    "locale",
                    "updated_at",
                ],
            ),
            r("email", "Your email address", &["email", "email_verified"]),
            r("address", "Your postal address", &["address"]),
            r(
                "phone",
                "Your phone number",
                &["phone_number", "phone_number_verified"],
            ),
        ]
    }
}

/// The scope that asks for refresh tokens (OIDC Core §11).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// All resources, as one value the server caches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// API scopes.
    pub api_scopes: Vec<ApiScope>,
    /// APIs.
    pub api_resources: Vec<ApiResource>,
    /// Identity resources, built-in ones included.
    pub identity_resources: Vec<IdentityResource>,
    /// The kinds of `authorization_details` clients may ask for (RFC 9396 §2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_details_types: Vec<AuthorizationDetailsType>,
}

/// A kind of rich authorization request (RFC 9396 §2: an object's `type`), with the JSON
/// schema its objects must meet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationDetailsType {
    /// The `type` value.
    pub name: String,
    /// What the consent page says it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON schema (draft 2020-12 unless it names another) of its objects.
    pub schema: serde_json::Value,
}

/// Claims the server puts in identity tokens (OIDC Core §2, §3.1.3.6), besides `sub`.
pub const ID_TOKEN_PROTOCOL_CLAIMS: &[&str] = &[
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "idp",
    "sid",
    "at_hash",
    "c_hash",
];

/// The other claims the server sets itself (OIDC Core §2, §3.3.2.11; RFC 9068 §2.2; RFC 7800).
const OTHER_SERVER_CLAIMS: &[&str] = &["sub", "azp", "s_hash", "jti", "cnf", "client_id", "scope"];

/// Whether the server sets the claim `name` itself: a user's profile may not carry it.
pub fn is_server_set_claim(name: &str) -> bool {
    ID_TOKEN_PROTOCOL_CLAIMS.contains(&name) || OTHER_SERVER_CLAIMS.contains(&name)
}

/// Checks a login name: 1-255 characters, no control characters, no surrounding spaces.
pub fn check_username(username: &str) -> Result<(), String> {
    if username.is_empty() || username.len() > 255 {
        return Err("must be 1-255 characters".into());
    }
    if username.trim() != username || username.chars().any(char::is_control) {
        return Err("must not have surrounding spaces or control characters".into());
    }
    Ok(())
}

/// Checks the name of a profile claim a user may be given.
pub fn check_profile_claim(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("claim names must be non-empty without spaces".into());
    }
    if is_server_set_claim(name) {
        return Err(format!(
            "`{name}` is set by the server and cannot be given to a user"
        ));
    }
    Ok(())
}

/// A local user account.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The stable subject identifier (OIDC Core §2: never reassigned, ≤ 255 ASCII).
    pub subject: String,
    /// The login name, unique.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: Secret<String>,
    /// Profile claims (name, email, ...).
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Where the account came from.
    pub source: Source,
    /// A disabled user gets no tokens from any grant.
    pub disabled: bool,
    /// When the account was created.
    pub created_at: UnixTime,
    /// When the account last changed.
    pub updated_at: UnixTime,
}

/// A server-side single sign-on session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// base64url(SHA-256(session cookie value)).
    pub id_digest: String,
    /// The public session id (`sid` claim), distinct from the cookie value.
    pub sid: String,
    /// The user.
    pub subject: String,
    /// OIDC Core §2 `auth_time`.
    pub auth_time: UnixTime,
    /// When the session started.
    pub created_at: UnixTime,
    /// When the session was last used.
    pub last_seen: UnixTime,
    /// Sliding expiry.
    pub expires_at: UnixTime,
    /// Absolute expiry, never extended.
    pub absolute_expires_at: UnixTime,
    /// Clients signed in through it, authentication methods and similar.
    pub data: serde_json::Value,
}

/// A signing key as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// JWS algorithm name (`ES256`, `RS256`).
    pub alg: String,
    /// PKCS#8 DER of the private key.
    pub private_pkcs8: Secret<Vec<u8>>,
    /// When it was created and published in JWKS.
    pub created_at: UnixTime,
    /// When it starts signing; later than `created_at` for rotated keys so that relying
    /// parties see it in JWKS first.
    pub activates_at: UnixTime,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}
