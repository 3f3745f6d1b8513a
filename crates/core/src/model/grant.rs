//! Grants: every handle the server stores (codes, tokens, consent, page records, …) in the one
//! grant table, each of a kind.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

/// What a stored grant is. Every kind shares the one grant table; its name is what the `kind`
/// column holds, a storage contract: rows written before are read by the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    /// An authorization code (RFC 6749 §4.1.2), redeemed once.
    AuthorizationCode,
    /// A refresh token (RFC 6749 §6), rotated on every use.
    RefreshToken,
    /// A reference access token: its handle is the token, its record the claims.
    ReferenceToken,
    /// The record a user's JWT access token lives with (under the digest of its `jti`).
    JwtAccessToken,
    /// A revoked JWT access token without a record (a client's own token): a deny-list entry
    /// until the token expires.
    RevokedAccessToken,
    /// Consent a user asked to be remembered for a client (OIDC Core §3.1.2.4).
    Consent,
    /// A client that got a response through a session (for logout notifications).
    SessionClient,
    /// An authorization request waiting on the login and consent pages.
    Interaction,
    /// A sign-out waiting for the user's confirmation (RP-Initiated Logout §2).
    LogoutConfirmation,
    /// A browser's POSTed request, parked for the GET that continues it on our own site.
    ParkedRequest,
    /// A client assertion's `jti`, remembered until it expires so that it is used once
    /// (RFC 7523 §3).
    ClientAssertionJti,
    /// A sign-in waiting at an external identity provider (its `state`).
    FederationState,
    /// A first sign-in through an external provider waiting for the user to prove the local
    /// account it links to.
    FederationLink,
    /// An upstream's back-channel logout token's `jti`, remembered so that it is used once.
    UpstreamLogoutJti,
    /// A WebAuthn ceremony in progress: its challenge and what it is for.
    PasskeyCeremony,
    /// A password reset link mailed to a user's verified address: one user, used once.
    PasswordReset,
    /// A device authorization (RFC 8628 §3.2): found by its device code, or by its user code
    /// (the lookup digest); pending until the user decides, then redeemed once.
    DeviceCode,
    /// A DPoP proof's `jti`, remembered while the proof could be accepted so that it is used
    /// once on every instance (RFC 9449 §11.1).
    DpopProofJti,
    /// A dynamically registered client's registration access token (RFC 7592 §3): what reads,
    /// changes or removes its registration.
    RegistrationAccessToken,
    /// An initial access token (RFC 7591 §3): lets one client register, once.
    InitialAccessToken,
    /// A pushed authorization request (RFC 9126 §2): the parameters a client pushed, found by
    /// its `request_uri`, bound to that client and used once.
    PushedRequest,
    /// A request object's `jti` (RFC 9101 §6.3, RFC 7519 §4.1.7), remembered until the object
    /// expires so that it is used once.
    RequestObjectJti,
    /// A backchannel authentication request (CIBA Core §7): found by its `auth_req_id`, or by
    /// its approval handle (the lookup digest); pending until the user decides, then redeemed
    /// once.
    CibaRequest,
}

