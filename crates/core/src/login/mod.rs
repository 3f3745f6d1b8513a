//! Login methods: the ways a user proves who they are. Each names the authentication methods
//! (RFC 8176 `amr` values) its sign-ins record and the identity provider they come from (the
//! `idp` claim); the `acr` a sign-in reaches follows from its methods through the configured
//! levels (`authorize::acr`). A new method (an upstream provider, a second factor) is a new
//! variant here, and the levels that name its `amr` become reachable.

use serde::{Deserialize, Serialize};

use crate::authorize::acr::AcrLevels;

pub mod second_factor;

/// The identity provider of local accounts: the `idp` of their sign-ins.
pub const LOCAL_IDP: &str = "local";

/// RFC 8176 §2 `mfa`: the sign-in used more than one kind of factor.
pub const MFA: &str = "mfa";

/// The provider of sign-ins recorded before the provider was: local ones.
pub(crate) fn local_idp() -> String {
    LOCAL_IDP.into()
}

/// A way to sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    /// A local account's password (RFC 8176 §2 `pwd`).
    Password,
    /// A code from an authenticator app (RFC 6238; RFC 8176 §2 `otp`).
    Totp,
    /// One of the account's single-use recovery codes: a one-time password too (`otp`).
    RecoveryCode,
    /// A sign-in at an external identity provider: its `amr`, `acr` and provider come with it
    /// (an interaction's [`PriorSignIn`]).
    Upstream,
    /// A passkey, alone (WebAuthn with user verification: RFC 8176 `hwk`, and multi-factor by
    /// itself, NIST SP 800-63B §5.1.9).
    Passkey,
    /// A passkey or security key after the password (`hwk`).
    PasskeyAsSecondFactor,
}

/// What kind of proof an authentication method is (NIST SP 800-63B §5.1): a sign-in that used
/// two kinds is multi-factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FactorClass {
    /// Something you know.
    Knowledge,
    /// Something you have.
    Possession,
    /// Something you are.
    Inherence,
}

/// The kind of proof an `amr` value stands for (RFC 8176 §2), if it is one.
fn factor_class(amr: &str) -> Option<FactorClass> {
    match amr {
        "pwd" | "pin" | "kba" => Some(FactorClass::Knowledge),
        "otp" | "hwk" | "swk" | "sms" | "tel" | "sc" => Some(FactorClass::Possession),
        "fpt" | "face" | "iris" | "retina" | "vbm" | "bio" => Some(FactorClass::Inherence),
        _ => None,
    }
}

impl LoginMethod {
    /// Every login method offered.
    pub const ALL: [LoginMethod; 6] = [
        Self::Password,
        Self::Totp,
        Self::RecoveryCode,
        Self::Upstream,
        Self::Passkey,
        Self::PasskeyAsSecondFactor,
    ];

    /// Its name in logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Upstream => "upstream",
            Self::Passkey => "passkey",
            Self::PasskeyAsSecondFactor => "passkey_second_factor",
        }
    }

    /// Its `amr` values (RFC 8176 §2).
    pub const fn amr(self) -> &'static [&'static str] {
        match self {
            Self::Password => &["pwd"],
            Self::Totp | Self::RecoveryCode => &["otp"],
            Self::Upstream => &[],
            Self::Passkey | Self::PasskeyAsSecondFactor => &["hwk"],
        }
    }

    /// The identity provider its sign-ins come from.
    pub const fn idp(self) -> &'static str {
        // Every method here is the server's own; an upstream's provider comes with its sign-in
        // (an interaction's `PriorSignIn`).
        let _ = self;
        LOCAL_IDP
    }

    /// A second factor: it completes a sign-in another method began, and never signs anyone in
    /// by itself.
    pub const fn is_second_factor(self) -> bool {
        matches!(
            self,
            Self::Totp | Self::RecoveryCode | Self::PasskeyAsSecondFactor
        )
    }

    /// Every `amr` value some sign-in records: what an `acr` level may require.
    pub fn known_amr() -> impl Iterator<Item = &'static str> {
        Self::ALL
            .into_iter()
            .flat_map(|m| m.amr().iter().copied())
            .chain([MFA])
    }

    /// The `amr` values of the best sign-in here: what a step-up can ask for.
    pub fn best_amr() -> Vec<String> {
        let mut amr: Vec<String> = Vec::new();
        for m in Self::known_amr() {
            if !amr.iter().any(|a| a == m) {
                amr.push(m.to_string());
            }
        }
        amr
    }
}

