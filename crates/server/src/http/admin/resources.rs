//! `/admin/v1/resources`, `/admin/v1/api-scopes`, `/admin/v1/api-resources` and
//! `/admin/v1/identity-resources`: the scopes, APIs and identity resources in force, and those
//! made here (the configuration's are read-only). A change is in effect at once here, and at
//! other instances on the same PostgreSQL at their change notice.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tessera_core::model::{ApiResource, ApiScope, IdentityResource, Resources};
use tessera_core::resources::{Managed, ResourceError, ResourceManager, tag};
use tessera_core::tokens::SigningAlg;
use utoipa::ToSchema;

use super::{AdminError, Problem, Reader, Writer, etag, json_body, require_if_match};
use crate::http::AppState;

/// An API scope.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    /// The scope value (RFC 6749 §3.3).
    pub name: String,
    /// Shown on the consent page.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Listed in discovery's `scopes_supported` (default true).
    #[serde(default = "yes")]
    pub show_in_discovery: bool,
}

fn yes() -> bool {
    true
}

/// An API: the audience of access tokens (RFC 8707 resource).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiBody {
    /// The resource identifier, the tokens' `aud`.
    pub name: String,
    /// Its API scopes (made first).
    pub scopes: Vec<String>,
    /// Its access tokens' algorithm (one of `keys.algorithms`); default: the server's.
    #[serde(default)]
    pub signing_alg: Option<String>,
}

/// An identity resource: a scope that releases user claims (OIDC Core §5.4).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityBody {
    /// The scope value.
    pub name: String,
    /// Shown on the consent page.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The claims it releases.
    pub claims: Vec<String>,
}

/// One item with where it comes from.
#[derive(Debug, Serialize, ToSchema)]
pub struct Item<T> {
    /// The item.
    #[serde(flatten)]
    pub item: T,
    /// `config` (the configuration file or built in: read-only) or `managed`.
    pub source: &'static str,
    /// Its version, also the `ETag` of its changes.
    pub version: String,
}

/// The resources in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceList {
    /// API scopes.
    #[schema(value_type = Vec<Object>)]
    pub api_scopes: Vec<Item<ScopeBody>>,
    /// APIs (their secrets never).
    #[schema(value_type = Vec<Object>)]
    pub api_resources: Vec<Item<ApiBody>>,
    /// Identity resources.
    #[schema(value_type = Vec<Object>)]
    pub identity_resources: Vec<Item<IdentityBody>>,
}

/// A new API and its introspection secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiCreated {
    /// The API.
    #[schema(value_type = Object)]
    pub api: Item<ApiBody>,
    /// Its secret for `/introspect`; only its digest is kept.
    pub secret: String,
}

fn scope_body(s: &ApiScope) -> ScopeBody {
    ScopeBody {
        name: s.name.clone(),
        display_name: s.display_name.clone(),
        show_in_discovery: s.show_in_discovery,
    }
}

fn api_body(r: &ApiResource) -> ApiBody {
    ApiBody {
        name: r.name.clone(),
        scopes: r.scopes.clone(),
        signing_alg: r.signing_alg.map(|a| a.name().to_string()),
    }
}

fn identity_body(r: &IdentityResource) -> IdentityBody {
    IdentityBody {
        name: r.name.clone(),
        display_name: r.display_name.clone(),
        claims: r.claims.clone(),
    }
}

fn item<T: Managed, B>(configured: &Resources, i: &T, body: fn(&T) -> B) -> Item<B> {
    let owned = T::list(configured).iter().any(|c| c.name() == i.name());
    Item {
        item: body(i),
        source: if owned { "config" } else { "managed" },
        version: tag(i),
    }
}

fn manager<'a>(state: &'a AppState) -> ResourceManager<'a> {
    ResourceManager {
        store: state.store.as_ref(),
        clients: state.clients.as_ref(),
        configured: &state.config.resources,
        algs: &state.config.keys.algorithms,
    }
}

fn refused(e: ResourceError) -> AdminError {
    match e {
        e @ ResourceError::NotFound(..) => AdminError::not_found(e.to_string()),
        e @ (ResourceError::Exists(_)
        | ResourceError::OwnedByConfig(_)
        | ResourceError::InUse(..)) => {
            AdminError::new(StatusCode::CONFLICT, "conflict", e.to_string())
        }
        e @ ResourceError::Stale(_) => AdminError::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            e.to_string(),
        ),
        e @ ResourceError::Busy => AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            e.to_string(),
        ),
        ResourceError::Invalid(problems) => AdminError::invalid(
            "invalid_resource",
            problems.into_iter().map(Problem::from).collect(),
        ),
        e @ (ResourceError::Store(_) | ResourceError::Random) => AdminError::internal(e),
    }
}

/// After a change: in force here at once (other instances follow their change notice).
async fn changed(
    state: &AppState,
    writer: &Writer,
    action: &'static str,
    name: &str,
) -> Result<(), AdminError> {
    writer.changed(state, action, name);
    state
        .resources
        .reload(state.store.as_ref())
        .await
        .map_err(AdminError::internal)
}

