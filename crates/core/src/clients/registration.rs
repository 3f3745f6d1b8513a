//! Dynamic client registration (RFC 7591, OpenID Connect Dynamic Client Registration 1.0) and
//! its management protocol (RFC 7592): what a client sends, the operator's policy it must fit,
//! and what the server answers. The registered client passes the same rules as the
//! configuration file's ([`crate::clients::manage::ClientManager`]).

use serde::Deserialize;
use serde_json::Value;

use crate::clients::metadata::{ClientMetadata, MetadataProblem};
use crate::model::{ApplicationType, ClientSettings, TokenEndpointAuthMethod};
use crate::protocol::grant_type::GrantType;

/// The operator's limits on dynamic registration (`[registration]`).
#[derive(Debug, Clone)]
pub struct RegistrationPolicy {
    /// Anyone may register, without an initial access token.
    pub open: bool,
    /// The grant types a registration may ask for.
    pub grant_types: Vec<String>,
    /// The client authentication methods it may choose.
    pub auth_methods: Vec<TokenEndpointAuthMethod>,
    /// The schemes its redirect URIs may use (the core rules apply besides: plain http only
    /// to loopback).
    pub redirect_uri_schemes: Vec<String>,
    /// The scopes it may be allowed; a registration without `scope` gets all of them.
    pub scopes: Vec<String>,
    /// Seconds its access tokens live.
    pub access_token_lifetime: u64,
    /// Open registrations a client address may attempt in an hour.
    pub open_per_address: u32,
    /// Confidential registered clients must use PKCE too; off, they may rely on `nonce`
    /// instead (RFC 9700 §2.1.1). Public clients always use PKCE.
    pub require_pkce: bool,
}

impl Default for RegistrationPolicy {
    fn default() -> Self {
        Self {
            open: false,
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            auth_methods: vec![
                TokenEndpointAuthMethod::ClientSecretBasic,
                TokenEndpointAuthMethod::ClientSecretPost,
                TokenEndpointAuthMethod::PrivateKeyJwt,
                TokenEndpointAuthMethod::None,
            ],
            redirect_uri_schemes: vec!["https".into(), "http".into()],
            scopes: [
                "openid",
                "profile",
                "email",
                "address",
                "phone",
                "offline_access",
            ]
            .map(String::from)
            .to_vec(),
            access_token_lifetime: 3_600,
            open_per_address: 10,
            require_pkce: true,
        }
    }
}

