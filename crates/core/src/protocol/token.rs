//! The token endpoint's request and response as typed values (RFC 6749 §3.2, §5.1): the form is
//! read once, at the edge, into one variant per grant with its own parameters.

use serde::Serialize;

use super::OAuthError;
use super::form::Form;
use super::grant_type::GrantType;

/// A token request, by grant type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    /// RFC 6749 §4.1.3.
    AuthorizationCode(CodeRequest),
    /// RFC 6749 §6.
    RefreshToken(RefreshRequest),
    /// RFC 6749 §4.4.2.
    ClientCredentials(ClientCredentialsRequest),
    /// RFC 8628 §3.4.
    DeviceCode(DeviceCodeRequest),
    /// CIBA Core §10.1.
    Ciba(CibaTokenRequest),
    /// RFC 8693 §2.1.
    TokenExchange(TokenExchangeRequest),
}

/// RFC 8693 §2.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenExchangeRequest {
    /// The token that stands for the party the new token is for.
    pub subject_token: String,
    /// Its type (§3).
    pub subject_token_type: String,
    /// The token of the party that acts, and its type.
    pub actor_token: Option<(String, String)>,
    /// The type of token asked for.
    pub requested_token_type: Option<String>,
    /// Logical names of the target services.
    pub audiences: Vec<String>,
    /// Resource indicators of the target services.
    pub resources: Vec<String>,
    /// The scope asked for, space-separated.
    pub scope: Option<String>,
}

/// RFC 8628 §3.4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCodeRequest {
    /// The device code, as presented: untrusted until found.
    pub device_code: String,
}

/// RFC 6749 §4.1.3, RFC 7636 §4.5, RFC 8707 §2.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRequest {
    /// The code, as presented: untrusted until found live.
    pub code: String,
    /// Required when the authorization request named one.
    pub redirect_uri: Option<String>,
    /// The PKCE verifier.
    pub code_verifier: Option<String>,
    /// Resource indicators narrowing the audiences.
    pub resources: Vec<String>,
    /// RFC 9396 §6.1: a narrower `authorization_details` (JSON), within the granted ones.
    pub authorization_details: Option<String>,
}

/// RFC 6749 §6, RFC 8707 §2.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRequest {
    /// The refresh token, as presented.
    pub refresh_token: String,
    /// A narrower scope, space-separated.
    pub scope: Option<String>,
    /// Resource indicators narrowing the audiences.
    pub resources: Vec<String>,
}

/// CIBA Core §10.1: the request's `auth_req_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CibaTokenRequest {
    /// As presented.
    pub auth_req_id: String,
}

/// RFC 6749 §4.4.2, RFC 8707 §2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentialsRequest {
    /// The scope asked for, space-separated.
    pub scope: Option<String>,
    /// Resource indicators.
    pub resources: Vec<String>,
    /// RFC 9396 §6: `authorization_details` asked for directly (JSON).
    pub authorization_details: Option<String>,
}

impl TokenRequest {
    /// Reads a token request. RFC 6749 §5.2: an unknown grant type is
    /// `unsupported_grant_type`, a missing or repeated parameter `invalid_request`.
    pub fn parse(form: &Form) -> Result<TokenRequest, OAuthError> {
        let name = form.required("grant_type")?;
        let grant_type = GrantType::from_name(name)
            .filter(|g| g.at_token_endpoint())
            .ok_or_else(|| {
                OAuthError::UnsupportedGrantType(
                    format!("grant type `{name}` is not supported").into(),
                )
            })?;
        let owned = |name: &str| Ok::<_, OAuthError>(form.one(name)?.map(str::to_owned));
        let resources = form.all("resource").to_vec();
        Ok(match grant_type {
            GrantType::AuthorizationCode => Self::AuthorizationCode(CodeRequest {
                code: form.required("code")?.to_owned(),
                redirect_uri: owned("redirect_uri")?,
                code_verifier: owned("code_verifier")?,
                resources,
                authorization_details: owned("authorization_details")?,
            }),
            GrantType::RefreshToken => Self::RefreshToken(RefreshRequest {
                refresh_token: form.required("refresh_token")?.to_owned(),
                scope: owned("scope")?,
                resources,
            }),
            GrantType::ClientCredentials => Self::ClientCredentials(ClientCredentialsRequest {
                scope: owned("scope")?,
                resources,
                authorization_details: owned("authorization_details")?,
            }),
            GrantType::DeviceCode => Self::DeviceCode(DeviceCodeRequest {
                device_code: form.required("device_code")?.to_owned(),
            }),
            GrantType::Ciba => Self::Ciba(CibaTokenRequest {
                auth_req_id: form.required("auth_req_id")?.to_owned(),
            }),
            GrantType::TokenExchange => Self::TokenExchange(TokenExchangeRequest {
                subject_token: form.required("subject_token")?.to_owned(),
                subject_token_type: form.required("subject_token_type")?.to_owned(),
                // §2.1: actor_token_type is required with an actor token, and only with one.
                actor_token: match (form.one("actor_token")?, form.one("actor_token_type")?) {
                    (Some(token), Some(kind)) => Some((token.to_owned(), kind.to_owned())),
                    (None, None) => None,
                    (Some(_), None) => {
                        return Err(OAuthError::InvalidRequest(
                            "actor_token_type is required with actor_token".into(),
                        ));
                    }
                    (None, Some(_)) => {
                        return Err(OAuthError::InvalidRequest(
                            "actor_token_type without actor_token".into(),
                        ));
                    }
                },
                requested_token_type: owned("requested_token_type")?,
                audiences: form.all("audience").to_vec(),
                resources,
                scope: owned("scope")?,
            }),
            // Not at the token endpoint: refused above.
            GrantType::Implicit => {
                return Err(OAuthError::UnsupportedGrantType(
                    "the implicit grant has no token request".into(),
                ));
            }
        })
    }

