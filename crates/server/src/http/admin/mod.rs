//! The admin API (`/admin/v1/...`): clients, users and signing keys, for operators' tools.
//!
//! Callers present Tessera's own access tokens for the built-in API `urn:tessera:admin`,
//! obtained by `client_credentials` with the scope `tessera.admin.read` (reading) or
//! `tessera.admin.write` (reading and changing). They are checked by the validation crate, as
//! any protected API checks them (JWT access tokens; `typ`, algorithm, issuer, audience,
//! lifetime), then looked up as userinfo does, so a revoked token or one of a disabled client
//! is refused at once. DPoP-bound tokens are not accepted here.
//!
//! Changes are conditional: a read returns an `ETag`; `PUT` needs `If-Match` with it (428
//! without, 412 when the item changed meanwhile). Items declared in the configuration file are
//! read-only here (409, naming the file). Every change is an audited event.

pub mod ciba;
pub mod clients;
pub mod keys;
pub mod openapi;
pub mod registration;
pub mod resources;
pub mod sessions;
pub mod users;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::{Deserialize, Serialize};
use tessera_core::events::Event;
use tessera_core::model::{ADMIN_AUDIENCE, ADMIN_READ, ADMIN_WRITE};
use tessera_core::protocol::paths;
use tessera_core::tokens::introspect::live_access_token;
use tessera_validation::{KeySource, TokenValidator, ValidationConfig, ValidationError};
use utoipa::ToSchema;

use super::AppState;
use crate::keycache::KeyCache;

/// The issuer's keys, read from this process's key cache.
struct OwnKeys(Arc<KeyCache>);

impl KeySource for OwnKeys {
    fn jwks(&self) -> Result<tessera_validation::JwkSet, ValidationError> {
        serde_json::from_slice(&self.0.current().jwks_json())
            .map_err(|e| ValidationError::Unavailable(format!("the key set does not parse: {e}")))
    }
}

/// The validator of admin API tokens.
pub fn token_validator(issuer: &str, keys: Arc<KeyCache>) -> anyhow::Result<Arc<TokenValidator>> {
    let config =
        ValidationConfig::new(issuer, ADMIN_AUDIENCE).with_key_source(Arc::new(OwnKeys(keys)));
    Ok(Arc::new(TokenValidator::new(config).map_err(|e| {
        anyhow::anyhow!("cannot set up admin token validation: {e}")
    })?))
}

/// An error of the admin API: a status, an error code, a description, and for invalid input
/// every problem found.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminError {
    #[serde(skip)]
    status: StatusCode,
    /// A machine-readable code.
    pub error: &'static str,
    /// What went wrong, for people.
    pub error_description: String,
    /// For invalid input: each problem, with the field it is about.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    #[serde(skip)]
    challenge: Option<HeaderValue>,
}

/// One thing wrong with a request body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// The field, relative to the body.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl From<tessera_core::clients::metadata::MetadataProblem> for Problem {
    fn from(p: tessera_core::clients::metadata::MetadataProblem) -> Self {
        Problem {
            field: p.field,
            message: p.message,
        }
    }
}

impl From<tessera_core::users::UserProblem> for Problem {
    fn from(p: tessera_core::users::UserProblem) -> Self {
        Problem {
            field: p.field,
            message: p.message,
        }
    }
}

impl AdminError {
    /// An error with `status` and `error`.
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        AdminError {
            status,
            error,
            error_description: description.into(),
            problems: vec![],
            challenge: None,
        }
    }

    /// 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// 400 with the problems of a body.
    pub fn invalid(error: &'static str, problems: Vec<Problem>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            error,
            format!("{} problem(s); see problems", problems.len()),
        );
        e.problems = problems;
        e
    }

    /// A store or internal failure: its cause is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "admin request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the request could not be completed",
        )
    }

    fn unauthorized(description: &str, error: Option<&'static str>) -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            error.unwrap_or("invalid_token"),
            description,
        );
        e.challenge = Some(super::error::bearer_challenge(error));
        e
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::info!(
                error = self.error,
                reason = %self.error_description,
                "admin request refused"
            );
        }
        let status = self.status;
        let challenge = self.challenge.clone();
        let mut response = (status, Json(self)).into_response();
        if let Some(challenge) = challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// A caller allowed to read.
