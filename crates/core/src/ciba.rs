//! Client-Initiated Backchannel Authentication (OpenID CIBA Core 1.0): a client that knows who
//! the user is (a hint) asks the server to authenticate them on their own device; the user is
//! reached through the server's authentication-device channel and approves (or denies) there;
//! the client polls the token endpoint (poll mode) or is told to (ping mode), then gets the
//! tokens once with the `urn:openid:params:grant-type:ciba` grant.
//!
//! One record per request, stored under the digest of `auth_req_id` (the client's handle) and
//! found by the digest of an approval handle (what the user's device and the approval page
//! carry; never the client's). The decision is a compare-and-set of its data, as for a device
//! authorization; the tokens are issued once by consuming it (`grants::ciba`).

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::{handle_digest, random_handle};
use crate::device::Decision;
use crate::grants::scopes::{parse_scope, user_audiences};
use crate::grants::{TokenContext, check_grant_allowed};
use crate::model::{Client, Grant, GrantKind, User};
use crate::protocol::grant_type::GrantType;
use crate::protocol::{OAuthError, OrServerError as _};
use crate::store::{GrantPayload, UserStore};

/// The server's settings for CIBA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CibaSettings {
    /// Seconds a request lives unless the client asks for less (`requested_expiry`).
    pub request_lifetime: u64,
    /// Seconds between polls (§7.3 `interval`).
    pub polling_interval: u64,
}

impl Default for CibaSettings {
    fn default() -> Self {
        CibaSettings {
            request_lifetime: 300,
            // §7.3: "If no value is provided, clients MUST use 5 as the default value."
            polling_interval: 5,
        }
    }
}

/// How the client learns the user decided (§5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMode {
    /// The client polls the token endpoint.
    Poll,
    /// The server calls the client's notification endpoint; the client then asks for tokens.
    Ping,
}

/// What a CIBA request stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CibaData {
    /// The user the request is for.
    pub subject: String,
    /// The scopes asked for, each allowed for the client.
    pub scopes: Vec<String>,
    /// The access token's audiences.
    pub audiences: Vec<String>,
    /// `acr_values`, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<String>,
    /// What the user's device shows beside the request (§7.1 `binding_message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding_message: Option<String>,
    /// Seconds between polls.
    pub interval: u64,
    /// How the client is told.
    pub mode: DeliveryMode,
    /// Ping mode: the client's bearer token for our call, and the `auth_req_id` it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping: Option<Ping>,
    /// The user's decision so far.
    #[serde(default)]
    pub decision: Decision,
}

/// Ping mode's callback (§10.2): the client's token and the request's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// `client_notification_token`.
    pub token: String,
    /// The `auth_req_id` the callback names.
    pub auth_req_id: String,
}

impl GrantPayload for CibaData {
    const KIND: GrantKind = GrantKind::CibaRequest;
}

/// A request as the backchannel authentication endpoint answers it (§7.3), with the approval
/// handle the user's device gets.
#[derive(Clone)]
pub struct Started {
    /// The client's handle.
    pub auth_req_id: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Seconds between polls.
    pub interval: u64,
    /// What approves or denies it (the device channel and the approval page).
    pub approval: String,
    /// The user and what the device is told.
    pub data: CibaData,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// The parameters of a backchannel authentication request (§7.1), as sent.
#[derive(Debug, Clone, Default)]
pub struct CibaRequest<'a> {
    /// Space-separated; `openid` required.
    pub scope: Option<&'a str>,
    /// RFC 8707 resources.
    pub resources: &'a [String],
    /// The user's login name.
    pub login_hint: Option<&'a str>,
    /// An ID token Tessera issued to the client, naming the user.
    pub id_token_hint: Option<&'a str>,
    /// A token naming the user (not offered).
    pub login_hint_token: Option<&'a str>,
    /// Shown on the user's device.
    pub binding_message: Option<&'a str>,
    /// Seconds the client asks the request to live.
    pub requested_expiry: Option<&'a str>,
    /// `acr_values`.
    pub acr_values: Option<&'a str>,
    /// Ping mode's bearer token.
    pub client_notification_token: Option<&'a str>,
}

/// §7.1.1: a binding message is short and plain, since a device shows it to the user.
pub const MAX_BINDING_MESSAGE: usize = 64;

fn invalid(why: &str) -> OAuthError {
    OAuthError::InvalidRequest(why.to_string().into())
}

