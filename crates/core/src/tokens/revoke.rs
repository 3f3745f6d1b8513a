//! Token revocation (RFC 7009).

use super::access_token::REFERENCE_TOKEN;
use super::introspect::{TokenLookup, live_access_token};
use super::verify::looks_like_jws;
use crate::crypto::handle_digest;
use crate::grants::refresh_token;
use crate::model::Client;
use crate::protocol::OAuthError;

/// Revokes `token` for `client`. RFC 7009 §2.2: unknown tokens, and tokens of other clients,
/// get the same success answer (and the latter are left untouched). A refresh token takes its
/// whole grant with it (§2.1; SEC-34): every refresh token of its family and the reference
/// access tokens issued with them. A JWT access token cannot
/// be revoked: §2.2.1 `unsupported_token_type`, said only for the caller's own live token so
/// that the answer tells nothing about other clients' tokens.
pub async fn revoke(
    token: &str,
    client: &Client,
    lookup: &TokenLookup<'_>,
) -> Result<(), OAuthError> {
    if looks_like_jws(token) {
        let own_live_jwt = live_access_token(token, lookup)
            .await?
            .is_some_and(|claims| claims.client_id == client.client_id);
        if own_live_jwt {
            return Err(OAuthError::UnsupportedTokenType(
                "JWT access tokens are valid until they expire; issue reference tokens to revoke access at once".into(),
            ));
        }
        return Ok(());
    }
    let digest = handle_digest(token);
    let Some(grant) = lookup.grants.find_grant(&digest).await? else {
        return Ok(());
    };
    if grant.client_id != client.client_id {
        return Ok(());
    }
    match (grant.kind.as_str(), &grant.family) {
        (refresh_token::GRANT_TYPE, Some(family)) => {
            lookup.grants.delete_grant_family(family).await?;
        }
        (refresh_token::GRANT_TYPE | REFERENCE_TOKEN, _) => {
            lookup.grants.delete_grant(&digest).await?;
        }
        _ => {}
    }
    Ok(())
}
