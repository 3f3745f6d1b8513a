//! Client metadata: what a client registers (RFC 7591 §2, OIDC Registration §2) and the rules
//! it must meet to become a [`Client`]. The configuration file, the CLI, an admin API and
//! dynamic registration all give a [`ClientMetadata`]; [`validate_client_metadata`] either
//! returns the client or every problem found, each naming its field and the fix, so that one
//! answer shows everything to correct.

use crate::authorize::acr::AcrLevels;
use crate::crypto::handle_digest;
use crate::model::{
    ApplicationType, Client, ClientLogout, ClientSettings, MAX_BROWSER_REFRESH_ABSOLUTE,
    OFFLINE_ACCESS, Resources, TokenEndpointAuthMethod,
};
use crate::profile::client_violations;
use crate::protocol::grant_type::GrantType;
use crate::protocol::origin::registrable_origin;
use crate::protocol::redirect::check_registrable_redirect_uri;
use crate::secret::Secret;
use crate::tokens::SigningAlg;

/// A client's registration as given, before any check. Field names are the registered
/// metadata names (RFC 7591 §2, OIDC Registration §2) where one exists.
#[derive(Debug, Clone)]
pub struct ClientMetadata {
    /// RFC 6749 §2.2.
    pub client_id: String,
    /// Shown on consent pages (RFC 7591 §2 `client_name`).
    pub client_name: Option<String>,
    /// Secrets in clear; the client keeps digests of them. None: a public client.
    pub secrets: Vec<Secret<String>>,
    /// RFC 7591 §2. `None`: `none` without secrets; with secrets, `client_secret_basic` or
    /// `client_secret_post`, either accepted since the client did not choose.
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// RFC 7591 §2 `grant_types`, by name, as given (unknown names are problems, not dropped).
    pub grant_types: Vec<String>,
    /// RFC 7591 §2 `redirect_uris`, matched exactly.
    pub redirect_uris: Vec<String>,
    /// OIDC RP-Initiated Logout §3.1 `post_logout_redirect_uris`, matched exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// The scopes the client may request (RFC 7591 §2 `scope`, as a list).
    pub allowed_scopes: Vec<String>,
    /// How its requests are checked and its tokens made.
    pub settings: ClientSettings,
    /// Whether its refresh tokens rotate; `None`: as the profile has it (see
    /// [`ClientSettings::refresh_token_rotation`]).
    pub refresh_token_rotation: Option<bool>,
    /// OIDC Registration §2 `application_type`.
    pub application_type: ApplicationType,
    /// OIDC Registration §2 `id_token_signed_response_alg`, by name; `None`: RS256.
    pub id_token_signed_response_alg: Option<String>,
    /// OIDC Registration §2 `userinfo_signed_response_alg`, by name; `None`: plain JSON.
    pub userinfo_signed_response_alg: Option<String>,
    /// JARM §3 `authorization_signed_response_alg`, by name; `None`: RS256.
    pub authorization_signed_response_alg: Option<String>,
    /// OIDC Registration §2 `id_token_encrypted_response_alg` and `_enc`.
    pub id_token_encrypted_response: (Option<String>, Option<String>),
    /// OIDC Registration §2 `userinfo_encrypted_response_alg` and `_enc`.
    pub userinfo_encrypted_response: (Option<String>, Option<String>),
    /// JARM §3 `authorization_encrypted_response_alg` and `_enc`.
    pub authorization_encrypted_response: (Option<String>, Option<String>),
    /// OIDC Registration §2 `default_acr_values`.
    pub default_acr_values: Vec<String>,
    /// The keys of RFC 7591 §2 `jwks` (`{"keys": [...]}`), as JSON. `None` when no key set was
    /// given, which differs from an empty one only in the problem reported.
    pub jwks: Option<Vec<serde_json::Value>>,
    /// RFC 7591 §2 `jwks_uri`: the keys by reference, read when the client authenticates.
    pub jwks_uri: Option<String>,
    /// RFC 9396 §10 `authorization_details_types`.
    pub authorization_details_types: Vec<String>,
    /// CIBA Core §4 `backchannel_token_delivery_mode`: `poll` or `ping`.
    pub backchannel_token_delivery_mode: Option<String>,
    /// CIBA Core §4 `backchannel_client_notification_endpoint`.
    pub backchannel_client_notification_endpoint: Option<String>,
    /// RFC 8705 §2.1.2 `tls_client_auth_subject_dn`.
    pub tls_client_auth_subject_dn: Option<String>,
    /// RFC 8705 §2.1.2 `tls_client_auth_san_dns`.
    pub tls_client_auth_san_dns: Option<String>,
    /// RFC 8705 §2.1.2 `tls_client_auth_san_uri`.
    pub tls_client_auth_san_uri: Option<String>,
    /// RFC 8705 §2.1.2 `tls_client_auth_san_ip`.
    pub tls_client_auth_san_ip: Option<String>,
    /// RFC 8705 §2.1.2 `tls_client_auth_san_email`.
    pub tls_client_auth_san_email: Option<String>,
    /// A disabled client gets no tokens.
    pub enabled: bool,
    /// The user's claims of the granted scopes also go into identity tokens.
    pub always_include_user_claims_in_id_token: bool,
    /// Front-Channel Logout 1.0 §2 `frontchannel_logout_uri`.
    pub frontchannel_logout_uri: Option<String>,
    /// Front-Channel Logout 1.0 §2 `frontchannel_logout_session_required`.
    pub frontchannel_logout_session_required: bool,
    /// Back-Channel Logout 1.0 §2.2 `backchannel_logout_uri`.
    pub backchannel_logout_uri: Option<String>,
    /// Back-Channel Logout 1.0 §2.2 `backchannel_logout_session_required`.
    pub backchannel_logout_session_required: bool,
    /// Web origins allowed to call the token, revocation and userinfo endpoints from a page
    /// (CORS), each exact.
    pub allowed_cors_origins: Vec<String>,
    /// What the client may get through token exchange (RFC 8693).
    pub token_exchange: crate::model::TokenExchangePolicy,
}

