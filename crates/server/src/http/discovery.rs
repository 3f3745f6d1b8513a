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
    metadata.authorization_details_types_supported = r
        .authorization_details_types
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let requests = &config.requests;
    metadata.require_pushed_authorization_requests = requests.require_pushed;
    metadata.require_signed_request_object = requests.require_signed;
    metadata.request_object_signing_alg_values_supported = requests.request_object_algs.clone();
    if config.tls.offers_mtls() {
        metadata.offer_mtls(config.tls.public_url.as_deref());
    }
    if config.profile == Some(tessera_core::profile::Profile::Fapi2) {
        // FAPI 2.0 SP §5.3.2.2: the code flow only.
        metadata.response_types_supported = vec!["code"];
    }
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
