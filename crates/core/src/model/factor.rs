//! A user's authentication factors beyond the password, and their links to accounts at
//! external identity providers: what is stored of each.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

/// What kind of factor a [`Factor`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorKind {
    /// An authenticator app's time-based codes (RFC 6238).
    Totp,
    /// A set of single-use recovery codes (NIST SP 800-63B §5.1.2 look-up secrets).
    RecoveryCodes,
    /// A passkey or security key (WebAuthn Level 3), with user verification.
    Passkey,
}

impl FactorKind {
    /// Its name in the store and in logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCodes => "recovery_codes",
            Self::Passkey => "passkey",
        }
    }
}

/// What a factor keeps: its secret, as the factor needs it to check what a user presents.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FactorData {
    /// A TOTP shared secret (base32) and the step of the last code accepted (RFC 6238 §5.2:
    /// a code is accepted once).
    Totp {
        /// The shared secret, base32 without padding.
        secret: String,
        /// The time step of the last accepted code.
        #[serde(default)]
        last_step: Option<u64>,
    },
    /// The Argon2id hashes of the codes not used yet.
    RecoveryCodes {
        /// One hash per unused code.
        hashes: Vec<String>,
    },
    /// A WebAuthn credential: the public key, its id and signature counter, as the WebAuthn
    /// library keeps them (the factor's id is the credential id, base64url).
    Passkey {
        /// The credential, opaque here.
        credential: serde_json::Value,
    },
}

impl FactorData {
    /// Its kind.
    pub const fn kind(&self) -> FactorKind {
        match self {
            Self::Totp { .. } => FactorKind::Totp,
            Self::RecoveryCodes { .. } => FactorKind::RecoveryCodes,
            Self::Passkey { .. } => FactorKind::Passkey,
        }
    }
}

impl std::fmt::Debug for FactorData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Totp { last_step, .. } => f
                .debug_struct("Totp")
                .field("last_step", last_step)
                .finish_non_exhaustive(),
            Self::RecoveryCodes { hashes } => write!(f, "RecoveryCodes({} left)", hashes.len()),
            Self::Passkey { .. } => f.write_str("Passkey(..)"),
        }
    }
}

/// One enrolled factor of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factor {
    /// Its id (random; names it in forms and the store).
    pub id: String,
    /// The user.
    pub subject: String,
    /// A name the user recognises it by ("Authenticator app").
    pub label: String,
    /// Its secret and state.
    pub data: FactorData,
    /// Counts every change: an update expects the version it read (compare-and-set), so that
    /// two uses of one code at once cannot both succeed.
    pub version: i64,
    /// When it was enrolled.
    pub created_at: UnixTime,
    /// When it was last used to sign in.
    pub last_used_at: Option<UnixTime>,
}

impl Factor {
    /// Its kind.
    pub const fn kind(&self) -> FactorKind {
        self.data.kind()
    }
}

/// A local account's link to an account at an external identity provider: found by the
/// provider and the upstream `sub` (never by e-mail alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    /// The provider's configured name (the `idp` claim).
    pub provider: String,
    /// The upstream account's subject at that provider.
    pub upstream_subject: String,
    /// The local user.
    pub subject: String,
    /// The upstream e-mail address when it was linked, for the user to recognise the link.
    pub email: Option<String>,
    /// When it was linked.
    pub created_at: UnixTime,
    /// When it was last used to sign in.
    pub last_used_at: Option<UnixTime>,
}
