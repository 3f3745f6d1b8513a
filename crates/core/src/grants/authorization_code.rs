//! The authorization code grant (RFC 6749 §4.1): codes are issued after sign-in and consent,
//! and redeemed once at the token endpoint.

use crate::protocol::OrServerError as _;
use serde::{Deserialize, Serialize};

use super::refresh_token::{RefreshData, refresh_grant, wants_refresh_token};
use super::scopes::token_audiences;
use super::single_use::{Presented, Redeemed, redeem_single_use};
use super::{
    TokenContext, UserTokens, bearer_response, ensure_user_active, invalid_grant,
    prepare_user_tokens,
};
use crate::authorize::ClaimsRequest;
use crate::crypto::{base64url, handle_digest, random_bytes, random_handle};
use crate::model::{Client, Grant, GrantKind, User};
use crate::protocol::OAuthError;
use crate::protocol::grant_type::GrantType;
use crate::protocol::pkce::{ChallengeMethod, verify_challenge};
use crate::protocol::token::{CodeRequest, TokenResponse};
use crate::store::{GrantPayload, UserStore};
use crate::tokens::access_token::SignIn;

/// The grant type name.
pub const GRANT_TYPE: &str = GrantType::AuthorizationCode.name();

/// Codes live this long by default (SECURITY-STATUS.md SEC-13; RFC 6749 §4.1.2 allows ten minutes).
pub const CODE_LIFETIME: i64 = 60;

/// What a code stands for, stored with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeData {
    /// The redirect URI of the authorization request, compared at redemption.
    pub redirect_uri: String,
    /// Whether the authorization request named it (RFC 6749 §4.1.3: then the token request
    /// must repeat it).
    #[serde(default = "yes")]
    pub redirect_uri_presented: bool,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Audiences of the access token.
    pub audiences: Vec<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// Its method: S256 (codes recorded without one were S256 too).
    #[serde(default = "s256")]
    pub code_challenge_method: ChallengeMethod,
    /// Individual claims asked for (OIDC Core §5.5).
    #[serde(default)]
    pub claims: ClaimsRequest,
    /// The request's nonce, for the identity token.
    pub nonce: Option<String>,
    /// The sign-in the code's tokens describe.
    #[serde(flatten)]
    pub sign_in: SignIn,
    /// `acr` was asked for: the identity token carries it.
    #[serde(default)]
    pub acr_in_id_token: bool,
    /// The thumbprint of the DPoP key the authorization request named (RFC 9449 §10): the
    /// code is redeemed only with a proof of that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// The granted authorization details (RFC 9396).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorization_details: Vec<serde_json::Value>,
}

fn yes() -> bool {
    true
}

fn s256() -> ChallengeMethod {
    ChallengeMethod::S256
}

impl GrantPayload for CodeData {
    const KIND: GrantKind = GrantKind::AuthorizationCode;
}

/// Stores a new code for `client` and `subject` and returns it (128+ bits, stored as a digest).
pub async fn issue_code(
    ctx: &TokenContext<'_>,
    client: &Client,
    subject: &str,
    data: &CodeData,
) -> Result<String, OAuthError> {
    let (code, grant) = new_code(ctx, client, subject, data)?;
    ctx.grants.insert_grant(&grant).await?;
    Ok(code)
}

/// A new code for `client` and `subject` (128+ bits) and its record, not stored yet.
pub fn new_code(
    ctx: &TokenContext<'_>,
    client: &Client,
    subject: &str,
    data: &CodeData,
) -> Result<(String, Grant), OAuthError> {
    let code = random_handle().or_server_error("drawing random bytes")?;
    let family = base64url(&random_bytes(16).or_server_error("drawing random bytes")?);
    let grant = Grant {
        subject: Some(subject.to_string()),
        session_id: data.sign_in.sid.clone(),
        // Tokens issued from this code share its family, so a reuse can revoke them.
        family: Some(family),
        ..Grant::new(
            handle_digest(&code),
            &client.client_id,
            data,
            ctx.now,
            ctx.now + CODE_LIFETIME,
        )?
    };
    Ok((code, grant))
}

