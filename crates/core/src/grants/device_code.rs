//! The device code grant at the token endpoint (RFC 8628 §3.4-§3.5): a device polls with its
//! device code until its user decides, then gets the tokens of the approval once.

use super::refresh_token::{RefreshData, refresh_grant, wants_refresh_token};
use super::single_use::{Presented, Redeemed, redeem_single_use};
use super::{
    TokenContext, UserTokens, bearer_response, ensure_user_active, invalid_grant,
    prepare_user_tokens,
};
use crate::authorize::ClaimsRequest;
use crate::crypto::handle_digest;
use crate::device::{Approval, Decision, DeviceData, Pace};
use crate::model::{Client, Grant, User};
use crate::protocol::OAuthError;
use crate::protocol::token::{DeviceCodeRequest, TokenResponse};
use crate::store::{GrantPayload, UserStore};

/// A grant whose user decides elsewhere while its client polls: a device authorization (RFC
/// 8628) or a backchannel authentication request (CIBA Core).
pub(crate) trait Decided: GrantPayload {
    /// What the client's handle is called in refusals.
    const WHAT: &'static str;
    /// The refusal of a handle whose tokens were issued already.
    const USED: &'static str;
    /// The user's decision so far.
    fn decision(&self) -> &Decision;
    /// Seconds between polls.
    fn interval(&self) -> u64;
    /// The scopes asked for.
    fn scopes(&self) -> &[String];
}

impl Decided for DeviceData {
    const WHAT: &'static str = "device code";
    const USED: &'static str = "the device code was used already";
    fn decision(&self) -> &Decision {
        &self.decision
    }
    fn interval(&self) -> u64 {
        self.interval
    }
    fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

impl Decided for crate::ciba::CibaData {
    const WHAT: &'static str = "auth_req_id";
    const USED: &'static str = "the auth_req_id was used already";
    fn decision(&self) -> &Decision {
        &self.decision
    }
    fn interval(&self) -> u64 {
        self.interval
    }
    fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

/// Answers a device's poll (RFC 8628 §3.4-§3.5).
pub(crate) async fn exchange(
    ctx: &TokenContext<'_>,
    users: &dyn UserStore,
    client: &Client,
    request: &DeviceCodeRequest,
) -> Result<TokenResponse, OAuthError> {
    exchange_decided::<DeviceData>(ctx, users, client, &request.device_code).await
}

/// Answers a poll for a decided grant. The checks, in order: the handle is one of `T`'s kind
/// of this client (`invalid_grant`), it has not expired (`expired_token`), then the decision:
/// none yet (`authorization_pending`, or `slow_down` for a poll that came too soon; RFC 8628
/// §3.5, CIBA Core §11), refused (`access_denied`), or approved: the tokens, once. A handle
/// presented again after its tokens were issued is a replay, and they are revoked (as for a
/// code, RFC 9700 §4.1).
pub(crate) async fn exchange_decided<T: Decided>(
    ctx: &TokenContext<'_>,
    users: &dyn UserStore,
    client: &Client,
    handle: &str,
) -> Result<TokenResponse, OAuthError> {
    let what = T::WHAT;
    let digest = handle_digest(handle);
    let grant = ctx
        .grants
        .find_grant(&digest)
        .await?
        .filter(|g| g.kind == T::KIND)
        .ok_or_else(|| OAuthError::InvalidGrant(format!("the {what} is not known").into()))?;
    // RFC 8628 §3.4 with RFC 6749 §5.2, CIBA Core §11: bound to its client.
    if grant.client_id != client.client_id {
        return Err(OAuthError::InvalidGrant(
            format!("the {what} was issued to another client").into(),
        ));
    }
    if grant.consumed_at.is_none() {
        if grant.expires_at <= ctx.now {
            return Err(OAuthError::ExpiredToken(
                format!("the {what} has expired; start again").into(),
            ));
        }
        let data: T = grant.payload()?;
        match data.decision() {
            Decision::Pending => {
                return Err(match ctx.polls.poll(&digest, data.interval()) {
                    Pace::OnTime => {
                        OAuthError::AuthorizationPending("the user has not decided yet".into())
                    }
                    Pace::TooSoon => OAuthError::SlowDown(
                        "polled too soon: wait 5 seconds longer between polls".into(),
                    ),
                });
            }
            Decision::Denied => {
                return Err(OAuthError::AccessDenied(
                    "the user refused the request".into(),
                ));
            }
            Decision::Approved(_) => {}
        }
    }
    redeem_single_use(
        ctx,
        Presented {
            handle,
            kind: T::KIND,
            refusal: T::USED,
        },
        async |grant| check::<T>(users, client, grant).await,
        |grant, (approval, user)| issue::<T>(ctx, client, grant, &approval, &user),
    )
    .await
}

/// The checks of an approved grant at redemption.
async fn check<T: Decided>(
    users: &dyn UserStore,
    client: &Client,
    grant: &Grant,
) -> Result<(Approval, User), OAuthError> {
    if grant.client_id != client.client_id {
        return Err(invalid_grant("the grant was issued to another client"));
    }
    let data: T = grant.payload()?;
    let Decision::Approved(approval) = data.decision() else {
        return Err(invalid_grant("the grant is not approved"));
    };
    // SEC-26: a user disabled or deleted since the approval gets nothing.
    let user = ensure_user_active(users, &approval.subject).await?;
    Ok(((**approval).clone(), user))
}

/// The tokens of an approval, and their records.
fn issue<T: Decided>(
    ctx: &TokenContext<'_>,
    client: &Client,
    grant: &Grant,
    approval: &Approval,
    user: &User,
) -> Result<Redeemed<TokenResponse>, OAuthError> {
    let data: T = grant.payload()?;
    let scopes = data.scopes().to_vec();
    let claims = ClaimsRequest::default();
    let prepared = prepare_user_tokens(
        ctx,
        client,
        UserTokens {
            user,
            claims: &claims,
            scopes: scopes.clone(),
            audiences: approval.audiences.clone(),
            family: grant.family.clone(),
            sign_in: approval.sign_in.clone(),
            acr_in_id_token: approval.acr_in_id_token,
            nonce: None,
            authorization_details: vec![],
        },
    )?;
    let mut records: Vec<Grant> = prepared.record.into_iter().collect();
    let refresh_token = if wants_refresh_token(client, &scopes) {
        let family = grant.family.clone().unwrap_or_default();
        let refresh = RefreshData {
            scopes,
            audiences: approval.audiences.clone(),
            sign_in: approval.sign_in.clone(),
            acr_in_id_token: approval.acr_in_id_token,
            absolute_expires_at: approval.sign_in.auth_time.max(ctx.now).saturating_add(
                crate::clock::seconds(client.settings.refresh_token_absolute_lifetime),
            ),
            claims,
            // Bound by `refresh_grant` when the client is public and sent a proof.
            jkt: None,
            x5t: None,
            authorization_details: vec![],
        };
        let (handle, record) = refresh_grant(ctx, client, &user.subject, &family, &refresh)?;
        records.push(record);
        Some(handle)
    } else {
        None
    };
    Ok(Redeemed {
        response: bearer_response(prepared.access, refresh_token, prepared.id_token),
        records,
    })
}
