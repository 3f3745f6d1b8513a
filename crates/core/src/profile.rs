//! Security profiles: a set of rules an operator declares (`profile = "fapi2"` or
//! `"rfc9700"`), which every client is checked against when the server starts and whenever a
//! client is made or changed, and which the server enforces on every request.
//!
//! - `rfc9700`: the OAuth 2.0 Security Best Current Practice (RFC 9700) with no opt-outs: PKCE
//!   for every code flow (§2.1.1) and no implicit grant (§2.1.2).
//! - `fapi2`: the FAPI 2.0 Security Profile (§5.3.2): besides the above, pushed requests only,
//!   the code flow (with refresh tokens and client credentials) only, confidential clients
//!   authenticated with `private_key_jwt` or mutual TLS, sender-constrained tokens (DPoP or
//!   mutual TLS), the profile's algorithms (PS256, ES256, EdDSA) for everything signed, and
//!   refresh tokens that do not rotate unless a client asks.

use crate::clients::metadata::MetadataProblem;
use crate::model::{Client, TokenEndpointAuthMethod};
use crate::protocol::grant_type::GrantType;
use crate::tokens::SigningAlg;

/// A declared security profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// RFC 9700 without opt-outs.
    Rfc9700,
    /// FAPI 2.0 Security Profile.
    Fapi2,
}

/// FAPI 2.0 SP §5.4.1: the algorithms allowed for signing.
pub const FAPI2_ALGS: &[SigningAlg] = &[SigningAlg::Ps256, SigningAlg::Es256, SigningAlg::EdDsa];

/// The names of [`FAPI2_ALGS`].
pub const FAPI2_ALG_NAMES: &[&str] = &["PS256", "ES256", "EdDSA"];

/// FAPI 2.0 SP §5.3.2.1: the longest a `request_uri` may live, in seconds (and the shortest).
pub const FAPI2_REQUEST_URI_LIFETIME: std::ops::RangeInclusive<u64> = 5..=600;

impl Profile {
    /// The profile a configuration names.
    pub fn parse(name: &str) -> Option<Profile> {
        match name {
            "rfc9700" => Some(Profile::Rfc9700),
            "fapi2" => Some(Profile::Fapi2),
            _ => None,
        }
    }

    /// Its name in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Rfc9700 => "rfc9700",
            Profile::Fapi2 => "fapi2",
        }
    }

    /// What the profile checks of each client, one line each, for the operator's report.
    pub fn client_rules(self) -> &'static [&'static str] {
        match self {
            Profile::Rfc9700 => RFC9700_RULES,
            Profile::Fapi2 => FAPI2_RULES,
        }
    }

    /// What the profile makes the server do on every request, one line each.
    pub fn server_rules(self) -> &'static [&'static str] {
        match self {
            Profile::Rfc9700 => &[
                "PKCE with S256 for every authorization code (plain is never accepted)",
                "exact redirect URI matching; iss in every authorization response (RFC 9207)",
            ],
            Profile::Fapi2 => &[
                "every authorization request is pushed first (RFC 9126); others get invalid_request",
                "request_uri lifetime between 5 and 600 seconds; authorization codes live 60 seconds",
                "client assertions, request objects, ID tokens, UserInfo and access tokens signed with PS256, ES256 or EdDSA only",
                "clients created or changed through the admin API or registration are checked as at start",
                "refresh tokens do not rotate unless a client sets refresh_token_rotation = true (FAPI 2.0 SP §5.3.2.1)",
            ],
        }
    }
}

const RFC9700_RULES: &[&str] = &[
    "require_pkce is true for every client of the authorization code flow (RFC 9700 §2.1.1)",
    "no implicit grant (RFC 9700 §2.1.2)",
];

const FAPI2_RULES: &[&str] = &[
    "require_pkce is true for every client of the authorization code flow (RFC 9700 §2.1.1)",
    "grant types: authorization_code, refresh_token and client_credentials only (FAPI 2.0 SP §5.3.2.1)",
    "confidential clients only, authenticated with private_key_jwt, tls_client_auth or self_signed_tls_client_auth; no client secrets (FAPI 2.0 SP §5.3.2.1)",
    "sender-constrained tokens: require_dpop or tls_client_certificate_bound_access_tokens is true (FAPI 2.0 SP §5.3.2.1)",
    "ID token and UserInfo algorithms, and the algorithms of the client's keys: PS256, ES256 or EdDSA (FAPI 2.0 SP §5.4.1)",
];

/// The profile's rule a checked authorization request breaks, if any: under `fapi2`, a JWT
/// response (JARM) signed with JARM's default RS256, for a client that registered no
/// `authorization_signed_response_alg` (FAPI 2.0 SP §5.4.1).
pub fn request_violation(
    profile: Option<Profile>,
    request: &crate::authorize::AuthorizationRequest,
) -> Option<crate::protocol::OAuthError> {
    let alg = request.response_alg?;
    (profile == Some(Profile::Fapi2) && !FAPI2_ALGS.contains(&alg)).then(|| {
        crate::protocol::OAuthError::InvalidRequest(
            format!(
                "JWT responses would be signed with {}: register authorization_signed_response_alg as one of {} (profile fapi2)",
                alg.name(),
                FAPI2_ALG_NAMES.join(", ")
            )
            .into(),
        )
    })
}

