//! `/admin/v1/ciba/{approval}`: a deployment's own app, having authenticated the user on their
//! device, approves or denies a backchannel authentication request (OpenID CIBA Core §5: the
//! authentication device is the deployment's to choose).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{AdminError, Writer, json_body};
use crate::http::AppState;
use crate::http::ciba::{AdminDecision, admin_decide};

/// Approves or denies the pending request the device channel named by `approval`.
#[utoipa::path(post, operation_id = "decide_ciba", path = "/admin/v1/ciba/{approval}", tag = "ciba",
    params(("approval" = String, Path, description = "The approval handle the device channel was sent")),
    request_body = AdminDecision,
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 204, description = "Decided"),
        (status = 404, description = "No pending request with this handle", body = AdminError),
        (status = 409, description = "Decided at the same time by another call", body = AdminError)))]
pub async fn decide(
    writer: Writer,
    State(state): State<AppState>,
    Path(approval): Path<String>,
    body: Bytes,
) -> Result<StatusCode, AdminError> {
    let decision: AdminDecision = json_body(&body)?;
    let approve = decision.approve;
    let status = admin_decide(&state, &approval, decision)
        .await
        .map_err(|(status, why)| match status {
            StatusCode::NOT_FOUND => AdminError::not_found(why),
            StatusCode::CONFLICT => AdminError::new(status, "decided", why),
            _ => AdminError::new(status, "server_error", why),
        })?;
    writer.changed(
        &state,
        if approve { "ciba.approve" } else { "ciba.deny" },
        "-",
    );
    Ok(status)
}
