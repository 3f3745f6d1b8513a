//! The refresh token grant (RFC 6749 §6) with rotation: every use returns a new refresh token
//! and consumes the old one; presenting a consumed one revokes the whole family
//! (RFC 9700 §4.14.2, SECURITY-STATUS.md SEC-20/22). There is no grace period (SEC-21).
//! A client registered without rotation (FAPI 2.0 SP §5.3.2.1; confidential or
//! sender-constrained) keeps one refresh token until its family's absolute end.

use crate::protocol::OrServerError as _;
use serde::{Deserialize, Serialize};

use super::scopes::{parse_scope, token_audiences};
use super::single_use::{Presented, Redeemed, redeem_reusable, redeem_single_use};
use super::{
    TokenContext, UserTokens, bearer_response, ensure_user_active, invalid_grant,
    prepare_user_tokens,
};
use crate::crypto::{handle_digest, random_handle};
use crate::dpop::check_bound;
use crate::model::{Client, Grant, GrantKind, OFFLINE_ACCESS};
use crate::protocol::OAuthError;
use crate::protocol::grant_type::GrantType;
use crate::protocol::token::{RefreshRequest, TokenResponse};
use crate::store::{GrantPayload, UserStore};
use crate::tokens::access_token::SignIn;

/// The grant type name.
pub const GRANT_TYPE: &str = GrantType::RefreshToken.name();

/// What a refresh token stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshData {
    /// The scopes of the original grant: a refresh may narrow within them, never widen.
    pub scopes: Vec<String>,
    /// Access token audiences.
    pub audiences: Vec<String>,
    /// The sign-in (its `auth_time` kept in refreshed identity tokens, OIDC Core §12.2).
    #[serde(flatten)]
    pub sign_in: SignIn,
    /// `acr` was asked for: refreshed identity tokens carry it.
    #[serde(default)]
    pub acr_in_id_token: bool,
    /// The end of the family's absolute lifetime.
    pub absolute_expires_at: i64,
    /// Individual claims asked for at sign-in (OIDC Core §5.5).
    #[serde(default)]
    pub claims: crate::authorize::ClaimsRequest,
    /// The DPoP key a public client's refresh token is bound to (RFC 9449 §5): it is
    /// redeemed only with a proof of that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    /// The TLS certificate a public client's refresh token is bound to (RFC 8705 §4): it is
    /// redeemed only over mutual TLS with that certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    /// The authorization details granted with the code (RFC 9396).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_details: Vec<serde_json::Value>,
}

impl RefreshData {
    /// What the first refresh token of a redeemed code stands for: the code's grant, ending
    /// the client's absolute lifetime after the sign-in.
    pub(crate) fn for_code(
        data: &super::authorization_code::CodeData,
        client: &Client,
        now: i64,
    ) -> RefreshData {
        RefreshData {
            scopes: data.scopes.clone(),
            audiences: data.audiences.clone(),
            sign_in: data.sign_in.clone(),
            acr_in_id_token: data.acr_in_id_token,
            absolute_expires_at: data.sign_in.auth_time.max(now).saturating_add(
                crate::clock::seconds(client.settings.refresh_token_absolute_lifetime),
            ),
            claims: data.claims.clone(),
            jkt: None,
            x5t: None,
            authorization_details: data.authorization_details.clone(),
        }
    }
}

impl GrantPayload for RefreshData {
    const KIND: GrantKind = GrantKind::RefreshToken;
}

/// Whether a grant of `scopes` gets a refresh token (OIDC Core §11).
pub fn wants_refresh_token(client: &Client, scopes: &[String]) -> bool {
    scopes.iter().any(|s| s == OFFLINE_ACCESS) && client.grant_types.iter().any(|g| g == GRANT_TYPE)
}

