//! Registered clients (RFC 6749 §2; OIDC Registration §2): how they authenticate, what they
//! may ask for, and the settings of their tokens.

use serde::{Deserialize, Serialize};

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
    /// Mutual TLS with a certificate from a trusted CA, matched by its subject or a subject
    /// alternative name (RFC 8705 §2.1).
    TlsClientAuth,
    /// Mutual TLS with a self-signed certificate whose key is one of the client's registered
    /// keys (RFC 8705 §2.2).
    SelfSignedTlsClientAuth,
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
            Self::TlsClientAuth => "tls_client_auth",
            Self::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
        }
    }

    /// Every method, in the order of [`TokenEndpointAuthMethod::as_str`].
    pub const ALL: [TokenEndpointAuthMethod; 7] = [
        Self::ClientSecretBasic,
        Self::ClientSecretPost,
        Self::ClientSecretJwt,
        Self::PrivateKeyJwt,
        Self::None,
        Self::TlsClientAuth,
        Self::SelfSignedTlsClientAuth,
    ];

    /// The method registered under `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether the client proves itself with a TLS client certificate (RFC 8705 §2).
    pub fn is_mtls(self) -> bool {
        matches!(self, Self::TlsClientAuth | Self::SelfSignedTlsClientAuth)
    }

    /// Whether the method proves possession of a shared secret.
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            Self::ClientSecretBasic | Self::ClientSecretPost | Self::ClientSecretJwt
        )
    }
}

/// A JWE's algorithms (RFC 7516 §4.1.1-§4.1.2): key management and content encryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// `alg`: `RSA-OAEP-256` or `ECDH-ES`.
    pub alg: String,
    /// `enc`: `A256GCM`.
    pub enc: String,
}

/// What a `tls_client_auth` client's certificate must name: exactly one of RFC 8705 §2.1.2's
/// metadata values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateMatch {
    /// `tls_client_auth_subject_dn`: the subject distinguished name (RFC 4514 string).
    SubjectDn(String),
    /// `tls_client_auth_san_dns`: a dNSName subject alternative name.
    SanDns(String),
    /// `tls_client_auth_san_uri`: a uniformResourceIdentifier SAN.
    SanUri(String),
    /// `tls_client_auth_san_ip`: an iPAddress SAN (IPv4 or IPv6 text).
    SanIp(String),
    /// `tls_client_auth_san_email`: an rfc822Name SAN.
    SanEmail(String),
}

impl CertificateMatch {
    /// The registered metadata name (RFC 8705 §2.1.2).
    pub fn metadata_name(&self) -> &'static str {
        match self {
            Self::SubjectDn(_) => "tls_client_auth_subject_dn",
            Self::SanDns(_) => "tls_client_auth_san_dns",
            Self::SanUri(_) => "tls_client_auth_san_uri",
            Self::SanIp(_) => "tls_client_auth_san_ip",
            Self::SanEmail(_) => "tls_client_auth_san_email",
        }
    }

    /// The value to match.
    pub fn value(&self) -> &str {
        match self {
            Self::SubjectDn(v)
            | Self::SanDns(v)
            | Self::SanUri(v)
            | Self::SanIp(v)
            | Self::SanEmail(v) => v,
        }
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
    /// Every sign-in for the client must be multi-factor (RFC 8176 `mfa`): it asks for at least
    /// the weakest `acr` level that needs `mfa`.
    #[serde(default)]
    pub require_mfa: bool,
    /// Every sign-in for the client must reach at least this `acr` level, essential in every
    /// request whatever the request asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_acr: Option<String>,
    /// Every token request must carry a DPoP proof, so that every access token (and a public
    /// client's refresh token) is bound to the client's key (RFC 9449 §5.2
    /// `dpop_bound_access_tokens`).
    #[serde(default)]
    pub require_dpop: bool,
    /// Authorization requests must be pushed first (RFC 9126 §6
    /// `require_pushed_authorization_requests`).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// Authorization requests must come as a signed request object, by value or pushed
    /// (RFC 9101 §10.5 `require_signed_request_object`).
    #[serde(default)]
    pub require_signed_request_object: bool,
    /// Every access token is bound to the client's TLS certificate (RFC 8705 §3.4
    /// `tls_client_certificate_bound_access_tokens`): token requests must come over mutual TLS.
    #[serde(default)]
    pub tls_client_certificate_bound_access_tokens: bool,
    /// Each refresh consumes the refresh token and returns a new one (RFC 9700 §4.14.2);
    /// `false`: the same refresh token is used until its family's absolute end (FAPI 2.0 SP
    /// §5.3.2.1, the `fapi2` profile's default).
    #[serde(default = "rotation_default")]
    pub refresh_token_rotation: bool,
}

