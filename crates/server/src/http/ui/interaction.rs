//! Finding the interaction a page shows or a form submits, with the checks every page shares:
//! it exists and is live, it belongs to this browser, and for submissions the CSRF token
//! matches and the interaction is used exactly once.

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use tessera_core::model::Client;
use tessera_core::protocol::form::Form;
use tessera_core::sessions::{
    Interaction, InteractionRefusal, Step, find_interaction, same_browser, take_interaction,
};
use tessera_core::store::ClientStore as _;

use super::cookies::read_cookie;
use crate::http::AppState;
use crate::http::form::read_form;

/// An interaction shown on a page.
pub struct PageInteraction {
    /// Its id.
    pub id: String,
    /// The interaction.
    pub interaction: Interaction,
    /// Its client.
    pub client: Client,
}

fn expired(state: &AppState) -> Response {
    state.pages.error(
        StatusCode::BAD_REQUEST,
        "This sign-in page has expired",
        "Go back to the application and start the sign-in again.",
        "",
    )
}

fn forged(state: &AppState) -> Response {
    state.pages.error(
        StatusCode::FORBIDDEN,
        "This form cannot be accepted",
        "The form was not sent from the page this browser opened. Go back to the application and start the sign-in again.",
        "",
    )
}

async fn client_of(state: &AppState, interaction: &Interaction) -> Result<Client, Response> {
    match state
        .clients
        .find_client(&interaction.request.client_id)
        .await
    {
        Ok(Some(c)) if c.enabled => Ok(c),
        Ok(_) => Err(expired(state)),
        Err(e) => Err(state.error_page(&e.into())),
    }
}

/// The interaction named by the page's `interaction` query parameter, waiting on `step`.
pub async fn page_interaction(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    step: Step,
) -> Result<PageInteraction, Response> {
    let form = Form::parse(query.unwrap_or_default().as_bytes()).map_err(|_| expired(state))?;
    let id = form
        .one("interaction")
        .ok()
        .flatten()
        .ok_or_else(|| expired(state))?;
    let interaction = find_interaction(state.store.as_ref(), id, state.clock.now())
        .await
        .map_err(|e| state.error_page(&e))?
        .ok_or_else(|| expired(state))?;
    if interaction.step != step {
        return Err(expired(state));
    }
    let browser = read_cookie(headers, state.cookies.browser).unwrap_or_default();
    if !same_browser(&interaction, browser) {
        return Err(forged(state));
    }
    let client = client_of(state, &interaction).await?;
    Ok(PageInteraction {
        id: id.to_string(),
        interaction,
        client,
    })
}

/// The interaction a form submits from the page of `step`, taken so that it cannot be
/// submitted again.
pub async fn submitted_interaction(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
    step: Step,
) -> Result<(Form, Interaction, Client), Response> {
    let form = read_form(headers, uri, body).map_err(|e| state.error_page(&e))?;
    let field = |name: &str| form.one(name).ok().flatten().unwrap_or_default();
    let browser = read_cookie(headers, state.cookies.browser).unwrap_or_default();
    let taken = take_interaction(
        state.store.as_ref(),
        field("interaction"),
        field("csrf"),
        browser,
        state.clock.now(),
    )
    .await
    .map_err(|e| state.error_page(&e))?;
    let interaction = match taken {
        Ok(i) if i.step == step => i,
        Ok(_) | Err(InteractionRefusal::Gone) => return Err(expired(state)),
        Err(InteractionRefusal::Forged) => return Err(forged(state)),
    };
    let client = client_of(state, &interaction).await?;
    Ok((form, interaction, client))
}