/// Checks a backchannel authentication request (§7.1, §13) and stores it: the client may use
/// the grant, `openid` is asked for, exactly one hint names an active user, the binding
/// message is short and printable, the expiry within the server's, and in ping mode the client
/// sent its notification token.
pub async fn start(
    ctx: &TokenContext<'_>,
    users: &dyn UserStore,
    client: &Client,
    (request, settings, mode): (&CibaRequest<'_>, CibaSettings, DeliveryMode),
) -> Result<Started, OAuthError> {
    check_grant_allowed(client, GrantType::Ciba)?;
    let scopes = parse_scope(request.scope.unwrap_or_default())?;
    if !scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::InvalidScope(
            "CIBA requests need the openid scope".into(),
        ));
    }
    if let Some(s) = scopes.iter().find(|s| !client.allowed_scopes.contains(s)) {
        return Err(OAuthError::InvalidScope(
            format!("scope `{s}` is not allowed for this client").into(),
        ));
    }
    let user = hinted_user(ctx, users, client, request).await?;
    let binding_message = request.binding_message.map(str::to_string);
    if binding_message
        .as_deref()
        .is_some_and(|m| m.chars().count() > MAX_BINDING_MESSAGE || m.chars().any(char::is_control))
    {
        return Err(OAuthError::InvalidBindingMessage(
            format!("binding_message must be at most {MAX_BINDING_MESSAGE} printable characters")
                .into(),
        ));
    }
    let expires_in = match request.requested_expiry {
        None => settings.request_lifetime,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=settings.request_lifetime).contains(s))
            .ok_or_else(|| {
                invalid(&format!(
                    "requested_expiry must be a number of seconds between 1 and {}",
                    settings.request_lifetime
                ))
            })?,
    };
    let audiences = user_audiences(ctx.issuer, ctx.resources, &scopes, request.resources)?;
    let auth_req_id = random_handle().or_server_error("drawing random bytes")?;
    let ping = match (mode, request.client_notification_token) {
        (DeliveryMode::Ping, Some(token)) if is_bearer_token(token) => Some(Ping {
            token: token.to_string(),
            auth_req_id: auth_req_id.clone(),
        }),
        (DeliveryMode::Ping, _) => {
            return Err(invalid(
                "client_notification_token is required in ping mode (a bearer token of at most 1024 characters)",
            ));
        }
        (DeliveryMode::Poll, _) => None,
    };
    let data = CibaData {
        subject: user.subject.clone(),
        scopes,
        audiences,
        acr_values: request.acr_values.map(str::to_string),
        binding_message,
        interval: settings.polling_interval,
        mode,
        ping,
        decision: Decision::Pending,
    };
    let approval = random_handle().or_server_error("drawing random bytes")?;
    let expires_at: UnixTime = ctx
        .now
        .saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX));
    let grant = Grant {
        subject: Some(user.subject.clone()),
        lookup_digest: Some(handle_digest(&approval)),
        ..Grant::new(
            handle_digest(&auth_req_id),
            &client.client_id,
            &data,
            ctx.now,
            expires_at,
        )?
    };
    ctx.grants.insert_grant(&grant).await?;
    Ok(Started {
        auth_req_id,
        expires_in,
        interval: settings.polling_interval,
        approval,
        data,
    })
}

/// RFC 6750 §2.1 b64token, at most 1024 characters (§7.1 `client_notification_token`).
fn is_bearer_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 1024
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
}

/// §7.1: exactly one of `login_hint`, `id_token_hint` and `login_hint_token`, naming an active
/// user (`unknown_user_id` otherwise, §13).
async fn hinted_user(
    ctx: &TokenContext<'_>,
    users: &dyn UserStore,
    client: &Client,
    request: &CibaRequest<'_>,
) -> Result<User, OAuthError> {
    let hints = [
        request.login_hint,
        request.id_token_hint,
        request.login_hint_token,
    ];
    if hints.iter().flatten().count() != 1 {
        return Err(invalid(
            "send exactly one of login_hint, id_token_hint and login_hint_token",
        ));
    }
    let unknown = || OAuthError::UnknownUserId("the hint names no user who can sign in".into());
    let user = if let Some(name) = request.login_hint {
        users.find_user_by_username(name).await?
    } else if let Some(hint) = request.id_token_hint {
        let subject = crate::tokens::id_token::id_token_hint_subject(
            hint,
            ctx.ring,
            ctx.issuer,
            &client.client_id,
            ctx.now,
        )
        .ok_or_else(unknown)?;
        users.find_user_by_subject(&subject).await?
    } else {
        return Err(invalid(
            "login_hint_token is not supported: send login_hint or id_token_hint",
        ));
    };
    user.filter(|u| !u.disabled).ok_or_else(unknown)
}

/// A pending request found by its approval handle: its record and what it asks.
#[derive(Debug, Clone)]
pub struct PendingCiba {
    /// The stored request.
    pub grant: Grant,
    /// What it stands for.
    pub data: CibaData,
}

/// The request `approval` stands for, if it is live and undecided.
pub async fn pending_by_approval(
    grants: &dyn crate::store::GrantStore,
    approval: &str,
    now: UnixTime,
) -> Result<Option<PendingCiba>, OAuthError> {
    let Some(grant) = grants
        .find_grant_by_lookup(&handle_digest(approval), GrantKind::CibaRequest, now)
        .await?
    else {
        return Ok(None);
    };
    let data: CibaData = grant.payload()?;
    Ok((data.decision == Decision::Pending).then_some(PendingCiba { grant, data }))
}

/// How the user was reached when approving: the sign-in the tokens will describe.
#[derive(Debug, Clone)]
pub struct Reached {
    /// When the user authenticated.
    pub at: UnixTime,
    /// How (RFC 8176).
    pub amr: Vec<String>,
    /// The `acr` reached, if any.
    pub acr: Option<String>,
}

impl PendingCiba {
    /// Records the user's decision (a compare-and-set: of two decisions at once, one wins).
    /// True when this one was recorded. An approval gives the tokens of the request's scopes
    /// and audiences, for a sign-in the way `reached` says.
    pub async fn decide(
        &self,
        grants: &dyn crate::store::GrantStore,
        approve: Option<Reached>,
        now: UnixTime,
    ) -> Result<bool, OAuthError> {
        let mut data = self.data.clone();
        data.decision = match approve {
            None => Decision::Denied,
            Some(reached) => Decision::Approved(Box::new(crate::device::Approval {
                subject: data.subject.clone(),
                audiences: data.audiences.clone(),
                sign_in: crate::tokens::access_token::SignIn {
                    auth_time: reached.at,
                    amr: reached.amr,
                    acr: reached.acr,
                    idp: crate::login::local_idp(),
                    sid: None,
                },
                acr_in_id_token: data.acr_values.is_some(),
            })),
        };
        crate::store::persisted::replace_payload(grants, &self.grant, &data, now).await
    }
}
