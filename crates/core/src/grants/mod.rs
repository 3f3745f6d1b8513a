//! Grants: one module per grant type, and the checks every grant shares.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;
pub mod scopes;

#[cfg(test)]
mod tests;

use crate::clock::UnixTime;
use crate::model::{Client, Resources};
use crate::protocol::OAuthError;
use crate::store::GrantStore;
use crate::tokens::{KeyRing, SigningAlg};

/// What a grant needs from the server.
#[derive(Clone, Copy)]
pub struct TokenContext<'a> {
    /// Issuer identifier.
    pub issuer: &'a str,
    /// Now.
    pub now: UnixTime,
    /// Scopes and resources.
    pub resources: &'a Resources,
    /// Signing keys.
    pub ring: &'a KeyRing,
    /// Algorithm for access tokens.
    pub alg: SigningAlg,
    /// Grant store (reference tokens, codes, refresh tokens).
    pub grants: &'a dyn GrantStore,
}

/// The policy every grant calls first (SECURITY.md root cause 2: one check, no sibling grant
/// forgets it): the client is enabled and registered for this grant type
/// (RFC 6749 §5.2 `unauthorized_client`).
pub fn check_grant_allowed(client: &Client, grant_type: &str) -> Result<(), OAuthError> {
    if !client.enabled {
        return Err(OAuthError::UnauthorizedClient(
            "the client is disabled".into(),
        ));
    }
    if !client.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::UnauthorizedClient(
            format!("the client may not use the {grant_type} grant").into(),
        ));
    }
    Ok(())
}
