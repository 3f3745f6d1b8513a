//! Protocol errors. The variants are the error codes of the RFCs; the server maps them to HTTP
//! in exactly one place.

use std::borrow::Cow;

/// An error a client or API sees, named as the RFC names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// RFC 6749 §5.2: missing, repeated or malformed parameter.
    #[error("invalid_request: {0}")]
    InvalidRequest(Cow<'static, str>),
    /// RFC 6749 §5.2: client authentication failed. `used_authorization_header` decides
    /// whether the response carries `WWW-Authenticate`.
    #[error("invalid_client: {description}")]
    InvalidClient {
        /// Human-readable reason, never naming which part of the credentials was wrong.
        description: Cow<'static, str>,
        /// The client authenticated through the Authorization header (RFC 6749 §5.2: 401).
        used_authorization_header: bool,
    },
    /// RFC 6749 §5.2: the grant (code, refresh token, credentials) is invalid or expired.
    #[error("invalid_grant: {0}")]
    InvalidGrant(Cow<'static, str>),
    /// RFC 6749 §5.2: the client may not use this grant type.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(Cow<'static, str>),
    /// RFC 6749 §5.2: the grant type is not supported.
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(Cow<'static, str>),
    /// RFC 6749 §5.2: the scope is invalid, unknown or exceeds what was granted.
    #[error("invalid_scope: {0}")]
    InvalidScope(Cow<'static, str>),
    /// RFC 8707 §2: the resource is invalid or not allowed.
    #[error("invalid_target: {0}")]
    InvalidTarget(Cow<'static, str>),
    /// RFC 6749 §4.1.2.1: the resource owner or server denied the request.
    #[error("access_denied: {0}")]
    AccessDenied(Cow<'static, str>),
    /// RFC 6749 §4.1.2.1: the response type is not supported.
    #[error("unsupported_response_type: {0}")]
    UnsupportedResponseType(Cow<'static, str>),
    /// RFC 6750 §3.1: the access token is expired, revoked, malformed or invalid.
    #[error("invalid_token: {0}")]
    InvalidToken(Cow<'static, str>),
    /// RFC 6750 §3.1: the token lacks the scope the request needs.
    #[error("insufficient_scope: {0}")]
    InsufficientScope(Cow<'static, str>),
    /// RFC 7009 §2.2.1: revocation of this token type is not supported.
    #[error("unsupported_token_type: {0}")]
    UnsupportedTokenType(Cow<'static, str>),
    /// OIDC Core §3.1.2.6: `prompt=none` but the user must sign in.
    #[error("login_required: {0}")]
    LoginRequired(Cow<'static, str>),
    /// OIDC Core §3.1.2.6: `prompt=none` but the user must consent.
    #[error("consent_required: {0}")]
    ConsentRequired(Cow<'static, str>),
    /// OIDC Core §3.1.2.6: `prompt=none` but the user must interact.
    #[error("interaction_required: {0}")]
    InteractionRequired(Cow<'static, str>),
    /// OpenID Connect Unmet Authentication Requirements 1.0 §2: the authentication the request
    /// requires (an essential `acr`) cannot be met.
    #[error("unmet_authentication_requirements: {0}")]
    UnmetAuthenticationRequirements(Cow<'static, str>),
    /// OIDC Core §3.1.2.6: the `request` parameter is not supported.
    #[error("request_not_supported")]
    RequestNotSupported,
    /// OIDC Core §3.1.2.6: the `request_uri` parameter is not supported.
    #[error("request_uri_not_supported")]
    RequestUriNotSupported,
    /// RFC 6749 §4.1.2.1: a temporary condition (the database is unreachable).
    #[error("temporarily_unavailable: {0}")]
    TemporarilyUnavailable(Cow<'static, str>),
    /// RFC 6749 §4.1.2.1: an unexpected condition. The description is generic; the cause is
    /// logged, never sent.
    #[error("server_error")]
    ServerError,
}

impl OAuthError {
    /// The error code as it appears in the `error` member (RFC 6749 §5.2).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::AccessDenied(_) => "access_denied",
            Self::UnsupportedResponseType(_) => "unsupported_response_type",
            Self::InvalidToken(_) => "invalid_token",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::UnsupportedTokenType(_) => "unsupported_token_type",
            Self::LoginRequired(_) => "login_required",
            Self::ConsentRequired(_) => "consent_required",
            Self::InteractionRequired(_) => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::UnmetAuthenticationRequirements(_) => "unmet_authentication_requirements",
            Self::TemporarilyUnavailable(_) => "temporarily_unavailable",
            Self::ServerError => "server_error",
        }
    }

    /// The `error_description` member.
    pub fn description(&self) -> &str {
        match self {
            Self::InvalidRequest(d)
            | Self::InvalidGrant(d)
            | Self::UnauthorizedClient(d)
            | Self::UnsupportedGrantType(d)
            | Self::InvalidScope(d)
            | Self::InvalidTarget(d)
            | Self::AccessDenied(d)
            | Self::UnsupportedResponseType(d)
            | Self::InvalidToken(d)
            | Self::InsufficientScope(d)
            | Self::UnsupportedTokenType(d)
            | Self::LoginRequired(d)
            | Self::ConsentRequired(d)
            | Self::InteractionRequired(d)
            | Self::UnmetAuthenticationRequirements(d)
            | Self::TemporarilyUnavailable(d) => d,
            Self::InvalidClient { description, .. } => description,
            Self::RequestNotSupported => "request objects are not supported",
            Self::RequestUriNotSupported => "request_uri is not supported",
            Self::ServerError => "the server could not complete the request",
        }
    }

    /// Every variant, once; lets tests prove each one is mapped.
    pub fn examples() -> Vec<OAuthError> {
        vec![
            Self::InvalidRequest("x".into()),
            Self::InvalidClient {
                description: "x".into(),
                used_authorization_header: false,
            },
            Self::InvalidClient {
                description: "x".into(),
                used_authorization_header: true,
            },
            Self::InvalidGrant("x".into()),
            Self::UnauthorizedClient("x".into()),
            Self::UnsupportedGrantType("x".into()),
            Self::InvalidScope("x".into()),
            Self::InvalidTarget("x".into()),
            Self::AccessDenied("x".into()),
            Self::UnsupportedResponseType("x".into()),
            Self::InvalidToken("x".into()),
            Self::InsufficientScope("x".into()),
            Self::UnsupportedTokenType("x".into()),
            Self::LoginRequired("x".into()),
            Self::ConsentRequired("x".into()),
            Self::InteractionRequired("x".into()),
            Self::UnmetAuthenticationRequirements("x".into()),
            Self::RequestNotSupported,
            Self::RequestUriNotSupported,
            Self::TemporarilyUnavailable("x".into()),
            Self::ServerError,
        ]
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => {
                Self::TemporarilyUnavailable("the database is unavailable, retry shortly".into())
            }
            _ => Self::ServerError,
        }
    }
}
