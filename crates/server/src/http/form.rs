//! Reading OAuth form requests at the edge: content type, query string, body, Authorization.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::context::RequestContext;
use tessera_core::protocol::form::Form;

use super::AppState;
use super::context::Context;
use super::error::ApiError;

/// Parses a form POST. RFC 6749 §3.2 (and RFC 7009 §2.1, RFC 7662 §2.1): parameters come in an
/// `application/x-www-form-urlencoded` body; parameters in the query string are refused so that
/// credentials never travel in URLs (SECURITY-STATUS.md SEC-33).
pub fn read_form(headers: &HeaderMap, uri: &Uri, body: &[u8]) -> Result<Form, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    if uri.query().is_some_and(|q| !q.is_empty()) {
        return Err(OAuthError::InvalidRequest(
            "parameters must be sent in the request body, not the URL".into(),
        ));
    }
    Form::parse(body)
}

/// The Authorization header, if one was sent. Several, or one that is not visible ASCII, is a
/// failed client authentication through the header.
pub fn authorization(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let bad = |why: &'static str| OAuthError::InvalidClient {
        description: why.into(),
        used_authorization_header: true,
    };
    if values.next().is_some() {
        return Err(bad("more than one Authorization header"));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| bad("the Authorization header is not ASCII"))
}

/// A form POST to an endpoint of clients (token, revocation, introspection): its context, its
/// headers (for client authentication) and its parameters, read once at the edge.
pub struct FormRequest {
    /// What protocol code may know of the request.
    pub context: RequestContext,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its parameters.
    pub form: Form,
}

impl FromRequest<AppState> for FormRequest {
    /// A body that cannot be read gets the body extractor's answer (413 past the limit); a
    /// malformed form is an `invalid_request`.
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Ok(Context(context)) = Context::from_request_parts(&mut parts, state).await;
        let (headers, uri) = (parts.headers.clone(), parts.uri.clone());
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = read_form(&headers, &uri, &body).map_err(|e| ApiError(e).into_response())?;
        Ok(FormRequest {
            context,
            headers,
            form,
        })
    }
}
