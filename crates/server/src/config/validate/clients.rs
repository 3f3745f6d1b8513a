//! Client registrations: each `[[clients]]` entry is checked by the rules of
//! `tessera_core::clients::metadata`, its problems reported under its key.

use tessera_core::authorize::acr::AcrLevels;
use tessera_core::clients::assertion::SharedSecrets;
use tessera_core::clients::{ClientMetadata, ServerOffer, validate_client_metadata};
use tessera_core::model::{Client, ClientSettings, Resources, TokenEndpointAuthMethod};
use tessera_core::profile::Profile;
use tessera_core::tokens::SigningAlg;

use super::Problems;
use crate::config::{RawClient, RawConfig};

/// Secrets are stored as SHA-256 digests, which suits random secrets of 256 bits; short ones
/// could be guessed from a stolen database.
pub(super) fn short_secrets(raw: &RawConfig) -> Vec<String> {
    let clients = raw.clients.iter().flat_map(|c| {
        c.secrets
            .iter()
            .map(move |s| (format!("client {}", c.client_id), s))
    });
    let apis = raw.api_resources.iter().flat_map(|a| {
        a.secrets
            .iter()
            .map(move |s| (format!("API {}", a.name), s))
    });
    clients
        .chain(apis)
        .filter(|(_, s)| s.expose().len() < 32)
        .map(|(owner, _)| owner)
        .collect()
}

/// Maps each `[[clients]]` onto the registration core validates, and reports its problems
/// under the client's key (`clients[3].grant_types[1]`). Only what concerns the file itself is
/// checked here: keys that exist only to explain a refusal, and ids repeated in the list.
pub(super) fn check_clients(
    config: &RawConfig,
    (resources, acr_levels, profile): (&Resources, &AcrLevels, Option<Profile>),
    p: &mut Problems,
) -> Vec<Client> {
    // Names that do not parse are reported under keys.algorithms; a client naming one gets
    // the parse error of its own.
    let signing_algs: Vec<SigningAlg> = config
        .keys
        .algorithms
        .iter()
        .filter_map(|a| SigningAlg::parse(a).ok())
        .collect();
    let offer = ServerOffer {
        resources,
        acr_levels,
        signing_algs: &signing_algs,
        profile,
    };
    let mut clients = Vec::new();
    for (i, c) in config.clients.iter().enumerate() {
        let key = format!("clients[{i}]");
        // SEC-17, RFC 9700 §2.1.1: S256 only.
        if c.allow_plain_pkce {
            p.add(
                format!("{key}.allow_plain_pkce"),
                "PKCE `plain` is not supported (RFC 9700 §2.1.1): clients use S256",
            );
        }
        if config.clients[..i]
            .iter()
            .any(|o| o.client_id == c.client_id)
        {
            p.add(
                format!("{key}.client_id"),
                format!("duplicate client_id `{}`", c.client_id),
            );
        }
        match validate_client_metadata(&metadata_of(c), &offer) {
            Ok(client) => clients.push(client),
            Err(problems) => {
                for problem in problems {
                    p.add(format!("{key}.{}", problem.field), problem.message);
                }
            }
        }
    }
    clients
}

/// The clear secrets of `client_secret_jwt` clients, which verify their assertions (OIDC Core
/// §9: HMAC with the secret itself, so a digest will not do).
pub(super) fn client_jwt_secrets(raw: &RawConfig, clients: &[Client]) -> SharedSecrets {
    // Only valid clients are returned, so they are matched to their entries by id (ids are
    // unique once valid).
    clients
        .iter()
        .filter(|c| c.token_endpoint_auth_method == TokenEndpointAuthMethod::ClientSecretJwt)
        .filter_map(|c| raw.clients.iter().find(|r| r.client_id == c.client_id))
        .map(|r| (r.client_id.clone(), r.secrets.clone()))
        .collect()
}

