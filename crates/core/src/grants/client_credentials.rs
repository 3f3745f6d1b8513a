//! The client credentials grant (RFC 6749 §4.4): a confidential client gets an access token
//! for itself.

use super::scopes::select_api_access;
use super::{TokenContext, check_grant_allowed};
use crate::model::Client;
use crate::protocol::OAuthError;
use crate::protocol::form::Form;
use crate::tokens::access_token::{AccessTokenRequest, IssuedAccessToken, issue_access_token};

/// The grant type name.
pub const GRANT_TYPE: &str = "client_credentials";

/// Exchanges an authenticated client's request for an access token.
pub async fn exchange(
    ctx: &TokenContext<'_>,
    client: &Client,
    form: &Form,
) -> Result<IssuedAccessToken, OAuthError> {
    check_grant_allowed(client, GRANT_TYPE)?;
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
        form.one("scope")?,
        form.all("resource"),
    )?;
    issue_access_token(
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
        },
        ctx.ring,
        ctx.alg,
        ctx.grants,
    )
    .await
}