#[derive(Debug, Clone)]
pub struct Reader {
    /// The calling client.
    pub client_id: String,
}

/// A caller allowed to change things.
#[derive(Debug, Clone)]
pub struct Writer {
    /// The calling client.
    pub client_id: String,
}

impl Writer {
    /// Emits the audit event of a change this caller made.
    pub fn changed(&self, state: &AppState, action: &'static str, target: &str) {
        state.events.emit(Event::AdminChanged {
            actor: &self.client_id,
            action,
            target,
        });
    }
}

/// Checks the request's bearer token; the calling client and its scopes.
async fn authorize(parts: &Parts, state: &AppState) -> Result<(String, Vec<String>), AdminError> {
    // RFC 6750 §3: no credentials, or another scheme: a bare challenge; §3.1: a malformed
    // Bearer credential: 400 invalid_request.
    let bare = || {
        AdminError::unauthorized(
            "an access token for the admin API is needed (client_credentials with tessera.admin.read or tessera.admin.write)",
            None,
        )
    };
    let Some((scheme, token)) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
    else {
        return Err(bare());
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(bare());
    }
    let token = token.trim();
    if token.is_empty() || token.contains(' ') {
        let mut e = AdminError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the Bearer credential is malformed",
        );
        e.challenge = Some(super::error::bearer_challenge(Some("invalid_request")));
        return Err(e);
    }
    let claims = state
        .admin_tokens
        .validate(token)
        .await
        .map_err(|e| match e {
            ValidationError::Invalid(why) => {
                tracing::info!(reason = %why, "admin token refused");
                AdminError::unauthorized(
                    "the access token is not valid for the admin API",
                    Some("invalid_token"),
                )
            }
            ValidationError::Unavailable(why) => AdminError::internal(why),
        })?;
    if claims.all.contains_key("cnf") {
        return Err(AdminError::unauthorized(
            "sender-constrained tokens are not accepted by the admin API",
            Some("invalid_token"),
        ));
    }
    // Revoked, or its client disabled or removed since it was issued: refused at once.
    let ring = state.keys.current();
    let live = live_access_token(token, &state.token_lookup(&ring))
        .await
        .map_err(AdminError::internal)?;
    let Some(live) = live else {
        return Err(AdminError::unauthorized(
            "the access token is no longer active",
            Some("invalid_token"),
        ));
    };
    // Operators' tools hold a client's own token: a token issued for a user, through a client
    // that happens to be allowed the admin scopes, makes no user an admin.
    if live.user.is_some() {
        let mut e = AdminError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the admin API takes a client's own token (client_credentials), not one issued for a user",
        );
        e.challenge = Some(super::error::bearer_challenge(Some("insufficient_scope")));
        return Err(e);
    }
    let client_id = claims.client_id.clone().unwrap_or(claims.subject.clone());
    tracing::Span::current().record("client_id", client_id.as_str());
    Ok((client_id, claims.scopes))
}

fn insufficient(scope: &str) -> AdminError {
    let mut e = AdminError::new(
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        format!("the access token lacks the scope {scope}"),
    );
    e.challenge = Some(super::error::bearer_challenge(Some("insufficient_scope")));
    e
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AdminError> {
        let (client_id, scopes) = authorize(parts, state).await?;
        if !scopes.iter().any(|s| s == ADMIN_READ || s == ADMIN_WRITE) {
            return Err(insufficient(ADMIN_READ));
        }
        Ok(Reader { client_id })
    }
}

impl FromRequestParts<AppState> for Writer {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AdminError> {
        let (client_id, scopes) = authorize(parts, state).await?;
        if !scopes.iter().any(|s| s == ADMIN_WRITE) {
            return Err(insufficient(ADMIN_WRITE));
        }
        Ok(Writer { client_id })
    }
}

/// `?limit=&after=`: a page of a list ordered by id.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// At most this many items (1–500, default 100).
    pub limit: Option<usize>,
    /// Items after this id (the previous page's `next`).
    pub after: Option<String>,
}

/// Most items per page.
const MAX_PAGE: usize = 500;
/// Items per page unless asked otherwise.
const DEFAULT_PAGE: usize = 100;