fn rotation_default() -> bool {
    true
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
            require_mfa: false,
            minimum_acr: None,
            require_dpop: false,
            require_pushed_authorization_requests: false,
            require_signed_request_object: false,
            tls_client_certificate_bound_access_tokens: false,
            refresh_token_rotation: true,
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
    /// The algorithm its UserInfo responses are signed with (OIDC Registration §2
    /// `userinfo_signed_response_alg`); `None`: plain JSON (OIDC Core §5.3.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<crate::tokens::SigningAlg>,
    /// The algorithm its JWT authorization responses are signed with (JARM §3
    /// `authorization_signed_response_alg`); `None`: RS256, JARM's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_signed_response_alg: Option<crate::tokens::SigningAlg>,
    /// Its identity tokens are encrypted to its key (OIDC Registration §2
    /// `id_token_encrypted_response_alg` / `_enc`): signed, then encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_encryption: Option<Encryption>,
    /// Its UserInfo responses are encrypted to its key (`userinfo_encrypted_response_alg` /
    /// `_enc`), after signing if it registered a signing algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_encryption: Option<Encryption>,
    /// Its JWT authorization responses are encrypted to its key (JARM §3
    /// `authorization_encrypted_response_alg` / `_enc`): signed, then encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_encryption: Option<Encryption>,
    /// `acr` values asked for when a request names none (OIDC Registration §2
    /// `default_acr_values`); with them, identity tokens always carry `acr`.
    #[serde(default)]
    pub default_acr_values: Vec<String>,
    /// Public keys for `private_key_jwt` (registered inline).
    #[serde(default)]
    pub jwks: Vec<crate::clients::jwk::ClientJwk>,
    /// Where the client publishes its public keys instead (RFC 7591 §2 `jwks_uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// CIBA Core §4 `backchannel_token_delivery_mode` (poll unless registered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_token_delivery_mode: Option<crate::ciba::DeliveryMode>,
    /// CIBA Core §4 `backchannel_client_notification_endpoint`: ping mode calls it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_client_notification_endpoint: Option<String>,
    /// The `authorization_details` types it may ask for (RFC 9396 §10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_details_types: Vec<String>,
    /// What a `tls_client_auth` client's certificate must name (RFC 8705 §2.1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth: Option<CertificateMatch>,
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
    /// Web origins whose pages may call the token, revocation and userinfo endpoints for this
    /// client (CORS, SEC-64), as browsers send them in `Origin`; matched exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_cors_origins: Vec<String>,
    /// What the client may get through token exchange (RFC 8693), when its grant types list
    /// it.
    #[serde(default)]
    pub token_exchange: TokenExchangePolicy,
}

/// What a client may do with token exchange (RFC 8693; SEC-66): for which APIs it may get
/// tokens, which subject tokens it may present, and whether it may act as the subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenExchangePolicy {
    /// The APIs (resource names) it may get tokens for.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The audiences of the access tokens it may present as subject or actor: the APIs it
    /// serves. Identity tokens issued to it are accepted besides.
    #[serde(default)]
    pub subject_audiences: Vec<String>,
    /// Its tokens may stand for the subject without naming it as the actor (impersonation);
    /// otherwise every token it gets says that it acts (`act`, RFC 8693 §4.1).
    #[serde(default)]
    pub impersonate: bool,
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
/// Default absolute refresh-token lifetime of a single-page app (a public client with CORS
/// origins): one day. Its refresh tokens live in the browser, so they are rotated and end soon
/// (RFC 9700 §4.14.2; OAuth 2.0 for Browser-Based Apps §6.1.3.2 on refresh token lifetimes).
pub const BROWSER_REFRESH_ABSOLUTE: u64 = 86_400;
/// The longest absolute refresh-token lifetime a single-page app may register: seven days.
pub const MAX_BROWSER_REFRESH_ABSOLUTE: u64 = 7 * 86_400;

impl ClientSettings {
    /// The (sliding, absolute) refresh-token lifetimes of a registration that states neither:
    /// shorter for a single-page app (`browser_app`, see [`BROWSER_REFRESH_ABSOLUTE`]).
    pub fn default_refresh_lifetimes(browser_app: bool) -> (u64, u64) {
        if browser_app {
            (BROWSER_REFRESH_ABSOLUTE, BROWSER_REFRESH_ABSOLUTE)
        } else {
            (DEFAULT_REFRESH_SLIDING, DEFAULT_REFRESH_ABSOLUTE)
        }
    }
}

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
            userinfo_signed_response_alg: None,
            authorization_signed_response_alg: None,
            id_token_encryption: None,
            userinfo_encryption: None,
            authorization_encryption: None,
            default_acr_values: vec![],
            jwks: vec![],
            jwks_uri: None,
            tls_client_auth: None,
            authorization_details_types: vec![],
            backchannel_token_delivery_mode: None,
            backchannel_client_notification_endpoint: None,
            enabled: true,
            always_include_user_claims_in_id_token: false,
            logout: ClientLogout::default(),
            allowed_cors_origins: vec![],
            token_exchange: Default::default(),
        }
    }
}

impl Client {
    /// A public client has no secret (RFC 6749 §2.1).
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == TokenEndpointAuthMethod::None
    }

    /// The request's `origin` if it is one of the client's registered CORS origins (exact,
    /// byte-for-byte match with the serialised origin a browser sends).
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_cors_origins.iter().any(|o| o == origin)
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
}
