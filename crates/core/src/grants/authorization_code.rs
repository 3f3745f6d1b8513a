//! The authorization code grant (RFC 6749 §4.1): codes are issued after sign-in and consent,
//! and redeemed once at the token endpoint.

use serde::{Deserialize, Serialize};

use super::refresh_token::{RefreshData, refresh_grant, wants_refresh_token};
use super::scopes::token_audiences;
use super::{
    TokenContext, UserTokens, burn_on_error, check_grant_allowed, ensure_user_active, find_live,
    invalid_grant, prepare_user_tokens, redeem_for, refuse_not_live,
};
use crate::authorize::ClaimsRequest;
use crate::crypto::{base64url, handle_digest, random_bytes, random_handle};
use crate::model::{Client, Grant, User};
use crate::protocol::OAuthError;
use crate::protocol::form::Form;
use crate::protocol::pkce::{ChallengeMethod, verify_challenge};
use crate::store::UserStore;
use crate::tokens::access_token::{IssuedAccessToken, SignIn};

/// The grant type name, and the kind codes are stored under.
pub const GRANT_TYPE: &str = "authorization_code";

/// Codes live this long by default (SECURITY.md SEC-13; RFC 6749 §4.1.2 allows ten minutes).
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
    /// Its method (S256 unless the client may use plain).
    #[serde(default = "s256")]
    pub code_challenge_method: ChallengeMethod,
    /// Individual claims asked for (OIDC Core §5.5).
    #[serde(default)]
    pub claims: ClaimsRequest,
    /// The request's nonce, for the identity token.
    pub nonce: Option<String>,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// The authentication context class reached, for the tokens.
    #[serde(default)]
    pub acr: Option<String>,
    /// `acr` was asked for: the identity token carries it.
    #[serde(default)]
    pub acr_in_id_token: bool,
    /// The identity provider that authenticated the user.
    #[serde(default = "local")]
    pub idp: String,
    /// Session id.
    pub sid: Option<String>,
}

fn yes() -> bool {
    true
}

pub(crate) fn local() -> String {
    "local".into()
}

impl CodeData {
    /// The sign-in the code's tokens describe.
    pub fn sign_in(&self) -> SignIn {
        SignIn {
            auth_time: self.auth_time,
            amr: self.amr.clone(),
            acr: self.acr.clone(),
            idp: self.idp.clone(),
            sid: self.sid.clone(),
        }
    }
}

fn s256() -> ChallengeMethod {
    ChallengeMethod::S256
}

/// Stores a new code for `client` and `subject` and returns it (128+ bits, stored as a digest).
pub async fn issue_code(
    ctx: &TokenContext<'_>,
    client: &Client,
    subject: &str,
    data: &CodeData,
) -> Result<String, OAuthError> {
    let code = random_handle().map_err(|_| OAuthError::ServerError)?;
    let family = base64url(&random_bytes(16).map_err(|_| OAuthError::ServerError)?);
    let grant = Grant {
        handle_digest: handle_digest(&code),
        kind: GRANT_TYPE.into(),
        client_id: client.client_id.clone(),
        subject: Some(subject.to_string()),
        session_id: data.sid.clone(),
        // Tokens issued from this code share its family, so a reuse can revoke them.
        family: Some(family),
        data: serde_json::to_value(data).map_err(|_| OAuthError::ServerError)?,
        created_at: ctx.now,
        expires_at: ctx.now + CODE_LIFETIME,
        consumed_at: None,
    };
    ctx.grants.insert_grant(&grant).await?;
    Ok(code)
}

/// Tokens from a redeemed code.
#[derive(Debug, Clone)]
pub struct CodeTokens {
    /// The access token.
    pub access: IssuedAccessToken,
    /// A refresh token, when `offline_access` was granted and the client may refresh.
    pub refresh_token: Option<String>,
    /// The identity token, when `openid` was granted.
    pub id_token: Option<String>,
}

/// Redeems a code (RFC 6749 §4.1.3) for an authenticated client, with the checks in the order
/// of the spec: single use, client binding, redirect URI, PKCE, then the user. A code that
/// fails a check is burned. The tokens are made first and stored in the one transaction that
/// consumes the code (CVE-22): when the code is consumed, its tokens exist, and a concurrent
/// replay that finds it consumed revokes them all.
pub async fn exchange(
    ctx: &TokenContext<'_>,
    users: &dyn UserStore,
    client: &Client,
    form: &Form,
) -> Result<CodeTokens, OAuthError> {
    const REFUSAL: &str = "the code is invalid, expired or already used";
    check_grant_allowed(client, GRANT_TYPE)?;
    let code = form.required("code")?;
    let digest = handle_digest(code);
    let Some(grant) = find_live(ctx, &digest, GRANT_TYPE).await? else {
        return Err(refuse_not_live(ctx, code, GRANT_TYPE, REFUSAL).await);
    };
    let checked = check(users, client, form, &grant).await;
    let (data, user) = burn_on_error(ctx, &digest, GRANT_TYPE, checked).await?;
    // RFC 8707 §2.2: `resource` picks among the granted audiences, nothing beyond. A wrong one
    // is the client's mistake, not a guess: the code is not burned for it.
    let audiences = token_audiences(&data.audiences, form.all("resource"))?;
    let prepared = prepare_user_tokens(
        ctx,
        client,
        UserTokens {
            user: &user,
            claims: &data.claims,
            scopes: data.scopes.clone(),
            audiences,
            family: grant.family.clone(),
            sign_in: data.sign_in(),
            acr_in_id_token: data.acr_in_id_token,
            nonce: data.nonce.as_deref(),
        },
    )?;
    let mut records: Vec<Grant> = prepared.record.into_iter().collect();
    let refresh_token = if wants_refresh_token(client, &data.scopes) {
        let absolute = data.auth_time.max(ctx.now).saturating_add(
            i64::try_from(client.refresh_token_absolute_lifetime).unwrap_or(i64::MAX),
        );
        let refresh = RefreshData {
            scopes: data.scopes.clone(),
            audiences: data.audiences.clone(),
            auth_time: data.auth_time,
            amr: data.amr.clone(),
            acr: data.acr.clone(),
            acr_in_id_token: data.acr_in_id_token,
            idp: data.idp.clone(),
            sid: data.sid.clone(),
            absolute_expires_at: absolute,
            claims: data.claims.clone(),
        };
        let family = grant.family.clone().unwrap_or_default();
        let (handle, record) = refresh_grant(ctx, client, &user.subject, &family, &refresh)?;
        records.push(record);
        Some(handle)
    } else {
        None
    };
    redeem_for(ctx, (code, &digest), GRANT_TYPE, &records, REFUSAL).await?;
    Ok(CodeTokens {
        access: prepared.access,
        refresh_token,
        id_token: prepared.id_token,
    })
}

/// The checks of a live code, for the client redeeming it with `form`.
async fn check(
    users: &dyn UserStore,
    client: &Client,
    form: &Form,
    grant: &Grant,
) -> Result<(CodeData, User), OAuthError> {
    let data: CodeData =
        serde_json::from_value(grant.data.clone()).map_err(|_| OAuthError::ServerError)?;
    // SEC-16: the code is bound to its client.
    if grant.client_id != client.client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    // RFC 6749 §4.1.3: identical to the authorization request's redirect_uri, required when
    // that request named one.
    match form.one("redirect_uri")? {
        Some(uri) if uri == data.redirect_uri => {}
        None if !data.redirect_uri_presented => {}
        _ => {
            return Err(invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
    }
    // RFC 7636 §4.6; SEC-18: no downgrade either way.
    match (&data.code_challenge, form.one("code_verifier")?) {
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