/// A new refresh token in `family` and its record, not yet stored; it expires after the
/// sliding lifetime, never past the family's absolute end.
pub(crate) fn refresh_grant(
    ctx: &TokenContext<'_>,
    client: &Client,
    subject: &str,
    family: &str,
    data: &RefreshData,
) -> Result<(String, Grant), OAuthError> {
    let handle = random_handle().or_server_error("drawing random bytes")?;
    let sliding = sliding_end(ctx, client, data);
    // RFC 9449 §5: a public client's refresh token is bound to the key of the request's proof
    // (a confidential client's is bound by its authentication already); one bound before
    // stays bound, the proof having matched.
    let data = &RefreshData {
        jkt: match (client.is_public(), ctx.dpop) {
            (true, Some(proof)) => Some(proof.jkt.clone()),
            (true, None) => data.jkt.clone(),
            (false, _) => None,
        },
        // RFC 8705 §4: likewise for the certificate of a public client's mutual TLS.
        x5t: match (client.is_public(), ctx.certificate) {
            (true, Some(thumbprint)) => Some(thumbprint.to_string()),
            (true, None) => data.x5t.clone(),
            (false, _) => None,
        },
        ..data.clone()
    };
    let grant = Grant {
        subject: Some(subject.to_string()),
        session_id: data.sign_in.sid.clone(),
        family: Some(family.to_string()),
        ..Grant::new(
            handle_digest(&handle),
            &client.client_id,
            data,
            ctx.now,
            sliding.min(data.absolute_expires_at),
        )?
    };
    Ok((handle, grant))
}

/// Where a refresh token used now ends: after the client's sliding lifetime, never past its
/// family's absolute end. A token that does not rotate has its end moved there at each use.
fn sliding_end(ctx: &TokenContext<'_>, client: &Client, data: &RefreshData) -> i64 {
    ctx.now
        .saturating_add(crate::clock::seconds(
            client.settings.refresh_token_sliding_lifetime,
        ))
        .min(data.absolute_expires_at)
}

/// The audiences for a refresh that may have narrowed the scope: the original audiences that a
/// remaining scope is still for (RFC 8707 §2.2: a token is never for more than it may reach).
fn narrowed_audiences(
    ctx: &TokenContext<'_>,
    data: &RefreshData,
    scopes: &[String],
) -> Vec<String> {
    if scopes.len() == data.scopes.len() {
        return data.audiences.clone();
    }
    let still: Vec<String> = data
        .audiences
        .iter()
        .filter(|aud| {
            ctx.resources
                .api_resources
                .iter()
                .any(|api| &&api.name == aud && api.scopes.iter().any(|s| scopes.contains(s)))
        })
        .cloned()
        .collect();
    if still.is_empty() {
        vec![format!("{}/resources", ctx.issuer)]
    } else {
        still
    }
}

/// What a presented refresh token allows, once every check passed.
struct Checked {
    user: crate::model::User,
    scopes: Vec<String>,
    data: RefreshData,
    family: String,
}

/// The checks of a refresh, in order, on the live grant: the client binding, the scope, the
/// user.
async fn check(
    ctx: &TokenContext<'_>,
    users: &dyn UserStore,
    client: &Client,
    request: &RefreshRequest,
    grant: &Grant,
) -> Result<Checked, OAuthError> {
    // SEC-23: bound to its client.
    if grant.client_id != client.client_id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let family = grant.family.clone().unwrap_or_default();
    let data: RefreshData = grant.payload()?;
    // SEC-25, CVE-16: a client that may no longer hold offline access (its `offline_access`
    // scope or its refresh grant was taken away) loses the refresh tokens it holds.
    if !wants_refresh_token(client, &client.allowed_scopes) {
        ctx.grants.delete_grant_family(&family).await?;
        return Err(invalid_grant("the client may no longer use refresh tokens"));
    }
    // RFC 6749 §6, SEC-24: narrow, never widen; scopes since taken from the client are
    // dropped.
    let scopes = match request.scope.as_deref() {
        None => data.scopes.clone(),
        Some(requested) => {
            let requested = parse_scope(requested)?;
            if let Some(extra) = requested.iter().find(|s| !data.scopes.contains(s)) {
                return Err(OAuthError::InvalidScope(
                    format!("scope `{extra}` was not granted originally").into(),
                ));
            }
            requested
        }
    };
    let scopes: Vec<String> = scopes
        .into_iter()
        .filter(|s| client.allowed_scopes.contains(s))
        .collect();

    // SEC-26: a disabled or deleted user gets nothing, and the family ends.
    let subject = grant.subject.clone().unwrap_or_default();
    let user = match ensure_user_active(users, &subject).await {
        Ok(user) => user,
        Err(e) => {
            ctx.grants.delete_grant_family(&family).await?;
            return Err(e);
        }
    };
    Ok(Checked {
        user,
        scopes,
        data,
        family,
    })
}