impl Default for ClientMetadata {
    /// A public web client with nothing registered yet, and the defaults of every setting.
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_name: None,
            secrets: vec![],
            token_endpoint_auth_method: None,
            grant_types: vec![],
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            allowed_scopes: vec![],
            settings: ClientSettings::default(),
            refresh_token_rotation: None,
            application_type: ApplicationType::Web,
            id_token_signed_response_alg: None,
            userinfo_signed_response_alg: None,
            authorization_signed_response_alg: None,
            id_token_encrypted_response: (None, None),
            userinfo_encrypted_response: (None, None),
            authorization_encrypted_response: (None, None),
            default_acr_values: vec![],
            jwks: None,
            jwks_uri: None,
            authorization_details_types: vec![],
            backchannel_token_delivery_mode: None,
            backchannel_client_notification_endpoint: None,
            tls_client_auth_subject_dn: None,
            tls_client_auth_san_dns: None,
            tls_client_auth_san_uri: None,
            tls_client_auth_san_ip: None,
            tls_client_auth_san_email: None,
            enabled: true,
            always_include_user_claims_in_id_token: false,
            frontchannel_logout_uri: None,
            frontchannel_logout_session_required: true,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: true,
            allowed_cors_origins: vec![],
            token_exchange: Default::default(),
        }
    }
}

/// What the server offers that a registration may refer to.
#[derive(Debug, Clone, Copy)]
pub struct ServerOffer<'a> {
    /// The scopes a client may be allowed (with `offline_access`).
    pub resources: &'a Resources,
    /// The `acr` values `default_acr_values` may name.
    pub acr_levels: &'a AcrLevels,
    /// The algorithms the server signs with, which `id_token_signed_response_alg` may name.
    pub signing_algs: &'a [SigningAlg],
    /// The security profile every client must conform to, if one is declared.
    pub profile: Option<crate::profile::Profile>,
}

