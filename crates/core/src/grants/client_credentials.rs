//! The client credentials grant (RFC 6749 §4.4): a confidential client gets an access token
//! for itself.

use super::scopes::select_api_access;
use super::{TokenContext, bearer_response};
use crate::model::Client;
use crate::protocol::OAuthError;
use crate::protocol::token::{ClientCredentialsRequest, TokenResponse};
use crate::tokens::access_token::{AccessTokenRequest, issue_access_token};

/// Exchanges an authenticated client's request for an access token.
pub(crate) async fn exchange(
    ctx: &TokenContext<'_>,
    client: &Client,
    request: &ClientCredentialsRequest,
) -> Result<TokenResponse, OAuthError> {
    // RFC 6749 §4.4: "The client credentials grant type MUST only be used by confidential
    // clients."
    if client.is_public() {
        return Err(OAuthError::UnauthorizedClient(
            "public clients cannot use client_credentials".into(),
        ));
    }
    let access = select_api_access(
        ctx.issuer,
        ctx.resources,
        client,
        request.scope.as_deref(),
        &request.resources,
    )?;
    // RFC 9396 §6: details asked for directly, checked as at the authorization endpoint.
    let authorization_details = match request.authorization_details.as_deref() {
        Some(text) => crate::authorize::details::read_authorization_details(
            text,
            client,
            &ctx.resources.authorization_details_types,
        )?,
        None => vec![],
    };
    let access_alg = ctx.access_token_alg(&access.audiences);
    let issued = issue_access_token(
        AccessTokenRequest {
            issuer: ctx.issuer,
            client,
            // RFC 9068 §2.2: with no resource owner, `sub` is the client.
            subject: client.client_id.clone(),
            scopes: access.scopes,
            audiences: access.audiences,
            now: ctx.now,
            family: None,
            sign_in: None,
            userinfo_claims: vec![],
            cnf: ctx.confirmation(),
            act: None,
            not_after: None,
            authorization_details,
        },
        ctx.ring,
        access_alg,
        ctx.grants,
    )
    .await?;
    Ok(bearer_response(issued, None, None))
}
