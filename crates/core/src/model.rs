//! The domain: clients, resources, users, grants, sessions and signing-key records.
//! These are what the stores keep; the protocol modules work on them.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::secret::Secret;

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

/// How a client's access tokens are issued (per client, as in seed 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AccessTokenType {
    /// A signed JWT (RFC 9068).
    #[default]
    Jwt,
    /// An opaque handle, valid only through introspection.
    Reference,
}

/// Client authentication methods (RFC 6749 §2.3, OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// HTTP Basic with client_id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// client_id and client_secret in the form body (RFC 6749 §2.3.1).
    ClientSecretPost,
    /// A JWT signed with HMAC of the secret (OIDC Core §9).
    ClientSecretJwt,
    /// A JWT signed with the client's private key (OIDC Core §9, RFC 7523).
    PrivateKeyJwt,
    /// A public client: no authentication (must use PKCE).
    None,
}

impl TokenEndpointAuthMethod {
    /// The registered name (RFC 7591 §2).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    /// Whether the method proves possession of a shared secret.
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            Self::ClientSecretBasic | Self::ClientSecretPost | Self::ClientSecretJwt
        )
    }
}

/// The kind of application a client is (OIDC Registration §2 `application_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    /// Runs on a web server or in a browser: redirect URIs match exactly, port included.
    #[default]
    Web,
    /// Installed on a device (RFC 8252): loopback redirect URIs with any port (§7.3) and
    /// private-use URI schemes (§7.1).
    Native,
}

impl ApplicationType {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }
}

/// The settings a client registration chooses for its requests and tokens, with defaults: a
/// registration's metadata and the registered client carry the same ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSettings {
    /// PKCE required at the authorization endpoint (RFC 7636, RFC 9700 §2.1.1).
    pub require_pkce: bool,
    /// The user is asked for consent.
    pub require_consent: bool,
    /// JWT or reference access tokens.
    pub access_token_type: AccessTokenType,
    /// Access token lifetime in seconds.
    pub access_token_lifetime: u64,
    /// Identity token lifetime in seconds.
    pub identity_token_lifetime: u64,
    /// A refresh token expires this long after its last use (sliding lifetime), in seconds.
    #[serde(default = "default_refresh_sliding")]
    pub refresh_token_sliding_lifetime: u64,
    /// A refresh token family ends this long after the sign-in, however often it is used.
    #[serde(default = "default_refresh_absolute")]
    pub refresh_token_absolute_lifetime: u64,
}

impl Default for ClientSettings {
    /// PKCE and consent required; JWT access tokens for an hour, identity tokens for five
    /// minutes; refresh tokens with the default sliding and absolute lifetimes.
    fn default() -> Self {
        Self {
            require_pkce: true,
            require_consent: true,
            access_token_type: AccessTokenType::Jwt,
            access_token_lifetime: 3_600,
            identity_token_lifetime: 300,
            refresh_token_sliding_lifetime: DEFAULT_REFRESH_SLIDING,
            refresh_token_absolute_lifetime: DEFAULT_REFRESH_ABSOLUTE,
        }
    }
}

/// A registered client (RFC 6749 §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    /// RFC 6749 §2.2.
    pub client_id: String,
    /// Shown on consent pages.
    pub client_name: Option<String>,
    /// Digests of the client's secrets (see `crypto::handle_digest`); empty for public clients.
    /// Client secrets are high-entropy, so a fast digest is enough; comparison is constant-time.
    pub secret_digests: Vec<String>,
    /// Grant types this client may use.
    pub grant_types: Vec<String>,
    /// Registered redirect URIs, compared as exact strings (RFC 9700 §2.1).
    pub redirect_uris: Vec<String>,
    /// Registered post-logout redirect URIs (OIDC RP-Initiated Logout §3).
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes the client may request.
    pub allowed_scopes: Vec<String>,
    /// How its requests are checked and its tokens made (stored flat, as before).
    #[serde(flatten)]
    pub settings: ClientSettings,
    /// How the client authenticates at the token endpoint.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// Whether `token_endpoint_auth_method` was registered explicitly. A client with secrets
    /// that did not choose may use `client_secret_basic` or `client_secret_post` (the default
    /// of many client libraries); an explicit choice pins the method.
    #[serde(default)]
    pub auth_method_pinned: bool,
    /// `web` or `native` (OIDC Registration §2).
    #[serde(default)]
    pub application_type: ApplicationType,
    /// The algorithm of the client's identity tokens (OIDC Registration §2
    /// `id_token_signed_response_alg`; RS256 unless registered otherwise).
    #[serde(default = "default_id_token_alg")]
    pub id_token_signed_response_alg: crate::tokens::SigningAlg,
    /// `acr` values asked for when a request names none (OIDC Registration §2
    /// `default_acr_values`); with them, identity tokens always carry `acr`.
    #[serde(default)]
    pub default_acr_values: Vec<String>,
    /// Public keys for `private_key_jwt` (registered inline).
    #[serde(default)]
    pub jwks: Vec<crate::clients::jwk::ClientJwk>,
    /// A disabled client gets no tokens.
    pub enabled: bool,
    /// The user's claims of the granted scopes also go into identity tokens, not only into
    /// the userinfo response (OIDC Core §5.4 puts them in userinfo when an access token is
    /// issued).
    #[serde(default)]
    pub always_include_user_claims_in_id_token: bool,
    /// How the client learns about sign-outs.
    #[serde(default)]
    pub logout: ClientLogout,
}