/// A registration request (RFC 7591 §2, OIDC Registration §2, Front- and Back-Channel Logout
/// §2). Metadata the server does not understand is ignored (RFC 7591 §2), so the answer, which
/// lists what was registered, leaves it out.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistrationRequest {
    /// RFC 7592 §2.2: the client's id, in an update.
    pub client_id: Option<String>,
    /// RFC 7592 §2.2: the client's secret, in an update; must match when sent.
    pub client_secret: Option<String>,
    /// RFC 7591 §2.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// RFC 7591 §2; `client_secret_basic` when omitted.
    pub token_endpoint_auth_method: Option<String>,
    /// RFC 7591 §2; `authorization_code` when omitted.
    pub grant_types: Option<Vec<String>>,
    /// RFC 7591 §2; `code` when omitted.
    pub response_types: Option<Vec<String>>,
    /// RFC 7591 §2.
    pub client_name: Option<String>,
    /// RFC 7591 §2: space-separated.
    pub scope: Option<String>,
    /// RFC 7591 §2: the key set by value.
    pub jwks: Option<Value>,
    /// RFC 7591 §2: the key set by reference (not supported: register it by value).
    pub jwks_uri: Option<String>,
    /// OIDC Registration §2: `web` or `native`.
    pub application_type: Option<String>,
    /// OIDC Registration §2.
    pub id_token_signed_response_alg: Option<String>,
    /// OIDC Registration §2: UserInfo responses signed (OIDC Core §5.3.2).
    pub userinfo_signed_response_alg: Option<String>,
    /// JARM §3: JWT authorization responses signed with this algorithm.
    pub authorization_signed_response_alg: Option<String>,
    /// OIDC Registration §2: identity tokens encrypted with this key management algorithm.
    pub id_token_encrypted_response_alg: Option<String>,
    /// OIDC Registration §2: and this content encryption.
    pub id_token_encrypted_response_enc: Option<String>,
    /// OIDC Registration §2: UserInfo responses encrypted with this algorithm.
    pub userinfo_encrypted_response_alg: Option<String>,
    /// OIDC Registration §2: and this content encryption.
    pub userinfo_encrypted_response_enc: Option<String>,
    /// JARM §3: JWT authorization responses encrypted with this algorithm.
    pub authorization_encrypted_response_alg: Option<String>,
    /// JARM §3: and this content encryption.
    pub authorization_encrypted_response_enc: Option<String>,
    /// OIDC Registration §2.
    #[serde(default)]
    pub default_acr_values: Vec<String>,
    /// OIDC Registration §2: only `public` is offered.
    pub subject_type: Option<String>,
    /// OIDC Registration §2: for pairwise subjects, which are not offered.
    pub sector_identifier_uri: Option<String>,
    /// RP-Initiated Logout §3.1.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Front-Channel Logout §2.
    pub frontchannel_logout_uri: Option<String>,
    /// Front-Channel Logout §2.
    pub frontchannel_logout_session_required: Option<bool>,
    /// Back-Channel Logout §2.2.
    pub backchannel_logout_uri: Option<String>,
    /// Back-Channel Logout §2.2.
    pub backchannel_logout_session_required: Option<bool>,
    /// RFC 7591 §2.3: not accepted (no trusted statement issuers are configured).
    pub software_statement: Option<String>,
    /// OIDC Registration §2: where a third party may start a sign-in; checked (https), not
    /// used, as sign-ins started by third parties are not offered.
    pub initiate_login_uri: Option<String>,
    /// RFC 9126 §6: authorization requests must be pushed first.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// RFC 9101 §10.5: authorization requests must be signed request objects.
    #[serde(default)]
    pub require_signed_request_object: bool,
    /// RFC 9396 §10: the `authorization_details` types the client asks for.
    #[serde(default)]
    pub authorization_details_types: Vec<String>,
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
    /// RFC 8705 §3.4: access tokens bound to the client's certificate.
    #[serde(default)]
    pub tls_client_certificate_bound_access_tokens: bool,
    /// DPoP §5.2: every access token is bound to a DPoP key (RFC 9449
    /// `dpop_bound_access_tokens`).
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
}

/// A refused registration: the RFC 7591 §3.2.2 error code and every problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `invalid_redirect_uri`, `invalid_client_metadata` or `invalid_software_statement`.
    pub error: &'static str,
    /// Each problem, with its field.
    pub problems: Vec<MetadataProblem>,
}

impl Refusal {
    /// The refusal of `problems`: `invalid_redirect_uri` when a redirect URI is among them
    /// (RFC 7591 §3.2.2), `invalid_client_metadata` otherwise.
    pub fn of(problems: Vec<MetadataProblem>) -> Refusal {
        let redirect = problems
            .iter()
            .any(|p| p.field.starts_with("redirect_uris"));
        Refusal {
            error: if redirect {
                "invalid_redirect_uri"
            } else {
                "invalid_client_metadata"
            },
            problems,
        }
    }

    /// The problems in one line.
    pub fn description(&self) -> String {
        self.problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn problem(field: &str, message: impl Into<String>) -> MetadataProblem {
    MetadataProblem {
        field: field.into(),
        message: message.into(),
    }
}

/// The response types a client with `grant_types` may use (OIDC Registration §2: consistent
/// with its grant types).
pub(crate) fn response_types_of(grant_types: &[String]) -> Vec<&'static str> {
    let code = grant_types.iter().any(|g| g == "authorization_code");
    let implicit = grant_types.iter().any(|g| g == "implicit");
    let mut types = Vec::new();
    if code {
        types.push("code");
    }
    if implicit {
        types.extend(["id_token", "id_token token"]);
    }
    if code && implicit {
        types.extend(["code id_token", "code token", "code id_token token"]);
    }
    types
}

/// The grant a response type needs (OIDC Registration §2 table).
fn needs_grant(response_type: &str) -> Option<Vec<&'static str>> {
    let mut parts: Vec<&str> = response_type.split(' ').filter(|p| !p.is_empty()).collect();
    parts.sort_unstable();
    parts.dedup();
    let mut needs = Vec::new();
    for part in &parts {
        match *part {
            "code" => needs.push("authorization_code"),
            "id_token" | "token" => needs.push("implicit"),
            _ => return None,
        }
    }
    (!parts.is_empty()).then_some(needs)
}