/// Redeems a code (RFC 6749 §4.1.3) for an authenticated client, with the checks in the order
/// of the spec: single use, client binding, redirect URI, PKCE, then the user. A code that
/// fails a check is burned. The tokens are made first and stored in the one transaction that
/// consumes the code (CVE-22): when the code is consumed, its tokens exist, and a concurrent
/// replay that finds it consumed revokes them all.
pub(crate) async fn exchange(
    ctx: &TokenContext<'_>,
    users: &dyn UserStore,
    client: &Client,
    request: &CodeRequest,
) -> Result<TokenResponse, OAuthError> {
    redeem_single_use(
        ctx,
        Presented {
            handle: &request.code,
            kind: CodeData::KIND,
            refusal: "the code is invalid, expired or already used",
        },
        async |grant| check(users, client, request, grant).await,
        |grant, (data, user)| issue(ctx, client, request, grant, &data, &user),
    )
    .await
}

/// The tokens of a checked code, and their records.
fn issue(
    ctx: &TokenContext<'_>,
    client: &Client,
    request: &CodeRequest,
    grant: &Grant,
    data: &CodeData,
    user: &User,
) -> Result<Redeemed<TokenResponse>, OAuthError> {
    // RFC 8707 §2.2: `resource` picks among the granted audiences, nothing beyond. A wrong one
    // is the client's mistake, not a guess: the code is not burned for it.
    let audiences = token_audiences(&data.audiences, &request.resources)?;
    // RFC 9449 §10: a code bound with `dpop_jkt` needs a proof of that key. Its holder without
    // the key cannot burn it for the client that has the key.
    crate::dpop::check_bound(data.dpop_jkt.as_deref(), ctx.dpop, "code")?;
    // RFC 9396 §6.1: the token may carry fewer details than granted, never others.
    let details = match request.authorization_details.as_deref() {
        None => data.authorization_details.clone(),
        Some(text) => crate::authorize::details::narrow(
            crate::authorize::details::parse_authorization_details(text)?,
            &data.authorization_details,
            (client, &ctx.resources.authorization_details_types),
        )?,
    };
    let prepared = prepare_user_tokens(
        ctx,
        client,
        UserTokens {
            user,
            claims: &data.claims,
            scopes: data.scopes.clone(),
            audiences,
            family: grant.family.clone(),
            sign_in: data.sign_in.clone(),
            acr_in_id_token: data.acr_in_id_token,
            nonce: data.nonce.as_deref(),
            authorization_details: details,
        },
    )?;
    let mut records: Vec<Grant> = prepared.record.into_iter().collect();
    let refresh_token = if wants_refresh_token(client, &data.scopes) {
        let family = grant.family.clone().unwrap_or_default();
        let refresh = RefreshData::for_code(data, client, ctx.now);
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

/// The checks of a live code, for the client redeeming it with `request`.
async fn check(
    users: &dyn UserStore,
    client: &Client,
    request: &CodeRequest,
    grant: &Grant,
) -> Result<(CodeData, User), OAuthError> {
    let data: CodeData = grant.payload()?;
    // SEC-16: the code is bound to its client.
    if grant.client_id != client.client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    // RFC 6749 §4.1.3: identical to the authorization request's redirect_uri, required when
    // that request named one.
    match &request.redirect_uri {
        Some(uri) if *uri == data.redirect_uri => {}
        None if !data.redirect_uri_presented => {}
        _ => {
            return Err(invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
    }
    // RFC 7636 §4.6; SEC-18: no downgrade either way.
    match (&data.code_challenge, request.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier))
            if verify_challenge(data.code_challenge_method, challenge, verifier) => {}
        (None, None) => {}
        (Some(_), _) => return Err(invalid_grant("the code_verifier does not match")),
        (None, Some(_)) => return Err(invalid_grant("no code_challenge was sent for this code")),
    }
    // SEC-26: a disabled or deleted user gets nothing.
    let user = ensure_user_active(users, grant.subject.as_deref().unwrap_or_default()).await?;
    Ok((data, user))
}
