//! Client-Initiated Backchannel Authentication (OpenID CIBA Core 1.0) over HTTP: the
//! backchannel authentication endpoint (§7), the authentication-device channel (a JWT we sign,
//! POSTed to `[ciba] device_channel`), the user's approval page and the admin API's decision,
//! and ping mode's call to the client (§10.2). The grant itself is redeemed at `/token`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_core::ciba::{self, CibaRequest, DeliveryMode, PendingCiba, Reached};
use tessera_core::protocol::OAuthError;
use tessera_core::store::ClientStore as _;
use tessera_core::tokens::jws::sign_compact;

use super::AppState;
use super::error::ApiError;
use super::form::FormRequest;

/// §7.3.
#[derive(Serialize)]
struct Acknowledgement {
    auth_req_id: String,
    expires_in: u64,
    interval: u64,
}

/// `POST /bc-authorize` (§7.1): the client authenticates as at the token endpoint; the
/// request is checked and stored, the user's device is told, and the client gets its
/// `auth_req_id`.
pub async fn post_bc_authorize(
    State(state): State<AppState>,
    posted: FormRequest,
) -> Result<Response, ApiError> {
    let client = state.authenticate(&posted).await?;
    let form = &posted.form;
    let request = CibaRequest {
        scope: form.one("scope")?,
        resources: form.all("resource"),
        login_hint: form.one("login_hint")?,
        id_token_hint: form.one("id_token_hint")?,
        login_hint_token: form.one("login_hint_token")?,
        binding_message: form.one("binding_message")?,
        requested_expiry: form.one("requested_expiry")?,
        acr_values: form.one("acr_values")?,
        client_notification_token: form.one("client_notification_token")?,
    };
    let mode = client
        .backchannel_token_delivery_mode
        .unwrap_or(DeliveryMode::Poll);
    let (ring, live) = (state.keys.current(), state.resources.current());
    let ctx = state.token_context((&ring, &live), Some(&posted.context));
    let settings = state.config.ciba.settings;
    let started = ciba::start(
        &ctx,
        state.store.as_ref(),
        &client,
        (&request, settings, mode),
    )
    .await?;
    tracing::info!(client_id = %client.client_id, expires_in = started.expires_in, "backchannel authentication requested");
    if let Some(channel) = state.config.ciba.device_channel.clone() {
        let body = device_message(&state, &channel, &client, &started)?;
        let http = state.ciba_http.clone();
        // The device is told in the background; the client polls (or is pinged) either way.
        tokio::spawn(async move {
            if let Err(e) = http
                .post_body(&channel, ("application/jwt", body), None)
                .await
            {
                tracing::warn!(error = %e, "cannot reach the authentication-device channel");
            }
        });
    }
    let body = Acknowledgement {
        auth_req_id: started.auth_req_id,
        expires_in: started.expires_in,
        interval: started.interval,
    };
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response())
}

/// What the user's device is sent: a JWT we sign, for the channel (`aud`), naming the user and
/// what is asked, and the approval handle and page. Never a credential of the client's or a
/// token (CVE-60).
fn device_message(
    state: &AppState,
    channel: &str,
    client: &tessera_core::model::Client,
    started: &ciba::Started,
) -> Result<String, OAuthError> {
    let ring = state.keys.current();
    let key = ring
        .signing_key(state.default_alg())
        .map_err(|e| OAuthError::internal("signing the device channel message", e))?;
    let now = state.clock.now();
    let data = &started.data;
    let base = state.config.issuer.trim_end_matches('/');
    let claims = json!({
        "iss": state.config.issuer,
        "aud": channel,
        "iat": now,
        "exp": now + i64::try_from(started.expires_in).unwrap_or(i64::MAX),
        "jti": tessera_core::crypto::random_handle().map_err(|e| OAuthError::internal("drawing random bytes", e))?,
        "sub": data.subject,
        "client_id": client.client_id,
        "client_name": client.client_name,
        "scope": data.scopes.join(" "),
        "binding_message": data.binding_message,
        "acr_values": data.acr_values,
        "approval": started.approval,
        "approval_uri": format!("{base}/ciba/approve?request={}", started.approval),
    });
    sign_compact(key, "JWT", &claims)
        .map_err(|e| OAuthError::internal("signing the device channel message", e))
}

