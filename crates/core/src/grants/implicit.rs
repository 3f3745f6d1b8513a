//! Tokens in the authorization response: the implicit flow (OIDC Core §3.2) and the hybrid
//! flow (§3.3), for clients registered for `implicit`.

use super::{TokenContext, UserIdToken, sign_user_id_token};
use crate::authorize::AuthorizationRequest;
use crate::model::{Client, User};
use crate::protocol::OAuthError;
use crate::tokens::access_token::{
    AccessTokenRequest, IssuedAccessToken, SignIn, issue_access_token,
};
use crate::userinfo::released_claims;

/// The grant type a client needs for tokens in the front channel.
pub const GRANT_TYPE: &str = crate::protocol::grant_type::GrantType::Implicit.name();

/// The signed-in user a front-channel response is for.
pub struct FrontChannelUser<'a> {
    /// The user.
    pub user: &'a User,
    /// Their sign-in (with the session).
    pub sign_in: SignIn,
    /// `acr` was asked for: the identity token carries it.
    pub acr_in_id_token: bool,
}

/// Tokens for the authorization response.
#[derive(Debug, Clone, Default)]
pub struct FrontChannelTokens {
    /// `token` in the response type.
    pub access: Option<IssuedAccessToken>,
    /// `id_token` in the response type.
    pub id_token: Option<String>,
}

/// Issues what `request.response_type` asks for besides the code (which the caller issued
/// first, so that the identity token can carry its `c_hash`, OIDC Core §3.3.2.11).
pub async fn issue_front_channel(
    ctx: &TokenContext<'_>,
    client: &Client,
    request: &AuthorizationRequest,
    audiences: Vec<String>,
    signed_in: &FrontChannelUser<'_>,
    code: Option<&str>,
) -> Result<FrontChannelTokens, OAuthError> {
    let rt = request.response_type;
    let subject = signed_in.user.subject.as_str();
    let access = if rt.token {
        let access_alg = ctx.access_token_alg(&audiences);
        let access = issue_access_token(
            AccessTokenRequest {
                issuer: ctx.issuer,
                client,
                subject: subject.to_string(),
                // OIDC Core §11: offline access is never granted through the front channel.
                scopes: request
                    .scopes
                    .iter()
                    .filter(|s| *s != crate::model::OFFLINE_ACCESS)
                    .cloned()
                    .collect(),
                audiences,
                now: ctx.now,
                family: None,
                sign_in: Some(signed_in.sign_in.clone()),
                userinfo_claims: request.claims.userinfo.clone(),
                // A front-channel token carries no proof of possession.
                cnf: None,
                act: None,
                not_after: None,
                authorization_details: vec![],
            },
            ctx.ring,
            access_alg,
            ctx.grants,
        )
        .await?;
        Some(access)
    } else {
        None
    };
    let id_token = if rt.id_token {
        // OIDC Core §5.4: only when no access token is issued at all (response_type=id_token)
        // do the scopes' claims go in the identity token.
        let no_access_token = !rt.code && !rt.token;
        let scope_claims = no_access_token || client.always_include_user_claims_in_id_token;
        let scopes: &[String] = if scope_claims { &request.scopes } else { &[] };
        let user_claims = released_claims(
            signed_in.user,
            scopes,
            &request.claims.id_token,
            ctx.resources,
        );
        Some(sign_user_id_token(
            ctx,
            client,
            subject,
            UserIdToken {
                sign_in: &signed_in.sign_in,
                acr_in_id_token: signed_in.acr_in_id_token,
                nonce: request.nonce.as_deref(),
                access_token: access.as_ref().map(|a| a.token.as_str()),
                code,
                user_claims,
            },
        )?)
    } else {
        None
    };
    Ok(FrontChannelTokens { access, id_token })
}