/// Every rule of `profile` that `client` breaks, each naming its field and the fix.
pub fn client_violations(profile: Profile, client: &Client) -> Vec<MetadataProblem> {
    let mut problems = Vec::new();
    let mut add = |field: &str, message: String| {
        problems.push(MetadataProblem {
            field: field.to_string(),
            message: format!("{message} (profile {})", profile.name()),
        })
    };
    let has = |g: GrantType| client.grant_types.iter().any(|n| n == g.name());
    if has(GrantType::AuthorizationCode) && !client.settings.require_pkce {
        add(
            "require_pkce",
            "must be true: every authorization code is bound with PKCE".into(),
        );
    }
    if has(GrantType::Implicit) {
        add(
            "grant_types",
            "the implicit grant is not allowed; use the authorization code flow".into(),
        );
    }
    if profile == Profile::Fapi2 {
        fapi2_violations(client, &mut add);
    }
    problems
}

fn fapi2_violations(client: &Client, add: &mut impl FnMut(&str, String)) {
    const ALLOWED: [GrantType; 3] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];
    for (i, name) in client.grant_types.iter().enumerate() {
        if name != GrantType::Implicit.name() && !ALLOWED.iter().any(|g| g.name() == name) {
            add(
                &format!("grant_types[{i}]"),
                format!(
                    "`{name}` is outside FAPI 2.0: use authorization_code, refresh_token or client_credentials"
                ),
            );
        }
    }
    let method = client.token_endpoint_auth_method;
    if method != TokenEndpointAuthMethod::PrivateKeyJwt && !method.is_mtls() {
        add(
            "token_endpoint_auth_method",
            format!(
                "is `{}`; FAPI 2.0 clients are confidential and authenticate with private_key_jwt or mutual TLS",
                method.as_str()
            ),
        );
    }
    let settings = &client.settings;
    if !settings.require_dpop && !settings.tls_client_certificate_bound_access_tokens {
        add(
            "require_dpop",
            "must be true, or tls_client_certificate_bound_access_tokens: FAPI 2.0 access tokens are sender-constrained".into(),
        );
    }
    let alg_ok = |alg: SigningAlg| FAPI2_ALGS.contains(&alg);
    if !alg_ok(client.id_token_signed_response_alg) {
        add(
            "id_token_signed_response_alg",
            format!(
                "is {}; use {}",
                client.id_token_signed_response_alg.name(),
                FAPI2_ALG_NAMES.join(", ")
            ),
        );
    }
    for (field, alg) in [
        (
            "userinfo_signed_response_alg",
            client.userinfo_signed_response_alg,
        ),
        (
            "authorization_signed_response_alg",
            client.authorization_signed_response_alg,
        ),
    ] {
        if let Some(alg) = alg.filter(|a| !alg_ok(*a)) {
            add(
                field,
                format!("is {}; use {}", alg.name(), FAPI2_ALG_NAMES.join(", ")),
            );
        }
    }
    for (i, key) in client.jwks.iter().enumerate() {
        if let Some(alg) = key.alg.as_deref().filter(|a| !FAPI2_ALG_NAMES.contains(a)) {
            add(
                &format!("jwks.keys[{i}].alg"),
                format!("is {alg}; use {}", FAPI2_ALG_NAMES.join(", ")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fapi_client() -> Client {
        let mut c = Client::builder("bank")
            .grant_types(&["authorization_code", "refresh_token"])
            .redirect_uris(&["https://app.example/cb"])
            .scopes(&["openid"])
            .auth_method(TokenEndpointAuthMethod::PrivateKeyJwt)
            .build();
        c.settings.require_dpop = true;
        c.id_token_signed_response_alg = SigningAlg::Ps256;
        c
    }

    fn fields(profile: Profile, client: &Client) -> Vec<String> {
        client_violations(profile, client)
            .into_iter()
            .map(|p| p.field)
            .collect::<Vec<_>>()
    }

    #[test]
    fn a_fapi_client_conforms_to_both_profiles() {
        assert_eq!(fields(Profile::Fapi2, &fapi_client()), Vec::<String>::new());
        assert_eq!(
            fields(Profile::Rfc9700, &fapi_client()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_departure_is_named() {
        let mut c = fapi_client();
        c.settings.require_pkce = false;
        c.grant_types.push("implicit".into());
        c.grant_types
            .push("urn:ietf:params:oauth:grant-type:device_code".into());
        c.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretBasic;
        c.settings.require_dpop = false;
        c.id_token_signed_response_alg = SigningAlg::Rs256;
        c.userinfo_signed_response_alg = Some(SigningAlg::Es384);
        assert_eq!(
            fields(Profile::Fapi2, &c),
            [
                "require_pkce",
                "grant_types",
                "grant_types[3]",
                "token_endpoint_auth_method",
                "require_dpop",
                "id_token_signed_response_alg",
                "userinfo_signed_response_alg",
            ]
        );
        assert_eq!(
            fields(Profile::Rfc9700, &c),
            ["require_pkce", "grant_types"]
        );
        let message = &client_violations(Profile::Fapi2, &c)[3].message;
        assert!(message.contains("private_key_jwt") && message.ends_with("(profile fapi2)"));
    }

    #[test]
    fn names_round_trip() {
        for p in [Profile::Rfc9700, Profile::Fapi2] {
            assert_eq!(Profile::parse(p.name()), Some(p));
        }
        assert_eq!(Profile::parse("fapi1"), None);
    }
}