/// The client of a pending request, for the page.
async fn client_name(state: &AppState, pending: &PendingCiba) -> String {
    match state.clients.find_client(&pending.grant.client_id).await {
        Ok(Some(c)) => c.client_name.unwrap_or(c.client_id),
        _ => pending.grant.client_id.clone(),
    }
}

/// `?request=` of the approval page.
#[derive(Deserialize)]
pub struct ApprovalQuery {
    request: Option<String>,
}

/// `GET /ciba/approve?request=...`: the request, for its user to approve with their password,
/// or deny.
pub async fn approval_page(
    State(state): State<AppState>,
    Query(query): Query<ApprovalQuery>,
) -> Result<Response, super::ui::error::PageError> {
    let handle = query.request.unwrap_or_default();
    let pending = pending(&state, &handle).await?;
    Ok(page(&state, &pending, &handle, (None, None), StatusCode::OK).await)
}

async fn pending(state: &AppState, handle: &str) -> Result<PendingCiba, OAuthError> {
    if handle.is_empty() || handle.len() > 128 {
        return Err(OAuthError::InvalidRequest(
            "the request is unknown, expired or decided".into(),
        ));
    }
    ciba::pending_by_approval(state.store.as_ref(), handle, state.clock.now())
        .await?
        .ok_or_else(|| {
            OAuthError::InvalidRequest("the request is unknown, expired or decided".into())
        })
}

async fn page(
    state: &AppState,
    pending: &PendingCiba,
    handle: &str,
    (error, outcome): (Option<&str>, Option<&str>),
    status: StatusCode,
) -> Response {
    let username = state
        .store
        .find_user_by_subject(&pending.data.subject)
        .await
        .ok()
        .flatten()
        .map(|u| u.username)
        .unwrap_or_default();
    state.pages.render(
        status,
        "ciba.html",
        minijinja::context! {
            client_name => client_name(state, pending).await,
            username,
            scopes => pending.data.scopes,
            binding_message => pending.data.binding_message,
            request => handle,
            error,
            outcome,
        },
    )
}

/// `POST /ciba/approve`: approve (with the user's password, throttled as a sign-in) or deny.
pub async fn approval_submit(
    State(state): State<AppState>,
    posted: FormRequest,
) -> Result<Response, super::ui::error::PageError> {
    let form = &posted.form;
    let handle = form.one("request")?.unwrap_or_default().to_string();
    let pending = pending(&state, &handle).await?;
    let approve = match form.one("action")? {
        Some("approve") => true,
        Some("deny") => false,
        _ => return Err(OAuthError::InvalidRequest("choose approve or deny".into()).into()),
    };
    if !approve {
        decide(&state, &pending, None).await?;
        return Ok(page(
            &state,
            &pending,
            &handle,
            (None, Some("denied")),
            StatusCode::OK,
        )
        .await);
    }
    let Some(user) = state
        .store
        .find_user_by_subject(&pending.data.subject)
        .await?
    else {
        return Err(OAuthError::InvalidRequest("the user can no longer sign in".into()).into());
    };
    // A password alone does not approve what needs more: a user with a second factor, a
    // client that requires one or a level, or a request that asks for a level is approved in
    // the deployment's app (the admin API), which authenticates the user as it needs.
    let client = state.clients.find_client(&pending.grant.client_id).await?;
    let needs_more = !state.store.list_factors(&user.subject).await?.is_empty()
        || pending.data.acr_values.is_some()
        || client.is_some_and(|c| c.settings.require_mfa || c.settings.minimum_acr.is_some());
    if needs_more {
        let message = "This request needs more than your password: approve it in your app.";
        let status = StatusCode::FORBIDDEN;
        return Ok(page(&state, &pending, &handle, (Some(message), None), status).await);
    }
    let password = form.one("password")?.unwrap_or_default();
    let now_ms = state.clock.now_millis();
    let attempt = match state
        .throttle
        .begin(&user.username, posted.context.peer, None, now_ms)
        .await?
    {
        Ok(attempt) => attempt,
        Err(wait) => {
            let message = super::ui::throttle::wait_message(wait);
            let status = StatusCode::TOO_MANY_REQUESTS;
            return Ok(page(&state, &pending, &handle, (Some(&message), None), status).await);
        }
    };
    if super::ui::login::check_password(&state, &user.username, password)
        .await?
        .is_none()
    {
        let wrong = "The password is not right.";
        return Ok(page(
            &state,
            &pending,
            &handle,
            (Some(wrong), None),
            StatusCode::OK,
        )
        .await);
    }
    state
        .throttle
        .succeeded(&user.username, posted.context.peer, None, attempt)
        .await?;
    let reached = Reached {
        at: state.clock.now(),
        amr: vec!["pwd".into()],
        acr: None,
    };
    decide(&state, &pending, Some(reached)).await?;
    Ok(page(
        &state,
        &pending,
        &handle,
        (None, Some("approved")),
        StatusCode::OK,
    )
    .await)
}

