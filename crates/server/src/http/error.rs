//! The one place where protocol errors become HTTP responses.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::token::TokenType;

/// The one log line of a refused or failed request, with the reason the caller also gets
/// (never a secret: descriptions name what was wrong, not what was sent) and, for a failure,
/// its cause (which the caller never gets). The request's span adds the path, the request id
/// and, once known, the client id. `answer` says how the refusal was answered: `json` or `page`.
pub fn log_refusal(e: &OAuthError, answer: &'static str) {
    if !matches!(e, OAuthError::AuthorizationPending(_)) {
        crate::metrics::refusal(e.code());
    }
    match e {
        OAuthError::ServerError(cause) => {
            tracing::error!(%cause, answer, "request failed with server_error");
        }
        OAuthError::TemporarilyUnavailable { description, cause } => {
            tracing::warn!(
                reason = %description,
                cause = cause.as_ref().map(tracing::field::display),
                answer,
                "request failed: temporarily unavailable"
            );
        }
        // RFC 8628 §3.5: a device's answer while it waits, not a refusal; it polls every few
        // seconds.
        OAuthError::AuthorizationPending(_) => {
            tracing::debug!(answer, "device poll: authorization pending");
        }
        _ => tracing::info!(
            error = e.code(),
            reason = %e.description(),
            answer,
            "request refused"
        ),
    }
}

/// An [`OAuthError`] on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub OAuthError);

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        Self(e)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// The status code for each error (RFC 6749 §5.2, RFC 6750 §3.1, RFC 8707 §2).
pub fn status_of(e: &OAuthError) -> StatusCode {
    match e {
        OAuthError::InvalidClient { .. } | OAuthError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
        OAuthError::AccessDenied(_) | OAuthError::InsufficientScope(_) => StatusCode::FORBIDDEN,
        OAuthError::TemporarilyUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        OAuthError::ServerError(_) => StatusCode::INTERNAL_SERVER_ERROR,
        OAuthError::InvalidRequest(_)
        | OAuthError::InvalidGrant(_)
        | OAuthError::UnauthorizedClient(_)
        | OAuthError::UnsupportedGrantType(_)
        | OAuthError::InvalidScope(_)
        | OAuthError::InvalidTarget(_)
        | OAuthError::UnsupportedTokenType(_)
        | OAuthError::RequestNotSupported
        | OAuthError::RequestUriNotSupported
        | OAuthError::LoginRequired(_)
        | OAuthError::ConsentRequired(_)
        | OAuthError::InteractionRequired(_)
        | OAuthError::UnmetAuthenticationRequirements(_)
        | OAuthError::UnsupportedResponseType(_)
        | OAuthError::InvalidRequestObject(_)
        | OAuthError::InvalidRequestUri(_)
        // RFC 8628 §3.5: the device flow's polling answers are 400s.
        | OAuthError::AuthorizationPending(_)
        | OAuthError::SlowDown(_)
        | OAuthError::ExpiredToken(_)
        // CIBA Core §13.
        | OAuthError::UnknownUserId(_)
        | OAuthError::InvalidBindingMessage(_)
        // RFC 9449 §5, §8: at the authorization server.
        | OAuthError::InvalidDpopProof(_)
        | OAuthError::UseDpopNonce { .. }
        // RFC 7591 §3.2.2.
        | OAuthError::InvalidRedirectUri(_)
        | OAuthError::InvalidClientMetadata(_)
        | OAuthError::InvalidAuthorizationDetails(_) => StatusCode::BAD_REQUEST,
    }
}

/// RFC 6749 §5.2: `error_description` is limited to %x20-21 / %x23-5B / %x5D-7E; descriptions
/// that quote request input are made to fit.
fn sanitize_description(description: &str) -> String {
    description
        .chars()
        .take(512)
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if (' '..='~').contains(&c) => c,
            _ => '?',
        })
        .collect()
}

