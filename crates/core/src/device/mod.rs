//! The device authorization grant (RFC 8628): a device without a browser (a TV, a CLI) asks
//! for a device code and a user code (§3.1-§3.2), the user enters the user code on a page of
//! ours in any browser, signs in and decides (§3.3), and the device polls the token endpoint
//! until the decision is made (§3.4-§3.5, `grants::device_code`).
//!
//! One record per authorization, stored under the digest of the device code and found by the
//! digest of the user code (its lookup digest). The decision is a compare-and-set of its data,
//! so that of two browsers deciding at once one wins; the tokens are issued once, by consuming
//! it.

pub mod user_code;

use serde::{Deserialize, Serialize};

use crate::authorize::{AuthorizationRequest, Prompt};
use crate::clock::UnixTime;
use crate::crypto::{base64url, handle_digest, random_bytes, random_handle};
use crate::grants::scopes::{parse_scope, user_audiences};
use crate::grants::{TokenContext, check_grant_allowed};
use crate::model::{Client, Grant, GrantKind};
use crate::protocol::grant_type::GrantType;
use crate::protocol::{OAuthError, OrServerError as _};
use crate::sessions::{DeviceInteraction, Flow, Interaction};
use crate::store::{BatchWrite, GrantPayload, GrantStore, StoreError};
use crate::tokens::access_token::SignIn;

/// The server's settings for the grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceSettings {
    /// Seconds a device code and its user code live (RFC 8628 §3.2 `expires_in`).
    pub code_lifetime: u64,
    /// Seconds a device waits between polls at first (§3.2 `interval`; §3.5 adds 5 for each
    /// `slow_down`).
    pub polling_interval: u64,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        DeviceSettings {
            code_lifetime: 600,
            // RFC 8628 §3.2: "If no value is provided, clients MUST use 5 as the default."
            polling_interval: 5,
        }
    }
}

/// What a device authorization stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceData {
    /// The scopes asked for, each allowed for the client.
    pub scopes: Vec<String>,
    /// RFC 8707 resource indicators asked for.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The polling interval given to the device, in seconds.
    pub interval: u64,
    /// The user's decision so far.
    #[serde(default)]
    pub decision: Decision,
    /// The address the device asked from: the consent page shows it (RFC 8628 §5.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_from: Option<String>,
    /// How often its user code was entered on the page.
    #[serde(default)]
    pub entries: u32,
}

/// How often a user code may be entered: the user needs one or two tries; someone who
/// learned the code (a shoulder, a forwarded screenshot) does not get to keep trying it
/// (RFC 8628 §5.1, SEC-65).
pub const MAX_CODE_ENTRIES: u32 = 5;

impl GrantPayload for DeviceData {
    const KIND: GrantKind = GrantKind::DeviceCode;
}

/// The user's decision on a device authorization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Decision {
    /// Nobody has decided yet (§3.5 `authorization_pending`).
    #[default]
    Pending,
    /// The user allowed it: the device gets tokens for this sign-in.
    Approved(Box<Approval>),
    /// The user refused it (§3.5 `access_denied`).
    Denied,
}

/// A user's approval of a device: whose tokens the device gets, and for what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// The user.
    pub subject: String,
    /// Access token audiences.
    pub audiences: Vec<String>,
    /// The sign-in the tokens describe. The device's grant is not bound to the browser's
    /// session: signing out of the phone does not sign the TV out.
    #[serde(flatten)]
    pub sign_in: SignIn,
    /// `acr` was asked for: the identity token carries it.
    #[serde(default)]
    pub acr_in_id_token: bool,
}

/// The answer to a device authorization request (RFC 8628 §3.2), without the URIs.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    /// The device code: the device's secret.
    pub device_code: String,
    /// The user code, as shown (`BCDF-GHJK`).
    pub user_code: String,
    /// Seconds until both expire.
    pub expires_in: u64,
    /// Seconds between polls.
    pub interval: u64,
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceAuthorization(..)")
    }
}