impl GrantKind {
    /// Every kind.
    pub const ALL: [GrantKind; 23] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ReferenceToken,
        Self::JwtAccessToken,
        Self::RevokedAccessToken,
        Self::Consent,
        Self::SessionClient,
        Self::Interaction,
        Self::LogoutConfirmation,
        Self::ParkedRequest,
        Self::ClientAssertionJti,
        Self::FederationState,
        Self::FederationLink,
        Self::UpstreamLogoutJti,
        Self::PasskeyCeremony,
        Self::PasswordReset,
        Self::DeviceCode,
        Self::DpopProofJti,
        Self::RegistrationAccessToken,
        Self::InitialAccessToken,
        Self::PushedRequest,
        Self::RequestObjectJti,
        Self::CibaRequest,
    ];

    /// The name stored in the `kind` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ReferenceToken => "reference_token",
            Self::JwtAccessToken => "jwt_access_token",
            Self::RevokedAccessToken => "revoked_access_token",
            Self::Consent => "consent",
            Self::SessionClient => "session_client",
            Self::Interaction => "interaction",
            Self::LogoutConfirmation => "logout_confirmation",
            Self::ParkedRequest => "parked_request",
            Self::ClientAssertionJti => "client_assertion_jti",
            Self::FederationState => "federation_state",
            Self::FederationLink => "federation_link",
            Self::UpstreamLogoutJti => "upstream_logout_jti",
            Self::PasskeyCeremony => "passkey_ceremony",
            Self::PasswordReset => "password_reset",
            Self::DeviceCode => "device_code",
            Self::DpopProofJti => "dpop_proof_jti",
            Self::RegistrationAccessToken => "registration_access_token",
            Self::InitialAccessToken => "initial_access_token",
            Self::PushedRequest => "pushed_request",
            Self::RequestObjectJti => "request_object_jti",
            Self::CibaRequest => "ciba_request",
        }
    }
}

impl std::fmt::Display for GrantKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored kind name this version does not know (a newer version wrote it, or the row is
/// corrupt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown grant kind `{0}`")]
pub struct UnknownGrantKind(pub String);

impl std::str::FromStr for GrantKind {
    type Err = UnknownGrantKind;

    /// Parses a stored name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownGrantKind(s.to_string()))
    }
}

/// A persisted grant: an authorization code, refresh token, reference token or similar,
/// stored under the digest of its handle, never the handle itself. Every kind has this one
/// shape; what a kind keeps besides is its typed payload in `data`, written by
/// [`Grant::new`] and read by [`Grant::payload`] (see [`crate::store::persisted`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// base64url(SHA-256(handle)).
    pub handle_digest: String,
    /// What the handle is.
    pub kind: GrantKind,
    /// The client it was issued to.
    pub client_id: String,
    /// The user, if any.
    pub subject: Option<String>,
    /// The session it belongs to, if any.
    pub session_id: Option<String>,
    /// Grants issued from one another share a family (refresh rotation, code → tokens).
    pub family: Option<String>,
    /// The digest of a second key the grant is found by (a device flow's user code), unique
    /// among grants; never the key in clear.
    #[serde(default)]
    pub lookup_digest: Option<String>,
    /// The kind's payload (scopes, PKCE challenge, claims), as JSON.
    pub data: serde_json::Value,
    /// How often `data` was replaced since the grant was stored (0 at first): what a
    /// compare-and-set of `data` expects.
    #[serde(default)]
    pub version: i64,
    /// When it was issued.
    pub created_at: UnixTime,
    /// When it expires.
    pub expires_at: UnixTime,
    /// When it was consumed; single-use grants are consumed atomically.
    pub consumed_at: Option<UnixTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_kinds_keep_their_stored_names() {
        // The `kind` column of rows already stored holds these names.
        let names: Vec<&str> = GrantKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "authorization_code",
                "refresh_token",
                "reference_token",
                "jwt_access_token",
                "revoked_access_token",
                "consent",
                "session_client",
                "interaction",
                "logout_confirmation",
                "parked_request",
                "client_assertion_jti",
                "federation_state",
                "federation_link",
                "upstream_logout_jti",
                "passkey_ceremony",
                "password_reset",
                "device_code",
                "dpop_proof_jti",
                "registration_access_token",
                "initial_access_token",
                "pushed_request",
                "request_object_jti",
                "ciba_request",
            ]
        );
        for kind in GrantKind::ALL {
            assert_eq!(kind.as_str().parse(), Ok(kind));
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, serde_json::json!(kind.as_str()));
        }
        assert_eq!(
            "token_exchange".parse::<GrantKind>(),
            Err(UnknownGrantKind("token_exchange".into()))
        );
    }
}
