//! Interactions: an authorization request waiting for the user on the login and consent
//! pages, bound to the browser that made it, each form taken once.

use serde::{Deserialize, Serialize};

use super::random_id;
use crate::authorize::AuthorizationRequest;
use crate::clock::UnixTime;
use crate::crypto::{constant_time_eq, handle_digest};
use crate::login::{LoginMethod, PriorSignIn};
use crate::model::{Grant, GrantKind};
use crate::protocol::OAuthError;
use crate::store::{BatchWrite, GrantPayload, GrantStore};

/// How long a user has to complete the login and consent pages.
pub const INTERACTION_LIFETIME: i64 = 15 * 60;

/// A request waiting for the user, with what has happened so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// The flow it serves.
    #[serde(default)]
    pub flow: Flow,
    /// What the user is asked to authorize: the checked request's client, scopes, claims and
    /// authentication requirements.
    pub request: AuthorizationRequest,
    /// Digest of the browser-binding cookie of the browser that made the request.
    pub browser: String,
    /// The CSRF token its forms carry (useless without the browser-binding cookie).
    pub csrf: String,
    /// The login methods the user completed during this interaction, in order (a sign-in
    /// during it meets prompt=login and max_age).
    #[serde(default)]
    pub methods: Vec<LoginMethod>,
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
    /// The session's sign-in that a step-up adds a factor to (its methods are not in
    /// `methods`: they were used before this interaction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<PriorSignIn>,
    /// An upstream identity to link to the user once the sign-in is complete (every factor
    /// asked for given): the user proved the local account's password for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<crate::federation::UpstreamIdentity>,
    /// The device authorization a device flow's interaction decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceInteraction>,
}

/// The device authorization (RFC 8628 §3.3) an interaction decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceInteraction {
    /// The digest its record is stored under.
    pub digest: String,
    /// Its user code as shown, for the consent page to show again (RFC 8628 §5.4: the user
    /// compares it with the device's).
    pub user_code: String,
    /// The address the device asked from, shown beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_from: Option<String>,
}

impl Interaction {
    /// A new interaction for `request` in `flow`, bound to the browser whose binding cookie
    /// has the digest `browser`.
    pub fn new(flow: Flow, request: AuthorizationRequest, browser: String) -> Interaction {
        Interaction {
            flow,
            request,
            browser,
            csrf: String::new(),
            methods: Vec::new(),
            consented: false,
            failures: 0,
            step: Step::Login,
            subject: None,
            prior: None,
            link: None,
            device: None,
        }
    }

    /// The user signed in during this interaction: a first factor, or a factor added to the
    /// session's sign-in.
    pub fn signed_in(&self) -> bool {
        !self.methods.is_empty()
    }
}

/// The flow an interaction serves: each has its own first step and its own way to finish.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flow {
    /// An authorization request (OIDC Core §3.1.2): it ends in an authorization response.
    #[default]
    Authorize,
    /// A sign-in to the account page: it ends on that page, signed in.
    Account,
    /// A device's authorization (RFC 8628 §3.3): it ends with the user's decision recorded for
    /// the polling device, on a page of ours.
    Device,
}

/// The page an interaction waits on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// The login page.
    #[default]
    Login,
    /// The second-factor page: a first factor was used, or the session's sign-in needs one
    /// more for the requested `acr`.
    Factor,
    /// The consent page.
    Consent,
}

/// A stored page record: its id (in the page URL and forms) and CSRF token.
#[derive(Clone, PartialEq, Eq)]
pub struct PageHandle {
    /// The id.
    pub id: String,
    /// The CSRF token for its forms.
    pub csrf: String,
}

impl std::fmt::Debug for PageHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageHandle(..)")
    }
}

/// A record a page's form comes back to (an interaction, a sign-out confirmation): bound to
/// the browser that opened the page by the digest of its binding cookie, with a CSRF token
/// that its form carries, and taken exactly once. Stored as a grant of its payload's kind.
pub trait PageRecord: GrantPayload {
    /// How long its page stays valid, in seconds.
    const LIFETIME: i64;
    /// The digest of the binding cookie of the browser that opened the page, and the CSRF
    /// token its form carries.
    fn binding(&self) -> (&str, &str);
    /// Sets the CSRF token, when the record is stored.
    fn set_csrf(&mut self, csrf: String);
    /// The client the record is for (stored with it, for listing and clean-up).
    fn client_id(&self) -> &str;
    /// The session it belongs to, if any: it ends with the session.
    fn session(&self) -> Option<(&str, &str)> {
        None
    }
}

impl GrantPayload for Interaction {
    const KIND: GrantKind = GrantKind::Interaction;
}

impl PageRecord for Interaction {
    const LIFETIME: i64 = INTERACTION_LIFETIME;
    fn binding(&self) -> (&str, &str) {
        (&self.browser, &self.csrf)
    }
    fn set_csrf(&mut self, csrf: String) {
        self.csrf = csrf;
    }
    fn client_id(&self) -> &str {
        &self.request.client_id
    }
}

/// Stores `record` under a new id with a new CSRF token.
pub async fn save_page_record<R: PageRecord>(
    grants: &dyn GrantStore,
    record: R,
    now: UnixTime,
) -> Result<PageHandle, OAuthError> {
    let (handle, write) = page_record_write(record, now)?;
    if let BatchWrite::Insert(grant) = &write {
        grants.insert_grant(grant).await?;
    }
    Ok(handle)
}