/// Attempts at a user code that is not taken yet: with 20^8 codes, a clash is rare and three
/// in a row mean something else is wrong.
const CODE_ATTEMPTS: usize = 3;

/// Starts a device authorization for an authenticated `client` (RFC 8628 §3.1): it must be
/// registered for the grant, and the scopes and resources it asks for must be its own
/// (`invalid_scope`, `invalid_target`, RFC 8628 §3.2 with RFC 6749 §5.2).
pub async fn start(
    ctx: &TokenContext<'_>,
    client: &Client,
    (scope, resources): (Option<&str>, &[String]),
    settings: DeviceSettings,
) -> Result<DeviceAuthorization, OAuthError> {
    check_grant_allowed(client, GrantType::DeviceCode)?;
    let scopes = parse_scope(scope.unwrap_or_default())?;
    if scopes.is_empty() {
        return Err(OAuthError::InvalidScope(
            "the scope parameter is missing".into(),
        ));
    }
    if let Some(s) = scopes.iter().find(|s| !client.allowed_scopes.contains(s)) {
        return Err(OAuthError::InvalidScope(
            format!("scope `{s}` is not allowed for this client").into(),
        ));
    }
    user_audiences(ctx.issuer, ctx.resources, &scopes, resources)?;
    let data = DeviceData {
        scopes,
        resources: resources.to_vec(),
        interval: settings.polling_interval,
        decision: Decision::Pending,
        requested_from: ctx.http.and_then(|h| h.peer).map(|ip| ip.to_string()),
        entries: 0,
    };
    let lifetime = i64::try_from(settings.code_lifetime).unwrap_or(i64::MAX);
    let family = base64url(&random_bytes(16).or_server_error("drawing random bytes")?);
    for _ in 0..CODE_ATTEMPTS {
        let device_code = random_handle().or_server_error("drawing random bytes")?;
        let user_code = user_code::new_user_code().or_server_error("drawing random bytes")?;
        let grant = Grant {
            lookup_digest: Some(handle_digest(&user_code)),
            // Tokens issued for it share its family, so that a replay can revoke them.
            family: Some(family.clone()),
            ..Grant::new(
                handle_digest(&device_code),
                &client.client_id,
                &data,
                ctx.now,
                ctx.now.saturating_add(lifetime),
            )?
        };
        match ctx.grants.insert_grant(&grant).await {
            Ok(()) => {
                return Ok(DeviceAuthorization {
                    device_code,
                    user_code: user_code::display(&user_code),
                    expires_in: settings.code_lifetime,
                    interval: settings.polling_interval,
                });
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OAuthError::internal(
        "drawing a user code",
        "every user code drawn was taken",
    ))
}

/// A device authorization waiting for its user's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDevice {
    /// Its record.
    pub grant: Grant,
    /// What it asks for.
    pub data: DeviceData,
}

/// What entering a user code found.
#[derive(Debug, Clone, PartialEq)]
pub enum Entered {
    /// No pending authorization has this code (unknown, expired or decided).
    Unknown,
    /// The code was entered [`MAX_CODE_ENTRIES`] times already.
    TooOften,
    /// The pending authorization, its entry counted.
    Pending(Box<PendingDevice>),
}

/// Enters the user code `typed` (in any form `user_code::normalize` accepts): finds its
/// pending authorization and counts the entry, in one compare-and-set.
pub async fn enter_user_code(
    grants: &dyn GrantStore,
    typed: &str,
    now: UnixTime,
) -> Result<Entered, OAuthError> {
    let Some(code) = user_code::normalize(typed) else {
        return Ok(Entered::Unknown);
    };
    let lookup = handle_digest(&code);
    // A second attempt when another entry of the same code was counted at the same moment.
    for _ in 0..2 {
        let Some(mut grant) = grants
            .find_grant_by_lookup(&lookup, GrantKind::DeviceCode, now)
            .await?
        else {
            return Ok(Entered::Unknown);
        };
        let mut data: DeviceData = grant.payload()?;
        if data.decision != Decision::Pending {
            return Ok(Entered::Unknown);
        }
        if data.entries >= MAX_CODE_ENTRIES {
            return Ok(Entered::TooOften);
        }
        data.entries += 1;
        let json = serde_json::to_value(&data).or_server_error("writing a device entry")?;
        let (digest, version) = (&grant.handle_digest, grant.version);
        if grants
            .update_grant_data(digest, GrantKind::DeviceCode, version, &json, now)
            .await?
        {
            grant.version += 1;
            grant.data = json;
            return Ok(Entered::Pending(Box::new(PendingDevice { grant, data })));
        }
    }
    Ok(Entered::Unknown)
}

/// The pending authorization stored under `digest` (a device code's), read again when the
/// user decides; `None` when it expired or was decided meanwhile.
pub async fn pending_by_digest(
    grants: &dyn GrantStore,
    digest: &str,
    now: UnixTime,
) -> Result<Option<PendingDevice>, OAuthError> {
    let Some(grant) = grants.find_grant(digest).await? else {
        return Ok(None);
    };
    let live = grant.kind == GrantKind::DeviceCode
        && grant.consumed_at.is_none()
        && grant.expires_at > now;
    if !live {
        return Ok(None);
    }
    let data: DeviceData = grant.payload()?;
    Ok((data.decision == Decision::Pending).then_some(PendingDevice { grant, data }))
}

impl PendingDevice {
    /// The interaction in which the user signs in and decides, bound to the browser whose
    /// binding cookie has the digest `browser`. Consent is asked every time, remembered or
    /// not (RFC 8628 §5.4: the user confirms which device they are letting in), and the
    /// user code (`typed`, as the user typed it) is shown again beside it.
    pub fn interaction(&self, browser: String, typed: &str) -> Interaction {
        let request = AuthorizationRequest {
            client_id: self.grant.client_id.clone(),
            scopes: self.data.scopes.clone(),
            resources: self.data.resources.clone(),
            prompt: vec![Prompt::Consent],
            ..AuthorizationRequest::default()
        };
        let code = user_code::normalize(typed).unwrap_or_default();
        let mut interaction = Interaction::new(Flow::Device, request, browser);
        interaction.device = Some(DeviceInteraction {
            digest: self.grant.handle_digest.clone(),
            user_code: user_code::display(&code),
            requested_from: self.data.requested_from.clone(),
        });
        interaction
    }

    /// The write that records `decision`, for a batch: it is refused when the authorization
    /// was decided, consumed or expired after it was read.
    pub fn decide(self, decision: Decision) -> Result<BatchWrite, OAuthError> {
        let data = DeviceData {
            decision,
            ..self.data
        };
        Ok(BatchWrite::UpdateData {
            handle_digest: self.grant.handle_digest,
            kind: GrantKind::DeviceCode,
            expected_version: self.grant.version,
            data: serde_json::to_value(&data).or_server_error("writing a device decision")?,
        })
    }
}

/// Whether a poll came at least the interval after the one before (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// It did: the device hears `authorization_pending`.
    OnTime,
    /// It did not: the device hears `slow_down`, and its interval is 5 seconds longer from now
    /// on.
    TooSoon,
}

/// Remembers when each device polled last and at what interval. Polls are answered without
/// writing to the database, so this is the server's (in memory, per instance).
pub trait PollPacer: Send + Sync {
    /// A poll for the device code with digest `digest`, whose interval was `interval` seconds
    /// at first.
    fn poll(&self, digest: &str, interval: u64) -> Pace;
}

/// No pacing: every poll is on time (where no device polls).
pub struct Unpaced;

impl PollPacer for Unpaced {
    fn poll(&self, _digest: &str, _interval: u64) -> Pace {
        Pace::OnTime
    }
}
