//! Protocol errors. The variants are the error codes of the RFCs; the server maps them to HTTP
//! in exactly one place.

use std::borrow::Cow;
use std::sync::Arc;

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
    /// OIDC Core §3.1.2.6, RFC 9101 §6.2: the request object is invalid.
    #[error("invalid_request_object: {0}")]
    InvalidRequestObject(Cow<'static, str>),
    /// OIDC Core §3.1.2.6, RFC 9126 §2.2: the `request_uri` is invalid, expired or used.
    #[error("invalid_request_uri: {0}")]
    InvalidRequestUri(Cow<'static, str>),
    /// RFC 8628 §3.5: the user has not finished the device authorization yet.
    #[error("authorization_pending: {0}")]
    AuthorizationPending(Cow<'static, str>),
    /// RFC 8628 §3.5: the client polls too fast; it adds 5 seconds to its interval.
    #[error("slow_down: {0}")]
    SlowDown(Cow<'static, str>),
    /// RFC 8628 §3.5: the device code expired.
    #[error("expired_token: {0}")]
    ExpiredToken(Cow<'static, str>),
    /// CIBA Core §13: the hint names no user who can sign in.
    #[error("unknown_user_id: {0}")]
    UnknownUserId(Cow<'static, str>),
    /// CIBA Core §13: the binding message is too long or not plain text.
    #[error("invalid_binding_message: {0}")]
    InvalidBindingMessage(Cow<'static, str>),
    /// RFC 9449 §5: the DPoP proof is missing, malformed or does not match the request.
    #[error("invalid_dpop_proof: {0}")]
    InvalidDpopProof(Cow<'static, str>),
    /// RFC 9449 §8: the DPoP proof must carry the server's nonce, sent in `DPoP-Nonce`.
    #[error("use_dpop_nonce: {description}")]
    UseDpopNonce {
        /// Human-readable reason.
        description: Cow<'static, str>,
        /// The nonce the next proof must carry.
        nonce: String,
    },
    /// RFC 7591 §3.2.2: a redirect URI of a registration is invalid.
    #[error("invalid_redirect_uri: {0}")]
    InvalidRedirectUri(Cow<'static, str>),
    /// RFC 7591 §3.2.2: a metadata field of a registration is invalid.
    #[error("invalid_client_metadata: {0}")]
    InvalidClientMetadata(Cow<'static, str>),
    /// RFC 9396 §5: the `authorization_details` are invalid.
    #[error("invalid_authorization_details: {0}")]
    InvalidAuthorizationDetails(Cow<'static, str>),
    /// RFC 6749 §4.1.2.1: a temporary condition (the database is unreachable). The cause, when
    /// there is one, is logged, never sent.
    #[error("temporarily_unavailable: {description}")]
    TemporarilyUnavailable {
        /// What the client is told.
        description: Cow<'static, str>,
        /// What went wrong, for the operator.
        cause: Option<Cause>,
    },
    /// RFC 6749 §4.1.2.1: an unexpected condition. The description is generic; the cause is
    /// logged once with the request id, never sent.
    #[error("server_error: {0}")]
    ServerError(Cause),
}

/// Why a request failed on the server's side: what the operator's log line says. Clients never
/// see it.
#[derive(Clone)]
pub struct Cause {
    /// What the server was doing.
    context: &'static str,
    /// What failed.
    source: Arc<dyn std::error::Error + Send + Sync>,
}

impl Cause {
    /// A cause: `context` says what the server was doing, `source` what failed.
    pub fn new(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Cause {
        Cause {
            context,
            source: Arc::from(source.into()),
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.context, self.source)?;
        let mut next = self.source.source();
        while let Some(inner) = next {
            write!(f, ": {inner}")?;
            next = inner.source();
        }
        Ok(())
    }
}

impl std::fmt::Debug for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cause({self})")
    }
}

/// Causes are equal when they read the same: enough for tests, which compare errors.
impl PartialEq for Cause {
    fn eq(&self, other: &Cause) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Cause {}

/// Turns any failure into a `server_error` that keeps its cause.
pub trait OrServerError<T> {
    /// `server_error`, with `context` (what the server was doing) and the failure as cause.
    fn or_server_error(self, context: &'static str) -> Result<T, OAuthError>;
}

impl<T, E: Into<Box<dyn std::error::Error + Send + Sync>>> OrServerError<T> for Result<T, E> {
    fn or_server_error(self, context: &'static str) -> Result<T, OAuthError> {
        self.map_err(|e| OAuthError::ServerError(Cause::new(context, e)))
    }
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
            Self::InvalidRequestObject(_) => "invalid_request_object",
            Self::InvalidRequestUri(_) => "invalid_request_uri",
            Self::AuthorizationPending(_) => "authorization_pending",
            Self::SlowDown(_) => "slow_down",
            Self::ExpiredToken(_) => "expired_token",
            Self::UnknownUserId(_) => "unknown_user_id",
            Self::InvalidBindingMessage(_) => "invalid_binding_message",
            Self::InvalidDpopProof(_) => "invalid_dpop_proof",
            Self::UseDpopNonce { .. } => "use_dpop_nonce",
            Self::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Self::InvalidClientMetadata(_) => "invalid_client_metadata",
            Self::InvalidAuthorizationDetails(_) => "invalid_authorization_details",
            Self::UnmetAuthenticationRequirements(_) => "unmet_authentication_requirements",
            Self::TemporarilyUnavailable { .. } => "temporarily_unavailable",
            Self::ServerError(_) => "server_error",
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
            | Self::InvalidRequestObject(d)
            | Self::InvalidRequestUri(d)
            | Self::AuthorizationPending(d)
            | Self::SlowDown(d)
            | Self::ExpiredToken(d)
            | Self::UnknownUserId(d)
            | Self::InvalidBindingMessage(d)
            | Self::InvalidDpopProof(d)
            | Self::InvalidRedirectUri(d)
            | Self::InvalidClientMetadata(d)
            | Self::InvalidAuthorizationDetails(d) => d,
            Self::InvalidClient { description, .. }
            | Self::UseDpopNonce { description, .. }
            | Self::TemporarilyUnavailable { description, .. } => description,
            Self::RequestNotSupported => "request objects are not supported",
            Self::RequestUriNotSupported => "request_uri is not supported",
            Self::ServerError(_) => "the server could not complete the request",
        }
    }

    /// `server_error`: `context` says what the server was doing, `source` what failed.
    pub fn internal(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> OAuthError {
        Self::ServerError(Cause::new(context, source))
    }

    /// A temporary condition with its cause.
    pub fn unavailable(description: &'static str, cause: Option<Cause>) -> OAuthError {
        Self::TemporarilyUnavailable {
            description: description.into(),
            cause,
        }
    }

    /// Every variant, once; lets tests prove each one is mapped.
    #[cfg(any(test, feature = "testing"))]
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
            Self::InvalidRequestObject("x".into()),
            Self::InvalidRequestUri("x".into()),
            Self::AuthorizationPending("x".into()),
            Self::SlowDown("x".into()),
            Self::ExpiredToken("x".into()),
            Self::UnknownUserId("x".into()),
            Self::InvalidBindingMessage("x".into()),
            Self::InvalidDpopProof("x".into()),
            Self::UseDpopNonce {
                description: "x".into(),
                nonce: "n".into(),
            },
            Self::InvalidRedirectUri("x".into()),
            Self::InvalidClientMetadata("x".into()),
            Self::InvalidAuthorizationDetails("x".into()),
            Self::unavailable("x", None),
            Self::ServerError(Cause::new("testing", "x")),
        ]
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => Self::unavailable(
                "the database is unavailable, retry shortly",
                Some(Cause::new("the store", e)),
            ),
            _ => Self::ServerError(Cause::new("the store", e)),
        }
    }
}
