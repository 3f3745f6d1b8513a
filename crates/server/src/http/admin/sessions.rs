//! `/admin/v1/users/{subject}/sessions` and `/grants`: a user's single sign-on sessions (ended
//! as a sign-out would, with back-channel logout) and what the user allowed applications
//! (revoked as the account page does), as `tessera sessions` and `tessera grants` do.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use tessera_core::logout::end_session;
use tessera_core::sessions::{remembered_consents, session_clients};
use utoipa::ToSchema;

use super::{AdminError, Reader, Writer};
use crate::http::AppState;

/// A single sign-on session, without its cookie value.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Its `sid` (OIDC Front- and Back-Channel Logout).
    pub sid: String,
    /// The clients signed in through it.
    pub clients: Vec<String>,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Seconds since the epoch.
    pub last_seen: i64,
    /// When it ends unless used again (or at its absolute end).
    pub expires_at: i64,
}

/// What a user allowed a client, remembered.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    /// The client.
    pub client_id: String,
    /// The scopes allowed.
    pub scopes: Vec<String>,
}

async fn known_user(state: &AppState, subject: &str) -> Result<(), AdminError> {
    match state.store.find_user_by_subject(subject).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(AdminError::not_found("no such user")),
        Err(e) => Err(AdminError::internal(e)),
    }
}

/// A user's live sessions.
#[utoipa::path(get, operation_id = "list_user_sessions", path = "/admin/v1/users/{subject}/sessions", tag = "users",
    params(("subject" = String, Path, description = "The user's subject")),
    security(("oauth2" = ["tessera.admin.read"])),
    responses((status = 200, description = "OK", body = Vec<SessionView>), (status = 404, description = "Not found", body = AdminError)))]
pub async fn list(
    _: Reader,
    State(state): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Json<Vec<SessionView>>, AdminError> {
    known_user(&state, &subject).await?;
    let now = state.clock.now();
    let sessions = state
        .store
        .list_sessions_for_subject(&subject, now)
        .await
        .map_err(AdminError::internal)?;
    let mut views = Vec::new();
    for s in sessions {
        let clients = session_clients(state.store.as_ref(), &s.sid)
            .await
            .map_err(AdminError::internal)?;
        views.push(SessionView {
            clients,
            created_at: s.created_at,
            last_seen: s.last_seen,
            expires_at: s.expires_at.min(s.absolute_expires_at),
            sid: s.sid,
        });
    }
    Ok(Json(views))
}

/// Ends a user's session: what belongs to it is revoked (refresh tokens of `offline_access`
/// grants excepted) and its clients get back-channel logout.
#[utoipa::path(delete, operation_id = "end_user_session", path = "/admin/v1/users/{subject}/sessions/{sid}", tag = "users",
    params(("subject" = String, Path, description = "The user's subject"), ("sid" = String, Path, description = "The session's sid")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 204, description = "Done; no content"), (status = 404, description = "Not found", body = AdminError)))]
pub async fn end(
    writer: Writer,
    State(state): State<AppState>,
    Path((subject, sid)): Path<(String, String)>,
) -> Result<StatusCode, AdminError> {
    let now = state.clock.now();
    let session = state
        .store
        .list_sessions_for_subject(&subject, now)
        .await
        .map_err(AdminError::internal)?
        .into_iter()
        .find(|s| s.sid == sid)
        .ok_or_else(|| AdminError::not_found("no such session"))?;
    let store = state.store.as_ref();
    let Some((session, clients)) = end_session(store, store, store, &session.id_digest)
        .await
        .map_err(AdminError::internal)?
    else {
        return Err(AdminError::not_found("no such session"));
    };
    let ring = state.keys.current();
    // Delivered in the background, with retries, as a sign-out's are.
    drop(
        state
            .backchannel
            .notify(&state.config.issuer, &ring, &session, &clients, now),
    );
    writer.changed(&state, "session.end", &sid);
    Ok(StatusCode::NO_CONTENT)
}

/// What a user allowed applications, remembered.
#[utoipa::path(get, operation_id = "list_user_grants", path = "/admin/v1/users/{subject}/grants", tag = "users",
    params(("subject" = String, Path, description = "The user's subject")),
    security(("oauth2" = ["tessera.admin.read"])),
    responses((status = 200, description = "OK", body = Vec<GrantView>), (status = 404, description = "Not found", body = AdminError)))]
pub async fn grants(
    _: Reader,
    State(state): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Json<Vec<GrantView>>, AdminError> {
    known_user(&state, &subject).await?;
    let consents = remembered_consents(state.store.as_ref(), &subject, state.clock.now())
        .await
        .map_err(AdminError::internal)?;
    Ok(Json(
        consents
            .into_iter()
            .map(|(client_id, consent)| GrantView {
                client_id,
                scopes: consent.scopes,
            })
            .collect(),
    ))
}

/// Takes back what a user allowed a client: the remembered consent and every code and token
/// the user holds for it.
#[utoipa::path(delete, operation_id = "revoke_user_grant", path = "/admin/v1/users/{subject}/grants/{client_id}", tag = "users",
    params(("subject" = String, Path, description = "The user's subject"), ("client_id" = String, Path, description = "The client")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 204, description = "Done; no content"), (status = 404, description = "Not found", body = AdminError)))]
pub async fn revoke(
    writer: Writer,
    State(state): State<AppState>,
    Path((subject, client_id)): Path<(String, String)>,
) -> Result<StatusCode, AdminError> {
    known_user(&state, &subject).await?;
    let ended = state
        .store
        .delete_subject_client_grants(&subject, &client_id)
        .await
        .map_err(AdminError::internal)?;
    if ended == 0 {
        return Err(AdminError::not_found(
            "the user holds nothing for this client",
        ));
    }
    writer.changed(&state, "grant.revoke", &client_id);
    Ok(StatusCode::NO_CONTENT)
}
