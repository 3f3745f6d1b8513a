//! `/admin/v1/clients`: list, read, create, replace, remove, and new secrets.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use tessera_core::clients::ServerOffer;
use tessera_core::clients::manage::{ClientManager, ManageError, ManagedClient};
use tessera_core::model::Client;
use utoipa::ToSchema;

use super::{AdminError, Page, Problem, Reader, Writer, etag, json_body, require_if_match};
use crate::config::RawClient;
use crate::config::validate::clients::metadata_of;
use crate::http::AppState;

/// A client as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    /// The registration, in the names of the configuration file's `[[clients]]` (and of the
    /// request bodies): a read can be edited and sent back. Secrets are never shown.
    #[schema(value_type = Object)]
    pub client: Value,
    /// `config` (declared in the configuration file, read-only here) or `managed`.
    pub source: &'static str,
    /// The version, also the `ETag`.
    pub version: String,
    /// How many secrets the client has.
    pub secret_count: usize,
}

/// A page of clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    /// The clients, by id.
    pub items: Vec<ClientView>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<String>,
}

/// A client just created or given a new secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientCreated {
    /// The client.
    #[serde(flatten)]
    pub view: ClientView,
    /// The new secret, shown this once; only its digest is kept.
    pub client_secret: Option<String>,
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

/// The registration in the configuration file's names.
pub fn registration(c: &Client) -> Value {
    let s = &c.settings;
    let mut v = json!({
        "client_id": c.client_id,
        "client_name": c.client_name,
        "grant_types": c.grant_types,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "allowed_scopes": c.allowed_scopes,
        "require_pkce": s.require_pkce,
        "require_consent": s.require_consent,
        "access_token_type": s.access_token_type,
        "access_token_lifetime": s.access_token_lifetime,
        "identity_token_lifetime": s.identity_token_lifetime,
        "refresh_token_sliding_lifetime": s.refresh_token_sliding_lifetime,
        "refresh_token_absolute_lifetime": s.refresh_token_absolute_lifetime,
        "application_type": c.application_type,
        "id_token_signed_response_alg": c.id_token_signed_response_alg.name(),
        "userinfo_signed_response_alg": c.userinfo_signed_response_alg.map(|a| a.name()),
        "authorization_signed_response_alg": c.authorization_signed_response_alg.map(|a| a.name()),
        "default_acr_values": c.default_acr_values,
        "require_mfa": s.require_mfa,
        "minimum_acr": s.minimum_acr,
        "require_dpop": s.require_dpop,
        "require_pushed_authorization_requests": s.require_pushed_authorization_requests,
        "require_signed_request_object": s.require_signed_request_object,
        "refresh_token_rotation": s.refresh_token_rotation,
        "tls_client_certificate_bound_access_tokens": s.tls_client_certificate_bound_access_tokens,
        "enabled": c.enabled,
        "always_include_user_claims_in_id_token": c.always_include_user_claims_in_id_token,
        "frontchannel_logout_uri": c.logout.frontchannel_logout_uri,
        "frontchannel_logout_session_required": c.logout.frontchannel_logout_session_required,
        "backchannel_logout_uri": c.logout.backchannel_logout_uri,
        "backchannel_logout_session_required": c.logout.backchannel_logout_session_required,
        "allowed_cors_origins": c.allowed_cors_origins,
        "authorization_details_types": c.authorization_details_types,
        "backchannel_token_delivery_mode": c.backchannel_token_delivery_mode,
        "backchannel_client_notification_endpoint": c.backchannel_client_notification_endpoint,
        "token_exchange": c.token_exchange,
    });
    if c.auth_method_pinned {
        v["token_endpoint_auth_method"] = json!(c.token_endpoint_auth_method);
    }
    if !c.jwks.is_empty() {
        v["jwks"] = json!({ "keys": c.jwks });
    }
    if let Some(uri) = &c.jwks_uri {
        v["jwks_uri"] = json!(uri);
    }
    if let Some(m) = &c.tls_client_auth {
        v[m.metadata_name()] = json!(m.value());
    }
    for (what, e) in [
        ("id_token", &c.id_token_encryption),
        ("userinfo", &c.userinfo_encryption),
        ("authorization", &c.authorization_encryption),
    ] {
        if let Some(e) = e {
            v[format!("{what}_encrypted_response_alg")] = json!(e.alg);
            v[format!("{what}_encrypted_response_enc")] = json!(e.enc);
        }
    }
    // Unset options are left out, as they would be in the file.
    if let Value::Object(map) = &mut v {
        map.retain(|_, value| !value.is_null());
    }
    v
}

fn view(m: &ManagedClient) -> ClientView {
    ClientView {
        client: registration(&m.client),
        source: m.source.as_str(),
        version: m.version.clone(),
        secret_count: m.client.secret_digests.len(),
    }
}

/// The answer to a manager's refusal.
pub fn refused(e: ManageError) -> AdminError {
    match e {
        ManageError::NotFound(id) => AdminError::not_found(format!("no client `{id}`")),
        e @ (ManageError::Exists(_) | ManageError::OwnedByConfig(_)) => {
            AdminError::new(StatusCode::CONFLICT, "conflict", e.to_string())
        }
        e @ ManageError::Stale(_) => AdminError::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            e.to_string(),
        ),
        ManageError::Invalid(problems) => AdminError::invalid(
            "invalid_client_metadata",
            problems.into_iter().map(Problem::from).collect(),
        ),
        e @ (ManageError::Store(_) | ManageError::Random) => AdminError::internal(e),
    }
}

