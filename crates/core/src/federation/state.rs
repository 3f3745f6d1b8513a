//! Sign-ins in progress at an upstream provider. The `state` sent upstream names a stored
//! record (single use, short-lived, bound to the browser that left) holding the waiting
//! interaction, the `nonce` and the PKCE verifier (RFC 9700 §2.1: PKCE and state or nonce
//! against CSRF and code injection; OIDC Core §3.1.2.1). A first sign-in that would link to an
//! existing account waits in a second record while the user proves that account.

use serde::{Deserialize, Serialize};

use super::UpstreamIdentity;
use crate::clock::UnixTime;
use crate::crypto::handle_digest;
use crate::model::GrantKind;
use crate::protocol::OAuthError;
use crate::sessions::{Interaction, PageRecord, find_page_record, same_browser};
use crate::store::{GrantPayload, GrantStore};

/// How long a user has at the upstream.
pub const STATE_LIFETIME: i64 = 10 * 60;

/// A sign-in waiting at an upstream provider.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct FederationState {
    /// The provider's name (the callback's path must name the same one: mix-up defence).
    pub provider: String,
    /// The interaction that continues when the user comes back.
    pub interaction: Interaction,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier (RFC 7636 §4.1).
    pub verifier: String,
    /// An unused CSRF slot (the `state` itself is the secret the callback brings back).
    #[serde(default)]
    pub csrf: String,
}

impl std::fmt::Debug for FederationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederationState")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl GrantPayload for FederationState {
    const KIND: GrantKind = GrantKind::FederationState;
}

impl PageRecord for FederationState {
    const LIFETIME: i64 = STATE_LIFETIME;
    fn binding(&self) -> (&str, &str) {
        (&self.interaction.browser, &self.csrf)
    }
    fn set_csrf(&mut self, csrf: String) {
        self.csrf = csrf;
    }
    fn client_id(&self) -> &str {
        &self.interaction.request.client_id
    }
}

/// Why a callback's `state` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRefusal {
    /// Unknown, expired, already used, or for another provider.
    Gone,
    /// Another browser brought it back.
    OtherBrowser,
}

/// Takes the pending sign-in named by `state` for `provider`, once, for the browser that
/// left with it.
pub async fn take_state(
    grants: &dyn GrantStore,
    (state, provider): (&str, &str),
    browser_cookie: &str,
    now: UnixTime,
) -> Result<Result<FederationState, StateRefusal>, OAuthError> {
    let Some(record) = find_page_record::<FederationState>(grants, state, now).await? else {
        return Ok(Err(StateRefusal::Gone));
    };
    if record.provider != provider {
        return Ok(Err(StateRefusal::Gone));
    }
    if !same_browser(&record, browser_cookie) {
        return Ok(Err(StateRefusal::OtherBrowser));
    }
    let digest = handle_digest(state);
    match grants
        .consume_grant(&digest, GrantKind::FederationState, now)
        .await?
    {
        Some(_) => Ok(Ok(record)),
        None => Ok(Err(StateRefusal::Gone)),
    }
}

/// A first sign-in through an upstream that links to the local account `local_subject` once
/// the user proves it (its password).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingLink {
    /// The interaction that continues.
    pub interaction: Interaction,
    /// Who the upstream says the user is.
    pub identity: UpstreamIdentity,
    /// The local account with the same verified address.
    pub local_subject: String,
    /// The CSRF token of the page's form.
    #[serde(default)]
    pub csrf: String,
}

impl std::fmt::Debug for PendingLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLink")
            .field("provider", &self.identity.provider)
            .finish_non_exhaustive()
    }
}

impl GrantPayload for PendingLink {
    const KIND: GrantKind = GrantKind::FederationLink;
}

impl PageRecord for PendingLink {
    const LIFETIME: i64 = STATE_LIFETIME;
    fn binding(&self) -> (&str, &str) {
        (&self.interaction.browser, &self.csrf)
    }
    fn set_csrf(&mut self, csrf: String) {
        self.csrf = csrf;
    }
    fn client_id(&self) -> &str {
        &self.interaction.request.client_id
    }
}