impl RegistrationRequest {
    /// The registration as client metadata for `client_id`, if it fits `policy`; every
    /// problem otherwise.
    pub fn to_metadata(
        &self,
        client_id: &str,
        policy: &RegistrationPolicy,
    ) -> Result<ClientMetadata, Refusal> {
        let mut p = Vec::new();
        if self.software_statement.is_some() {
            return Err(Refusal {
                error: "invalid_software_statement",
                problems: vec![problem(
                    "software_statement",
                    "software statements are not accepted by this server",
                )],
            });
        }
        let method = self.auth_method(policy, &mut p);
        let grant_types = self.grant_types(policy, &mut p);
        for (i, uri) in self.redirect_uris.iter().enumerate() {
            let scheme = uri.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
            if !scheme.is_some_and(|s| policy.redirect_uri_schemes.contains(&s)) {
                p.push(problem(
                    &format!("redirect_uris[{i}]"),
                    format!(
                        "the scheme is not one this server registers ({})",
                        policy.redirect_uri_schemes.join(", ")
                    ),
                ));
            }
        }
        let scopes = self.scopes(policy, &mut p);
        // OIDC Registration §2: "The URI MUST use the https scheme"; http on a loopback host
        // is accepted for development, as for redirect URIs (SECURITY-STATUS D5).
        if let Some(uri) = &self.initiate_login_uri {
            let secure = url::Url::parse(uri).is_ok_and(|u| match (u.scheme(), u.host_str()) {
                ("https", Some(_)) => true,
                ("http", Some(host)) => crate::protocol::redirect::is_loopback_host(host),
                _ => false,
            });
            if !secure {
                p.push(problem("initiate_login_uri", "must be an https URL"));
            }
        }
        if self.subject_type.as_deref().is_some_and(|t| t != "public")
            || self.sector_identifier_uri.is_some()
        {
            p.push(problem(
                "subject_type",
                "only public subject identifiers are offered",
            ));
        }
        let application_type = match self.application_type.as_deref() {
            None | Some("web") => ApplicationType::Web,
            Some("native") => ApplicationType::Native,
            Some(_) => {
                p.push(problem("application_type", "must be `web` or `native`"));
                ApplicationType::Web
            }
        };
        let jwks = match &self.jwks {
            None => None,
            Some(set) => match set.get("keys").and_then(Value::as_array) {
                // OIDC Registration §2: the set may hold encryption keys (`use: enc`) beside
                // the signing ones. Those we can encrypt to are kept for encrypted responses
                // (they never verify a signature); others (another algorithm, curve or size)
                // are left out rather than refusing the registration.
                Some(keys) => Some(
                    keys.iter()
                        .filter(|k| {
                            k.get("use").and_then(Value::as_str) != Some("enc")
                                || crate::clients::jwk::ClientJwk::from_json(k).is_ok()
                        })
                        .cloned()
                        .collect(),
                ),
                None => {
                    p.push(problem("jwks", "must be a JWK Set: {\"keys\": [...]}"));
                    None
                }
            },
        };
        if !p.is_empty() {
            return Err(Refusal::of(p));
        }
        let (sliding, absolute) = ClientSettings::default_refresh_lifetimes(false);
        Ok(ClientMetadata {
            client_id: client_id.to_string(),
            client_name: self.client_name.clone(),
            secrets: vec![],
            token_endpoint_auth_method: Some(method),
            grant_types,
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            allowed_scopes: scopes,
            settings: ClientSettings {
                access_token_lifetime: policy.access_token_lifetime,
                require_pkce: policy.require_pkce || method == TokenEndpointAuthMethod::None,
                refresh_token_sliding_lifetime: sliding.min(absolute),
                refresh_token_absolute_lifetime: absolute,
                require_dpop: self.dpop_bound_access_tokens,
                tls_client_certificate_bound_access_tokens: self
                    .tls_client_certificate_bound_access_tokens,
                require_pushed_authorization_requests: self.require_pushed_authorization_requests,
                require_signed_request_object: self.require_signed_request_object,
                ..ClientSettings::default()
            },
            // As the profile has it: registration has no metadata for it.
            refresh_token_rotation: None,
            application_type,
            id_token_signed_response_alg: self.id_token_signed_response_alg.clone(),
            userinfo_signed_response_alg: self.userinfo_signed_response_alg.clone(),
            authorization_signed_response_alg: self.authorization_signed_response_alg.clone(),
            id_token_encrypted_response: (
                self.id_token_encrypted_response_alg.clone(),
                self.id_token_encrypted_response_enc.clone(),
            ),
            userinfo_encrypted_response: (
                self.userinfo_encrypted_response_alg.clone(),
                self.userinfo_encrypted_response_enc.clone(),
            ),
            authorization_encrypted_response: (
                self.authorization_encrypted_response_alg.clone(),
                self.authorization_encrypted_response_enc.clone(),
            ),
            default_acr_values: self.default_acr_values.clone(),
            jwks,
            jwks_uri: self.jwks_uri.clone(),
            authorization_details_types: self.authorization_details_types.clone(),
            backchannel_token_delivery_mode: None,
            backchannel_client_notification_endpoint: None,
            tls_client_auth_subject_dn: self.tls_client_auth_subject_dn.clone(),
            tls_client_auth_san_dns: self.tls_client_auth_san_dns.clone(),
            tls_client_auth_san_uri: self.tls_client_auth_san_uri.clone(),
            tls_client_auth_san_ip: self.tls_client_auth_san_ip.clone(),
            tls_client_auth_san_email: self.tls_client_auth_san_email.clone(),
            enabled: true,
            always_include_user_claims_in_id_token: false,
            frontchannel_logout_uri: self.frontchannel_logout_uri.clone(),
            frontchannel_logout_session_required: self
                .frontchannel_logout_session_required
                .unwrap_or(false),
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: self
                .backchannel_logout_session_required
                .unwrap_or(false),
            allowed_cors_origins: vec![],
            token_exchange: Default::default(),
        })
    }

