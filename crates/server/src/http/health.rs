//! Liveness and readiness probes.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;

/// `/healthz`: the process is up and serving HTTP.
pub async fn healthz() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"status": "ok"})),
    )
}

/// `/readyz`: ready for traffic: configuration provisioned, the database answers, and the
/// server is not shutting down (it fails first at shutdown so load balancers drain it).
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let not_ready = |reason: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({"status": "unavailable", "reason": reason})),
        )
    };
    if state.readiness.shutting_down.load(Ordering::SeqCst) {
        return not_ready("shutting down");
    }
    if !state.readiness.provisioned.load(Ordering::SeqCst) {
        return not_ready("provisioning configuration");
    }
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "readiness check: database unavailable");
        return not_ready("database unavailable");
    }
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"status": "ready"})),
    )
}
