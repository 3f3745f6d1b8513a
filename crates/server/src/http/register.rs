//! Dynamic client registration: `POST /register` (RFC 7591 §3, OpenID Connect Dynamic Client
//! Registration 1.0 §3) and each client's configuration endpoint `/register/{client_id}`
//! (RFC 7592 §2: read, replace, remove with the registration access token).
//!
//! Registration needs an initial access token from the admin API, used once, unless
//! `[registration] open` is set; open registration is limited per client address. What a
//! client may register is bounded by `[registration]` and checked by the same rules as the
//! configuration file. Secrets and registration access tokens are shown once and kept as
//! digests, so a read of the registration (RFC 7592 §2.1) cannot show the secret again.

use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tessera_core::clients::ServerOffer;
use tessera_core::clients::manage::{Changed, ClientManager, ManageError};
use tessera_core::clients::registration::{
    InitialAccess, Refusal, RegistrationRecord, RegistrationRequest, registered_metadata,
};
use tessera_core::crypto::{
    base64url, constant_time_eq, handle_digest, random_bytes, random_handle,
};
use tessera_core::events::Event;
use tessera_core::model::{Grant, GrantKind};
use tessera_core::protocol::paths;

use super::AppState;
use super::error::{bearer_challenge, json_error};
use crate::connections::PeerAddr;

/// Registrations from all addresses in [`OPEN_WINDOW`] when registration is open.
const OPEN_OVERALL: u32 = 1_000;
/// The window of the open registration limits.
const OPEN_WINDOW: Duration = Duration::from_secs(3_600);
/// Registration access tokens do not expire (RFC 7592 §3 leaves it to the server); their grant
/// lives as long as this, and ends with the client.
const REGISTRATION_TOKEN_LIFETIME: i64 = 100 * 365 * 24 * 3_600;

/// The limit on open registrations: `per_address` attempts per client address an hour.
pub fn open_limit(per_address: u32) -> super::window_limit::WindowLimit {
    super::window_limit::WindowLimit::new(per_address, OPEN_OVERALL, OPEN_WINDOW)
}

fn refused(status: StatusCode, error: &str, description: &str) -> Response {
    tracing::info!(error, reason = description, "registration refused");
    json_error(status, error, description)
}

/// 401 with the Bearer challenge (RFC 6750 §3.1).
fn invalid_token(description: &str) -> Response {
    let mut response = refused(StatusCode::UNAUTHORIZED, "invalid_token", description);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        bearer_challenge(Some("invalid_token")),
    );
    response
}

fn refusal(r: &Refusal) -> Response {
    refused(StatusCode::BAD_REQUEST, r.error, &r.description())
}

fn manage_refusal(e: ManageError) -> Response {
    match e {
        ManageError::Invalid(problems) => refusal(&Refusal::of(problems)),
        ManageError::Exists(_) | ManageError::OwnedByConfig(_) | ManageError::Stale(_) => refused(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            &e.to_string(),
        ),
        ManageError::NotFound(_) => invalid_token("the registration access token is not valid"),
        e @ (ManageError::Store(_) | ManageError::Random) => {
            tracing::error!(cause = %e, "registration failed");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the registration could not be completed",
            )
        }
    }
}

/// What `headers` present as a bearer token (RFC 6750 §2.1).
enum Presented<'a> {
    /// No Authorization header.
    Nothing,
    /// A bearer token.
    Token(&'a str),
    /// An Authorization header that is not a usable bearer token (another scheme, empty,
    /// oversized): refused, never taken as no token.
    Malformed,
}

fn bearer(headers: &HeaderMap) -> Presented<'_> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Presented::Nothing;
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty() && t.len() <= 512)
        .map_or(Presented::Malformed, Presented::Token)
}

/// The client service, checking against `resources` (those in force).
fn manager<'a>(
    state: &'a AppState,
    resources: &'a tessera_core::model::Resources,
) -> ClientManager<'a> {
    ClientManager {
        store: state.clients.as_ref(),
        offer: ServerOffer {
            resources,
            acr_levels: &state.config.acr_levels,
            signing_algs: &state.config.keys.algorithms,
            profile: state.config.profile,
        },
    }
}

/// Parses a registration body (RFC 7591 §3.1: a JSON object); what is wrong with it.
fn parse_object(body: &[u8]) -> Result<RegistrationRequest, String> {
    let object: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|_| "the body is not a JSON object of client metadata".to_string())?;
    serde_json::from_value(Value::Object(object.clone())).map_err(|_| {
        // Which field has the wrong type (each is tried alone), never its value.
        let field = object
            .iter()
            .find(|(name, value)| {
                let alone = Map::from_iter([((*name).clone(), (*value).clone())]);
                serde_json::from_value::<RegistrationRequest>(Value::Object(alone)).is_err()
            })
            .map_or("a field", |(name, _)| name.as_str());
        let field: String = field.chars().take(64).collect();
        format!("{field}: the value has the wrong type")
    })
}

