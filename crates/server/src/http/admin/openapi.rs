//! The admin API's OpenAPI 3.1 document, generated from the handlers and their types, served
//! at `/admin/openapi.json`.

use axum::Json;
use axum::extract::State;
use utoipa::OpenApi;
use utoipa::openapi::security::{ClientCredentials, Flow, OAuth2, Scopes, SecurityScheme};

use super::{ciba, clients, keys, registration, resources, sessions, users};
use crate::http::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Tessera admin API", description = "Clients, users, signing keys and resources of a Tessera server. Callers use access tokens for `urn:tessera:admin` (client_credentials with `tessera.admin.read` or `tessera.admin.write`)."),
    paths(
        clients::list, clients::get, clients::create, clients::replace, clients::remove,
        clients::rotate_secret,
        users::list, users::get, users::create, users::set_claims, users::set_password,
        users::disable, users::enable, users::delete, users::factors, users::links,
        keys::list, keys::rotate, keys::retire,
        registration::create,
        sessions::list, sessions::end, sessions::grants, sessions::revoke,
        resources::list, resources::create_scope, resources::replace_scope,
        resources::remove_scope, resources::create_api, resources::replace_api,
        resources::remove_api, resources::create_identity, resources::replace_identity,
        resources::remove_identity,
        ciba::decide,
    ),
    components(schemas(super::AdminError, super::Problem, crate::http::ciba::AdminDecision)),
    tags((name = "clients"), (name = "users"), (name = "keys"), (name = "registration"), (name = "resources"), (name = "ciba")),
)]
struct AdminApi;

/// The document, with the token endpoint of `issuer` in its security scheme.
pub fn document(issuer: &str) -> utoipa::openapi::OpenApi {
    let mut doc = AdminApi::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    let scopes = Scopes::from_iter([
        (
            tessera_core::model::ADMIN_READ,
            "Read clients, users and keys",
        ),
        (
            tessera_core::model::ADMIN_WRITE,
            "Read and change clients, users and keys",
        ),
    ]);
    let flow = Flow::ClientCredentials(ClientCredentials::new(format!("{issuer}/token"), scopes));
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme("oauth2", SecurityScheme::OAuth2(OAuth2::new([flow])));
    doc
}

/// `GET /admin/openapi.json`.
pub async fn openapi_json(State(state): State<AppState>) -> Json<utoipa::openapi::OpenApi> {
    Json(document(&state.config.issuer))
}
