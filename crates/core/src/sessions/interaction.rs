//! Interactions: an authorization request waiting for the user on the login and consent
//! pages, bound to the browser that made it, each form taken once.

use crate::protocol::OrServerError as _;
use serde::{Deserialize, Serialize};

use super::random_id;
use crate::authorize::AuthorizationRequest;
use crate::clock::UnixTime;
use crate::crypto::{constant_time_eq, handle_digest};
use crate::model::Grant;
use crate::protocol::OAuthError;
use crate::store::GrantStore;

/// The grant kind interactions are stored under.
pub const INTERACTION: &str = "interaction";

/// How long a user has to complete the login and consent pages.
pub const INTERACTION_LIFETIME: i64 = 15 * 60;

/// An authorization request waiting for the user, with what has happened so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// The checked request.
    pub request: AuthorizationRequest,
    /// Digest of the browser-binding cookie of the browser that made the request.
    pub browser: String,
    /// The CSRF token its forms carry (useless without the browser-binding cookie).
    pub csrf: String,
    /// The user signed in during this interaction (meets prompt=login and max_age).
    #[serde(default)]
    pub signed_in: bool,
    /// The user consented during this interaction (meets prompt=consent).
    #[serde(default)]
    pub consented: bool,
    /// Failed sign-in attempts during this interaction.
    #[serde(default)]
    pub failures: u32,
    /// The page it is waiting on.
    #[serde(default)]
    pub step: Step,
    /// The user it is for: who signed in during it, or whom the consent page was shown to.
    #[serde(default)]
    pub subject: Option<String>,
}

/// The page an interaction waits on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// The login page.
    #[default]
    Login,
    /// The consent page.
    Consent,
}

/// A stored interaction: its id (in the page URL and forms) and CSRF token.
#[derive(Clone, PartialEq, Eq)]
pub struct InteractionHandle {
    /// The id.
    pub id: String,
    /// The CSRF token for its forms.
    pub csrf: String,
}

impl std::fmt::Debug for InteractionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InteractionHandle(..)")
    }
}

/// Stores `interaction` under a new id with a new CSRF token.
pub async fn save_interaction(
    grants: &dyn GrantStore,
    mut interaction: Interaction,
    now: UnixTime,
) -> Result<InteractionHandle, OAuthError> {
    let handle = InteractionHandle {
        id: random_id()?,
        csrf: random_id()?,
    };
    interaction.csrf = handle.csrf.clone();
    let record = Grant {
        handle_digest: handle_digest(&handle.id),
        kind: INTERACTION.into(),
        client_id: interaction.request.client_id.clone(),
        subject: None,
        session_id: None,
        family: None,
        data: serde_json::to_value(&interaction).or_server_error("encoding a stored record")?,
        created_at: now,
        expires_at: now.saturating_add(INTERACTION_LIFETIME),
        consumed_at: None,
    };
    grants.insert_grant(&record).await?;
    Ok(handle)
}

/// Whether `browser_cookie` is the browser that started `interaction`.
pub fn same_browser(interaction: &Interaction, browser_cookie: &str) -> bool {
    constant_time_eq(
        handle_digest(browser_cookie).as_bytes(),
        interaction.browser.as_bytes(),
    )
}

/// Reads an interaction for display.
pub async fn find_interaction(
    grants: &dyn GrantStore,
    id: &str,
    now: UnixTime,
) -> Result<Option<Interaction>, OAuthError> {
    if id.is_empty() || id.len() > 256 {
        return Ok(None);
    }
    Ok(grants
        .find_grant(&handle_digest(id))
        .await?
        .filter(|g| g.kind == INTERACTION && g.consumed_at.is_none() && g.expires_at > now)
        .and_then(|g| serde_json::from_value(g.data).ok()))
}

/// Why a form submission was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteractionRefusal {
    /// Unknown, expired or already submitted.
    Gone,
    /// The CSRF token or the browser does not match.
    Forged,
}

/// Takes an interaction for a form submission: exactly once (a second submission of the same
/// form is refused), from the browser that started it, with its CSRF token.
pub async fn take_interaction(
    grants: &dyn GrantStore,
    id: &str,
    csrf: &str,
    browser_cookie: &str,
    now: UnixTime,
) -> Result<Result<Interaction, InteractionRefusal>, OAuthError> {
    let Some(interaction) = find_interaction(grants, id, now).await? else {
        return Ok(Err(InteractionRefusal::Gone));
    };
    let csrf_ok = constant_time_eq(csrf.as_bytes(), interaction.csrf.as_bytes());
    let browser_ok = same_browser(&interaction, browser_cookie);
    if !(csrf_ok && browser_ok) {
        return Ok(Err(InteractionRefusal::Forged));
    }
    if grants
        .consume_grant(&handle_digest(id), INTERACTION, now)
        .await?
        .is_none()
    {
        return Ok(Err(InteractionRefusal::Gone));
    }
    Ok(Ok(interaction))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::ResponseMode;
    use crate::store::MemoryStore;

    fn interaction(browser: &str) -> Interaction {
        Interaction {
            request: AuthorizationRequest {
                client_id: "web".into(),
                redirect_uri: "https://app.example/cb".into(),
                redirect_uri_presented: true,
                response_mode: ResponseMode::Query,
                response_type: crate::authorize::ResponseType::CODE,
                scopes: vec!["openid".into()],
                state: None,
                nonce: None,
                code_challenge: None,
                prompt: vec![],
                max_age: None,
                login_hint: None,
                id_token_hint: None,
                ui_locales: None,
                acr_values: None,
                acr: Default::default(),
                resources: vec![],
                claims: Default::default(),
            },
            browser: handle_digest(browser),
            csrf: String::new(),
            signed_in: false,
            consented: false,
            failures: 0,
            step: Step::Login,
            subject: None,
        }
    }

    #[tokio::test]
    async fn interactions_are_taken_once_by_their_browser() {
        let store = MemoryStore::new();
        let h = save_interaction(&store, interaction("b1"), 100)
            .await
            .unwrap();
        assert!(
            find_interaction(&store, &h.id, 101)
                .await
                .unwrap()
                .is_some()
        );
        let take = |csrf: &str, browser: &str| {
            let (id, csrf, browser) = (h.id.clone(), csrf.to_string(), browser.to_string());
            let store = &store;
            async move {
                take_interaction(store, &id, &csrf, &browser, 102)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(take("wrong", "b1").await, Err(InteractionRefusal::Forged));
        assert_eq!(take(&h.csrf, "b2").await, Err(InteractionRefusal::Forged));
        assert!(take(&h.csrf, "b1").await.is_ok());
        assert_eq!(take(&h.csrf, "b1").await, Err(InteractionRefusal::Gone));
        let late = save_interaction(&store, interaction("b1"), 100)
            .await
            .unwrap();
        assert!(
            find_interaction(&store, &late.id, 100 + INTERACTION_LIFETIME)
                .await
                .unwrap()
                .is_none()
        );
    }
}
