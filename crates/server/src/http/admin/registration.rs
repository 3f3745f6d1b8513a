//! `/admin/v1/registration/tokens`: initial access tokens for dynamic client registration
//! (RFC 7591 §3), each good for one registration.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tessera_core::clients::registration::InitialAccess;
use tessera_core::crypto::{handle_digest, random_handle};
use tessera_core::model::Grant;
use utoipa::ToSchema;

use super::{AdminError, Problem, Writer, json_body};
use crate::http::AppState;

/// Longest lifetime of an initial access token: 30 days.
const MAX_LIFETIME: u64 = 30 * 24 * 3_600;

/// What the token is for.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInitialToken {
    /// Seconds it can be used in (default one day, at most 30 days).
    pub expires_in: Option<u64>,
}

/// A new initial access token.
#[derive(Debug, Serialize, ToSchema)]
pub struct InitialToken {
    /// The token, shown this once: the registering client sends it as a Bearer token to
    /// `/register`.
    pub initial_access_token: String,
    /// When it expires (seconds since the epoch).
    pub expires_at: i64,
}

/// Makes an initial access token for one registration.
#[utoipa::path(post, operation_id = "create_initial_access_token", path = "/admin/v1/registration/tokens",
    tag = "registration", request_body = NewInitialToken,
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 201, description = "Created", body = InitialToken),
        (status = 400, description = "Invalid input; every problem is listed", body = AdminError)))]
pub async fn create(
    writer: Writer,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<InitialToken>), AdminError> {
    let asked: NewInitialToken = if body.is_empty() {
        NewInitialToken::default()
    } else {
        json_body(&body)?
    };
    let lifetime = asked.expires_in.unwrap_or(86_400);
    if !(60..=MAX_LIFETIME).contains(&lifetime) {
        return Err(AdminError::invalid(
            "invalid_request",
            vec![Problem {
                field: "expires_in".into(),
                message: format!("must be between 60 and {MAX_LIFETIME} seconds"),
            }],
        ));
    }
    let token = random_handle().map_err(AdminError::internal)?;
    let now = state.clock.now();
    let expires_at = now + i64::try_from(lifetime).unwrap_or(86_400);
    let payload = InitialAccess {
        created_by: writer.client_id.clone(),
    };
    let digest = handle_digest(&token);
    let grant = Grant::new(
        digest.clone(),
        writer.client_id.clone(),
        &payload,
        now,
        expires_at,
    )
    .map_err(|e| AdminError::internal(e.description().to_string()))?;
    state
        .store
        .insert_grant(&grant)
        .await
        .map_err(AdminError::internal)?;
    writer.changed(&state, "registration.token", &digest[..12]);
    Ok((
        StatusCode::CREATED,
        Json(InitialToken {
            initial_access_token: token,
            expires_at,
        }),
    ))
}
