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

/// A check a layer runs before the request goes on: it hands back the request (with what the
/// check adds to its extensions) or the response that refuses it.
pub trait Guard: Clone + Send + Sync + 'static {
    /// Checks `request`.
    fn check<B: Send + 'static>(
        &self,
        request: Request<B>,
    ) -> BoxFuture<Result<Request<B>, Response>>;
}

/// A layer that runs its guard in front of the inner service.
#[derive(Clone, Debug)]
pub struct GuardLayer<G> {
    guard: G,
}

impl<S, G: Guard> Layer<S> for GuardLayer<G> {
    type Service = Guarded<S, G>;
    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            guard: self.guard.clone(),
        }
    }
}

/// The service a [`GuardLayer`] makes.
#[derive(Clone, Debug)]
pub struct Guarded<S, G> {
    inner: S,
    guard: G,
}

impl<S, B, G> Service<Request<B>> for Guarded<S, G>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    G: Guard,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was polled ready is the one that gets the call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let checked = self.guard.check(request);
        Box::pin(async move {
            match checked.await {
                Ok(request) => inner.call(request).await,
                Err(refusal) => Ok(refusal),
            }
        })
    }
}

/// Validates the bearer token of every request and puts [`Claims`] in its extensions.
pub type TokenValidationLayer = GuardLayer<ValidToken>;

impl TokenValidationLayer {
    /// A layer using `validator`.
    pub fn new(validator: Arc<TokenValidator>) -> Self {
        GuardLayer {
            guard: ValidToken(validator),
        }
    }
}

/// The guard of [`TokenValidationLayer`]: a valid bearer token (RFC 6750 §2.1, §3.1).
#[derive(Clone, Debug)]
pub struct ValidToken(Arc<TokenValidator>);

impl Guard for ValidToken {
    fn check<B: Send + 'static>(
        &self,
        mut request: Request<B>,
    ) -> BoxFuture<Result<Request<B>, Response>> {
        let validator = self.0.clone();
        Box::pin(async move {
            let token = bearer_token(request.headers())
                .map_err(|response| *response)?
                .to_string();
            match validator.validate(&token).await {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    Ok(request)
                }
                Err(ValidationError::Invalid(why)) => {
                    tracing::debug!(%why, "access token refused");
                    Err(challenge(
                        StatusCode::UNAUTHORIZED,
                        Some("invalid_token"),
                        "the access token is invalid",
                        None,
                    ))
                }
                Err(ValidationError::Unavailable(why)) => {
                    tracing::warn!(%why, "cannot validate access tokens: issuer unavailable");
                    Err((
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
pub type RequireScopeLayer = GuardLayer<HasScope>;

impl RequireScopeLayer {
    /// Requires `scope`.
    pub fn new(scope: &str) -> Self {
        GuardLayer {
            guard: HasScope(scope.into()),
        }
    }
}

/// The guard of [`RequireScopeLayer`]: the validated token carries the scope.
#[derive(Clone, Debug)]
pub struct HasScope(Arc<str>);

impl Guard for HasScope {
    fn check<B: Send + 'static>(
        &self,
        request: Request<B>,
    ) -> BoxFuture<Result<Request<B>, Response>> {
        let allowed = request
            .extensions()
            .get::<Claims>()
            .is_some_and(|c| c.has_scope(&self.0));
        let refusal = (!allowed).then(|| {
            challenge(
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                "the access token lacks the required scope",
                Some(&self.0),
            )
        });
        Box::pin(async move {
            match refusal {
                Some(response) => Err(response),
                None => Ok(request),
            }
        })
    }
}
