//! `/admin/v1/users`: list, read, create, change claims, disable, enable, delete, reset a
//! password, and list factors, through the users service as the CLI does.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tessera_core::model::{Source, User};
use tessera_core::secret::Secret;
use tessera_core::users::{NewUser, UserChange, UserError, Users};
use utoipa::ToSchema;

use super::{AdminError, Page, Problem, Reader, Writer, json_body};
use crate::http::AppState;

/// A user, without the password.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// The stable identifier (`sub`).
    pub subject: String,
    /// The login name.
    pub username: String,
    /// Profile claims.
    #[schema(value_type = Object)]
    pub claims: Map<String, Value>,
    /// `config` (declared in the configuration file, read-only here) or `managed`.
    pub source: &'static str,
    /// A disabled user cannot sign in.
    pub disabled: bool,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Seconds since the epoch.
    pub updated_at: i64,
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// The users, by subject.
    pub items: Vec<UserView>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<String>,
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// The login name.
    pub username: String,
    /// The password, checked against the password policy; only its hash is kept.
    pub password: String,
    /// Profile claims.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub claims: Map<String, Value>,
}

/// A new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// The password, checked against the password policy.
    pub password: String,
}

/// New profile claims.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimsBody {
    /// The claims, replacing the old ones.
    #[schema(value_type = Object)]
    pub claims: Map<String, Value>,
}

/// A factor, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct FactorView {
    /// Its id.
    pub id: String,
    /// `totp`, `recovery_codes` or `passkey`.
    pub kind: &'static str,
    /// The user's label for it.
    pub label: String,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Seconds since the epoch.
    pub last_used_at: Option<i64>,
}

/// A link to an account at an external identity provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkView {
    /// The provider's configured name (the `idp` claim).
    pub provider: String,
    /// The account's subject at the provider.
    pub upstream_subject: String,
    /// The provider's e-mail address for it when it was linked.
    pub email: Option<String>,
    /// Seconds since the epoch.
    pub created_at: i64,
    /// Seconds since the epoch.
    pub last_used_at: Option<i64>,
}

fn view(u: User) -> UserView {
    UserView {
        subject: u.subject,
        username: u.username,
        claims: u.claims,
        source: u.source.as_str(),
        disabled: u.disabled,
        created_at: u.created_at,
        updated_at: u.updated_at,
    }
}

fn refused(e: UserError) -> AdminError {
    match e {
        UserError::NotFound => AdminError::not_found("no such user"),
        UserError::Invalid(problems) => AdminError::invalid(
            "invalid_user",
            problems.into_iter().map(Problem::from).collect(),
        ),
        e @ UserError::Exists(_) => {
            AdminError::new(StatusCode::CONFLICT, "conflict", e.to_string())
        }
        e @ (UserError::Store(_) | UserError::Random(_)) => AdminError::internal(e),
    }
}

/// The managed user `subject`; a configured one is the file's.
async fn managed(state: &AppState, subject: &str) -> Result<User, AdminError> {
    let user = state
        .store
        .find_user_by_subject(subject)
        .await
        .map_err(AdminError::internal)?
        .ok_or_else(|| AdminError::not_found("no such user"))?;
    if user.source == Source::Config {
        return Err(AdminError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "{} is declared in the configuration file, which owns it: change it there and restart",
                user.username
            ),
        ));
    }
    Ok(user)
}

/// Checks `password` against the policy and hashes it on the password threads' pool.
async fn hash(state: &AppState, password: String, context: &[&str]) -> Result<String, AdminError> {
    let min = state.config.password_policy.min_length;
    if let Err(why) = tessera_core::password_policy::check_new_password(&password, min, context) {
        return Err(AdminError::invalid(
            "invalid_password",
            vec![Problem {
                field: "password".into(),
                message: why.to_string(),
            }],
        ));
    }
    crate::provision::hash_password_blocking(Secret::new(password))
        .await
        .map_err(AdminError::internal)
}

/// Lists users.
#[utoipa::path(get, operation_id = "list_users", path = "/admin/v1/users", tag = "users", params(Page),
    security(("oauth2" = ["tessera.admin.read"])),
    responses((status = 200, description = "OK", body = UserList), (status = 401, description = "No valid admin token", body = AdminError)))]
pub async fn list(
    _: Reader,
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<UserList>, AdminError> {
    let mut all = state
        .store
        .list_users()
        .await
        .map_err(AdminError::internal)?;
    all.sort_by(|a, b| a.subject.cmp(&b.subject));
    let (items, next) = page.of(all, |u| u.subject.as_str());
    Ok(Json(UserList {
        items: items.into_iter().map(view).collect(),
        next,
    }))
}

/// Reads a user.
#[utoipa::path(get, operation_id = "get_user", path = "/admin/v1/users/{subject}", tag = "users",
    params(("subject" = String, Path, description = "The user's subject")),
    security(("oauth2" = ["tessera.admin.read"])),
    responses((status = 200, description = "OK", body = UserView), (status = 404, description = "Not found", body = AdminError)))]