fn created(changed: tessera_core::clients::manage::Changed, status: StatusCode) -> Response {
    let view = view(&changed.client);
    let tag = etag(&view.version);
    let body = ClientCreated {
        view,
        client_secret: changed.secret.map(|s| s.expose().clone()),
    };
    (status, [tag], Json(body)).into_response()
}

/// Lists clients.
#[utoipa::path(get, operation_id = "list_clients", path = "/admin/v1/clients", tag = "clients", params(Page),
    security(("oauth2" = ["tessera.admin.read"])),
    responses((status = 200, description = "OK", body = ClientList), (status = 401, description = "No valid admin token", body = AdminError), (status = 403, description = "The token lacks the scope", body = AdminError)))]
pub async fn list(
    _: Reader,
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<ClientList>, AdminError> {
    let mut all = manager(&state, &state.resources.current())
        .list()
        .await
        .map_err(refused)?;
    // Pages are cut by byte order, whatever the database's collation sorted by.
    all.sort_by(|a, b| a.client.client_id.cmp(&b.client.client_id));
    let (items, next) = page.of(all, |c| c.client.client_id.as_str());
    Ok(Json(ClientList {
        items: items.iter().map(view).collect(),
        next,
    }))
}

/// Reads a client.
#[utoipa::path(get, operation_id = "get_client", path = "/admin/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path, description = "The client's id")),
    security(("oauth2" = ["tessera.admin.read"])),
    responses((status = 200, description = "OK", body = ClientView, headers(("ETag" = String))), (status = 404, description = "Not found", body = AdminError)))]
pub async fn get(
    _: Reader,
    State(state): State<AppState>,
    Path(client_id): Path<String>,
) -> Result<Response, AdminError> {
    let client = manager(&state, &state.resources.current())
        .get(&client_id)
        .await
        .map_err(refused)?;
    let view = view(&client);
    Ok(([etag(&view.version)], Json(view)).into_response())
}

/// Registers a client. A client whose `token_endpoint_auth_method` is `client_secret_basic` or
/// `client_secret_post` gets a generated secret, in the answer only.
#[utoipa::path(post, operation_id = "create_client", path = "/admin/v1/clients", tag = "clients", request_body = RawClient,
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 201, description = "Created", body = ClientCreated), (status = 400, description = "Invalid input; every problem is listed", body = AdminError), (status = 409, description = "Exists already, or owned by the configuration file", body = AdminError)))]
pub async fn create(
    writer: Writer,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let raw: RawClient = json_body(&body)?;
    let changed = manager(&state, &state.resources.current())
        .create(metadata_of(&raw))
        .await
        .map_err(refused)?;
    writer.changed(&state, "client.create", &changed.client.client.client_id);
    Ok(created(changed, StatusCode::CREATED))
}

/// Replaces a managed client's registration (its secrets are kept), if it is still at the
/// version `If-Match` names.
#[utoipa::path(put, operation_id = "replace_client", path = "/admin/v1/clients/{client_id}", tag = "clients", request_body = RawClient,
    params(("client_id" = String, Path, description = "The client's id"),
        ("If-Match" = String, Header, description = "The ETag of the version read")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 200, description = "OK", body = ClientCreated), (status = 400, description = "Invalid input; every problem is listed", body = AdminError), (status = 409, description = "Exists already, or owned by the configuration file", body = AdminError),
        (status = 412, description = "Changed since the version read", body = AdminError), (status = 428, description = "If-Match is missing", body = AdminError)))]
pub async fn replace(
    writer: Writer,
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AdminError> {
    let version = require_if_match(&headers)?;
    let raw: RawClient = json_body(&body)?;
    if raw.client_id != client_id {
        return Err(AdminError::invalid(
            "invalid_client_metadata",
            vec![Problem {
                field: "client_id".into(),
                message: format!(
                    "is `{}`, not the `{client_id}` of the path; a client's id cannot change",
                    raw.client_id
                ),
            }],
        ));
    }
    let changed = manager(&state, &state.resources.current())
        .update(metadata_of(&raw), version.as_deref())
        .await
        .map_err(refused)?;
    writer.changed(&state, "client.update", &client_id);
    Ok(created(changed, StatusCode::OK))
}

/// Removes a managed client (if it is still at the version `If-Match` names, when sent).
#[utoipa::path(delete, operation_id = "remove_client", path = "/admin/v1/clients/{client_id}", tag = "clients",
    params(("client_id" = String, Path, description = "The client's id")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 204, description = "Done; no content"), (status = 404, description = "Not found", body = AdminError), (status = 409, description = "Exists already, or owned by the configuration file", body = AdminError), (status = 412, description = "Changed since the version read", body = AdminError)))]
pub async fn remove(
    writer: Writer,
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, AdminError> {
    let version = super::if_match(&headers);
    manager(&state, &state.resources.current())
        .remove(&client_id, version.as_deref())
        .await
        .map_err(refused)?;
    writer.changed(&state, "client.remove", &client_id);
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a managed client a new secret, in place of its others; shown in the answer only.
#[utoipa::path(post, operation_id = "rotate_client_secret", path = "/admin/v1/clients/{client_id}/secret", tag = "clients",
    params(("client_id" = String, Path, description = "The client's id")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 200, description = "OK", body = ClientCreated), (status = 400, description = "Invalid input; every problem is listed", body = AdminError), (status = 404, description = "Not found", body = AdminError), (status = 409, description = "Exists already, or owned by the configuration file", body = AdminError)))]
pub async fn rotate_secret(
    writer: Writer,
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    let version = super::if_match(&headers);
    let changed = manager(&state, &state.resources.current())
        .rotate_secret(&client_id, version.as_deref())
        .await
        .map_err(refused)?;
    writer.changed(&state, "client.secret", &client_id);
    Ok(created(changed, StatusCode::OK))
}
