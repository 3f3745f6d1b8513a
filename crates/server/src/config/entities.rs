//! The entities a configuration file declares: API scopes, API resources, identity resources,
//! clients and users, as written (their key names are a contract).

use serde::Deserialize;
use tessera_core::Secret;
use tessera_core::model::{AccessTokenType, ApplicationType, TokenEndpointAuthMethod};

fn yes() -> bool {
    true
}

/// `[[api_scopes]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApiScope {
    /// The scope value.
    pub name: String,
    /// Shown on consent pages.
    pub display_name: Option<String>,
    /// Listed in discovery's `scopes_supported`.
    #[serde(default = "yes")]
    pub show_in_discovery: bool,
}

/// `[[api_resources]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApiResource {
    /// The audience of its access tokens.
    pub name: String,
    /// Its scopes; ones not declared under `api_scopes` are declared implicitly.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Secrets the API uses to call introspection.
    #[serde(default)]
    pub secrets: Vec<Secret<String>>,
    /// The algorithm of its JWT access tokens (one of `keys.algorithms`); default: the first
    /// of `keys.algorithms`.
    pub signing_alg: Option<String>,
}

/// `[[identity_resources]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentityResource {
    /// The scope value.
    pub name: String,
    /// Shown on consent pages.
    pub display_name: Option<String>,
    /// The user claims it releases.
    #[serde(default)]
    pub claims: Vec<String>,
}

