//! Finding the interaction a page shows or a form submits, with the checks every page shares:
//! it exists and is live, it belongs to this browser, and for submissions the CSRF token
//! matches and the interaction is used exactly once.

use axum::http::HeaderMap;
use tessera_core::model::Client;
use tessera_core::protocol::form::Form;
use tessera_core::sessions::{
    Flow, Interaction, PageRefusal, Step, check_page_record, find_page_record, same_browser,
};
use tessera_core::store::{ClientStore as _, WriteBatch};

use super::cookies::read_cookie;
use super::error::{PageError, PageForm};
use crate::http::AppState;

/// An interaction shown on a page.
pub struct PageInteraction {
    /// The id that names it in the page's URL and form.
    pub id: String,
    /// The interaction.
    pub interaction: Interaction,
    /// Its client.
    pub client: Client,
}

pub(super) async fn client_of(
    state: &AppState,
    interaction: &Interaction,
) -> Result<Client, PageError> {
    if interaction.flow == Flow::Account {
        // The account page is the server's own: the pages name it as the client.
        return Ok(Client {
            client_name: Some("your account".into()),
            ..Client::default()
        });
    }
    match state
        .clients
        .find_client(&interaction.request.client_id)
        .await
    {
        Ok(Some(c)) if c.enabled => Ok(c),
        Ok(_) => Err(PageError::EXPIRED),
        Err(e) => Err(e.into()),
    }
}

/// The interaction named by the page's `interaction` query parameter, waiting on `step`.
pub async fn page_interaction(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    step: Step,
) -> Result<PageInteraction, PageError> {
    let form = Form::parse(query.unwrap_or_default().as_bytes()).map_err(|_| PageError::EXPIRED)?;
    let id = form
        .one("interaction")
        .ok()
        .flatten()
        .ok_or(PageError::EXPIRED)?;
    let interaction = find_page_record::<Interaction>(state.store.as_ref(), id, state.clock.now())
        .await?
        .ok_or(PageError::EXPIRED)?;
    if interaction.step != step {
        return Err(PageError::EXPIRED);
    }
    let browser = read_cookie(headers, state.cookies.browser).unwrap_or_default();
    if !same_browser(&interaction, browser) {
        return Err(PageError::FORGED);
    }
    let client = client_of(state, &interaction).await?;
    Ok(PageInteraction {
        id: id.to_string(),
        interaction,
        client,
    })
}

/// The interaction a form submits from the page of `step`, with a batch whose first write
/// takes it: whatever the submission leads to is stored by that batch, which commits only if
/// the interaction was not taken by another submission meanwhile (so it is used once).
pub async fn submitted_interaction(
    state: &AppState,
    posted: &PageForm,
    step: Step,
) -> Result<(Interaction, Client, WriteBatch), PageError> {
    let field = |name: &str| posted.form.one(name).ok().flatten().unwrap_or_default();
    let browser = read_cookie(&posted.headers, state.cookies.browser).unwrap_or_default();
    let now = state.clock.now();
    let checked = check_page_record::<Interaction>(
        state.store.as_ref(),
        field("interaction"),
        field("csrf"),
        browser,
        now,
    )
    .await?;
    let (interaction, take) = match checked {
        Ok((i, take)) if i.step == step => (i, take),
        Ok(_) | Err(PageRefusal::Gone) => return Err(PageError::EXPIRED),
        Err(PageRefusal::Forged) => return Err(PageError::FORGED),
    };
    let client = client_of(state, &interaction).await?;
    let mut batch = WriteBatch::new(now);
    batch.push(take);
    Ok((interaction, client, batch))
}
