//! Token revocation (RFC 7009).

use super::access_token::{AccessTokenClaims, RevokedAccessToken, jti_key};
use super::introspect::{TokenLookup, own_jwt_access_token};
use super::verify::looks_like_jws;
use crate::crypto::handle_digest;
use crate::model::{Client, Grant, GrantKind};
use crate::protocol::OAuthError;
use crate::store::StoreError;

/// Revokes `token` for `client`. RFC 7009 §2.2: unknown tokens, and tokens of other clients,
/// get the same success answer (and the latter are left untouched). A refresh token takes its
/// whole grant with it (§2.1; SEC-34): every refresh token of its family and the access tokens
/// issued with them. A JWT access token is revoked through its record or, for a token without
/// one, a deny-list entry that lives until it expires; either way it is inactive at once at
/// introspection and userinfo on every instance, whatever else becomes of its user or client
/// (a revocation answered 200 is never undone).
pub async fn revoke(
    token: &str,
    client: &Client,
    lookup: &TokenLookup<'_>,
) -> Result<(), OAuthError> {
    if looks_like_jws(token) {
        return match own_jwt_access_token(token, lookup) {
            Some(claims) if claims.client_id == client.client_id => {
                revoke_jwt(&claims, lookup).await
            }
            _ => Ok(()),
        };
    }
    let digest = handle_digest(token);
    let Some(grant) = lookup.grants.find_grant(&digest).await? else {
        return Ok(());
    };
    if grant.client_id != client.client_id {
        return Ok(());
    }
    match (grant.kind, &grant.family) {
        (GrantKind::RefreshToken, Some(family)) => {
            lookup.grants.delete_grant_family(family).await?;
        }
        (GrantKind::RefreshToken | GrantKind::ReferenceToken, _) => {
            lookup.grants.delete_grant(&digest).await?;
        }
        _ => {}
    }
    Ok(())
}

async fn revoke_jwt(
    claims: &AccessTokenClaims,
    lookup: &TokenLookup<'_>,
) -> Result<(), OAuthError> {
    let key = jti_key(&claims.jti);
    if claims.has_record() {
        lookup.grants.delete_grant(&key).await?;
        return Ok(());
    }
    let entry = Grant {
        subject: Some(claims.sub.clone()),
        ..Grant::new(
            key,
            &claims.client_id,
            &RevokedAccessToken,
            lookup.now,
            claims.exp,
        )?
    };
    match lookup.grants.insert_grant(&entry).await {
        // Revoked already (by a concurrent request).
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