    /// RFC 7591 §2: `client_secret_basic` unless named; one the policy offers.
    fn auth_method(
        &self,
        policy: &RegistrationPolicy,
        p: &mut Vec<MetadataProblem>,
    ) -> TokenEndpointAuthMethod {
        let name = self
            .token_endpoint_auth_method
            .as_deref()
            .unwrap_or("client_secret_basic");
        match TokenEndpointAuthMethod::parse(name) {
            Some(m) if policy.auth_methods.contains(&m) => m,
            _ => {
                let offered: Vec<&str> = policy.auth_methods.iter().map(|m| m.as_str()).collect();
                p.push(problem(
                    "token_endpoint_auth_method",
                    format!("must be one of {}", offered.join(", ")),
                ));
                TokenEndpointAuthMethod::ClientSecretBasic
            }
        }
    }

    /// RFC 7591 §2: `authorization_code` unless named, each allowed by the policy, and
    /// consistent with `response_types` (OIDC Registration §2).
    fn grant_types(
        &self,
        policy: &RegistrationPolicy,
        p: &mut Vec<MetadataProblem>,
    ) -> Vec<String> {
        let grant_types = self
            .grant_types
            .clone()
            .unwrap_or_else(|| vec!["authorization_code".into()]);
        for (i, g) in grant_types.iter().enumerate() {
            if GrantType::from_name(g).is_some() && !policy.grant_types.contains(g) {
                p.push(problem(
                    &format!("grant_types[{i}]"),
                    format!("`{g}` is not offered to registered clients here"),
                ));
            }
        }
        let response_types = self
            .response_types
            .clone()
            .unwrap_or_else(|| vec!["code".into()]);
        for (i, r) in response_types.iter().enumerate() {
            match needs_grant(r) {
                None => p.push(problem(
                    &format!("response_types[{i}]"),
                    format!("`{r}` is not a response type"),
                )),
                Some(needs) => {
                    for g in needs {
                        if !grant_types.iter().any(|have| have == g) {
                            p.push(problem(
                                &format!("response_types[{i}]"),
                                format!("`{r}` needs the grant type {g} in grant_types"),
                            ));
                        }
                    }
                }
            }
        }
        grant_types
    }

