//! POSTed browser requests (`/authorize`, `/end_session`) arrive from the client's site without
//! our SameSite=Lax cookies. Their parameters are parked server-side for a moment and the
//! browser continues with a 303 to a GET on our own site that names only the parked request,
//! so that the session cookie is sent and no parameter (an `id_token_hint`, say) moves into
//! a URL.

use tessera_core::crypto::{handle_digest, random_handle};
use tessera_core::model::Grant;
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::form::Form;

use axum::http::{HeaderMap, Uri};
use axum::response::Response;

use super::flow::see_other;
use crate::http::AppState;
use crate::http::form::read_form;

/// The grant kind of parked requests.
const PARKED: &str = "parked_request";
/// The query parameter that names a parked request.
pub const CONTINUE: &str = "continue";
/// A parked request waits this long.
const LIFETIME: i64 = 120;

/// The form of a browser GET: the parked request its query names, or the query itself.
pub async fn get_form(state: &AppState, query: Option<&str>) -> Result<Form, OAuthError> {
    continued(state, &Form::parse(query.unwrap_or_default().as_bytes())?).await
}

/// A browser POST to `path`: its form is parked and the browser continues with a GET there.
pub async fn park_post(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
    path: &str,
) -> Response {
    let parked = match read_form(headers, uri, body) {
        Ok(form) => park(state, &form, path).await,
        Err(e) => Err(e),
    };
    parked.unwrap_or_else(|e| state.error_page(&e))
}

/// Parks `form` and sends the browser to `path` to continue it.
async fn park(state: &AppState, form: &Form, path: &str) -> Result<Response, OAuthError> {
    let handle = random_handle().map_err(|_| OAuthError::ServerError)?;
    let now = state.clock.now();
    let record = Grant {
        handle_digest: handle_digest(&handle),
        kind: PARKED.into(),
        client_id: form
            .one("client_id")
            .ok()
            .flatten()
            .unwrap_or_default()
            .into(),
        subject: None,
        session_id: None,
        family: None,
        data: serde_json::Value::String(form.encode()),
        created_at: now,
        expires_at: now + LIFETIME,
        consumed_at: None,
    };
    state.store.insert_grant(&record).await?;
    let base = state.config.issuer.trim_end_matches('/');
    Ok(see_other(&format!("{base}{path}?{CONTINUE}={handle}")))
}

/// The request a GET continues: the parked one it names (used once), or its own query.
async fn continued(state: &AppState, query: &Form) -> Result<Form, OAuthError> {
    let Some(handle) = query.one(CONTINUE)? else {
        return Ok(query.clone());
    };
    if handle.len() > 256 {
        return Err(expired());
    }
    let parked = state
        .store
        .consume_grant(&handle_digest(handle), PARKED, state.clock.now())
        .await?
        .ok_or_else(expired)?;
    match parked.data {
        serde_json::Value::String(encoded) => Form::parse(encoded.as_bytes()),
        _ => Err(OAuthError::ServerError),
    }
}

fn expired() -> OAuthError {
    OAuthError::InvalidRequest(
        "this request has expired or was already used; go back to the application".into(),
    )
}
