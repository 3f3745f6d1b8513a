//! Provider metadata: OpenID Connect Discovery 1.0 §3 and RFC 8414 §2.
//!
//! Only what Tessera implements is advertised; members whose spec default would claim more than
//! we do (`grant_types_supported`, `request_uri_parameter_supported`) are given explicitly.

use serde::Serialize;

use super::paths;
use crate::clients::assertion::HMAC_ALGS;
use crate::clients::jwk::ASSERTION_ALGS;
use crate::tokens::SigningAlg;

/// Client authentication methods implemented (RFC 6749 §2.3.1).
const CLIENT_AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
];

/// Algorithms accepted in client assertions: HMAC for client_secret_jwt, then the asymmetric
/// ones for private_key_jwt, from the lists the verifier itself uses.
fn client_assertion_algs() -> Vec<&'static str> {
    HMAC_ALGS
        .iter()
        .map(|(alg, _)| *alg)
        .chain(ASSERTION_ALGS.iter().copied())
        .collect()
}

/// The discovery document.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// Discovery §3 REQUIRED; identical to the `iss` of every token.
    pub issuer: String,
    /// Discovery §3 REQUIRED.
    pub authorization_endpoint: String,
    /// Discovery §3 REQUIRED unless only the implicit flow is used.
    pub token_endpoint: String,
    /// Discovery §3 REQUIRED.
    pub jwks_uri: String,
    /// Discovery §3 RECOMMENDED.
    pub userinfo_endpoint: String,
    /// RP-Initiated Logout 1.0 §2.1.
    pub end_session_endpoint: String,
    /// Session Management 1.0 §3.3.
    pub check_session_iframe: String,
    /// Front-Channel Logout 1.0 §3.
    pub frontchannel_logout_supported: bool,
    /// Front-Channel Logout 1.0 §3: `iss` and `sid` are sent.
    pub frontchannel_logout_session_supported: bool,
    /// Back-Channel Logout 1.0 §2.1.
    pub backchannel_logout_supported: bool,
    /// Back-Channel Logout 1.0 §2.1: logout tokens carry `sid`.
    pub backchannel_logout_session_supported: bool,
    /// RFC 8414 §2: client authentication methods at the token endpoint.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// RFC 8414 §2: required when `private_key_jwt` is listed.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 8414 §2 (RFC 7662).
    pub introspection_endpoint: String,
    /// RFC 8414 §2.
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// RFC 8414 §2.
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 9701 §7: algorithms of signed (JWT) introspection responses.
    pub introspection_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 8628 §4.
    pub device_authorization_endpoint: String,
    /// RFC 9126 §5.
    pub pushed_authorization_request_endpoint: String,
    /// CIBA Core §4.
    pub backchannel_authentication_endpoint: String,
    /// CIBA Core §4: poll and ping (not push).
    pub backchannel_token_delivery_modes_supported: Vec<&'static str>,
    /// CIBA Core §4: `user_code` is not offered.
    pub backchannel_user_code_parameter_supported: bool,
    /// RFC 9396 §10: the `authorization_details` types clients may ask for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorization_details_types_supported: Vec<String>,
    /// RFC 8705 §3.3: access tokens can be bound to clients' TLS certificates.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_client_certificate_bound_access_tokens: bool,
    /// RFC 8705 §5: where clients reach the endpoints over mutual TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtls_endpoint_aliases: Option<serde_json::Value>,
    /// RFC 9126 §5: authorization requests are accepted only pushed.
    pub require_pushed_authorization_requests: bool,
    /// OIDC Discovery §3, RFC 9101 §4: what request objects may be signed with.
    pub request_object_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 9101 §10.5: every request must be a signed request object.
    pub require_signed_request_object: bool,
    /// RFC 7591 §3, OIDC Discovery §3 `registration_endpoint`.
    pub registration_endpoint: String,
    /// RFC 9449 §5.1: the algorithms DPoP proofs may be signed with.
    pub dpop_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 8414 §2 (RFC 7009).
    pub revocation_endpoint: String,
    /// RFC 8414 §2.
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// RFC 8414 §2.
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// Discovery §3 RECOMMENDED.
    pub scopes_supported: Vec<String>,
    /// Discovery §3 REQUIRED.
    pub response_types_supported: Vec<&'static str>,
    /// Discovery §3 (OAuth 2.0 Multiple Response Types, Form Post Response Mode).
    pub response_modes_supported: Vec<&'static str>,
    /// JARM §4: the algorithms authorization responses may be signed with.
    pub authorization_signing_alg_values_supported: Vec<&'static str>,
    /// RFC 8414 §2 (RFC 7636).
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// RFC 9207 §3: every authorization response carries `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    /// OpenID Connect Prompt Create 1.0 §4.
    pub prompt_values_supported: Vec<&'static str>,
    /// RFC 8414 §2: the grant types served (`protocol::grant_type`); `implicit` only for
    /// clients registered for it.
    pub grant_types_supported: Vec<&'static str>,
    /// Discovery §3 REQUIRED.
    pub subject_types_supported: Vec<&'static str>,
    /// Discovery §3 REQUIRED; RS256 must be listed.
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// Discovery §3: the JWE algorithms of encrypted identity tokens (OIDC Core §10.2).
    pub id_token_encryption_alg_values_supported: Vec<&'static str>,
    /// Discovery §3.
    pub id_token_encryption_enc_values_supported: Vec<&'static str>,
    /// Discovery §3: the JWE algorithms of encrypted UserInfo responses.
    pub userinfo_encryption_alg_values_supported: Vec<&'static str>,
    /// Discovery §3.
    pub userinfo_encryption_enc_values_supported: Vec<&'static str>,
    /// JARM §5: the JWE algorithms of encrypted JWT authorization responses.
    pub authorization_encryption_alg_values_supported: Vec<&'static str>,
    /// JARM §5.
    pub authorization_encryption_enc_values_supported: Vec<&'static str>,
    /// Discovery §3: what a client's `userinfo_signed_response_alg` may name (OIDC Core §5.3.2).
    pub userinfo_signing_alg_values_supported: Vec<&'static str>,
    /// Discovery §3 RECOMMENDED.
    pub claims_supported: Vec<String>,
    /// Discovery §3: the authentication context classes offered (OIDC Core §2 `acr`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acr_values_supported: Vec<String>,
    /// Discovery §3: defaults to false, stated for clarity.
    pub claims_parameter_supported: bool,
    /// Discovery §3: request objects by value (RFC 9101).
    pub request_parameter_supported: bool,
    /// Discovery §3: defaults to TRUE, so it must be stated: by-reference request objects are an
    /// SSRF surface and are not fetched (the `request_uri`s of pushed requests are always
    /// accepted, RFC 9126 §5).
    pub request_uri_parameter_supported: bool,
}