/// What a sign-in established before this interaction's methods added to it: a session's
/// sign-in that a step-up adds a factor to, or an upstream provider's sign-in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorSignIn {
    /// Its `amr` values.
    pub amr: Vec<String>,
    /// Its identity provider.
    pub idp: String,
    /// The `acr` an upstream provider reported, told to clients when no level of ours is
    /// reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The upstream session it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamSession>,
    /// For a step-up, the session (`sid`) it adds a factor to: only that session, still live in
    /// the same browser, is stepped up; an ended one is never revived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// The session at an upstream provider a sign-in came from: what its back-channel logout names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamSession {
    /// The provider's name.
    pub provider: String,
    /// The upstream subject.
    pub sub: String,
    /// The upstream session id, if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The upstream's ID token, for RP-initiated logout there (`id_token_hint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// What a completed sign-in established: its methods, the provider, and the level reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// RFC 8176 `amr` values, in the order the methods were used, without repeats; `mfa` last
    /// when they were of more than one kind.
    pub amr: Vec<String>,
    /// The identity provider (`idp`).
    pub idp: String,
    /// The strongest configured `acr` level the methods reach (else an upstream's).
    pub acr: Option<String>,
    /// The upstream session it came from.
    pub upstream: Option<UpstreamSession>,
}

impl Authenticated {
    /// The sign-in made of `methods` (the first names the provider), added to the `prior`
    /// sign-in of a step-up when there is one (whose provider it keeps).
    pub fn by(
        prior: Option<&PriorSignIn>,
        methods: &[LoginMethod],
        levels: &AcrLevels,
    ) -> Authenticated {
        let mut amr: Vec<String> = Vec::new();
        let used = prior
            .map(|p| p.amr.iter().map(String::as_str))
            .into_iter()
            .flatten()
            .chain(methods.iter().flat_map(|m| m.amr().iter().copied()));
        for m in used.filter(|m| *m != MFA) {
            if !amr.iter().any(|a| a == m) {
                amr.push(m.to_string());
            }
        }
        let classes: Vec<FactorClass> = amr.iter().filter_map(|m| factor_class(m)).collect();
        let prior_mfa = prior.is_some_and(|p| p.amr.iter().any(|m| m == MFA));
        // A passkey verifies the user itself (a PIN or biometric on the authenticator).
        let verified_key = methods.contains(&LoginMethod::Passkey);
        if prior_mfa || verified_key || classes.iter().any(|c| Some(c) != classes.first()) {
            amr.push(MFA.into());
        }
        let idp = match prior {
            Some(p) => p.idp.clone(),
            None => methods.first().map_or(LOCAL_IDP, |m| m.idp()).to_string(),
        };
        let acr = levels
            .reached_value(&amr)
            .map(str::to_string)
            .or_else(|| prior.and_then(|p| p.acr.clone()));
        let upstream = prior.and_then(|p| p.upstream.clone());
        Authenticated {
            amr,
            idp,
            acr,
            upstream,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::acr::AcrLevel;

    #[test]
    fn a_password_sign_in_is_pwd_at_the_local_provider_and_reaches_level_1() {
        let signed_in = Authenticated::by(None, &[LoginMethod::Password], &AcrLevels::default());
        assert_eq!(signed_in.amr, ["pwd"]);
        assert_eq!(signed_in.idp, "local");
        assert_eq!(signed_in.acr.as_deref(), Some("1"));
        assert_eq!(LoginMethod::best_amr(), ["pwd", "otp", "hwk", "mfa"]);
        let passkey = Authenticated::by(None, &[LoginMethod::Passkey], &AcrLevels::default());
        assert_eq!(passkey.amr, ["hwk", "mfa"]);
        assert_eq!(passkey.acr.as_deref(), Some("2"));
    }

    #[test]
    fn two_kinds_of_factor_are_mfa_and_a_step_up_adds_to_the_prior_sign_in() {
        let levels = AcrLevels::default();
        let both = Authenticated::by(None, &[LoginMethod::Password, LoginMethod::Totp], &levels);
        assert_eq!(both.amr, ["pwd", "otp", "mfa"]);
        assert_eq!(both.acr.as_deref(), Some("2"));
        // Two codes are one kind of factor.
        let codes = Authenticated::by(
            None,
            &[LoginMethod::Totp, LoginMethod::RecoveryCode],
            &levels,
        );
        assert_eq!(codes.amr, ["otp"]);
        let prior = PriorSignIn {
            amr: vec!["pwd".into()],
            idp: "corp".into(),
            ..PriorSignIn::default()
        };
        let stepped = Authenticated::by(Some(&prior), &[LoginMethod::Totp], &levels);
        assert_eq!(stepped.amr, ["pwd", "otp", "mfa"]);
        assert_eq!(stepped.idp, "corp");
        assert_eq!(stepped.acr.as_deref(), Some("2"));
        let custom = AcrLevels(vec![AcrLevel {
            acr: "urn:x:otp".into(),
            amr: vec!["otp".into()],
        }]);
        assert_eq!(
            Authenticated::by(None, &[LoginMethod::Totp], &custom)
                .acr
                .as_deref(),
            Some("urn:x:otp")
        );
    }
}