/// `[[clients]]`; also the body of the admin API's client requests (as JSON, same names).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Client)]
pub struct RawClient {
    /// RFC 6749 §2.2.
    pub client_id: String,
    /// Shown on consent pages.
    pub client_name: Option<String>,
    /// Client secrets in clear; stored as digests. None: a public client. (The admin API
    /// generates secrets itself: leave them out there.)
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub secrets: Vec<Secret<String>>,
    /// Allowed grant types.
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// Redirect URIs, matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs, matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes the client may request.
    #[serde(default)]
    pub allowed_scopes: Vec<String>,
    /// Require PKCE (default true).
    #[serde(default = "yes")]
    pub require_pkce: bool,
    /// Ask the user for consent (default true).
    #[serde(default = "yes")]
    pub require_consent: bool,
    /// `jwt` or `reference`.
    #[serde(default)]
    #[schema(value_type = String, example = "jwt")]
    pub access_token_type: AccessTokenType,
    /// Seconds (default 3600).
    #[serde(default = "default_access_token_lifetime")]
    pub access_token_lifetime: u64,
    /// Seconds (default 300).
    #[serde(default = "default_identity_token_lifetime")]
    pub identity_token_lifetime: u64,
    /// Seconds a refresh token lives after its last use (default 14 days; one day for a
    /// single-page app, a public client with `allowed_cors_origins`).
    pub refresh_token_sliding_lifetime: Option<u64>,
    /// Seconds a refresh token family lives at most (default 30 days; one day, and at most
    /// seven, for a single-page app).
    pub refresh_token_absolute_lifetime: Option<u64>,
    /// Default: `none` without secrets; with secrets, `client_secret_basic` or
    /// `client_secret_post`, either accepted until one is chosen here.
    #[schema(value_type = Option<String>, example = "client_secret_basic")]
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// `web` (default) or `native` (OIDC Registration §2): native apps may use loopback
    /// redirect URIs with any port and private-use URI schemes (RFC 8252 §7).
    #[serde(default)]
    #[schema(value_type = String, example = "web")]
    pub application_type: ApplicationType,
    /// The identity tokens' algorithm (OIDC Registration §2; default RS256).
    pub id_token_signed_response_alg: Option<String>,
    /// UserInfo responses are a JWT signed with this algorithm (OIDC Registration §2, OIDC Core
    /// §5.3.2); unset: plain JSON.
    pub userinfo_signed_response_alg: Option<String>,
    /// Responses in the JWT response modes (JARM: `response_mode=jwt`) are signed with this
    /// algorithm (default RS256).
    pub authorization_signed_response_alg: Option<String>,
    /// Identity tokens are encrypted to a key of `jwks` (`use = "enc"`): `RSA-OAEP-256` or
    /// `ECDH-ES` (OIDC Core §10.2), with `id_token_encrypted_response_enc = "A256GCM"`.
    pub id_token_encrypted_response_alg: Option<String>,
    /// `A256GCM`.
    pub id_token_encrypted_response_enc: Option<String>,
    /// UserInfo responses are encrypted the same way.
    pub userinfo_encrypted_response_alg: Option<String>,
    /// `A256GCM`.
    pub userinfo_encrypted_response_enc: Option<String>,
    /// Responses in the JWT response modes are encrypted the same way, after signing (JARM §3).
    pub authorization_encrypted_response_alg: Option<String>,
    /// `A256GCM`.
    pub authorization_encrypted_response_enc: Option<String>,
    /// `acr` values asked for when a request names none (OIDC Registration §2); identity
    /// tokens then always carry `acr`.
    #[serde(default)]
    pub default_acr_values: Vec<String>,
    /// Every sign-in for the client must be multi-factor (RFC 8176 `mfa`); a user without a
    /// second factor cannot sign in to it.
    #[serde(default)]
    pub require_mfa: bool,
    /// Every sign-in for the client must reach at least this `acr` level (one of
    /// `[[acr_levels]]`).
    pub minimum_acr: Option<String>,
    /// Every token request must carry a DPoP proof (RFC 9449): the client's access tokens, and
    /// a public client's refresh tokens, are all bound to its key.
    #[serde(default)]
    pub require_dpop: bool,
    /// Authorization requests must be pushed to `/par` first (RFC 9126 §6).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// Authorization requests must be a request object signed with one of the client's keys
    /// (RFC 9101 §10.5).
    #[serde(default)]
    pub require_signed_request_object: bool,
    /// Each refresh returns a new refresh token and consumes the one used (RFC 9700 §4.14.2);
    /// `false`: one refresh token serves until the family's absolute lifetime ends. Unset: true,
    /// but false under `profile = "fapi2"` (FAPI 2.0 SP §5.3.2.1).
    pub refresh_token_rotation: Option<bool>,
    /// Public keys for `private_key_jwt`: `{ keys = [ { kty = "EC", crv = "P-256", ... } ] }`.
    pub jwks: Option<RawJwks>,
    /// Or where the client publishes them (read through the outbound client when it
    /// authenticates).
    pub jwks_uri: Option<String>,
    /// With the grant type `urn:openid:params:grant-type:ciba`: `poll` (default) or `ping`
    /// (CIBA Core §4).
    pub backchannel_token_delivery_mode: Option<String>,
    /// Ping mode: where Tessera tells the client a request was decided (https).
    pub backchannel_client_notification_endpoint: Option<String>,
    /// The `authorization_details` types (`[[authorization_details_types]]`) the client may ask
    /// for (RFC 9396).
    #[serde(default)]
    pub authorization_details_types: Vec<String>,
    /// With `token_endpoint_auth_method = "tls_client_auth"`: exactly one of these five names
    /// what the client's certificate (from a CA in `[tls] client_ca_file`) carries (RFC 8705
    /// §2.1.2): its subject DN, or a DNS, URI, IP or e-mail subject alternative name.
    pub tls_client_auth_subject_dn: Option<String>,
    /// A dNSName SAN.
    pub tls_client_auth_san_dns: Option<String>,
    /// A URI SAN.
    pub tls_client_auth_san_uri: Option<String>,
    /// An IP address SAN.
    pub tls_client_auth_san_ip: Option<String>,
    /// An e-mail SAN.
    pub tls_client_auth_san_email: Option<String>,
    /// Every access token is bound to the client's TLS certificate (RFC 8705 §3): token
    /// requests must come over mutual TLS.
    #[serde(default)]
    pub tls_client_certificate_bound_access_tokens: bool,
    /// A disabled client gets no tokens.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Refused when true: PKCE `plain` is not supported (RFC 9700 §2.1.1); the key remains so
    /// that configurations naming it get that reason rather than an unknown key.
    #[serde(default)]
    pub allow_plain_pkce: bool,
    /// Put the user's claims of the granted scopes into identity tokens too (default false:
    /// they come from userinfo).
    #[serde(default)]
    pub always_include_user_claims_in_id_token: bool,
    /// Front-Channel Logout 1.0: loaded in an iframe when the user signs out.
    pub frontchannel_logout_uri: Option<String>,
    /// Add `iss` and `sid` to the front-channel URI (default true).
    #[serde(default = "yes")]
    pub frontchannel_logout_session_required: bool,
    /// Back-Channel Logout 1.0: receives a logout token by POST when the user signs out.
    pub backchannel_logout_uri: Option<String>,
    /// The logout token carries `sid` (default true).
    #[serde(default = "yes")]
    pub backchannel_logout_session_required: bool,
    /// Web origins (`https://app.example`) whose pages may call the token, revocation and
    /// userinfo endpoints for this client: single-page apps. Exact; no wildcards.
    #[serde(default)]
    pub allowed_cors_origins: Vec<String>,
    /// `[clients.token_exchange]`: what the client may get by token exchange (RFC 8693), when
    /// its grant_types list `urn:ietf:params:oauth:grant-type:token-exchange`.
    #[serde(default)]
    pub token_exchange: RawTokenExchange,
}

/// `[clients.token_exchange]`
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTokenExchange {
    /// The APIs (api_resources names) the client may get tokens for.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The APIs whose access tokens the client may present as subject or actor (the APIs it
    /// serves); identity tokens issued to it are accepted besides.
    #[serde(default)]
    pub subject_audiences: Vec<String>,
    /// The client may get tokens that stand for the user without naming it as the actor.
    #[serde(default)]
    pub impersonate: bool,
}

/// An inline JSON Web Key Set (RFC 7517 §5).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawJwks {
    /// The keys.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}

fn default_access_token_lifetime() -> u64 {
    3_600
}
fn default_identity_token_lifetime() -> u64 {
    300
}

/// `[[users]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    /// Login name.
    pub username: String,
    /// Password in clear; hashed with Argon2id before it is stored.
    pub password: Option<Secret<String>>,
    /// An Argon2 PHC hash, instead of `password`.
    pub password_hash: Option<String>,
    /// Profile claims.
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// A disabled user cannot sign in.
    #[serde(default)]
    pub disabled: bool,
}
