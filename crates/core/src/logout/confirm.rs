//! What the end-session endpoint decides (RP-Initiated Logout 1.0 §2-§3): whether a request is
//! tied to the browser's session, so that it signs out at once; otherwise a confirmation the
//! user submits from this browser; and where the user goes afterwards.

use serde::{Deserialize, Serialize};

use super::EndSessionRequest;
use crate::clock::UnixTime;
use crate::crypto::constant_time_eq;
use crate::model::{GrantKind, Session};
use crate::protocol::OAuthError;
use crate::sessions::{PageHandle, PageRecord, save_page_record};
use crate::store::{ClientStore, GrantPayload, GrantStore};

/// A sign-out waiting for the user's confirmation, and what it carries to the form's
/// submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutConfirmation {
    /// Digest of the binding cookie of the browser that was asked.
    pub browser: String,
    /// The CSRF token of its form.
    pub csrf: String,
    /// The session the user was asked about.
    pub sid: String,
    /// Its user.
    #[serde(default)]
    pub subject: String,
    /// The client that asked, if it could be told.
    pub client_id: Option<String>,
    /// Where to go afterwards, registered for that client.
    pub post_logout_redirect_uri: Option<String>,
    /// Echoed there.
    pub state: Option<String>,
}

impl GrantPayload for LogoutConfirmation {
    const KIND: GrantKind = GrantKind::LogoutConfirmation;
}

impl PageRecord for LogoutConfirmation {
    /// How long the confirmation page may stay open.
    const LIFETIME: i64 = 10 * 60;
    fn binding(&self) -> (&str, &str) {
        (&self.browser, &self.csrf)
    }
    fn set_csrf(&mut self, csrf: String) {
        self.csrf = csrf;
    }
    fn client_id(&self) -> &str {
        self.client_id.as_deref().unwrap_or_default()
    }
    fn session(&self) -> Option<(&str, &str)> {
        Some((&self.subject, &self.sid))
    }
}

/// Whether `request` is tied to `session`: a hint of ours from it (or, without `sid`, for its
/// user), in a request that passed every check. Anything doubtful is confirmed by the user
/// first (RP-Initiated Logout §2: the OP asks whether to sign out unless it is sure).
pub fn tied_to_session(request: &EndSessionRequest, session: &Session) -> bool {
    request.problems.is_empty()
        && request.hint.as_ref().is_some_and(|h| match &h.sid {
            Some(sid) => constant_time_eq(sid.as_bytes(), session.sid.as_bytes()),
            None => h.sub == session.subject,
        })
}

/// Stores a confirmation of signing `session` out for `request`, bound to the browser whose
/// binding cookie has the digest `browser`.
pub async fn ask_confirmation(
    grants: &dyn GrantStore,
    request: &EndSessionRequest,
    session: &Session,
    browser: String,
    now: UnixTime,
) -> Result<PageHandle, OAuthError> {
    let confirmation = LogoutConfirmation {
        browser,
        csrf: String::new(),
        sid: session.sid.clone(),
        subject: session.subject.clone(),
        client_id: request.client.as_ref().map(|c| c.client_id.clone()),
        post_logout_redirect_uri: request.post_logout_redirect_uri.clone(),
        state: request.state.clone(),
    };
    save_page_record(grants, confirmation, now).await
}

/// The end-session request a submitted confirmation stands for: its client if it still exists
/// and is enabled, and a redirect only to such a client.
pub async fn confirmed_request(
    clients: &dyn ClientStore,
    confirmation: LogoutConfirmation,
) -> Result<EndSessionRequest, OAuthError> {
    let client = match &confirmation.client_id {
        Some(id) => clients.find_client(id).await?.filter(|c| c.enabled),
        None => None,
    };
    Ok(EndSessionRequest {
        post_logout_redirect_uri: confirmation
            .post_logout_redirect_uri
            .filter(|_| client.is_some()),
        client,
        state: confirmation.state,
        ..EndSessionRequest::default()
    })
}

/// Where the user goes after signing out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    /// The client's name, for the signed-out page.
    pub client_name: Option<String>,
    /// The post-logout redirect URI with `state` (RP-Initiated Logout §3).
    pub redirect: Option<String>,
}

/// Where `request` sends the user after signing out.
pub fn after(request: &EndSessionRequest) -> After {
    let redirect = request
        .post_logout_redirect_uri
        .as_ref()
        .map(|uri| match &request.state {
            None => uri.clone(),
            Some(s) => {
                let separator = if uri.contains('?') { '&' } else { '?' };
                let state = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("state", s)
                    .finish();
                format!("{uri}{separator}{state}")
            }
        });
    After {
        client_name: request
            .client
            .as_ref()
            .map(|c| c.client_name.clone().unwrap_or_else(|| c.client_id.clone())),
        redirect,
    }
}