/// The registration a `[[clients]]` entry makes; its keys are the metadata's names.
pub(crate) fn metadata_of(c: &RawClient) -> ClientMetadata {
    let public = c.secrets.is_empty()
        && c.token_endpoint_auth_method
            .is_none_or(|m| m == TokenEndpointAuthMethod::None);
    let (sliding, absolute) =
        ClientSettings::default_refresh_lifetimes(public && !c.allowed_cors_origins.is_empty());
    let absolute = c.refresh_token_absolute_lifetime.unwrap_or(absolute);
    ClientMetadata {
        client_id: c.client_id.clone(),
        client_name: c.client_name.clone(),
        secrets: c.secrets.clone(),
        token_endpoint_auth_method: c.token_endpoint_auth_method,
        grant_types: c.grant_types.clone(),
        redirect_uris: c.redirect_uris.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        allowed_scopes: c.allowed_scopes.clone(),
        settings: ClientSettings {
            require_pkce: c.require_pkce,
            require_consent: c.require_consent,
            access_token_type: c.access_token_type,
            access_token_lifetime: c.access_token_lifetime,
            identity_token_lifetime: c.identity_token_lifetime,
            // Unstated, sliding never outlasts the family.
            refresh_token_sliding_lifetime: c
                .refresh_token_sliding_lifetime
                .unwrap_or(sliding.min(absolute)),
            refresh_token_absolute_lifetime: absolute,
            require_mfa: c.require_mfa,
            minimum_acr: c.minimum_acr.clone(),
            require_dpop: c.require_dpop,
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            require_signed_request_object: c.require_signed_request_object,
            tls_client_certificate_bound_access_tokens: c
                .tls_client_certificate_bound_access_tokens,
            ..ClientSettings::default()
        },
        refresh_token_rotation: c.refresh_token_rotation,
        application_type: c.application_type,
        id_token_signed_response_alg: c.id_token_signed_response_alg.clone(),
        userinfo_signed_response_alg: c.userinfo_signed_response_alg.clone(),
        authorization_signed_response_alg: c.authorization_signed_response_alg.clone(),
        id_token_encrypted_response: (
            c.id_token_encrypted_response_alg.clone(),
            c.id_token_encrypted_response_enc.clone(),
        ),
        userinfo_encrypted_response: (
            c.userinfo_encrypted_response_alg.clone(),
            c.userinfo_encrypted_response_enc.clone(),
        ),
        authorization_encrypted_response: (
            c.authorization_encrypted_response_alg.clone(),
            c.authorization_encrypted_response_enc.clone(),
        ),
        default_acr_values: c.default_acr_values.clone(),
        jwks: c.jwks.as_ref().map(|j| j.keys.clone()),
        jwks_uri: c.jwks_uri.clone(),
        authorization_details_types: c.authorization_details_types.clone(),
        backchannel_token_delivery_mode: c.backchannel_token_delivery_mode.clone(),
        backchannel_client_notification_endpoint: c
            .backchannel_client_notification_endpoint
            .clone(),
        tls_client_auth_subject_dn: c.tls_client_auth_subject_dn.clone(),
        tls_client_auth_san_dns: c.tls_client_auth_san_dns.clone(),
        tls_client_auth_san_uri: c.tls_client_auth_san_uri.clone(),
        tls_client_auth_san_ip: c.tls_client_auth_san_ip.clone(),
        tls_client_auth_san_email: c.tls_client_auth_san_email.clone(),
        enabled: c.enabled,
        always_include_user_claims_in_id_token: c.always_include_user_claims_in_id_token,
        frontchannel_logout_uri: c.frontchannel_logout_uri.clone(),
        frontchannel_logout_session_required: c.frontchannel_logout_session_required,
        backchannel_logout_uri: c.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: c.backchannel_logout_session_required,
        allowed_cors_origins: c.allowed_cors_origins.clone(),
        token_exchange: tessera_core::model::TokenExchangePolicy {
            audiences: c.token_exchange.audiences.clone(),
            subject_audiences: c.token_exchange.subject_audiences.clone(),
            impersonate: c.token_exchange.impersonate,
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, load_str};

    /// Clients that break every rule, a few at a time; every message and its order is pinned,
    /// since operators read them (and scripts may match them).
    const BAD_CLIENTS: &str = r#"
issuer = "http://127.0.0.1:8080"

[keys]
algorithms = ["RS256"]

[[clients]]
client_id = ""
secrets = ["short"]
token_endpoint_auth_method = "none"

[[clients]]
client_id = "web"
allow_plain_pkce = true
grant_types = ["password", "nope", "authorization_code", "authorization_code"]

[[clients]]
client_id = "web"
token_endpoint_auth_method = "client_secret_basic"
grant_types = ["client_credentials"]

[[clients]]
client_id = "public"
grant_types = ["client_credentials", "implicit"]
redirect_uris = ["http://example.com/cb", "https://a.example/cb", "https://a.example/cb", "https://a.example/cb#f"]
post_logout_redirect_uris = ["nope"]
frontchannel_logout_uri = "http://example.com/fc"
backchannel_logout_uri = "https://b.example/bc#f"
allowed_scopes = ["openid", "unknown"]
access_token_lifetime = 0
identity_token_lifetime = 40000000

[[clients]]
client_id = "jwt"
token_endpoint_auth_method = "client_secret_jwt"
secrets = ["short", ""]
grant_types = ["client_credentials"]

[[clients]]
client_id = "pkj"
token_endpoint_auth_method = "private_key_jwt"
secrets = ["0123456789abcdef0123456789abcdef"]
grant_types = ["client_credentials"]

[[clients]]
client_id = "pkj-private"
token_endpoint_auth_method = "private_key_jwt"
grant_types = ["client_credentials"]
jwks = { keys = [ { kty = "EC", crv = "P-256", x = "a", y = "b", d = "c" }, "key" ] }

[[clients]]
client_id = "basic-jwks"
secrets = ["0123456789abcdef0123456789abcdef"]
grant_types = ["client_credentials"]
jwks = { keys = [] }

[[clients]]
client_id = "native"
application_type = "native"
secrets = ["0123456789abcdef0123456789abcdef"]
require_pkce = false
grant_types = ["authorization_code"]
redirect_uris = ["com.example.app:/cb", "http://127.0.0.1/cb"]

[[clients]]
client_id = "algs"
grant_types = ["authorization_code"]
redirect_uris = ["https://a.example/cb"]
id_token_signed_response_alg = "HS256"
default_acr_values = ["1", "urn:gold"]
refresh_token_sliding_lifetime = 0

[[clients]]
client_id = "algs2"
grant_types = ["authorization_code"]
redirect_uris = ["https://a.example/cb"]
id_token_signed_response_alg = "ES256"
refresh_token_sliding_lifetime = 100
refresh_token_absolute_lifetime = 50

[[clients]]
client_id = "spa"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://spa.example/cb"]
allowed_cors_origins = ["*", "https://*.spa.example", "null", "https://spa.example/app", "http://spa.example", "https://SPA.example:443", "https://spa.example/"]
refresh_token_absolute_lifetime = 2592000
"#;

    #[test]
    fn every_client_problem_names_its_key_and_the_fix() {
        let problems = match load_str(BAD_CLIENTS, false) {
            Err(ConfigError::Invalid(problems)) => problems,
            other => panic!("expected problems, got {other:?}"),
        };
        assert_eq!(problems, EXPECTED);
    }

    const EXPECTED: &[&str] = &[
        "clients[0].client_id: must be 1-255 printable ASCII characters",
        "clients[0].token_endpoint_auth_method: is `none` but the client has secrets; remove one or the other",
        "clients[0].grant_types: is empty; e.g. [\"client_credentials\"]",
        "clients[1].allow_plain_pkce: PKCE `plain` is not supported (RFC 9700 §2.1.1): clients use S256",
        "clients[1].grant_types[0]: the resource owner password grant is not offered (RFC 9700 §2.4)",
        "clients[1].grant_types[1]: unknown grant type `nope`; known: authorization_code, implicit, refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:device_code, urn:ietf:params:oauth:grant-type:token-exchange, urn:openid:params:grant-type:ciba",
        "clients[1].grant_types[3]: `authorization_code` is listed twice",
        "clients[1].redirect_uris: is empty, but the client signs users in",
        "clients[2].client_id: duplicate client_id `web`",
        "clients[2].token_endpoint_auth_method: `client_secret_basic` needs at least one entry in `secrets`",
        "clients[3].grant_types: a public client (no secrets) cannot use client_credentials",
        "clients[3].redirect_uris[0]: `http://example.com/cb` uses plain http on a non-loopback host; use https (http is allowed only for 127.0.0.1, [::1] and localhost)",
        "clients[3].redirect_uris[2]: `https://a.example/cb` is listed twice",
        "clients[3].redirect_uris[3]: `https://a.example/cb#f` has a fragment (#...); RFC 6749 §3.1.2 forbids it",
        "clients[3].post_logout_redirect_uris[0]: `nope` is not an absolute URI (relative URL without a base); RFC 6749 §3.1.2 requires one",
        "clients[3].frontchannel_logout_uri: `http://example.com/fc` uses plain http on a non-loopback host; use https (http is allowed only for 127.0.0.1, [::1] and localhost)",
        "clients[3].backchannel_logout_uri: `https://b.example/bc#f` has a fragment (#...); RFC 6749 §3.1.2 forbids it",
        "clients[3].allowed_scopes[1]: unknown scope `unknown`; declare it under api_scopes or identity_resources",
        "clients[3].access_token_lifetime: must be between 1 second and 1 year",
        "clients[3].identity_token_lifetime: must be between 1 second and 1 year",
        "clients[4].secrets: client_secret_jwt secrets must be at least 32 characters (HS256 keys)",
        "clients[4].secrets[1]: is empty",
        "clients[5].token_endpoint_auth_method: is `private_key_jwt`, so `secrets` are never used; remove them",
        "clients[5].jwks: private_key_jwt needs the client's public keys: jwks = { keys = [ ... ] }",
        "clients[6].jwks.keys[0]: holds the private member `d`: register public keys only",
        "clients[6].jwks.keys[1]: a JWK must be a JSON object",
        "clients[8].secrets: a native app cannot keep a secret (RFC 8252 §8.4); register it as a public client",
        "clients[8].require_pkce: native apps always use PKCE (RFC 8252 §8.1)",
        "clients[9].id_token_signed_response_alg: unsupported signing algorithm `HS256` (supported: ES256, RS256, PS256, ES384, EdDSA)",
        "clients[9].default_acr_values[1]: `urn:gold` is not an offered acr level; declare it under [[acr_levels]] (offered: 1, 2)",
        "clients[9].refresh_token_sliding_lifetime: must be at least 1 second and at most refresh_token_absolute_lifetime",
        "clients[10].id_token_signed_response_alg: `ES256` is not in keys.algorithms; add it there to sign with it",
        "clients[10].refresh_token_sliding_lifetime: must be at least 1 second and at most refresh_token_absolute_lifetime",
        "clients[11].refresh_token_absolute_lifetime: a single-page app's refresh tokens live in the browser and must end within 604800 seconds (7 days; RFC 9700 §4.14.2); leave it unset for one day",
        "clients[11].allowed_cors_origins[0]: `*` has a wildcard; list every origin exactly (scheme://host[:port])",
        "clients[11].allowed_cors_origins[1]: `https://*.spa.example` has a wildcard; list every origin exactly (scheme://host[:port])",
        "clients[11].allowed_cors_origins[2]: `null` is `null`, the origin of sandboxed and local documents, which anyone can send",
        "clients[11].allowed_cors_origins[3]: `https://spa.example/app` has a path, query or fragment; an origin is only scheme://host[:port]",
        "clients[11].allowed_cors_origins[4]: `http://spa.example` uses plain http on a non-loopback host; use https (http is allowed only for 127.0.0.1, [::1] and localhost)",
        "clients[11].allowed_cors_origins[6]: `https://spa.example/` is listed twice (as `https://spa.example`)",
        "keys.retention: 86400 s is shorter than the longest token lifetime plus keys.refresh_interval (40000030 s); keys would leave JWKS while their tokens are valid",
    ];

    /// A single-page app (public, with CORS origins) gets short refresh lifetimes unless it
    /// states its own; other clients keep the long defaults; origins are kept as browsers send
    /// them.
    #[test]
    fn single_page_apps_get_a_day_of_refresh_and_their_origins_as_browsers_send_them() {
        let config = load_str(
            r#"
issuer = "http://127.0.0.1:8080"

[[clients]]
client_id = "spa"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://spa.example/cb"]
allowed_cors_origins = ["https://SPA.example:443/", "http://localhost:5173"]

[[clients]]
client_id = "spa-week"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://spa.example/cb"]
allowed_cors_origins = ["https://spa.example"]
refresh_token_absolute_lifetime = 604800

[[clients]]
client_id = "web"
secrets = ["0123456789abcdef0123456789abcdef"]
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://web.example/cb"]
allowed_cors_origins = ["https://web.example"]
"#,
            false,
        )
        .unwrap();
        let lifetimes = |id: &str| {
            let c = config.clients.iter().find(|c| c.client_id == id).unwrap();
            let s = &c.settings;
            (
                s.refresh_token_sliding_lifetime,
                s.refresh_token_absolute_lifetime,
            )
        };
        assert_eq!(lifetimes("spa"), (86_400, 86_400));
        assert_eq!(lifetimes("spa-week"), (86_400, 604_800));
        assert_eq!(lifetimes("web"), (14 * 86_400, 30 * 86_400));
        assert_eq!(
            config.clients[0].allowed_cors_origins,
            ["https://spa.example", "http://localhost:5173"]
        );
    }
}
