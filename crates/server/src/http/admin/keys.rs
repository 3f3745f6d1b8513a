//! `/admin/v1/keys`: the signing keys, rotation and retirement as `tessera keys rotate` and
//! `tessera keys retire` do them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tessera_core::tokens::SigningAlg;
use tessera_core::tokens::keyring::{KeyStatus, classify};
use tessera_core::tokens::manager::{RetireError, retire_key, rotate_keys};
use utoipa::ToSchema;

use super::{AdminError, Problem, Reader, Writer, json_body};
use crate::http::AppState;

/// A signing key, without its private part.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Its `kid`.
    pub kid: String,
    /// Its algorithm.
    pub alg: String,
    /// `upcoming` (published, not yet signing), `active`, `retiring` (published, no longer
    /// signing) or `expired`.
    pub status: &'static str,
    /// When it was made (seconds since the epoch).
    pub created_at: i64,
    /// When it signs from.
    pub activates_at: i64,
    /// Until when a retiring key stays published.
    pub published_until: Option<i64>,
}

/// The signing keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Every key, by algorithm and age.
    pub items: Vec<KeyView>,
}

/// What a rotation makes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// The algorithms to make keys for (default: the configured ones).
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// Seconds until the new keys sign (default: `keys.propagation`); at least
    /// `keys.refresh_interval` + the JWKS cache time, so that everyone knows a key before it
    /// signs.
    pub activate_in: Option<u32>,
}

async fn views(state: &AppState) -> Result<Vec<KeyView>, AdminError> {
    let records = state
        .store
        .list_keys()
        .await
        .map_err(AdminError::internal)?;
    let now = state.clock.now();
    Ok(classify(&records, now, state.config.keys.retention)
        .into_iter()
        .map(|(k, status)| KeyView {
            kid: k.kid,
            alg: k.alg,
            status: match status {
                KeyStatus::Upcoming => "upcoming",
                KeyStatus::Active => "active",
                KeyStatus::Retiring { .. } => "retiring",
                KeyStatus::Expired => "expired",
            },
            created_at: k.created_at,
            activates_at: k.activates_at,
            published_until: match status {
                KeyStatus::Retiring { until } => Some(until),
                _ => None,
            },
        })
        .collect())
}

/// Lists the signing keys.
#[utoipa::path(get, operation_id = "list_keys", path = "/admin/v1/keys", tag = "keys",
    security(("oauth2" = ["tessera.admin.read"])),
    responses((status = 200, description = "OK", body = KeyList), (status = 401, description = "No valid admin token", body = AdminError)))]
pub async fn list(_: Reader, State(state): State<AppState>) -> Result<Json<KeyList>, AdminError> {
    Ok(Json(KeyList {
        items: views(&state).await?,
    }))
}

/// Makes new signing keys: published now, signing after `activate_in`; the keys they replace
/// retire after `keys.retention`.
#[utoipa::path(post, operation_id = "rotate_keys", path = "/admin/v1/keys/rotate", tag = "keys", request_body = Rotation,
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 201, description = "Created", body = KeyList), (status = 400, description = "Invalid input; every problem is listed", body = AdminError)))]
pub async fn rotate(
    writer: Writer,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<KeyList>), AdminError> {
    let rotation: Rotation = if body.is_empty() {
        Rotation::default()
    } else {
        json_body(&body)?
    };
    let config = &state.config;
    let minimum = config.key_refresh_interval.as_secs() + tessera_core::tokens::JWKS_CACHE_SECONDS;
    let mut problems = Vec::new();
    if let Some(seconds) = rotation.activate_in
        && u64::from(seconds) < minimum
    {
        problems.push(Problem {
            field: "activate_in".into(),
            message: format!("is shorter than keys.refresh_interval + the JWKS cache time ({minimum} s): servers and relying parties would not know the key before it signs"),
        });
    }
    let mut algs = Vec::new();
    for (i, name) in rotation.algorithms.iter().enumerate() {
        match SigningAlg::parse(name) {
            Ok(alg) => algs.push(alg),
            Err(e) => problems.push(Problem {
                field: format!("algorithms[{i}]"),
                message: e.to_string(),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(AdminError::invalid("invalid_request", problems));
    }
    if algs.is_empty() {
        algs.clone_from(&config.keys.algorithms);
    }
    let created = rotate_keys(
        state.store.as_ref(),
        state.clock.as_ref(),
        &config.keys,
        &algs,
        rotation.activate_in.map(i64::from),
    )
    .await
    .map_err(AdminError::internal)?;
    // Audited as soon as they exist, whatever happens next.
    for key in &created {
        writer.changed(&state, "key.rotate", &key.kid);
    }
    state
        .keys
        .refresh(state.store.as_ref(), state.clock.as_ref(), &config.keys)
        .await
        .map_err(AdminError::internal)?;
    let all = views(&state).await?;
    let items = all
        .into_iter()
        .filter(|k| created.iter().any(|c| c.kid == k.kid))
        .collect();
    Ok((StatusCode::CREATED, Json(KeyList { items })))
}

/// Retires a key at once: it leaves the published key set, so nothing it signed verifies any
/// more (after a compromise). The key that signs now is refused: rotate first.
#[utoipa::path(delete, operation_id = "retire_key", path = "/admin/v1/keys/{kid}", tag = "keys",
    params(("kid" = String, Path, description = "The key's id")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 204, description = "Retired"), (status = 404, description = "No such key", body = AdminError),
        (status = 409, description = "The key signs now; rotate first", body = AdminError)))]
pub async fn retire(
    writer: Writer,
    State(state): State<AppState>,
    Path(kid): Path<String>,
) -> Result<StatusCode, AdminError> {
    let config = &state.config;
    match retire_key(
        state.store.as_ref(),
        state.clock.as_ref(),
        &config.keys,
        &kid,
    )
    .await
    {
        Ok(_) => {}
        Err(RetireError::NotFound(_)) => return Err(AdminError::not_found("no such key")),
        Err(e @ RetireError::Signing(_)) => {
            return Err(AdminError::new(
                StatusCode::CONFLICT,
                "key_signs_now",
                e.to_string(),
            ));
        }
        Err(RetireError::Store(e)) => return Err(AdminError::internal(e)),
    }
    writer.changed(&state, "key.retire", &kid);
    state
        .keys
        .refresh(state.store.as_ref(), state.clock.as_ref(), &config.keys)
        .await
        .map_err(AdminError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}