/// Redeems a refresh token for an authenticated client. The grant is read and checked first;
/// then one transaction consumes it and stores its successor (one commit per refresh). A token
/// that fails a check is consumed (burned) all the same; one that is not live is a replay and
/// ends its family, also when it was used concurrently (SEC-20/21/22).
pub(crate) async fn exchange(
    ctx: &TokenContext<'_>,
    users: &dyn UserStore,
    client: &Client,
    request: &RefreshRequest,
) -> Result<TokenResponse, OAuthError> {
    let presented = Presented {
        handle: &request.refresh_token,
        kind: RefreshData::KIND,
        refusal: "the refresh token is invalid, expired or already used",
    };
    let check = async |grant: &Grant| check(ctx, users, client, request, grant).await;
    let rotate = client.settings.refresh_token_rotation;
    let issue = |_: &Grant, checked| issue(ctx, client, request, checked, rotate);
    if rotate {
        redeem_single_use(ctx, presented, check, issue).await
    } else {
        let until = |checked: &Checked| sliding_end(ctx, client, &checked.data);
        redeem_reusable(ctx, presented, check, until, issue).await
    }
}

/// The tokens of a checked refresh: the access and identity tokens and, when the client's
/// refresh tokens rotate, a successor in the same family, which keeps the original grant (its
/// scopes and absolute end).
fn issue(
    ctx: &TokenContext<'_>,
    client: &Client,
    request: &RefreshRequest,
    checked: Checked,
    rotate: bool,
) -> Result<Redeemed<TokenResponse>, OAuthError> {
    let Checked {
        user,
        scopes,
        data,
        family,
    } = checked;
    // RFC 8707 §2.2: `resource` picks among the audiences the remaining scopes are for. A
    // wrong one is the client's mistake, not a guess: the refresh token is not burned for it.
    let audiences = token_audiences(&narrowed_audiences(ctx, &data, &scopes), &request.resources)?;
    // RFC 9449 §5: checked here, not among the checks that burn the token: a thief without
    // the key can neither use it nor end the family it belongs to.
    check_bound(data.jkt.as_deref(), ctx.dpop, "refresh token")?;
    if let Some(bound) = data.x5t.as_deref()
        && ctx
            .certificate
            .is_none_or(|c| !crate::crypto::constant_time_eq(c.as_bytes(), bound.as_bytes()))
    {
        return Err(OAuthError::InvalidGrant(
            "the refresh token is bound to a TLS client certificate: send the request over \
             mutual TLS with it"
                .into(),
        ));
    }
    let successor = rotate
        .then(|| refresh_grant(ctx, client, &user.subject, &family, &data))
        .transpose()?;
    // OIDC Core §12.2: a refreshed identity token keeps auth_time and carries no nonce.
    let prepared = prepare_user_tokens(
        ctx,
        client,
        UserTokens {
            user: &user,
            claims: &data.claims,
            audiences,
            scopes,
            family: Some(family.clone()),
            sign_in: data.sign_in.clone(),
            acr_in_id_token: data.acr_in_id_token,
            nonce: None,
            authorization_details: data.authorization_details.clone(),
        },
    )?;
    // Stored in the transaction that consumes the old token (CVE-22). Without rotation the
    // response carries no refresh token: the client keeps the one it has (RFC 6749 §6).
    let (refresh_token, next) = successor.unzip();
    let records: Vec<Grant> = next.into_iter().chain(prepared.record).collect();
    Ok(Redeemed {
        response: bearer_response(prepared.access, refresh_token, prepared.id_token),
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refresh tokens stored before the sign-in was its own type read the same, and are
    /// written in the same flat shape.
    #[test]
    fn stored_refresh_data_keeps_its_flat_shape() {
        let stored = serde_json::json!({
            "scopes": ["openid", "offline_access"], "audiences": ["https://id.example/resources"],
            "auth_time": 1_700_000_000, "amr": ["pwd"], "sid": "s1",
            "absolute_expires_at": 1_700_007_200,
        });
        let data: RefreshData = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(data.sign_in.idp, "local");
        assert_eq!(data.sign_in.acr, None);
        assert_eq!(data.sign_in.sid.as_deref(), Some("s1"));
        let written = serde_json::to_value(&data).unwrap();
        for key in ["auth_time", "amr", "idp", "sid", "acr", "acr_in_id_token"] {
            assert!(
                written.get(key).is_some(),
                "{key} at the top level: {written}"
            );
        }
        assert_eq!(written["auth_time"], stored["auth_time"]);
    }
}
