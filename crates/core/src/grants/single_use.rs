//! Redeeming a single-use handle (an authorization code, a refresh token), or a reusable one
//! (a refresh token that does not rotate): every rule about their use lives here, so that the
//! grants that redeem one cannot differ on any of them.

use super::{TokenContext, invalid_grant};
use crate::crypto::handle_digest;
use crate::events::Event;
use crate::model::{Grant, GrantKind};
use crate::protocol::OAuthError;

/// A single-use handle as a client presented it.
pub(crate) struct Presented<'a> {
    /// The handle; stored only as its digest.
    pub(crate) handle: &'a str,
    /// The kind it is stored under.
    pub(crate) kind: GrantKind,
    /// What the client is told when the handle is not live; it never says which of unknown,
    /// expired or used.
    pub(crate) refusal: &'static str,
}

/// What redeeming a handle made: the response, and the records stored in the transaction that
/// consumes the handle.
pub(crate) struct Redeemed<R> {
    pub(crate) response: R,
    pub(crate) records: Vec<Grant>,
}

/// Redeems a single-use handle:
/// 1. it must be live (of its kind, not consumed, not expired), or it is refused and burned;
/// 2. `check` runs on it; when a check fails the handle is burned, so that a code or refresh
///    token that failed once cannot be tried again (SEC-16, SEC-18);
/// 3. `issue` makes the tokens and their records; its errors (a client's wrong `resource`)
///    leave the handle alone;
/// 4. one transaction consumes the handle and stores the records (CVE-22): when the handle is
///    consumed, its tokens exist. Of concurrent callers one wins (SEC-15, SEC-21).
///
/// Burning a handle that was consumed already means it was presented twice: a replay, and
/// everything issued from it, its family, is revoked (RFC 6749 §4.1.2, RFC 9700 §4.14.2;
/// SEC-14, SEC-20), from persisted state so that it holds across instances and restarts
/// (SEC-22).
pub(crate) async fn redeem_single_use<C, R>(
    ctx: &TokenContext<'_>,
    presented: Presented<'_>,
    check: impl AsyncFnOnce(&Grant) -> Result<C, OAuthError>,
    issue: impl FnOnce(&Grant, C) -> Result<Redeemed<R>, OAuthError>,
) -> Result<R, OAuthError> {
    let Presented { kind, refusal, .. } = presented;
    let (digest, grant, checked) = live_and_checked(ctx, &presented, check).await?;
    let Redeemed { response, records } = issue(&grant, checked)?;
    if ctx
        .grants
        .rotate_grant(&digest, kind, ctx.now, &records)
        .await?
        .is_none()
    {
        // A concurrent request consumed it since it was found live.
        burn(ctx, &digest, kind).await?;
        return Err(invalid_grant(refusal));
    }
    Ok(response)
}

/// Redeems a handle that stays usable (a refresh token that does not rotate): the same rules
/// as [`redeem_single_use`] (a handle not live, or failing a check, is burned, and burning a
/// consumed one revokes its family), but one transaction moves the handle's end to
/// `until(checked)` and stores the records, if it is still live then: what a revocation or a
/// replay ended meanwhile issues nothing (CVE-22).
pub(crate) async fn redeem_reusable<C, R>(
    ctx: &TokenContext<'_>,
    presented: Presented<'_>,
    check: impl AsyncFnOnce(&Grant) -> Result<C, OAuthError>,
    until: impl FnOnce(&C) -> crate::clock::UnixTime,
    issue: impl FnOnce(&Grant, C) -> Result<Redeemed<R>, OAuthError>,
) -> Result<R, OAuthError> {
    let Presented { kind, refusal, .. } = presented;
    let (digest, grant, checked) = live_and_checked(ctx, &presented, check).await?;
    let expires_at = until(&checked);
    let Redeemed { response, records } = issue(&grant, checked)?;
    if !ctx
        .grants
        .renew_grant(&digest, kind, ctx.now, expires_at, &records)
        .await?
    {
        // Ended since it was found live: revoked, or burned by a failed attempt.
        burn(ctx, &digest, kind).await?;
        return Err(invalid_grant(refusal));
    }
    Ok(response)
}

/// Steps 1 and 2 of a redemption: the presented handle's digest, its live grant and what
/// `check` made of it. A handle that is not live, or fails a check, is burned.
async fn live_and_checked<C>(
    ctx: &TokenContext<'_>,
    presented: &Presented<'_>,
    check: impl AsyncFnOnce(&Grant) -> Result<C, OAuthError>,
) -> Result<(String, Grant, C), OAuthError> {
    let (kind, refusal) = (presented.kind, presented.refusal);
    let digest = handle_digest(presented.handle);
    let Some(grant) = find_live_grant(ctx, &digest, kind).await? else {
        burn(ctx, &digest, kind).await?;
        return Err(invalid_grant(refusal));
    };
    match check(&grant).await {
        Ok(checked) => Ok((digest, grant, checked)),
        Err(failed) => {
            burn(ctx, &digest, kind).await?;
            Err(failed)
        }
    }
}

/// The grant under `digest` if it is live: of `kind`, not consumed, not expired.
async fn find_live_grant(
    ctx: &TokenContext<'_>,
    digest: &str,
    kind: GrantKind,
) -> Result<Option<Grant>, OAuthError> {
    Ok(ctx
        .grants
        .find_grant(digest)
        .await?
        .filter(|g| g.kind == kind && g.is_live(ctx.now)))
}

/// Burns the handle under `digest`: consumes it if it is still live, so that it cannot be tried
/// again. If it was consumed before, this attempt is a replay, and its family is revoked.
pub(crate) async fn burn(
    ctx: &TokenContext<'_>,
    digest: &str,
    kind: GrantKind,
) -> Result<(), OAuthError> {
    if ctx
        .grants
        .consume_grant(digest, kind, ctx.now)
        .await?
        .is_some()
    {
        return Ok(());
    }
    if let Some(used) = ctx.grants.find_grant(digest).await?
        && used.kind == kind
        && used.consumed_at.is_some()
        && let Some(family) = &used.family
    {
        ctx.grants.delete_grant_family(family).await?;
        ctx.events.emit(Event::ReplayDetected {
            kind: kind.as_str(),
            client_id: &used.client_id,
            peer: ctx.http.and_then(|h| h.peer),
        });
    }
    Ok(())
}