fn answer<B: Serialize>(status: StatusCode, item: Item<B>) -> Response {
    let tag = etag(&item.version);
    (status, [tag], Json(item)).into_response()
}

fn name_matches(path: &str, body: &str) -> Result<(), AdminError> {
    if path == body {
        return Ok(());
    }
    Err(AdminError::invalid(
        "invalid_resource",
        vec![Problem {
            field: "name".into(),
            message: format!("is `{body}`, not the `{path}` of the path; a name cannot change"),
        }],
    ))
}

fn algorithm(name: Option<&str>) -> Result<Option<SigningAlg>, AdminError> {
    name.map(SigningAlg::parse).transpose().map_err(|e| {
        AdminError::invalid(
            "invalid_resource",
            vec![Problem {
                field: "signing_alg".into(),
                message: e.to_string(),
            }],
        )
    })
}

/// The API a body describes (no secret yet).
pub fn api_of(body: ApiBody) -> Result<ApiResource, AdminError> {
    Ok(ApiResource {
        signing_alg: algorithm(body.signing_alg.as_deref())?,
        name: body.name,
        scopes: body.scopes,
        secret_digests: vec![],
    })
}

/// The API scope a body describes.
pub fn scope_of(body: ScopeBody) -> ApiScope {
    ApiScope {
        name: body.name,
        display_name: body.display_name,
        show_in_discovery: body.show_in_discovery,
    }
}

/// The identity resource a body describes.
pub fn identity_of(body: IdentityBody) -> IdentityResource {
    IdentityResource {
        name: body.name,
        display_name: body.display_name,
        claims: body.claims,
    }
}

/// Lists the scopes, APIs and identity resources in force.
#[utoipa::path(get, operation_id = "list_resources", path = "/admin/v1/resources", tag = "resources",
    security(("oauth2" = ["tessera.admin.read"])),
    responses((status = 200, description = "OK", body = ResourceList), (status = 401, description = "No valid admin token", body = AdminError)))]
pub async fn list(_: Reader, State(state): State<AppState>) -> Json<ResourceList> {
    let (live, configured) = (state.resources.current(), &state.config.resources);
    Json(ResourceList {
        api_scopes: (live.api_scopes.iter())
            .map(|s| item(configured, s, scope_body))
            .collect(),
        api_resources: (live.api_resources.iter())
            .map(|r| item(configured, r, api_body))
            .collect(),
        identity_resources: (live.identity_resources.iter())
            .map(|r| item(configured, r, identity_body))
            .collect(),
    })
}

/// Makes an API scope.
#[utoipa::path(post, operation_id = "create_api_scope", path = "/admin/v1/api-scopes", tag = "resources", request_body = ScopeBody,
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 201, description = "Created"), (status = 400, description = "Invalid input; every problem is listed", body = AdminError), (status = 409, description = "Exists already", body = AdminError)))]
pub async fn create_scope(
    writer: Writer,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let scope = scope_of(json_body(&body)?);
    manager(&state)
        .create(scope.clone())
        .await
        .map_err(refused)?;
    changed(&state, &writer, "api_scope.create", &scope.name).await?;
    let made = item(&state.config.resources, &scope, scope_body);
    Ok(answer(StatusCode::CREATED, made))
}

/// Makes an API with a generated introspection secret, shown once.
#[utoipa::path(post, operation_id = "create_api_resource", path = "/admin/v1/api-resources", tag = "resources", request_body = ApiBody,
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 201, description = "Created", body = ApiCreated), (status = 400, description = "Invalid input; every problem is listed", body = AdminError), (status = 409, description = "Exists already", body = AdminError)))]
pub async fn create_api(
    writer: Writer,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let api = api_of(json_body(&body)?)?;
    let secret = manager(&state)
        .create_api(api.clone())
        .await
        .map_err(refused)?;
    changed(&state, &writer, "api_resource.create", &api.name).await?;
    let live = state.resources.current();
    let made = live
        .api_resources
        .iter()
        .find(|r| r.name == api.name)
        .unwrap_or(&api);
    let api = item(&state.config.resources, made, api_body);
    let tag = etag(&api.version);
    let created = ApiCreated {
        api,
        secret: secret.expose().clone(),
    };
    Ok((StatusCode::CREATED, [tag], Json(created)).into_response())
}

/// Makes an identity resource.
#[utoipa::path(post, operation_id = "create_identity_resource", path = "/admin/v1/identity-resources", tag = "resources", request_body = IdentityBody,
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 201, description = "Created"), (status = 400, description = "Invalid input; every problem is listed", body = AdminError), (status = 409, description = "Exists already", body = AdminError)))]
pub async fn create_identity(
    writer: Writer,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let resource = identity_of(json_body(&body)?);
    (manager(&state).create(resource.clone()).await).map_err(refused)?;
    changed(&state, &writer, "identity_resource.create", &resource.name).await?;
    let made = item(&state.config.resources, &resource, identity_body);
    Ok(answer(StatusCode::CREATED, made))
}

