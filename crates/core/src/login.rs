//! Login methods: the ways a user proves who they are. Each names the authentication methods
//! (RFC 8176 `amr` values) its sign-ins record and the identity provider they come from (the
//! `idp` claim); the `acr` a sign-in reaches follows from its methods through the configured
//! levels (`authorize::acr`). A new method (an upstream provider, a second factor) is a new
//! variant here, and the levels that name its `amr` become reachable.

use serde::{Deserialize, Serialize};

use crate::authorize::acr::AcrLevels;

/// The identity provider of local accounts: the `idp` of their sign-ins.
pub const LOCAL_IDP: &str = "local";

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
}

impl LoginMethod {
    /// Every login method offered.
    pub const ALL: [LoginMethod; 1] = [Self::Password];

    /// Its `amr` values (RFC 8176 §2).
    pub const fn amr(self) -> &'static [&'static str] {
        match self {
            Self::Password => &["pwd"],
        }
    }

    /// The identity provider its sign-ins come from.
    pub const fn idp(self) -> &'static str {
        match self {
            Self::Password => LOCAL_IDP,
        }
    }

    /// Every `amr` value some method records: what an `acr` level may require.
    pub fn known_amr() -> impl Iterator<Item = &'static str> {
        Self::ALL.into_iter().flat_map(|m| m.amr().iter().copied())
    }

    /// The methods' `amr` values together: what the best sign-in here can reach, and so what
    /// a step-up can ask for.
    pub fn best_amr() -> Vec<String> {
        Self::known_amr().map(str::to_string).collect()
    }
}

/// What a completed sign-in established: its methods, the provider, and the level reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// RFC 8176 `amr` values, in the order the methods were used, without repeats.
    pub amr: Vec<String>,
    /// The identity provider (`idp`).
    pub idp: String,
    /// The strongest configured `acr` level the methods reach.
    pub acr: Option<String>,
}

impl Authenticated {
    /// The sign-in made of `methods` (at least one; the first names the provider).
    pub fn by(methods: &[LoginMethod], levels: &AcrLevels) -> Authenticated {
        let mut amr: Vec<String> = Vec::new();
        for m in methods.iter().flat_map(|m| m.amr()) {
            if !amr.iter().any(|a| a == m) {
                amr.push((*m).to_string());
            }
        }
        let idp = methods.first().map_or(LOCAL_IDP, |m| m.idp()).to_string();
        let acr = levels.reached_value(&amr).map(str::to_string);
        Authenticated { amr, idp, acr }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_sign_in_is_pwd_at_the_local_provider_and_reaches_level_1() {
        let signed_in = Authenticated::by(&[LoginMethod::Password], &AcrLevels::default());
        assert_eq!(signed_in.amr, ["pwd"]);
        assert_eq!(signed_in.idp, "local");
        assert_eq!(signed_in.acr.as_deref(), Some("1"));
        assert_eq!(LoginMethod::best_amr(), ["pwd"]);
    }
}
