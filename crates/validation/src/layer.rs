//! The tower layers: bearer-token validation and scope requirement (RFC 6750).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::{Claims, TokenValidator, ValidationError};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// An RFC 6750 §3 error: status, `WWW-Authenticate` challenge and a JSON body.
fn challenge(
    status: StatusCode,
    code: Option<&str>,
    description: &str,
    scope: Option<&str>,
) -> Response {
    let mut value = String::from("Bearer realm=\"api\"");
    if let Some(code) = code {
        value.push_str(&format!(", error=\"{code}\""));
    }
    if let Some(scope) = scope {
        value.push_str(&format!(", scope=\"{scope}\""));
    }
    // §3.1: a request without credentials gets no error code.
    let body = serde_json::json!({
        "error": code.unwrap_or("unauthorized"),
        "error_description": description,
    });
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

/// RFC 6750 §2.1: `Authorization: Bearer <token>`. Errors are the responses to send.
fn bearer_token(headers: &HeaderMap) -> Result<&str, Box<Response>> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        // §3.1: a request without credentials gets a challenge without an error code.
        return Err(Box::new(challenge(
            StatusCode::UNAUTHORIZED,
            None,
            "a bearer token is required",
            None,
        )));
    };
    let malformed = || {
        Box::new(challenge(
            StatusCode::BAD_REQUEST,
            Some("invalid_request"),
            "malformed Authorization header",
            None,
        ))
    };
    if values.next().is_some() {
        return Err(malformed());
    }
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    // §2.1 b64token characters.
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
    {
        return Err(malformed());
    }
    Ok(token)
}

/// Validates the bearer token of every request and puts [`Claims`] in its extensions.
#[derive(Clone, Debug)]
pub struct TokenValidationLayer {
    validator: Arc<TokenValidator>,
}

impl TokenValidationLayer {
    /// A layer using `validator`.
    pub fn new(validator: Arc<TokenValidator>) -> Self {
        Self { validator }
    }
}

impl<S> Layer<S> for TokenValidationLayer {
    type Service = TokenValidation<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TokenValidation {
            inner,
            validator: self.validator.clone(),
        }
    }
}

/// The service made by [`TokenValidationLayer`].
#[derive(Clone, Debug)]
pub struct TokenValidation<S> {
    inner: S,
    validator: Arc<TokenValidator>,
}

impl<S, B> Service<Request<B>> for TokenValidation<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone that was polled ready is the one that gets the call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let validator = self.validator.clone();
        Box::pin(async move {
            let token = match bearer_token(request.headers()) {
                Ok(token) => token.to_string(),
                Err(response) => return Ok(*response),
            };
            match validator.validate(&token).await {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    inner.call(request).await
                }
                Err(ValidationError::Invalid(why)) => {
                    tracing::debug!(%why, "access token refused");
                    Ok(challenge(
                        StatusCode::UNAUTHORIZED,
                        Some("invalid_token"),
                        "the access token is invalid",
                        None,
                    ))
                }
                Err(ValidationError::Unavailable(why)) => {
                    tracing::warn!(%why, "cannot validate access tokens: issuer unavailable");
                    Ok((
                        StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(serde_json::json!({"error": "temporarily_unavailable", "error_description": "the token issuer cannot be reached"})),
                    )
                        .into_response())
                }
            }
        })
    }
}

/// Refuses requests whose validated token lacks a scope (RFC 6750 §3.1: 403
/// `insufficient_scope`). Goes inside [`TokenValidationLayer`].
#[derive(Clone, Debug)]
pub struct RequireScopeLayer {
    scope: Arc<str>,
}

impl RequireScopeLayer {
    /// Requires `scope`.
    pub fn new(scope: &str) -> Self {
        Self {
            scope: scope.into(),
        }
    }
}

impl<S> Layer<S> for RequireScopeLayer {
    type Service = RequireScope<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireScope {
            inner,
            scope: self.scope.clone(),
        }
    }
}

/// The service made by [`RequireScopeLayer`].
#[derive(Clone, Debug)]
pub struct RequireScope<S> {
    inner: S,
    scope: Arc<str>,
}

impl<S, B> Service<Request<B>> for RequireScope<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let allowed = request
            .extensions()
            .get::<Claims>()
            .is_some_and(|c| c.has_scope(&self.scope));
        if !allowed {
            let response = challenge(
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                "the access token lacks the required scope",
                Some(&self.scope),
            );
            return Box::pin(async move { Ok(response) });
        }
        let future = self.inner.call(request);
        Box::pin(future)
    }
}