/// Replaces a managed API scope, if it is still at the version `If-Match` names.
#[utoipa::path(put, operation_id = "replace_api_scope", path = "/admin/v1/api-scopes/{name}", tag = "resources", request_body = ScopeBody,
    params(("name" = String, Path, description = "The scope"), ("If-Match" = String, Header, description = "The version read")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 200, description = "OK"), (status = 409, description = "Owned by the configuration file", body = AdminError), (status = 412, description = "Changed since the version read", body = AdminError), (status = 428, description = "If-Match is missing", body = AdminError)))]
pub async fn replace_scope(
    writer: Writer,
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AdminError> {
    let version = require_if_match(&headers)?;
    let scope = scope_of(json_body(&body)?);
    name_matches(&name, &scope.name)?;
    let made = manager(&state)
        .replace(&name, version.as_deref(), scope, |_, _| {})
        .await
        .map_err(refused)?;
    changed(&state, &writer, "api_scope.update", &name).await?;
    let made = item(&state.config.resources, &made, scope_body);
    Ok(answer(StatusCode::OK, made))
}

/// Replaces a managed API (its secrets are kept), if it is still at the version `If-Match`
/// names.
#[utoipa::path(put, operation_id = "replace_api_resource", path = "/admin/v1/api-resources/{name}", tag = "resources", request_body = ApiBody,
    params(("name" = String, Path, description = "The API's identifier"), ("If-Match" = String, Header, description = "The version read")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 200, description = "OK"), (status = 409, description = "Owned by the configuration file", body = AdminError), (status = 412, description = "Changed since the version read", body = AdminError), (status = 428, description = "If-Match is missing", body = AdminError)))]
pub async fn replace_api(
    writer: Writer,
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AdminError> {
    let version = require_if_match(&headers)?;
    let api = api_of(json_body(&body)?)?;
    name_matches(&name, &api.name)?;
    let keep = |old: &ApiResource, new: &mut ApiResource| {
        new.secret_digests.clone_from(&old.secret_digests);
    };
    let made = manager(&state)
        .replace(&name, version.as_deref(), api, keep)
        .await
        .map_err(refused)?;
    changed(&state, &writer, "api_resource.update", &name).await?;
    let made = item(&state.config.resources, &made, api_body);
    Ok(answer(StatusCode::OK, made))
}

/// Replaces a managed identity resource, if it is still at the version `If-Match` names.
#[utoipa::path(put, operation_id = "replace_identity_resource", path = "/admin/v1/identity-resources/{name}", tag = "resources", request_body = IdentityBody,
    params(("name" = String, Path, description = "The scope"), ("If-Match" = String, Header, description = "The version read")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 200, description = "OK"), (status = 409, description = "Owned by the configuration file", body = AdminError), (status = 412, description = "Changed since the version read", body = AdminError), (status = 428, description = "If-Match is missing", body = AdminError)))]
pub async fn replace_identity(
    writer: Writer,
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AdminError> {
    let version = require_if_match(&headers)?;
    let resource = identity_of(json_body(&body)?);
    name_matches(&name, &resource.name)?;
    let made = manager(&state)
        .replace(&name, version.as_deref(), resource, |_, _| {})
        .await
        .map_err(refused)?;
    changed(&state, &writer, "identity_resource.update", &name).await?;
    let made = item(&state.config.resources, &made, identity_body);
    Ok(answer(StatusCode::OK, made))
}

/// Removes a managed API scope no client and no API uses.
#[utoipa::path(delete, operation_id = "remove_api_scope", path = "/admin/v1/api-scopes/{name}", tag = "resources",
    params(("name" = String, Path, description = "The scope")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not found", body = AdminError), (status = 409, description = "In use, or owned by the configuration file", body = AdminError)))]
pub async fn remove_scope(
    writer: Writer,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, AdminError> {
    (manager(&state).remove::<ApiScope>(&name).await).map_err(refused)?;
    changed(&state, &writer, "api_scope.remove", &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a managed API.
#[utoipa::path(delete, operation_id = "remove_api_resource", path = "/admin/v1/api-resources/{name}", tag = "resources",
    params(("name" = String, Path, description = "The API's identifier")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not found", body = AdminError), (status = 409, description = "Owned by the configuration file", body = AdminError)))]
pub async fn remove_api(
    writer: Writer,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, AdminError> {
    (manager(&state).remove::<ApiResource>(&name).await).map_err(refused)?;
    changed(&state, &writer, "api_resource.remove", &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a managed identity resource no client uses.
#[utoipa::path(delete, operation_id = "remove_identity_resource", path = "/admin/v1/identity-resources/{name}", tag = "resources",
    params(("name" = String, Path, description = "The scope")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not found", body = AdminError), (status = 409, description = "In use, or owned by the configuration file", body = AdminError)))]
pub async fn remove_identity(
    writer: Writer,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, AdminError> {
    (manager(&state).remove::<IdentityResource>(&name).await).map_err(refused)?;
    changed(&state, &writer, "identity_resource.remove", &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