    /// The grant type this request is for.
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::AuthorizationCode(_) => GrantType::AuthorizationCode,
            Self::RefreshToken(_) => GrantType::RefreshToken,
            Self::ClientCredentials(_) => GrantType::ClientCredentials,
            Self::DeviceCode(_) => GrantType::DeviceCode,
            Self::Ciba(_) => GrantType::Ciba,
            Self::TokenExchange(_) => GrantType::TokenExchange,
        }
    }
}

/// How an access token is presented (RFC 6749 §7.1): the `token_type` of a token response and
/// the scheme of the `Authorization` header that carries the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TokenType {
    /// RFC 6750.
    Bearer,
    /// RFC 9449 §5: bound to the key of the client's DPoP proofs.
    #[serde(rename = "DPoP")]
    DPoP,
}

impl TokenType {
    /// The name, as `token_type` and as the authentication scheme.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "Bearer",
            Self::DPoP => "DPoP",
        }
    }
}

/// A successful token response (RFC 6749 §5.1; OIDC Core §3.1.3.3; RFC 8693 §2.2.1).
#[derive(Clone, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// How it is presented.
    pub token_type: TokenType,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The granted scope, when there is one (RFC 6749 §5.1: required when it differs from the
    /// request's; always sent here when not empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// A refresh token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An identity token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 9396 §7: the authorization details the access token carries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorization_details: Vec<serde_json::Value>,
    /// RFC 8693 §2.2.1: the kind of token issued by a token exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "…"))
            .field("id_token", &self.id_token.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<TokenRequest, OAuthError> {
        TokenRequest::parse(&Form::parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn each_grant_reads_its_own_parameters() {
        assert_eq!(
            parse("grant_type=authorization_code&code=c&code_verifier=v&resource=r1&resource=r2")
                .unwrap(),
            TokenRequest::AuthorizationCode(CodeRequest {
                code: "c".into(),
                redirect_uri: None,
                code_verifier: Some("v".into()),
                resources: vec!["r1".into(), "r2".into()],
                authorization_details: None,
            })
        );
        assert_eq!(
            parse("grant_type=client_credentials&scope=a+b")
                .unwrap()
                .grant_type(),
            GrantType::ClientCredentials
        );
    }

    #[test]
    fn unknown_missing_and_repeated_parameters_are_refused() {
        for (body, code) in [
            ("", "invalid_request"),
            ("grant_type=password", "unsupported_grant_type"),
            ("grant_type=implicit", "unsupported_grant_type"),
            ("grant_type=authorization_code", "invalid_request"),
            ("grant_type=refresh_token", "invalid_request"),
            (
                "grant_type=refresh_token&refresh_token=a&scope=x&scope=y",
                "invalid_request",
            ),
        ] {
            assert_eq!(parse(body).unwrap_err().code(), code, "{body}");
        }
    }

    #[test]
    fn token_types_are_named_as_rfc_6750_names_them() {
        assert_eq!(
            serde_json::to_value(TokenType::Bearer).unwrap(),
            serde_json::json!("Bearer")
        );
    }
}