/// The answer with a client's registration (RFC 7591 §3.2.1, RFC 7592 §3).
fn answer(
    state: &AppState,
    status: StatusCode,
    changed: &Changed,
    issued_at: i64,
    access_token: Option<&str>,
) -> Response {
    let client = &changed.client.client;
    let mut body = registered_metadata(client, issued_at);
    if let Some(secret) = &changed.secret {
        body.insert("client_secret".into(), json!(secret.expose()));
    }
    if let Some(token) = access_token {
        body.insert("registration_access_token".into(), json!(token));
    }
    body.insert(
        "registration_client_uri".into(),
        json!(format!(
            "{}{}/{}",
            state.config.issuer,
            paths::REGISTER,
            client.client_id
        )),
    );
    let mut response = (status, axum::Json(Value::Object(body))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `POST /register`.
pub async fn post_register(
    State(state): State<AppState>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.clock.now();
    let policy = &state.config.registration;
    // RFC 7591 §3: an initial access token, unless registration is open.
    let initial = match bearer(&headers) {
        Presented::Token(token) => {
            let digest = handle_digest(token);
            match state.store.find_grant(&digest).await {
                Ok(Some(g))
                    if g.kind == GrantKind::InitialAccessToken
                        && g.consumed_at.is_none()
                        && g.expires_at > now =>
                {
                    Some(g)
                }
                Ok(_) => return invalid_token("the initial access token is not valid"),
                Err(e) => return manage_refusal(ManageError::Store(e)),
            }
        }
        Presented::Malformed => return invalid_token("the initial access token is not valid"),
        Presented::Nothing if policy.open => None,
        Presented::Nothing => {
            let mut response = refused(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "registration needs an initial access token",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, bearer_challenge(None));
            return response;
        }
    };
    // Every open registration attempt counts, made or refused: a burst cannot slip through
    // between a check and a count.
    let address = peer.map(|Extension(PeerAddr(a))| a.ip());
    if initial.is_none()
        && state
            .registration_limit
            .admit(address, state.monotonic.now())
            .is_err()
    {
        return super::error::too_many_requests(
            "too many registrations from this address; retry later",
            OPEN_WINDOW,
        );
    }
    let request = match parse_object(&body) {
        Ok(r) => r,
        Err(why) => return refused(StatusCode::BAD_REQUEST, "invalid_client_metadata", &why),
    };
    let client_id = match random_bytes(16) {
        Ok(bytes) => base64url(&bytes),
        Err(_) => return manage_refusal(ManageError::Random),
    };
    let metadata = match request.to_metadata(&client_id, policy) {
        Ok(m) => m,
        Err(r) => return refusal(&r),
    };
    let changed = match manager(&state, &state.resources.current())
        .create(metadata)
        .await
    {
        Ok(c) => c,
        Err(e) => return manage_refusal(e),
    };
    // The initial access token is spent only by a registration that is made: of two
    // registrations with one token, one keeps its client.
    let mut actor = "registration".to_string();
    if let Some(grant) = &initial {
        let spent = state
            .store
            .consume_grant(&grant.handle_digest, GrantKind::InitialAccessToken, now)
            .await;
        match spent {
            Ok(Some(g)) => {
                if let Ok(made) = g.payload::<InitialAccess>() {
                    actor = made.created_by;
                }
            }
            other => {
                take_back(&state, &client_id).await;
                return match other {
                    Err(e) => manage_refusal(ManageError::Store(e)),
                    _ => invalid_token("the initial access token is not valid"),
                };
            }
        }
    }
    let Ok(token) = random_handle() else {
        return manage_refusal(ManageError::Random);
    };
    let record = RegistrationRecord { issued_at: now };
    let stored = Grant::new(
        handle_digest(&token),
        client_id.clone(),
        &record,
        now,
        now + REGISTRATION_TOKEN_LIFETIME,
    );
    let stored = match stored {
        Ok(g) => state
            .store
            .insert_grant(&g)
            .await
            .map_err(ManageError::Store),
        Err(e) => Err(ManageError::Store(
            tessera_core::store::StoreError::Internal(e.description().to_string()),
        )),
    };
    if let Err(e) = stored {
        // No one could manage the client: take it back.
        take_back(&state, &client_id).await;
        return manage_refusal(e);
    }
    state.events.emit(Event::AdminChanged {
        actor: &actor,
        action: "client.register",
        target: &client_id,
    });
    answer(&state, StatusCode::CREATED, &changed, now, Some(&token))
}

/// Removes a client whose registration could not be completed.
async fn take_back(state: &AppState, client_id: &str) {
    if let Err(e) = manager(state, &state.resources.current())
        .remove(client_id, None)
        .await
    {
        tracing::error!(client_id, error = %e, "cannot remove a client whose registration failed");
    }
}

/// The registration access token of `headers`, if it is `client_id`'s (RFC 7592 §2).
async fn registration_token<'h>(
    state: &AppState,
    headers: &'h HeaderMap,
    client_id: &str,
) -> Result<(Grant, RegistrationRecord, &'h str), Response> {
    let token = match bearer(headers) {
        Presented::Token(token) => token,
        Presented::Malformed => {
            return Err(invalid_token("the registration access token is not valid"));
        }
        Presented::Nothing => {
            let mut response = refused(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the registration access token is needed",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, bearer_challenge(None));
            return Err(response);
        }
    };
    let grant = match state.store.find_grant(&handle_digest(token)).await {
        Ok(Some(g))
            if g.kind == GrantKind::RegistrationAccessToken
                && g.consumed_at.is_none()
                && constant_time_eq(g.client_id.as_bytes(), client_id.as_bytes()) =>
        {
            g
        }
        Ok(_) => return Err(invalid_token("the registration access token is not valid")),
        Err(e) => return Err(manage_refusal(ManageError::Store(e))),
    };
    let record = grant
        .payload::<RegistrationRecord>()
        .map_err(|_| invalid_token("the registration access token is not valid"))?;
    Ok((grant, record, token))
}

/// `GET /register/{client_id}` (RFC 7592 §2.1).
pub async fn get_registration(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (grant, record, token) = match registration_token(&state, &headers, &client_id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match manager(&state, &state.resources.current())
        .get(&client_id)
        .await
    {
        Ok(client) => {
            let changed = Changed {
                client,
                secret: None,
            };
            // §3: the answer names the registration access token (the one presented: only
            // its digest is kept).
            answer(
                &state,
                StatusCode::OK,
                &changed,
                record.issued_at,
                Some(token),
            )
        }
        // §2.1: a client that no longer exists: 401, and its token revoked.
        Err(ManageError::NotFound(_)) => {
            let _ = state.store.delete_grant(&grant.handle_digest).await;
            invalid_token("the registration access token is not valid")
        }
        Err(e) => manage_refusal(e),
    }
}

/// `PUT /register/{client_id}` (RFC 7592 §2.2): the whole registration again.
pub async fn put_registration(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (grant, record, token) = match registration_token(&state, &headers, &client_id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let request = match parse_object(&body) {
        Ok(r) => r,
        Err(why) => return refused(StatusCode::BAD_REQUEST, "invalid_client_metadata", &why),
    };
    // §2.2: the request names the client; a secret it sends must be the client's.
    if request.client_id.as_deref() != Some(client_id.as_str()) {
        return refused(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "client_id must be sent, and be this client's",
        );
    }
    let resources = state.resources.current();
    let manager = manager(&state, &resources);
    let current = match manager.get(&client_id).await {
        Ok(c) => c,
        Err(ManageError::NotFound(_)) => {
            let _ = state.store.delete_grant(&grant.handle_digest).await;
            return invalid_token("the registration access token is not valid");
        }
        Err(e) => return manage_refusal(e),
    };
    if let Some(secret) = &request.client_secret {
        let digest = handle_digest(secret);
        let matches = current
            .client
            .secret_digests
            .iter()
            .any(|d| constant_time_eq(d.as_bytes(), digest.as_bytes()));
        if !matches {
            return refused(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                "client_secret is not the client's",
            );
        }
    }
    let mut metadata = match request.to_metadata(&client_id, &state.config.registration) {
        Ok(m) => m,
        Err(r) => return refusal(&r),
    };
    // What the server or an operator decided is not the registrant's to change (SEC-67): a
    // disabled client stays disabled, its settings and policies stay.
    let held = &current.client;
    metadata.enabled = held.enabled;
    metadata.settings = held.settings.clone();
    metadata.allowed_cors_origins = held.allowed_cors_origins.clone();
    metadata.token_exchange = held.token_exchange.clone();
    metadata.always_include_user_claims_in_id_token = held.always_include_user_claims_in_id_token;
    let changed = match manager.update(metadata, Some(&current.version)).await {
        Ok(c) => c,
        Err(e) => return manage_refusal(e),
    };
    state.events.emit(Event::AdminChanged {
        actor: &client_id,
        action: "client.reregister",
        target: &client_id,
    });
    answer(
        &state,
        StatusCode::OK,
        &changed,
        record.issued_at,
        Some(token),
    )
}

/// `DELETE /register/{client_id}` (RFC 7592 §2.3): the client and its token are gone.
pub async fn delete_registration(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (grant, _, _) = match registration_token(&state, &headers, &client_id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match manager(&state, &state.resources.current())
        .remove(&client_id, None)
        .await
    {
        Ok(()) => {}
        // §2.3: a client that no longer exists: 401, and its token revoked.
        Err(ManageError::NotFound(_)) => {
            let _ = state.store.delete_grant(&grant.handle_digest).await;
            return invalid_token("the registration access token is not valid");
        }
        Err(e) => return manage_refusal(e),
    }
    let _ = state.store.delete_grant(&grant.handle_digest).await;
    state.events.emit(Event::AdminChanged {
        actor: &client_id,
        action: "client.unregister",
        target: &client_id,
    });
    StatusCode::NO_CONTENT.into_response()
}
