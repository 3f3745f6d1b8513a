//! The tower layers: bearer-token validation and scope requirement (RFC 6750).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use tower::{Layer, Service};

use crate::{Claims, TokenValidator, ValidationError};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// How the token was presented (RFC 6750 §2.1, RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    DPoP,
}

/// An RFC 6750 §3 error: status, `WWW-Authenticate` challenge and a JSON body. The challenge
/// of a refused token also names the DPoP scheme (RFC 9449 §7.1), and only it when the token
/// came with that scheme.
fn challenge(
    status: StatusCode,
    code: Option<&str>,
    description: &str,
    scope: Option<&str>,
) -> Response {
    scheme_challenge(Scheme::Bearer, status, code, description, scope)
}

fn scheme_challenge(
    scheme: Scheme,
    status: StatusCode,
    code: Option<&str>,
    description: &str,
    scope: Option<&str>,
) -> Response {
    let mut params = Vec::new();
    if let Some(code) = code {
        params.push(format!("error=\"{code}\""));
    }
    if let Some(scope) = scope {
        params.push(format!("scope=\"{scope}\""));
    }
    let algs: Vec<&str> = crate::dpop::PROOF_ALGS.iter().map(alg_name).collect();
    let dpop = format!("DPoP algs=\"{}\"", algs.join(" "));
    let value = match (scheme, code) {
        (Scheme::DPoP, _) => [dpop.as_str()]
            .into_iter()
            .chain(params.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(", "),
        (Scheme::Bearer, Some("invalid_token")) => {
            format!("Bearer realm=\"api\", {}, {dpop}", params.join(", "))
        }
        (Scheme::Bearer, _) => ["Bearer realm=\"api\""]
            .into_iter()
            .chain(params.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(", "),
    };
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

fn alg_name(alg: &jsonwebtoken::Algorithm) -> &'static str {
    match alg {
        jsonwebtoken::Algorithm::ES256 => "ES256",
        jsonwebtoken::Algorithm::EdDSA => "EdDSA",
        jsonwebtoken::Algorithm::PS256 => "PS256",
        _ => "RS256",
    }
}

/// RFC 6750 §2.1 `Authorization: Bearer <token>`, or RFC 9449 §7.1 `DPoP <token>`. Errors
/// are the responses to send.
fn access_token(headers: &HeaderMap) -> Result<(Scheme, &str), Box<Response>> {
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
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::DPoP
    } else {
        return Err(malformed());
    };
    if token.is_empty() {
        return Err(malformed());
    }
    // §2.1 b64token characters.
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
    {
        return Err(malformed());
    }
    Ok((scheme, token))
}

/// The TLS client certificate (DER) of the connection a request came on, which the service's
/// TLS layer puts into the request's extensions; a token bound to a certificate
/// (`cnf.x5t#S256`, RFC 8705 §3) is accepted only with it.
#[derive(Debug, Clone)]
pub struct ClientCertificate(pub Vec<u8>);

/// RFC 8705 §3: a token bound to a certificate needs that certificate on the connection.
fn check_certificate<B>(request: &Request<B>, claims: &Claims) -> Result<(), String> {
    let Some(bound) = claims
        .all
        .get("cnf")
        .and_then(|cnf| cnf.get("x5t#S256"))
        .and_then(serde_json::Value::as_str)
    else {
        return Ok(());
    };
    let presented = request
        .extensions()
        .get::<ClientCertificate>()
        .ok_or("the token is bound to a TLS client certificate: present it")?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &presented.0);
    let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    // Constant time: the thumbprint is public, but the habit costs nothing.
    match aws_lc_rs::constant_time::verify_slices_are_equal(thumbprint.as_bytes(), bound.as_bytes())
    {
        Ok(()) => Ok(()),
        Err(_) => Err("the token is bound to another TLS client certificate".into()),
    }
}

/// RFC 9449 §7.1-§7.2: a token bound to a key (`cnf.jkt`) needs the DPoP scheme and a proof of
/// that key for this request; the DPoP scheme is for bound tokens only. RFC 8705 §3: a token
/// bound to a certificate needs it.
fn check_sender<B>(
    validator: &TokenValidator,
    request: &Request<B>,
    (scheme, token): (Scheme, &str),
    claims: &Claims,
) -> Result<(), String> {
    check_certificate(request, claims)?;
    let jkt = claims
        .all
        .get("cnf")
        .and_then(|cnf| cnf.get("jkt"))
        .and_then(serde_json::Value::as_str);
    let jkt = match (scheme, jkt) {
        (Scheme::Bearer, None) => return Ok(()),
        (Scheme::Bearer, Some(_)) => {
            return Err("the token is bound to a DPoP key: use the DPoP scheme".into());
        }
        (Scheme::DPoP, None) => return Err("the token is not bound to a DPoP key".into()),
        (Scheme::DPoP, Some(jkt)) => jkt,
    };
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let proof = crate::dpop::ProofRequest {
        proofs: headers
            .get_all("dpop")
            .iter()
            .map(|v| v.to_str().unwrap_or_default())
            .collect(),
        method: request.method().as_str(),
        url: format!("{}{}", validator.public_url(host), request.uri().path()),
        token,
        jkt,
        now: unix_now(),
    };
    validator.check_proof(&proof).map_err(|e| e.to_string())
}

/// Seconds since the epoch: the validator runs inside other services, which give it no clock.
#[allow(clippy::disallowed_methods)]
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
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
            let (scheme, token) = access_token(request.headers()).map_err(|response| *response)?;
            let token = token.to_string();
            let refuse = |why: &str| {
                tracing::debug!(%why, "access token refused");
                scheme_challenge(
                    scheme,
                    StatusCode::UNAUTHORIZED,
                    Some("invalid_token"),
                    "the access token is invalid",
                    None,
                )
            };
            match validator.validate(&token).await {
                Ok(claims) => {
                    check_sender(&validator, &request, (scheme, &token), &claims)
                        .map_err(|why| refuse(&why))?;
                    request.extensions_mut().insert(claims);
                    Ok(request)
                }
                Err(ValidationError::Invalid(why)) => Err(refuse(&why)),
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
