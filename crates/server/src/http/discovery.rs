//! `/.well-known/openid-configuration` (OIDC Discovery 1.0 §4) and
//! `/.well-known/oauth-authorization-server` (RFC 8414 §3): one document, computed at start and
//! whenever the resources change.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use tessera_core::model::{OFFLINE_ACCESS, Resources};
use tessera_core::protocol::discovery::ProviderMetadata;

use super::AppState;
use crate::config::Config;

/// Builds the metadata from the validated configuration and the resources in force.
pub fn metadata(config: &Config, r: &Resources) -> ProviderMetadata {
    let mut scopes: Vec<String> = r
        .identity_resources
        .iter()
        .map(|i| i.name.clone())
        .collect();
    scopes.push(OFFLINE_ACCESS.to_string());
    scopes.extend(
        r.api_scopes
            .iter()
            .filter(|s| s.show_in_discovery)
            .map(|s| s.name.clone()),
    );
    let claims = r
        .identity_resources
        .iter()
        .flat_map(|i| i.claims.iter().cloned())
        .collect();
    let mut metadata =
        ProviderMetadata::new(&config.issuer, &config.keys.algorithms, scopes, claims);
    metadata.acr_values_supported = config.acr_levels.values().map(str::to_string).collect();
    metadata
}

/// Serves the precomputed document. Cacheable and readable cross-origin (SPAs fetch it).
pub async fn provider_metadata(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        state.resources.discovery_json(),
    )
}