/// A client's logout notification endpoints (OpenID Connect Front-Channel Logout 1.0 §2,
/// Back-Channel Logout 1.0 §2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientLogout {
    /// Loaded in an iframe on the signed-out page.
    pub frontchannel_logout_uri: Option<String>,
    /// `iss` and `sid` are added to the front-channel URI.
    pub frontchannel_logout_session_required: bool,
    /// Receives a logout token by POST.
    pub backchannel_logout_uri: Option<String>,
    /// The logout token carries `sid`.
    pub backchannel_logout_session_required: bool,
}

fn default_id_token_alg() -> crate::tokens::SigningAlg {
    crate::tokens::SigningAlg::Rs256
}

fn default_refresh_sliding() -> u64 {
    DEFAULT_REFRESH_SLIDING
}
fn default_refresh_absolute() -> u64 {
    DEFAULT_REFRESH_ABSOLUTE
}

/// Default sliding refresh-token lifetime: 14 days.
pub const DEFAULT_REFRESH_SLIDING: u64 = 14 * 86_400;
/// Default absolute refresh-token lifetime: 30 days.
pub const DEFAULT_REFRESH_ABSOLUTE: u64 = 30 * 86_400;

impl Default for Client {
    /// A public web client with no grants, redirect URIs or scopes: nothing it could use until
    /// those are set; PKCE and consent required.
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_name: None,
            secret_digests: vec![],
            grant_types: vec![],
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            allowed_scopes: vec![],
            settings: ClientSettings::default(),
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            auth_method_pinned: false,
            application_type: ApplicationType::Web,
            id_token_signed_response_alg: default_id_token_alg(),
            default_acr_values: vec![],
            jwks: vec![],
            enabled: true,
            always_include_user_claims_in_id_token: false,
            logout: ClientLogout::default(),
        }
    }
}

impl Client {
    /// A public client has no secret (RFC 6749 §2.1).
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == TokenEndpointAuthMethod::None
    }

    /// Whether the client may authenticate with `method`: its registered one, or, when it did
    /// not choose one, either way of sending its secret (RFC 6749 §2.3.1).
    pub fn accepts_auth_method(&self, method: TokenEndpointAuthMethod) -> bool {
        use TokenEndpointAuthMethod::{ClientSecretBasic, ClientSecretPost};
        let registered = self.token_endpoint_auth_method;
        method == registered
            || (!self.auth_method_pinned
                && matches!(registered, ClientSecretBasic | ClientSecretPost)
                && matches!(method, ClientSecretBasic | ClientSecretPost))
    }
}

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

/// What a stored grant is. Every kind shares the one grant table; its name is what the `kind`
/// column holds, a storage contract: rows written before are read by the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    /// An authorization code (RFC 6749 §4.1.2), redeemed once.
    AuthorizationCode,
    /// A refresh token (RFC 6749 §6), rotated on every use.
    RefreshToken,
    /// A reference access token: its handle is the token, its record the claims.
    ReferenceToken,
    /// The record a user's JWT access token lives with (under the digest of its `jti`).
    JwtAccessToken,
    /// A revoked JWT access token without a record (a client's own token): a deny-list entry
    /// until the token expires.
    RevokedAccessToken,
    /// Consent a user asked to be remembered for a client (OIDC Core §3.1.2.4).
    Consent,
    /// A client that got a response through a session (for logout notifications).
    SessionClient,
    /// An authorization request waiting on the login and consent pages.
    Interaction,
    /// A sign-out waiting for the user's confirmation (RP-Initiated Logout §2).
    LogoutConfirmation,
    /// A browser's POSTed request, parked for the GET that continues it on our own site.
    ParkedRequest,
    /// A client assertion's `jti`, remembered until it expires so that it is used once
    /// (RFC 7523 §3).
    ClientAssertionJti,
}