/// A JSON error response with `Cache-Control: no-store` (RFC 6749 §5.1, §5.2).
pub fn json_error(status: StatusCode, code: &str, description: &str) -> Response {
    let description = sanitize_description(description);
    let body = serde_json::to_vec(&ErrorBody {
        error: code,
        error_description: &description,
    })
    .unwrap_or_default();
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = &self.0;
        log_refusal(e, "json");
        let mut response = json_error(status_of(e), e.code(), e.description());
        let headers = response.headers_mut();
        match e {
            // RFC 6749 §5.2: a client that used the Authorization header gets a challenge.
            OAuthError::InvalidClient {
                used_authorization_header: true,
                ..
            } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="tessera", charset="UTF-8""#),
                );
            }
            // RFC 6750 §3: bearer token errors carry the code in the challenge.
            OAuthError::InvalidToken(_) | OAuthError::InsufficientScope(_) => {
                headers.insert(header::WWW_AUTHENTICATE, bearer_challenge(Some(e.code())));
            }
            OAuthError::TemporarilyUnavailable { .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            // RFC 9449 §8: the nonce the next proof must carry.
            OAuthError::UseDpopNonce { nonce, .. } => {
                if let Ok(value) = HeaderValue::from_str(nonce) {
                    headers.insert(HeaderName::from_static("dpop-nonce"), value);
                }
            }
            _ => {}
        }
        response
    }
}

/// Unknown paths: JSON 404.
pub async fn not_found() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "there is no endpoint at this path",
    )
}

/// Known paths, wrong method: JSON 405.
pub async fn method_not_allowed() -> Response {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "this endpoint does not accept this HTTP method",
    )
}

/// Refuses requests whose headers together exceed the configured size (RFC 6585 §5: 431).
pub async fn limit_header_size(
    axum::extract::State(max): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > max {
        return json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "invalid_request",
            "request headers are too large",
        );
    }
    next.run(request).await
}

/// Gives error responses made by lower layers (timeouts, body limits, extractor rejections) a
/// JSON body like every other error, so clients never have to parse plain text.
pub async fn json_error_bodies<B>(response: Response<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let response = response.map(Body::new);
    let status = response.status();
    // JSON errors, and the error pages of the browser-facing endpoints, are already complete.
    let has_body = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || has_body {
        return response;
    }
    let code = if status.is_server_error() {
        "server_error"
    } else {
        "invalid_request"
    };
    let reason = status.canonical_reason().unwrap_or("request failed");
    let (mut parts, body) = json_error(status, code, reason).into_parts();
    // Keep headers the original response set (Allow, Retry-After), ours win on conflicts.
    for (name, value) in response.headers() {
        if !parts.headers.contains_key(name) {
            parts.headers.insert(name.clone(), value.clone());
        }
    }
    Response::from_parts(parts, body)
}

/// RFC 6750 §3: the challenge of a resource that takes bearer tokens, with the error code when
/// the request had a token (or a malformed one) and none when it had none (§3.1).
pub fn bearer_challenge(error: Option<&'static str>) -> HeaderValue {
    let scheme = TokenType::Bearer.as_str();
    let challenge = match error {
        Some(code) => format!(r#"{scheme} realm="tessera", error="{code}""#),
        None => format!(r#"{scheme} realm="tessera""#),
    };
    HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer"))
}

/// RFC 6750 §3.1: a request without a bearer token gets a bare challenge and no error code.
pub fn no_token() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::WWW_AUTHENTICATE, bearer_challenge(None)),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        r#"{"error_description":"a bearer access token is required"}"#,
    )
        .into_response()
}

/// An error with its RFC 6750 §3 challenge (invalid_request included).
pub fn bearer_error(e: OAuthError) -> Response {
    let invalid_request = matches!(e, OAuthError::InvalidRequest(_));
    let mut response = ApiError(e).into_response();
    if invalid_request {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            bearer_challenge(Some("invalid_request")),
        );
    }
    response
}