/// One thing wrong with a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataProblem {
    /// The field, relative to the registration: `grant_types[1]`, `jwks.keys[0]`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for MetadataProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[derive(Default)]
struct Problems(Vec<MetadataProblem>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(MetadataProblem {
            field: field.into(),
            message: message.into(),
        });
    }
}

/// Checks a registration against every rule and returns the client it registers, or every
/// problem found, in the order of the rule groups below.
pub fn validate_client_metadata(
    m: &ClientMetadata,
    offer: &ServerOffer<'_>,
) -> Result<Client, Vec<MetadataProblem>> {
    let mut p = Problems::default();
    check_client_id(m, &mut p);
    let method = check_auth_method(m, &mut p);
    check_grant_types(m, method, &mut p);
    check_redirect_uris(m, &mut p);
    check_logout_uris(m, &mut p);
    check_scopes(m, offer.resources, &mut p);
    for (i, name) in m.authorization_details_types.iter().enumerate() {
        if !offer
            .resources
            .authorization_details_types
            .iter()
            .any(|t| &t.name == name)
        {
            p.add(
                format!("authorization_details_types[{i}]"),
                format!("unknown type `{name}`; declare it under [[authorization_details_types]]"),
            );
        }
    }
    check_token_lifetimes(m, &mut p);
    let jwks = check_keys(m, method, &mut p);
    let tls_client_auth = check_certificate_match(m, method, &mut p);
    let ciba_mode = check_ciba(m, method, &mut p);
    let id_token_encryption =
        check_encryption(m, &m.id_token_encrypted_response, "id_token", &jwks, &mut p);
    let userinfo_encryption =
        check_encryption(m, &m.userinfo_encrypted_response, "userinfo", &jwks, &mut p);
    let authorization_encryption = check_encryption(
        m,
        &m.authorization_encrypted_response,
        "authorization",
        &jwks,
        &mut p,
    );
    check_native_app(m, &mut p);
    let algs = offer.signing_algs;
    let id_token_alg = signing_alg(
        m.id_token_signed_response_alg.as_deref(),
        ID_TOKEN_ALG,
        algs,
        &mut p,
    );
    let userinfo_alg = signing_alg(
        m.userinfo_signed_response_alg.as_deref(),
        USERINFO_ALG,
        algs,
        &mut p,
    );
    let authorization_alg = signing_alg(
        m.authorization_signed_response_alg.as_deref(),
        AUTHORIZATION_ALG,
        algs,
        &mut p,
    );
    check_acr_values(m, offer.acr_levels, &mut p);
    check_refresh_lifetimes(m, &mut p);
    let rotate = refresh_rotation(m, method, offer.profile, &mut p);
    check_browser_app(m, method, &mut p);
    check_token_exchange(m, method, offer.resources, &mut p);
    let allowed_cors_origins = check_cors_origins(m, &mut p);
    let secret_digests = digest_secrets(&m.secrets, &mut p);
    if !p.0.is_empty() {
        return Err(p.0);
    }
    let client = Client {
        client_id: m.client_id.clone(),
        client_name: m.client_name.clone(),
        secret_digests,
        grant_types: m.grant_types.clone(),
        redirect_uris: m.redirect_uris.clone(),
        post_logout_redirect_uris: m.post_logout_redirect_uris.clone(),
        allowed_scopes: m.allowed_scopes.clone(),
        settings: ClientSettings {
            refresh_token_rotation: rotate,
            ..m.settings.clone()
        },
        token_endpoint_auth_method: method,
        auth_method_pinned: m.token_endpoint_auth_method.is_some(),
        application_type: m.application_type,
        id_token_signed_response_alg: id_token_alg.unwrap_or(SigningAlg::Rs256),
        userinfo_signed_response_alg: userinfo_alg,
        authorization_signed_response_alg: authorization_alg,
        id_token_encryption,
        userinfo_encryption,
        authorization_encryption,
        default_acr_values: m.default_acr_values.clone(),
        jwks,
        jwks_uri: m.jwks_uri.clone(),
        tls_client_auth,
        authorization_details_types: m.authorization_details_types.clone(),
        backchannel_token_delivery_mode: ciba_mode,
        backchannel_client_notification_endpoint: m
            .backchannel_client_notification_endpoint
            .clone(),
        enabled: m.enabled,
        always_include_user_claims_in_id_token: m.always_include_user_claims_in_id_token,
        logout: ClientLogout {
            frontchannel_logout_uri: m.frontchannel_logout_uri.clone(),
            frontchannel_logout_session_required: m.frontchannel_logout_session_required,
            backchannel_logout_uri: m.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: m.backchannel_logout_session_required,
        },
        allowed_cors_origins,
        token_exchange: m.token_exchange.clone(),
    };
    // The profile's rules apply to the client as it would be registered.
    match offer
        .profile
        .map(|profile| client_violations(profile, &client))
    {
        Some(violations) if !violations.is_empty() => Err(violations),
        _ => Ok(client),
    }
}