impl ProviderMetadata {
    /// Mutual TLS is offered (RFC 8705): its client authentication methods, bound tokens, and
    /// the endpoints at `mtls_base` when clients reach them at another address (§5).
    pub fn offer_mtls(&mut self, mtls_base: Option<&str>) {
        for methods in [
            &mut self.token_endpoint_auth_methods_supported,
            &mut self.introspection_endpoint_auth_methods_supported,
            &mut self.revocation_endpoint_auth_methods_supported,
        ] {
            methods.extend(["tls_client_auth", "self_signed_tls_client_auth"]);
        }
        self.tls_client_certificate_bound_access_tokens = true;
        self.mtls_endpoint_aliases = mtls_base.map(|base| {
            let at = |path: &str| format!("{}{path}", base.trim_end_matches('/'));
            serde_json::json!({
                "token_endpoint": at(paths::TOKEN),
                "userinfo_endpoint": at(paths::USERINFO),
                "introspection_endpoint": at(paths::INTROSPECT),
                "revocation_endpoint": at(paths::REVOKE),
                "pushed_authorization_request_endpoint": at(paths::PAR),
                "device_authorization_endpoint": at(paths::DEVICE_AUTHORIZATION),
            })
        });
    }

    /// Builds the metadata for `issuer` (already validated: absolute, no query or fragment).
    pub fn new(
        issuer: &str,
        signing_algs: &[SigningAlg],
        scopes: Vec<String>,
        profile_claims: Vec<String>,
    ) -> Self {
        let base = issuer.trim_end_matches('/');
        let endpoint = |path: &str| format!("{base}{path}");
        // Claims about the user that scopes release; protocol claims follow when identity
        // tokens are issued.
        let mut claims = vec!["sub".to_string()];
        for c in crate::model::ID_TOKEN_PROTOCOL_CLAIMS
            .iter()
            .map(|c| c.to_string())
            .chain(profile_claims)
        {
            if !claims.contains(&c) {
                claims.push(c);
            }
        }
        Self {
            issuer: issuer.to_string(),
            authorization_endpoint: endpoint(paths::AUTHORIZE),
            token_endpoint: endpoint(paths::TOKEN),
            jwks_uri: endpoint(paths::JWKS),
            userinfo_endpoint: endpoint(paths::USERINFO),
            end_session_endpoint: endpoint(paths::END_SESSION),
            check_session_iframe: endpoint(paths::CHECK_SESSION),
            frontchannel_logout_supported: true,
            frontchannel_logout_session_supported: true,
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
            // Public clients (with PKCE) authenticate with `none`.
            token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS
                .iter()
                .copied()
                .chain(["none"])
                .collect(),
            token_endpoint_auth_signing_alg_values_supported: client_assertion_algs(),
            introspection_endpoint: endpoint(paths::INTROSPECT),
            introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS.to_vec(),
            introspection_endpoint_auth_signing_alg_values_supported: client_assertion_algs(),
            introspection_signing_alg_values_supported: signing_algs
                .iter()
                .map(|a| a.name())
                .collect(),
            device_authorization_endpoint: endpoint(paths::DEVICE_AUTHORIZATION),
            pushed_authorization_request_endpoint: endpoint(paths::PAR),
            backchannel_authentication_endpoint: endpoint(paths::BC_AUTHORIZE),
            backchannel_token_delivery_modes_supported: vec!["poll", "ping"],
            backchannel_user_code_parameter_supported: false,
            authorization_details_types_supported: Vec::new(),
            tls_client_certificate_bound_access_tokens: false,
            mtls_endpoint_aliases: None,
            require_pushed_authorization_requests: false,
            request_object_signing_alg_values_supported:
                crate::authorize::request_object::REQUEST_OBJECT_ALGS.to_vec(),
            require_signed_request_object: false,
            registration_endpoint: endpoint(paths::REGISTER),
            dpop_signing_alg_values_supported: crate::dpop::DPOP_ALGS.to_vec(),
            revocation_endpoint: endpoint(paths::REVOKE),
            revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS
                .iter()
                .copied()
                .chain(["none"])
                .collect(),
            revocation_endpoint_auth_signing_alg_values_supported: client_assertion_algs(),
            scopes_supported: scopes,
            // Implicit and hybrid only for clients registered for `implicit` (RFC 9700 §2.1.2).
            response_types_supported: vec![
                "code",
                "id_token",
                "id_token token",
                "code id_token",
                "code token",
                "code id_token token",
            ],
            response_modes_supported: vec![
                "query",
                "fragment",
                "form_post",
                "jwt",
                "query.jwt",
                "fragment.jwt",
                "form_post.jwt",
            ],
            authorization_signing_alg_values_supported: signing_algs
                .iter()
                .map(|a| a.name())
                .collect(),
            code_challenge_methods_supported: vec!["S256"],
            authorization_response_iss_parameter_supported: true,
            prompt_values_supported: vec!["none", "login", "consent", "select_account"],
            grant_types_supported: super::grant_type::GrantType::names().collect(),
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: signing_algs.iter().map(|a| a.name()).collect(),
            userinfo_signing_alg_values_supported: signing_algs.iter().map(|a| a.name()).collect(),
            id_token_encryption_alg_values_supported: crate::tokens::jwe::JWE_ALGS.to_vec(),
            id_token_encryption_enc_values_supported: crate::tokens::jwe::JWE_ENCS.to_vec(),
            userinfo_encryption_alg_values_supported: crate::tokens::jwe::JWE_ALGS.to_vec(),
            userinfo_encryption_enc_values_supported: crate::tokens::jwe::JWE_ENCS.to_vec(),
            authorization_encryption_alg_values_supported: crate::tokens::jwe::JWE_ALGS.to_vec(),
            authorization_encryption_enc_values_supported: crate::tokens::jwe::JWE_ENCS.to_vec(),
            claims_supported: claims,
            acr_values_supported: Vec::new(),
            claims_parameter_supported: true,
            request_parameter_supported: true,
            request_uri_parameter_supported: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_hang_off_the_issuer() {
        let m = ProviderMetadata::new(
            "https://id.example/tenant",
            &[SigningAlg::Es256, SigningAlg::Rs256],
            vec!["openid".into()],
            vec!["name".into(), "sub".into()],
        );
        assert_eq!(m.issuer, "https://id.example/tenant");
        assert_eq!(
            m.jwks_uri,
            "https://id.example/tenant/.well-known/jwks.json"
        );
        assert_eq!(m.token_endpoint, "https://id.example/tenant/token");
        assert_eq!(m.id_token_signing_alg_values_supported, ["ES256", "RS256"]);
        assert_eq!(m.claims_supported.iter().filter(|c| *c == "sub").count(), 1);
        assert!(m.claims_supported.contains(&"name".to_string()));
    }
}