    /// RFC 7591 §2 `scope`: each within the policy; all of the policy's when omitted.
    fn scopes(&self, policy: &RegistrationPolicy, p: &mut Vec<MetadataProblem>) -> Vec<String> {
        let Some(scope) = &self.scope else {
            return policy.scopes.clone();
        };
        let mut scopes: Vec<String> = Vec::new();
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            if !policy.scopes.iter().any(|allowed| allowed == s) {
                p.push(problem(
                    "scope",
                    format!("`{s}` is not offered to registered clients here"),
                ));
            } else if !scopes.iter().any(|have| have == s) {
                scopes.push(s.to_string());
            }
        }
        scopes
    }
}

pub use super::registered::{InitialAccess, RegistrationRecord, registered_metadata};

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str) -> RegistrationRequest {
        RegistrationRequest {
            redirect_uris: vec!["https://rp.example/cb".into()],
            token_endpoint_auth_method: Some(method.into()),
            ..RegistrationRequest::default()
        }
    }

    /// OIDC Registration §2: https, or http on a loopback host (development, as for redirect
    /// URIs); the value is checked, not used.
    #[test]
    fn initiate_login_uri_is_https_or_loopback() {
        let policy = RegistrationPolicy::default();
        let with = |uri: &str| RegistrationRequest {
            initiate_login_uri: Some(uri.into()),
            ..request("client_secret_basic")
        };
        for fine in [
            "https://rp.example/start",
            "http://localhost:39002/start",
            "http://127.0.0.1/s",
        ] {
            assert!(with(fine).to_metadata("c", &policy).is_ok(), "{fine}");
        }
        for bad in [
            "http://rp.example/start",
            "javascript:alert(1)",
            "/start",
            "https://",
        ] {
            let refused = with(bad).to_metadata("c", &policy).unwrap_err();
            assert_eq!(refused.problems[0].field, "initiate_login_uri", "{bad}");
        }
    }

    #[test]
    fn only_confidential_clients_may_go_without_pkce_and_only_when_the_policy_says_so() {
        let strict = RegistrationPolicy::default();
        let lax = RegistrationPolicy {
            require_pkce: false,
            ..RegistrationPolicy::default()
        };
        let pkce = |policy: &RegistrationPolicy, method: &str| {
            request(method)
                .to_metadata("c", policy)
                .unwrap()
                .settings
                .require_pkce
        };
        assert!(pkce(&strict, "client_secret_basic"));
        assert!(!pkce(&lax, "client_secret_basic"));
        assert!(pkce(&lax, "none"), "a public client always uses PKCE");
    }

    #[test]
    fn the_defaults_of_rfc_7591_apply_and_response_types_follow_grant_types() {
        let m = RegistrationRequest {
            redirect_uris: vec!["https://rp.example/cb".into()],
            ..RegistrationRequest::default()
        }
        .to_metadata("c", &RegistrationPolicy::default())
        .unwrap();
        assert_eq!(
            m.token_endpoint_auth_method,
            Some(TokenEndpointAuthMethod::ClientSecretBasic)
        );
        assert_eq!(m.grant_types, ["authorization_code"]);
        assert_eq!(response_types_of(&m.grant_types), ["code"]);
        let mixed = ["authorization_code".to_string(), "implicit".to_string()];
        assert_eq!(response_types_of(&mixed).len(), 6);
    }
}