pub async fn get(
    _: Reader,
    State(state): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Json<UserView>, AdminError> {
    let user = state
        .store
        .find_user_by_subject(&subject)
        .await
        .map_err(AdminError::internal)?
        .ok_or_else(|| AdminError::not_found("no such user"))?;
    Ok(Json(view(user)))
}

/// Creates a user.
#[utoipa::path(post, operation_id = "create_user", path = "/admin/v1/users", tag = "users", request_body = NewUserBody,
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 201, description = "Created", body = UserView), (status = 400, description = "Invalid input; every problem is listed", body = AdminError)))]
pub async fn create(
    writer: Writer,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let body: NewUserBody = json_body(&body)?;
    let users = Users::new(state.store.as_ref(), state.clock.as_ref());
    users
        .ensure_username_free(&body.username)
        .await
        .map_err(refused)?;
    let new = NewUser {
        username: body.username.clone(),
        subject: None,
        claims: body.claims,
        source: Source::Managed,
        disabled: false,
    };
    let problems = new.problems();
    if !problems.is_empty() {
        return Err(refused(UserError::Invalid(problems)));
    }
    let context: Vec<&str> = [
        Some(body.username.as_str()),
        new.claims.get("name").and_then(Value::as_str),
        new.claims.get("email").and_then(Value::as_str),
    ]
    .into_iter()
    .flatten()
    .collect();
    let hashed = hash(&state, body.password, &context).await?;
    let user = users
        .create(new, Secret::new(hashed))
        .await
        .map_err(refused)?;
    writer.changed(&state, "user.create", &user.subject);
    Ok((StatusCode::CREATED, Json(view(user))).into_response())
}

/// Replaces a managed user's profile claims.
#[utoipa::path(put, operation_id = "set_user_claims", path = "/admin/v1/users/{subject}/claims", tag = "users", request_body = ClaimsBody,
    params(("subject" = String, Path, description = "The user's subject")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 200, description = "OK", body = UserView), (status = 400, description = "Invalid input; every problem is listed", body = AdminError), (status = 404, description = "Not found", body = AdminError), (status = 409, description = "Exists already, or owned by the configuration file", body = AdminError)))]
pub async fn set_claims(
    writer: Writer,
    State(state): State<AppState>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<Json<UserView>, AdminError> {
    let body: ClaimsBody = json_body(&body)?;
    let mut user = managed(&state, &subject).await?;
    let change = UserChange {
        claims: Some(body.claims),
        ..UserChange::default()
    };
    Users::new(state.store.as_ref(), state.clock.as_ref())
        .update(&mut user, change)
        .await
        .map_err(refused)?;
    writer.changed(&state, "user.claims", &subject);
    Ok(Json(view(user)))
}

/// Sets a managed user's password (their other sessions are not ended).
#[utoipa::path(post, operation_id = "set_user_password", path = "/admin/v1/users/{subject}/password", tag = "users", request_body = PasswordBody,
    params(("subject" = String, Path, description = "The user's subject")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 204, description = "Done; no content"), (status = 400, description = "Invalid input; every problem is listed", body = AdminError), (status = 404, description = "Not found", body = AdminError), (status = 409, description = "Exists already, or owned by the configuration file", body = AdminError)))]
pub async fn set_password(
    writer: Writer,
    State(state): State<AppState>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Result<StatusCode, AdminError> {
    let body: PasswordBody = json_body(&body)?;
    let mut user = managed(&state, &subject).await?;
    let name = user
        .claims
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let email = user
        .claims
        .get("email")
        .and_then(Value::as_str)
        .map(str::to_string);
    let context: Vec<&str> = [
        Some(user.username.as_str()),
        name.as_deref(),
        email.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let hashed = hash(&state, body.password, &context).await?;
    Users::new(state.store.as_ref(), state.clock.as_ref())
        .set_password_hash(&mut user, Secret::new(hashed))
        .await
        .map_err(refused)?;
    writer.changed(&state, "user.password", &subject);
    Ok(StatusCode::NO_CONTENT)
}

/// Disables a managed user: their sessions, codes and tokens end.
#[utoipa::path(post, operation_id = "disable_user", path = "/admin/v1/users/{subject}/disable", tag = "users",
    params(("subject" = String, Path, description = "The user's subject")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 200, description = "OK", body = UserView), (status = 404, description = "Not found", body = AdminError), (status = 409, description = "Exists already, or owned by the configuration file", body = AdminError)))]