/// RFC 6749 §2.2 / Appendix A.1: client_id = *VSCHAR (printable ASCII).
fn check_client_id(m: &ClientMetadata, p: &mut Problems) {
    let id = &m.client_id;
    if id.is_empty() || id.len() > 255 || !id.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        p.add("client_id", "must be 1-255 printable ASCII characters");
    }
}

/// RFC 7591 §2 `token_endpoint_auth_method` against the secrets: a method that sends a secret
/// needs one, `none` and `private_key_jwt` use none. Returns the method in force.
fn check_auth_method(m: &ClientMetadata, p: &mut Problems) -> TokenEndpointAuthMethod {
    let has_secrets = !m.secrets.is_empty();
    let method = m.token_endpoint_auth_method.unwrap_or(if has_secrets {
        TokenEndpointAuthMethod::ClientSecretBasic
    } else {
        TokenEndpointAuthMethod::None
    });
    let field = "token_endpoint_auth_method";
    match method {
        TokenEndpointAuthMethod::None if has_secrets => p.add(
            field,
            "is `none` but the client has secrets; remove one or the other",
        ),
        secret_method if secret_method.uses_secret() && !has_secrets => p.add(
            field,
            format!(
                "`{}` needs at least one entry in `secrets`",
                secret_method.as_str()
            ),
        ),
        TokenEndpointAuthMethod::ClientSecretJwt
            if m.secrets.iter().any(|s| s.expose().len() < 32) =>
        {
            // RFC 7518 §3.2, OIDC Core §16.19: an HS256 key needs at least 256 bits.
            p.add(
                "secrets",
                "client_secret_jwt secrets must be at least 32 characters (HS256 keys)",
            )
        }
        m @ (TokenEndpointAuthMethod::PrivateKeyJwt
        | TokenEndpointAuthMethod::TlsClientAuth
        | TokenEndpointAuthMethod::SelfSignedTlsClientAuth)
            if has_secrets =>
        {
            p.add(
                field,
                format!(
                    "is `{}`, so `secrets` are never used; remove them",
                    m.as_str()
                ),
            )
        }
        _ => {}
    }
    method
}

/// RFC 7591 §2 `grant_types`: names the server serves ([`GrantType`]), each once; never the
/// password grant (RFC 9700 §2.4); client credentials only for a client that authenticates
/// (RFC 6749 §4.4).
fn check_grant_types(m: &ClientMetadata, method: TokenEndpointAuthMethod, p: &mut Problems) {
    if m.grant_types.is_empty() {
        p.add("grant_types", "is empty; e.g. [\"client_credentials\"]");
    }
    for (j, g) in m.grant_types.iter().enumerate() {
        let field = format!("grant_types[{j}]");
        if g == "password" {
            p.add(
                field,
                "the resource owner password grant is not offered (RFC 9700 §2.4)",
            );
        } else if g == "device_code" {
            let urn = GrantType::DeviceCode.name();
            p.add(
                field,
                format!("the device grant is named `{urn}` (RFC 8628 §3.4)"),
            );
        } else if g == "token_exchange" {
            let urn = GrantType::TokenExchange.name();
            p.add(
                field,
                format!("the token exchange grant is named `{urn}` (RFC 8693 §2.1)"),
            );
        } else if GrantType::from_name(g).is_none() {
            let known = GrantType::names().collect::<Vec<_>>().join(", ");
            p.add(field, format!("unknown grant type `{g}`; known: {known}"));
        } else if m.grant_types[..j].contains(g) {
            p.add(field, format!("`{g}` is listed twice"));
        }
    }
    if method == TokenEndpointAuthMethod::None && has_grant(m, GrantType::ClientCredentials) {
        p.add(
            "grant_types",
            "a public client (no secrets) cannot use client_credentials",
        );
    }
}