/// RFC 9449 §7.1: the challenge of a resource that takes DPoP-bound tokens, with the proof
/// algorithms it accepts and the error code when there is one.
pub fn dpop_challenge(error: Option<&'static str>) -> HeaderValue {
    let scheme = TokenType::DPoP.as_str();
    let algs = tessera_core::dpop::DPOP_ALGS.join(" ");
    let challenge = match error {
        Some(code) => format!(r#"{scheme} algs="{algs}", error="{code}""#),
        None => format!(r#"{scheme} algs="{algs}""#),
    };
    HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("DPoP"))
}

/// A refusal at a protected resource for a token presented with `scheme`: RFC 6750 §3's for a
/// bearer token, which also names the DPoP scheme when the token was refused (a bound token
/// must use it); RFC 9449 §7.1's for the DPoP scheme, where every refusal but
/// `insufficient_scope` is a 401 with the code in the challenge (§9: `use_dpop_nonce` too,
/// with the nonce to use).
pub fn resource_error(e: OAuthError, scheme: TokenType, nonces: &[String]) -> Response {
    let code = e.code();
    let invalid_token = matches!(e, OAuthError::InvalidToken(_));
    let dpop_error = matches!(
        e,
        OAuthError::InvalidDpopProof(_) | OAuthError::UseDpopNonce { .. }
    );
    if scheme == TokenType::Bearer && !dpop_error {
        let mut response = bearer_error(e);
        if invalid_token {
            response
                .headers_mut()
                .append(header::WWW_AUTHENTICATE, dpop_challenge(None));
        }
        return response;
    }
    let mut response = ApiError(e).into_response();
    if dpop_error {
        *response.status_mut() = StatusCode::UNAUTHORIZED;
    }
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, dpop_challenge(Some(code)));
    if code == "invalid_dpop_proof" {
        super::token::with_dpop_nonce(&mut response, nonces);
    }
    response
}

/// RFC 6585 §4: too many requests from this caller; it may retry after `wait`.
pub fn too_many_requests(description: &str, wait: std::time::Duration) -> Response {
    let mut response = json_error(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        description,
    );
    let seconds = wait.as_secs().max(1).to_string();
    if let Ok(value) = HeaderValue::from_str(&seconds) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_error_is_mapped() {
        for e in OAuthError::examples() {
            let status = status_of(&e);
            let response = ApiError(e.clone()).into_response();
            assert_eq!(response.status(), status);
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["error"], e.code());
            assert!(json["error_description"].is_string());
        }
    }

    #[test]
    fn challenges() {
        let basic = ApiError(OAuthError::InvalidClient {
            description: "bad".into(),
            used_authorization_header: true,
        })
        .into_response();
        assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
        assert!(
            basic.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        let form = ApiError(OAuthError::InvalidClient {
            description: "bad".into(),
            used_authorization_header: false,
        })
        .into_response();
        assert!(!form.headers().contains_key(header::WWW_AUTHENTICATE));
        let bearer = ApiError(OAuthError::InvalidToken("expired".into())).into_response();
        assert_eq!(
            bearer.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="tessera", error="invalid_token""#
        );
        let busy = ApiError(OAuthError::unavailable("db", None)).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "5");
        let nonce = ApiError(OAuthError::UseDpopNonce {
            description: "a nonce is required".into(),
            nonce: "eyJ7S_zG.eyJH0-Z.HX4w-7v".into(),
        })
        .into_response();
        assert_eq!(nonce.status(), StatusCode::BAD_REQUEST);
        assert_eq!(nonce.headers()["dpop-nonce"], "eyJ7S_zG.eyJH0-Z.HX4w-7v");
    }

    #[test]
    fn descriptions_fit_the_rfc_6749_character_set() {
        assert_eq!(
            sanitize_description("scope `a\"b\\c` é\n"),
            "scope `a'b'c` ??"
        );
    }

    /// A log line the test can read.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_server_error_logs_its_cause_once_and_sends_none_of_it() {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let response = tracing::subscriber::with_default(subscriber, || {
            let failure = serde_json::from_str::<u8>("not json").unwrap_err();
            ApiError(OAuthError::internal("reading a stored record", failure)).into_response()
        });
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json["error_description"],
            "the server could not complete the request"
        );
        assert!(!String::from_utf8_lossy(&body).contains("stored record"));
        let logged = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert_eq!(logged.lines().count(), 1, "{logged}");
        assert!(
            logged.contains("cause=reading a stored record: expected ident"),
            "{logged}"
        );
    }
}