/// Records a decision, then tells a ping-mode client (§10.2).
async fn decide(
    state: &AppState,
    pending: &PendingCiba,
    approve: Option<Reached>,
) -> Result<(), OAuthError> {
    let approved = approve.is_some();
    if !pending
        .decide(state.store.as_ref(), approve, state.clock.now())
        .await?
    {
        return Err(OAuthError::InvalidRequest(
            "the request was decided already".into(),
        ));
    }
    tracing::info!(client_id = %pending.grant.client_id, approved, "backchannel authentication decided");
    if let Some(ping) = pending.data.ping.clone() {
        let endpoint = state
            .clients
            .find_client(&pending.grant.client_id)
            .await?
            .and_then(|c| c.backchannel_client_notification_endpoint);
        if let Some(endpoint) = endpoint {
            let http = state.ciba_http.clone();
            let body = json!({ "auth_req_id": ping.auth_req_id }).to_string();
            tokio::spawn(async move {
                let sent = http
                    .post_body(&endpoint, ("application/json", body), Some(&ping.token))
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "cannot ping the client's notification endpoint");
                }
            });
        }
    }
    Ok(())
}

/// The admin API's decision on a request (`POST /admin/v1/ciba/{approval}`): for deployments
/// whose own app authenticates the user on their device.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AdminDecision {
    /// Approve (true) or deny (false).
    pub approve: bool,
    /// How the user was authenticated (RFC 8176 `amr` values); default `["user"]`.
    #[serde(default)]
    pub amr: Vec<String>,
    /// The `acr` reached, if any.
    pub acr: Option<String>,
}

/// Decides a pending request by its approval handle: 204, or 404 when it is unknown,
/// expired or decided.
pub async fn admin_decide(
    state: &AppState,
    approval: &str,
    decision: AdminDecision,
) -> Result<StatusCode, (StatusCode, String)> {
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            "no pending backchannel request with this approval handle".to_string(),
        )
    };
    let now = state.clock.now();
    let pending = match ciba::pending_by_approval(state.store.as_ref(), approval, now).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return Err(not_found()),
        Err(e) => {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                e.description().to_string(),
            ));
        }
    };
    let reached = decision.approve.then(|| Reached {
        at: state.clock.now(),
        amr: if decision.amr.is_empty() {
            vec!["user".into()]
        } else {
            decision.amr
        },
        acr: decision.acr,
    });
    match decide(state, &pending, reached).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        // Another decision won the compare-and-set.
        Err(OAuthError::InvalidRequest(why)) => Err((StatusCode::CONFLICT, why.to_string())),
        Err(e) => Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            e.description().to_string(),
        )),
    }
}