fn has_grant(m: &ClientMetadata, grant: GrantType) -> bool {
    m.grant_types.iter().any(|g| g == grant.name())
}

/// RFC 6749 §3.1.2, RFC 8252 §7: a client that signs users in registers where to send them
/// back; every redirect and post-logout redirect URI is absolute, has no fragment, uses https
/// (http on loopback; private-use schemes for native apps) and is listed once.
fn check_redirect_uris(m: &ClientMetadata, p: &mut Problems) {
    let signs_users_in =
        has_grant(m, GrantType::AuthorizationCode) || has_grant(m, GrantType::Implicit);
    if signs_users_in && m.redirect_uris.is_empty() {
        p.add("redirect_uris", "is empty, but the client signs users in");
    }
    for (field, uris) in [
        ("redirect_uris", &m.redirect_uris),
        ("post_logout_redirect_uris", &m.post_logout_redirect_uris),
    ] {
        for (j, uri) in uris.iter().enumerate() {
            if let Err(why) = check_registrable_redirect_uri(uri, m.application_type) {
                p.add(format!("{field}[{j}]"), format!("`{uri}` {why}"));
            } else if uris[..j].contains(uri) {
                p.add(format!("{field}[{j}]"), format!("`{uri}` is listed twice"));
            }
        }
    }
}

/// Front-Channel Logout §2, Back-Channel Logout §2.2: absolute URIs, https (http on loopback),
/// no fragment: the same rules as a web client's redirect URIs.
fn check_logout_uris(m: &ClientMetadata, p: &mut Problems) {
    for (field, uri) in [
        ("frontchannel_logout_uri", &m.frontchannel_logout_uri),
        ("backchannel_logout_uri", &m.backchannel_logout_uri),
    ] {
        if let Some(uri) = uri
            && let Err(why) = check_registrable_redirect_uri(uri, ApplicationType::Web)
        {
            p.add(field, format!("`{uri}` {why}"));
        }
    }
}

/// RFC 7591 §2 `scope`: only scopes the server declares (and `offline_access`, OIDC Core §11).
fn check_scopes(m: &ClientMetadata, resources: &Resources, p: &mut Problems) {
    let known = |s: &str| {
        s == OFFLINE_ACCESS
            || resources.identity_resources.iter().any(|r| r.name == s)
            || resources.api_scopes.iter().any(|r| r.name == s)
    };
    for (j, s) in m.allowed_scopes.iter().enumerate() {
        if !known(s) {
            p.add(
                format!("allowed_scopes[{j}]"),
                format!("unknown scope `{s}`; declare it under api_scopes or identity_resources"),
            );
        }
    }
}

/// RFC 8252 §8.4, §8.1: a native app cannot keep a secret and always uses PKCE.
fn check_native_app(m: &ClientMetadata, p: &mut Problems) {
    if m.application_type != ApplicationType::Native {
        return;
    }
    if !m.secrets.is_empty() {
        p.add(
            "secrets",
            "a native app cannot keep a secret (RFC 8252 §8.4); register it as a public client",
        );
    }
    if !m.settings.require_pkce {
        p.add(
            "require_pkce",
            "native apps always use PKCE (RFC 8252 §8.1)",
        );
    }
}

