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
use crate::model::{Client, Grant, GrantKind, User};
use crate::protocol::OAuthError;
use crate::protocol::token::{DeviceCodeRequest, TokenResponse};
use crate::store::UserStore;

/// Answers a device's poll. The checks, in order: the code is a device code of this client
/// (`invalid_grant`), it has not expired (`expired_token`), then the decision: none yet
/// (`authorization_pending`, or `slow_down` for a poll that came too soon), refused
/// (`access_denied`), or approved: the tokens, once. A device code presented again after its
/// tokens were issued is a replay, and they are revoked (as for a code, RFC 9700 §4.1).
pub(crate) async fn exchange(
    ctx: &TokenContext<'_>,
    users: &dyn UserStore,
    client: &Client,
    request: &DeviceCodeRequest,
) -> Result<TokenResponse, OAuthError> {
    let digest = handle_digest(&request.device_code);
    let grant = ctx
        .grants
        .find_grant(&digest)
        .await?
        .filter(|g| g.kind == GrantKind::DeviceCode)
        .ok_or_else(|| invalid_grant("the device code is not known"))?;
    // RFC 8628 §3.4 with RFC 6749 §5.2: the device code is bound to its client.
    if grant.client_id != client.client_id {
        return Err(invalid_grant(
            "the device code was issued to another client",
        ));
    }
    if grant.consumed_at.is_none() {
        if grant.expires_at <= ctx.now {
            return Err(OAuthError::ExpiredToken(
                "the device code has expired; start the sign-in again".into(),
            ));
        }
        let data: DeviceData = grant.payload()?;
        match data.decision {
            Decision::Pending => {
                return Err(match ctx.polls.poll(&digest, data.interval) {
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
                    "the user refused the device".into(),
                ));
            }
            Decision::Approved(_) => {}
        }
    }
    redeem_single_use(
        ctx,
        Presented {
            handle: &request.device_code,
            kind: GrantKind::DeviceCode,
            refusal: "the device code was used already",
        },
        async |grant| check(users, client, grant).await,
        |grant, (approval, user)| issue(ctx, client, grant, &approval, &user),
    )
    .await
}

/// The checks of an approved device code at redemption.
async fn check(
    users: &dyn UserStore,
    client: &Client,
    grant: &Grant,
) -> Result<(Approval, User), OAuthError> {
    if grant.client_id != client.client_id {
        return Err(invalid_grant(
            "the device code was issued to another client",
        ));
    }
    let data: DeviceData = grant.payload()?;
    let Decision::Approved(approval) = data.decision else {
        return Err(invalid_grant("the device code is not approved"));
    };
    // SEC-26: a user disabled or deleted since the approval gets nothing.
    let user = ensure_user_active(users, &approval.subject).await?;
    Ok((*approval, user))
}

/// The tokens of an approval, and their records.
fn issue(
    ctx: &TokenContext<'_>,
    client: &Client,
    grant: &Grant,
    approval: &Approval,
    user: &User,
) -> Result<Redeemed<TokenResponse>, OAuthError> {
    let data: DeviceData = grant.payload()?;
    let claims = ClaimsRequest::default();
    let prepared = prepare_user_tokens(
        ctx,
        client,
        UserTokens {
            user,
            claims: &claims,
            scopes: data.scopes.clone(),
            audiences: approval.audiences.clone(),
            family: grant.family.clone(),
            sign_in: approval.sign_in.clone(),
            acr_in_id_token: approval.acr_in_id_token,
            nonce: None,
            authorization_details: vec![],
        },
    )?;
    let mut records: Vec<Grant> = prepared.record.into_iter().collect();
    let refresh_token = if wants_refresh_token(client, &data.scopes) {
        let family = grant.family.clone().unwrap_or_default();
        let refresh = RefreshData {
            scopes: data.scopes.clone(),
            audiences: approval.audiences.clone(),
            sign_in: approval.sign_in.clone(),
            acr_in_id_token: approval.acr_in_id_token,
            absolute_expires_at: approval.sign_in.auth_time.max(ctx.now).saturating_add(
                crate::clock::seconds(client.settings.refresh_token_absolute_lifetime),
            ),
            claims,
            // Bound by `refresh_grant` when the client is public and sent a proof.
            jkt: None,
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
