//! The consent page (OIDC Core §3.1.2.4): what the client asks for, in the scopes' display
//! names; the decision may be remembered per user and client.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use tessera_core::authorize::AuthorizationRequest;
use tessera_core::events::Event;
use tessera_core::model::Client;
use tessera_core::protocol::OAuthError;
use tessera_core::sessions::{Flow, Step, remember_consent};

use super::error::{Page, PageError, PageForm};
use super::flow::proceed;
use super::interaction::{page_interaction, submitted_interaction};
use crate::http::AppState;

#[derive(Serialize)]
struct ScopeView {
    name: String,
    display: String,
}

fn scope_views(state: &AppState, scopes: &[String]) -> Vec<ScopeView> {
    let r = &state.resources.current();
    scopes
        .iter()
        .map(|name| {
            let display = r
                .identity_resources
                .iter()
                .find(|i| &i.name == name)
                .and_then(|i| i.display_name.clone())
                .or_else(|| {
                    r.api_scopes
                        .iter()
                        .find(|a| &a.name == name)
                        .and_then(|a| a.display_name.clone())
                })
                .unwrap_or_else(|| match name.as_str() {
                    "offline_access" => "Access while you are away (offline access)".into(),
                    _ => name.clone(),
                });
            ScopeView {
                name: name.clone(),
                display,
            }
        })
        .collect()
}

fn client_display(client: &Client) -> String {
    client
        .client_name
        .clone()
        .unwrap_or_else(|| client.client_id.clone())
}

/// RFC 9396 §7: the authorization details asked for, shown to the user: each type's
/// description and the object itself.
fn detail_views(state: &AppState, details: &[serde_json::Value]) -> Vec<minijinja::Value> {
    let resources = state.resources.current();
    details
        .iter()
        .map(|d| {
            let name = d.get("type").and_then(|t| t.as_str()).unwrap_or_default();
            let description = resources
                .authorization_details_types
                .iter()
                .find(|t| t.name == name)
                .and_then(|t| t.description.clone());
            minijinja::context! {
                name,
                description,
                json => serde_json::to_string_pretty(d).unwrap_or_default(),
            }
        })
        .collect()
}

/// The claims named beyond the scopes, shown on the page and covered by remembered consent.
fn named_claims(state: &AppState, request: &AuthorizationRequest) -> Vec<String> {
    tessera_core::authorize::flow::named_claims(&state.resources.current(), request)
}

/// `GET /consent?interaction=...`
pub async fn consent_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let page = page_interaction(&state, &headers, query.as_deref(), Step::Consent).await?;
    let username = session_username(&state, &headers).await?;
    Ok(state.pages.render(
        StatusCode::OK,
        "consent.html",
        minijinja::context! {
            interaction => page.id,
            csrf => page.interaction.csrf,
            client_name => client_display(&page.client),
            username,
            scopes => scope_views(&state, &page.interaction.request.scopes),
            claims => named_claims(&state, &page.interaction.request),
            details => detail_views(&state, &page.interaction.request.authorization_details),
            // RFC 8628 §5.4: the user compares it with the code on the device.
            user_code => page.interaction.device.as_ref().map(|d| d.user_code.as_str()),
            requested_from => page.interaction.device.as_ref().and_then(|d| d.requested_from.as_deref()),
        },
    ))
}

async fn session_username(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<String>, OAuthError> {
    let Some(session) = state.browser_session(headers).await? else {
        return Ok(None);
    };
    Ok(state
        .store
        .find_user_by_subject(&session.subject)
        .await?
        .map(|u| u.username))
}

/// `POST /consent`
pub async fn consent_submit(State(state): State<AppState>, posted: PageForm) -> Page {
    let (mut interaction, client, batch) =
        submitted_interaction(&state, &posted, Step::Consent).await?;
    let (form, headers) = (&posted.form, &posted.headers);
    if form.one("action").ok().flatten() != Some("allow") {
        let denied = OAuthError::AccessDenied("the user denied the request".into());
        if interaction.flow == Flow::Device {
            // RFC 8628 §3.5: the device hears `access_denied`.
            return super::device::deny(&state, &interaction, &denied, batch).await;
        }
        state.commit(&batch).await?;
        // RFC 6749 §4.1.2.1
        return Ok(state.redirect_error(&interaction.request, &denied));
    }
    let now = state.clock.now();
    let session = state.browser_session(headers).await?;
    // The consent is the user's the page was shown to, signed in in this browser.
    let session = session.filter(|s| interaction.subject.as_deref() == Some(s.subject.as_str()));
    // A device's approval is never remembered: each is confirmed (RFC 8628 §5.4).
    let remember =
        form.one("remember").ok().flatten() == Some("yes") && interaction.flow != Flow::Device;
    if let Some(s) = &session
        && remember
    {
        let request = &interaction.request;
        let consented = (&request.scopes[..], &named_claims(&state, request)[..]);
        let store = state.store.as_ref();
        remember_consent(store, &s.subject, &client.client_id, consented, now).await?;
    }
    interaction.consented = true;
    let subject = session.as_ref().map(|s| s.subject.clone());
    let response = proceed(&state, &client, (interaction, session), batch).await?;
    if let Some(subject) = &subject {
        // The answer was stored: the consent is given.
        state.events.emit(Event::ConsentGiven {
            subject,
            client_id: &client.client_id,
            remembered: remember,
        });
    }
    Ok(response)
}