impl Page {
    /// The page of `items` (ordered by `id`) and the id to continue after, if more follow.
    pub fn of<T>(&self, items: Vec<T>, id: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let mut rest: Vec<T> = match &self.after {
            Some(after) => items
                .into_iter()
                .filter(|i| id(i) > after.as_str())
                .collect(),
            None => items,
        };
        let more = rest.len() > limit;
        rest.truncate(limit);
        let next = if more {
            rest.last().map(|i| id(i).to_string())
        } else {
            None
        };
        (rest, next)
    }
}

/// The version a conditional change is based on: `If-Match` without quotes; `None` when
/// absent, or `*` (RFC 9110 §13.1.1: any current version).
pub fn if_match(headers: &HeaderMap) -> Option<String> {
    matched(headers).filter(|v| v != "*")
}

fn matched(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_string()
        })
}

/// The version a change must be based on, from `If-Match` (`None` for `*`: whatever is
/// current); refused without the header (RFC 6585 §3: 428 Precondition Required).
pub fn require_if_match(headers: &HeaderMap) -> Result<Option<String>, AdminError> {
    matched(headers).map(|v| (v != "*").then_some(v)).ok_or_else(|| {
        AdminError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition_required",
            "send If-Match with the ETag of the version you read, so that no one else's change is overwritten",
        )
    })
}

/// `ETag: "version"`.
pub fn etag(version: &str) -> (header::HeaderName, HeaderValue) {
    let value = HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    (header::ETAG, value)
}

/// Reads a JSON body, answering what is wrong with it as the admin API does.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(body).map_err(|e| {
        AdminError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!(
                "the body is not the expected JSON: {}",
                without_values(&e.to_string())
            ),
        )
    })
}

/// A parser message without the values it quotes (`invalid type: string "..."`): a value sent
/// may be a password, and the message is logged.
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

/// The admin API's routes, under `/admin`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::ADMIN_OPENAPI, get(openapi::openapi_json))
        .route(
            "/admin/v1/clients",
            get(clients::list).post(clients::create),
        )
        .route(
            "/admin/v1/clients/{client_id}",
            get(clients::get)
                .put(clients::replace)
                .delete(clients::remove),
        )
        .route(
            "/admin/v1/clients/{client_id}/secret",
            post(clients::rotate_secret),
        )
        .route("/admin/v1/users", get(users::list).post(users::create))
        .route(
            "/admin/v1/users/{subject}",
            get(users::get).delete(users::delete),
        )
        .route("/admin/v1/users/{subject}/claims", put(users::set_claims))
        .route(
            "/admin/v1/users/{subject}/password",
            post(users::set_password),
        )
        .route("/admin/v1/users/{subject}/disable", post(users::disable))
        .route("/admin/v1/users/{subject}/enable", post(users::enable))
        .route("/admin/v1/users/{subject}/factors", get(users::factors))
        .route("/admin/v1/users/{subject}/links", get(users::links))
        .route("/admin/v1/users/{subject}/sessions", get(sessions::list))
        .route(
            "/admin/v1/users/{subject}/sessions/{sid}",
            delete(sessions::end),
        )
        .route("/admin/v1/users/{subject}/grants", get(sessions::grants))
        .route(
            "/admin/v1/users/{subject}/grants/{client_id}",
            delete(sessions::revoke),
        )
        .route("/admin/v1/keys", get(keys::list))
        .route("/admin/v1/keys/rotate", post(keys::rotate))
        .route("/admin/v1/ciba/{approval}", post(ciba::decide))
        .route("/admin/v1/keys/{kid}", delete(keys::retire))
        .route("/admin/v1/registration/tokens", post(registration::create))
        .route("/admin/v1/resources", get(resources::list))
        .route("/admin/v1/api-scopes", post(resources::create_scope))
        .route(
            "/admin/v1/api-scopes/{name}",
            put(resources::replace_scope).delete(resources::remove_scope),
        )
        .route("/admin/v1/api-resources", post(resources::create_api))
        .route(
            "/admin/v1/api-resources/{name}",
            put(resources::replace_api).delete(resources::remove_api),
        )
        .route(
            "/admin/v1/identity-resources",
            post(resources::create_identity),
        )
        .route(
            "/admin/v1/identity-resources/{name}",
            put(resources::replace_identity).delete(resources::remove_identity),
        )
}