/// OIDC Registration §2 `default_acr_values`, and `minimum_acr`: only levels the server offers,
/// since a request asking for another could never be met; `require_mfa` needs a level that
/// asks for `mfa`.
fn check_acr_values(m: &ClientMetadata, levels: &AcrLevels, p: &mut Problems) {
    let offered = levels.values().collect::<Vec<_>>().join(", ");
    if let Some(acr) = &m.settings.minimum_acr
        && !levels.values().any(|v| v == acr)
    {
        p.add(
            "minimum_acr",
            format!(
                "`{acr}` is not an offered acr level; declare it under [[acr_levels]] \
                 (offered: {offered})"
            ),
        );
    }
    if m.settings.require_mfa && levels.weakest_needing(crate::login::MFA).is_none() {
        p.add(
            "require_mfa",
            "no acr level asks for `mfa`; add one under [[acr_levels]] with amr = [\"mfa\"]",
        );
    }
    for (j, acr) in m.default_acr_values.iter().enumerate() {
        if !levels.values().any(|v| v == acr) {
            let offered = levels.values().collect::<Vec<_>>().join(", ");
            p.add(
                format!("default_acr_values[{j}]"),
                format!(
                    "`{acr}` is not an offered acr level; declare it under [[acr_levels]] \
                     (offered: {offered})"
                ),
            );
        }
    }
}

/// RFC 9700 §4.14.2: a public client's refresh tokens are sender-constrained or rotated. A
/// single-page app (public, with CORS origins) keeps them in the browser; they are rotated on
/// every use, and their family ends within [`MAX_BROWSER_REFRESH_ABSOLUTE`].
fn check_browser_app(m: &ClientMetadata, method: TokenEndpointAuthMethod, p: &mut Problems) {
    let browser_app = method == TokenEndpointAuthMethod::None && !m.allowed_cors_origins.is_empty();
    if browser_app && m.settings.refresh_token_absolute_lifetime > MAX_BROWSER_REFRESH_ABSOLUTE {
        p.add(
            "refresh_token_absolute_lifetime",
            format!(
                "a single-page app's refresh tokens live in the browser and must end within \
                 {MAX_BROWSER_REFRESH_ABSOLUTE} seconds (7 days; RFC 9700 §4.14.2); leave it \
                 unset for one day"
            ),
        );
    }
}

/// SEC-64: each CORS origin exact and listed once, kept as browsers send it in `Origin`.
/// Returns the origins that are valid, serialised.
fn check_cors_origins(m: &ClientMetadata, p: &mut Problems) -> Vec<String> {
    let mut origins: Vec<String> = Vec::new();
    for (j, given) in m.allowed_cors_origins.iter().enumerate() {
        let field = format!("allowed_cors_origins[{j}]");
        match registrable_origin(given) {
            Ok(origin) if origins.contains(&origin) => {
                p.add(field, format!("`{given}` is listed twice (as `{origin}`)"));
            }
            Ok(origin) => origins.push(origin),
            Err(why) => p.add(field, format!("`{given}` {why}")),
        }
    }
    origins
}

/// Secrets are kept as digests (see [`crate::crypto::handle_digest`]); an empty one would be
/// a secret anyone knows.
fn digest_secrets(secrets: &[Secret<String>], p: &mut Problems) -> Vec<String> {
    let mut digests = Vec::new();
    for (i, s) in secrets.iter().enumerate() {
        if s.expose().is_empty() {
            p.add(format!("secrets[{i}]"), "is empty");
        } else {
            digests.push(handle_digest(s.expose()));
        }
    }
    digests
}

mod extensions;
mod tokens;
use extensions::{check_ciba, check_encryption};
use tokens::{
    AUTHORIZATION_ALG, ID_TOKEN_ALG, USERINFO_ALG, check_certificate_match, check_keys,
    check_refresh_lifetimes, check_token_exchange, check_token_lifetimes, refresh_rotation,
    signing_alg,
};

#[cfg(test)]
mod tests;