pub async fn disable(
    writer: Writer,
    State(state): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Json<UserView>, AdminError> {
    set_disabled(writer, state, subject, true).await
}

/// Enables a managed user again.
#[utoipa::path(post, operation_id = "enable_user", path = "/admin/v1/users/{subject}/enable", tag = "users",
    params(("subject" = String, Path, description = "The user's subject")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 200, description = "OK", body = UserView), (status = 404, description = "Not found", body = AdminError), (status = 409, description = "Exists already, or owned by the configuration file", body = AdminError)))]
pub async fn enable(
    writer: Writer,
    State(state): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Json<UserView>, AdminError> {
    set_disabled(writer, state, subject, false).await
}

/// Disables (ending what the user holds) or enables a managed user; the user as now stored.
async fn set_disabled(
    writer: Writer,
    state: AppState,
    subject: String,
    disabled: bool,
) -> Result<Json<UserView>, AdminError> {
    managed(&state, &subject).await?;
    let users = Users::new(state.store.as_ref(), state.clock.as_ref());
    let (done, action) = if disabled {
        (users.disable(&subject).await, "user.disable")
    } else {
        (users.enable(&subject).await, "user.enable")
    };
    done.map_err(refused)?;
    writer.changed(&state, action, &subject);
    let reader = Reader {
        client_id: writer.client_id,
    };
    get(reader, State(state), Path(subject)).await
}

/// Deletes a managed user with everything they hold (sessions, grants, consent, factors,
/// links).
#[utoipa::path(delete, operation_id = "delete_user", path = "/admin/v1/users/{subject}", tag = "users",
    params(("subject" = String, Path, description = "The user's subject")),
    security(("oauth2" = ["tessera.admin.write"])),
    responses((status = 204, description = "Done; no content"), (status = 404, description = "Not found", body = AdminError), (status = 409, description = "Exists already, or owned by the configuration file", body = AdminError)))]
pub async fn delete(
    writer: Writer,
    State(state): State<AppState>,
    Path(subject): Path<String>,
) -> Result<StatusCode, AdminError> {
    managed(&state, &subject).await?;
    Users::new(state.store.as_ref(), state.clock.as_ref())
        .delete(&subject)
        .await
        .map_err(refused)?
        .ok_or_else(|| AdminError::not_found("no such user"))?;
    writer.changed(&state, "user.delete", &subject);
    Ok(StatusCode::NO_CONTENT)
}

/// 404 unless a user has `subject`.
async fn existing(state: &AppState, subject: &str) -> Result<(), AdminError> {
    state
        .store
        .find_user_by_subject(subject)
        .await
        .map_err(AdminError::internal)?
        .map(|_| ())
        .ok_or_else(|| AdminError::not_found("no such user"))
}

/// A user's second factors, without their secrets.
#[utoipa::path(get, operation_id = "list_factors", path = "/admin/v1/users/{subject}/factors", tag = "users",
    params(("subject" = String, Path, description = "The user's subject")),
    security(("oauth2" = ["tessera.admin.read"])),
    responses((status = 200, description = "OK", body = Vec<FactorView>), (status = 404, description = "Not found", body = AdminError)))]
pub async fn factors(
    _: Reader,
    State(state): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Json<Vec<FactorView>>, AdminError> {
    let store = state.store.as_ref();
    existing(&state, &subject).await?;
    let factors = store
        .list_factors(&subject)
        .await
        .map_err(AdminError::internal)?;
    Ok(Json(
        factors
            .into_iter()
            .map(|f| FactorView {
                kind: f.kind().as_str(),
                id: f.id,
                label: f.label,
                created_at: f.created_at,
                last_used_at: f.last_used_at,
            })
            .collect(),
    ))
}

/// A user's links to accounts at external identity providers.
#[utoipa::path(get, operation_id = "list_links", path = "/admin/v1/users/{subject}/links", tag = "users",
    params(("subject" = String, Path, description = "The user's subject")),
    security(("oauth2" = ["tessera.admin.read"])),
    responses((status = 200, description = "OK", body = Vec<LinkView>), (status = 404, description = "Not found", body = AdminError)))]
pub async fn links(
    _: Reader,
    State(state): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Json<Vec<LinkView>>, AdminError> {
    let store = state.store.as_ref();
    existing(&state, &subject).await?;
    let links = store
        .list_links(&subject)
        .await
        .map_err(AdminError::internal)?;
    Ok(Json(
        links
            .into_iter()
            .map(|l| LinkView {
                provider: l.provider,
                upstream_subject: l.upstream_subject,
                email: l.email,
                created_at: l.created_at,
                last_used_at: l.last_used_at,
            })
            .collect(),
    ))
}
