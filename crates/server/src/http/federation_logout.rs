//! `POST /federation/{name}/backchannel_logout`: an upstream provider tells us a user signed out
//! there (OpenID Connect Back-Channel Logout 1.0 §2.5, with Tessera as its relying party). The
//! logout token is validated (§2.6), used once, and every session here that came from that
//! upstream session (by `sid`) or that upstream user (by `sub`) ends — with back-channel logout
//! to our own clients in turn. Answers 200 when done, 400 with an error otherwise (§2.8).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tessera_core::events::SessionEnd;
use tessera_core::federation::FederationError;
use tessera_core::federation::logout::{UpstreamLogout, first_use, validate_logout_token};
use tessera_core::model::Session;
use tessera_core::protocol::OAuthError;
use tessera_core::sessions::session_data;

use crate::http::AppState;
use crate::http::error::{ApiError, json_error};
use crate::http::form::FormRequest;

fn bad(description: &str) -> Response {
    tracing::info!(reason = description, "upstream logout token refused");
    json_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// The handler.
pub async fn backchannel_logout(
    State(state): State<AppState>,
    Path(name): Path<String>,
    posted: FormRequest,
) -> Response {
    let Some(up) = state.upstreams.get(&name) else {
        return bad("no such identity provider");
    };
    let Some(token) = posted.form.one("logout_token").ok().flatten() else {
        return bad("logout_token is missing or repeated");
    };
    let now = state.clock.now();
    let checked = async {
        let endpoints = state.upstreams.endpoints(&up).await?;
        let jwks_uri = endpoints
            .jwks_uri
            .ok_or_else(|| FederationError::Unavailable("no jwks_uri".into()))?;
        let kid = tessera_core::federation::id_token::key_id(token);
        let keys = state.upstreams.keys(&up, &jwks_uri, kid.as_deref()).await?;
        let p = &up.provider;
        let issuer = p.issuer.as_deref().unwrap_or_default();
        validate_logout_token(token, &keys, (issuer, &p.client_id), now)
    };
    let logout = match checked.await {
        Ok(logout) => logout,
        Err(e) => return bad(&e.to_string()),
    };
    match end_sessions(&state, &name, &logout).await {
        Ok(Some(ended)) => {
            tracing::info!(provider = %name, ended, "upstream sign-out ended sessions");
            (StatusCode::OK, [("cache-control", "no-store")]).into_response()
        }
        Ok(None) => bad("the logout token was used before"),
        Err(e) => ApiError(e).into_response(),
    }
}

/// Ends the sessions the logout names; how many, or `None` for a replayed token.
async fn end_sessions(
    state: &AppState,
    provider: &str,
    logout: &UpstreamLogout,
) -> Result<Option<usize>, OAuthError> {
    let now = state.clock.now();
    if !first_use(state.store.as_ref(), provider, logout, now).await? {
        return Ok(None);
    }
    let candidates: Vec<Session> = match &logout.sub {
        Some(sub) => match state.store.find_link(provider, sub).await? {
            Some(link) => {
                (state.store)
                    .list_sessions_for_subject(&link.subject, now)
                    .await?
            }
            None => Vec::new(),
        },
        None => state.store.list_sessions(now).await?,
    };
    let mut ended = 0;
    for session in candidates {
        let Some(upstream) = session_data(&session)?.upstream else {
            continue;
        };
        let same_user = logout.sub.as_ref().is_none_or(|s| *s == upstream.sub);
        let same_session = logout.sid.is_none() || logout.sid == upstream.sid;
        if upstream.provider == provider && same_user && same_session {
            let why = SessionEnd::SignedOut;
            if crate::http::ui::logout::end_browser_session(state, &session.id_digest, why)
                .await?
                .is_some()
            {
                ended += 1;
            }
        }
    }
    Ok(Some(ended))
}