/// `record` under a new id with a new CSRF token, as a write for a batch.
pub fn page_record_write<R: PageRecord>(
    mut record: R,
    now: UnixTime,
) -> Result<(PageHandle, BatchWrite), OAuthError> {
    let handle = PageHandle {
        id: random_id()?,
        csrf: random_id()?,
    };
    record.set_csrf(handle.csrf.clone());
    let grant = Grant {
        subject: record.session().map(|(subject, _)| subject.to_string()),
        session_id: record.session().map(|(_, sid)| sid.to_string()),
        ..Grant::new(
            handle_digest(&handle.id),
            record.client_id(),
            &record,
            now,
            now.saturating_add(R::LIFETIME),
        )?
    };
    Ok((handle, BatchWrite::Insert(grant)))
}

/// Whether `browser_cookie` is the browser that opened the page of `record`.
pub fn same_browser<R: PageRecord>(record: &R, browser_cookie: &str) -> bool {
    constant_time_eq(
        handle_digest(browser_cookie).as_bytes(),
        record.binding().0.as_bytes(),
    )
}

/// Reads a live record for display.
pub async fn find_page_record<R: PageRecord>(
    grants: &dyn GrantStore,
    id: &str,
    now: UnixTime,
) -> Result<Option<R>, OAuthError> {
    if id.is_empty() || id.len() > 256 {
        return Ok(None);
    }
    let Some(grant) = grants
        .find_grant(&handle_digest(id))
        .await?
        .filter(|g| g.is::<R>() && g.is_live(now))
    else {
        return Ok(None);
    };
    Ok(Some(grant.payload()?))
}

/// Why a form submission was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageRefusal {
    /// Unknown, expired or already submitted.
    Gone,
    /// The CSRF token or the browser does not match.
    Forged,
}

/// Takes a record for a form submission: exactly once (a second submission of the same form
/// is refused), from the browser that opened the page, with its CSRF token.
pub async fn take_page_record<R: PageRecord>(
    grants: &dyn GrantStore,
    id: &str,
    csrf: &str,
    browser_cookie: &str,
    now: UnixTime,
) -> Result<Result<R, PageRefusal>, OAuthError> {
    let record = match check_page_record::<R>(grants, id, csrf, browser_cookie, now).await? {
        Ok((record, _)) => record,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if grants
        .consume_grant(&handle_digest(id), R::KIND, now)
        .await?
        .is_none()
    {
        return Ok(Err(PageRefusal::Gone));
    }
    Ok(Ok(record))
}

/// Checks a record for a form submission (live, from the browser that opened the page, with
/// its CSRF token) without taking it: with the record comes the write that takes it, for the
/// batch that stores what the submission leads to. The record is used once because that
/// batch commits only if the write finds it untaken.
pub async fn check_page_record<R: PageRecord>(
    grants: &dyn GrantStore,
    id: &str,
    csrf: &str,
    browser_cookie: &str,
    now: UnixTime,
) -> Result<Result<(R, BatchWrite), PageRefusal>, OAuthError> {
    let Some(record) = find_page_record::<R>(grants, id, now).await? else {
        return Ok(Err(PageRefusal::Gone));
    };
    let csrf_ok = constant_time_eq(csrf.as_bytes(), record.binding().1.as_bytes());
    if !(csrf_ok && same_browser(&record, browser_cookie)) {
        return Ok(Err(PageRefusal::Forged));
    }
    let take = BatchWrite::Consume {
        handle_digest: handle_digest(id),
        kind: R::KIND,
    };
    Ok(Ok((record, take)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::ResponseMode;
    use crate::store::MemoryStore;

    fn interaction(browser: &str) -> Interaction {
        Interaction::new(
            Flow::Authorize,
            AuthorizationRequest {
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
                idp_hint: None,
                dpop_jkt: None,
                response_alg: None,
                response_encryption: None,
                authorization_details: vec![],
                pushed: false,
            },
            handle_digest(browser),
        )
    }

    #[tokio::test]
    async fn interactions_are_taken_once_by_their_browser() {
        let store = MemoryStore::new();
        let h = save_page_record(&store, interaction("b1"), 100)
            .await
            .unwrap();
        assert!(
            find_page_record::<Interaction>(&store, &h.id, 101)
                .await
                .unwrap()
                .is_some()
        );
        let take = |csrf: &str, browser: &str| {
            let (id, csrf, browser) = (h.id.clone(), csrf.to_string(), browser.to_string());
            let store = &store;
            async move {
                take_page_record::<Interaction>(store, &id, &csrf, &browser, 102)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(take("wrong", "b1").await, Err(PageRefusal::Forged));
        assert_eq!(take(&h.csrf, "b2").await, Err(PageRefusal::Forged));
        assert!(take(&h.csrf, "b1").await.is_ok());
        assert_eq!(take(&h.csrf, "b1").await, Err(PageRefusal::Gone));
        let late = save_page_record(&store, interaction("b1"), 100)
            .await
            .unwrap();
        assert!(
            find_page_record::<Interaction>(&store, &late.id, 100 + INTERACTION_LIFETIME)
                .await
                .unwrap()
                .is_none()
        );
    }
}