impl GrantKind {
    /// Every kind.
    pub const ALL: [GrantKind; 11] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ReferenceToken,
        Self::JwtAccessToken,
        Self::RevokedAccessToken,
        Self::Consent,
        Self::SessionClient,
        Self::Interaction,
        Self::LogoutConfirmation,
        Self::ParkedRequest,
        Self::ClientAssertionJti,
    ];

    /// The name stored in the `kind` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ReferenceToken => "reference_token",
            Self::JwtAccessToken => "jwt_access_token",
            Self::RevokedAccessToken => "revoked_access_token",
            Self::Consent => "consent",
            Self::SessionClient => "session_client",
            Self::Interaction => "interaction",
            Self::LogoutConfirmation => "logout_confirmation",
            Self::ParkedRequest => "parked_request",
            Self::ClientAssertionJti => "client_assertion_jti",
        }
    }
}

impl std::fmt::Display for GrantKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored kind name this version does not know (a newer version wrote it, or the row is
/// corrupt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown grant kind `{0}`")]
pub struct UnknownGrantKind(pub String);

impl std::str::FromStr for GrantKind {
    type Err = UnknownGrantKind;

    /// Parses a stored name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownGrantKind(s.to_string()))
    }
}

/// A persisted grant: an authorization code, refresh token, reference token or similar,
/// stored under the digest of its handle, never the handle itself. Every kind has this one
/// shape; what a kind keeps besides is its typed payload in `data`, written by
/// [`Grant::new`] and read by [`Grant::payload`] (see [`crate::store::persisted`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// base64url(SHA-256(handle)).
    pub handle_digest: String,
    /// What the handle is.
    pub kind: GrantKind,
    /// The client it was issued to.
    pub client_id: String,
    /// The user, if any.
    pub subject: Option<String>,
    /// The session it belongs to, if any.
    pub session_id: Option<String>,
    /// Grants issued from one another share a family (refresh rotation, code → tokens).
    pub family: Option<String>,
    /// The digest of a second key the grant is found by (a device flow's user code), unique
    /// among grants; never the key in clear.
    #[serde(default)]
    pub lookup_digest: Option<String>,
    /// The kind's payload (scopes, PKCE challenge, claims), as JSON.
    pub data: serde_json::Value,
    /// How often `data` was replaced since the grant was stored (0 at first): what a
    /// compare-and-set of `data` expects.
    #[serde(default)]
    pub version: i64,
    /// When it was issued.
    pub created_at: UnixTime,
    /// When it expires.
    pub expires_at: UnixTime,
    /// When it was consumed; single-use grants are consumed atomically.
    pub consumed_at: Option<UnixTime>,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's settings are stored flat beside its other fields, as before they were their
    /// own type: clients stored earlier read back the same.
    #[test]
    fn client_settings_are_stored_flat() {
        let client = Client {
            client_id: "web".into(),
            ..Client::default()
        };
        let stored = serde_json::to_value(&client).unwrap();
        assert_eq!(stored["require_pkce"], true);
        assert_eq!(stored["access_token_lifetime"], 3_600);
        assert!(stored.get("settings").is_none());
        let mut earlier = stored.clone();
        let object = earlier.as_object_mut().unwrap();
        object.remove("refresh_token_sliding_lifetime");
        object.remove("refresh_token_absolute_lifetime");
        let read: Client = serde_json::from_value(earlier).unwrap();
        assert_eq!(read, client);
    }

    #[test]
    fn grant_kinds_keep_their_stored_names() {
        // The `kind` column of rows already stored holds these names.
        let names: Vec<&str> = GrantKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "authorization_code",
                "refresh_token",
                "reference_token",
                "jwt_access_token",
                "revoked_access_token",
                "consent",
                "session_client",
                "interaction",
                "logout_confirmation",
                "parked_request",
                "client_assertion_jti",
            ]
        );
        for kind in GrantKind::ALL {
            assert_eq!(kind.as_str().parse(), Ok(kind));
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::json!(kind.as_str()));
        }
        assert_eq!(
            "device_code".parse::<GrantKind>(),
            Err(UnknownGrantKind("device_code".into()))
        );
    }
}
