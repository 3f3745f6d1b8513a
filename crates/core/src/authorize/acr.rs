//! Authentication context classes (OIDC Core §2 `acr`): the levels the server offers, the level
//! a sign-in reached, and whether that meets what a request asks for (§3.1.2.1 `acr_values`,
//! §5.5.1.1 the `acr` claim requested as essential; OpenID Connect Unmet Authentication
//! Requirements 1.0).
//!
//! A level names the authentication methods (RFC 8176 `amr` values) a sign-in must have used to
//! reach it; a sign-in reaches the strongest level whose methods it used. Login methods that add
//! factors add `amr` values, and with them the levels they reach.

use serde::{Deserialize, Serialize};

/// One level: its `acr` value and the methods a sign-in needs to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcrLevel {
    /// The `acr` value (advertised in `acr_values_supported`).
    pub acr: String,
    /// The `amr` values a sign-in must all have used.
    pub amr: Vec<String>,
}

/// The levels the server offers, weakest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcrLevels(pub Vec<AcrLevel>);

impl Default for AcrLevels {
    /// Two levels: `1` for a password sign-in (single factor, as ISO/IEC 29115 level 1) and
    /// `2` for a multi-factor one (RFC 8176 `mfa`: two kinds of factor, as level 2 and up).
    fn default() -> Self {
        let level = |acr: &str, amr: &str| AcrLevel {
            acr: acr.into(),
            amr: vec![amr.into()],
        };
        Self(vec![level("1", "pwd"), level("2", crate::login::MFA)])
    }
}

impl AcrLevels {
    /// The `acr` values, weakest first.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|l| l.acr.as_str())
    }

    fn rank(&self, acr: &str) -> Option<usize> {
        self.0.iter().position(|l| l.acr == acr)
    }

    /// The rank of the strongest level a sign-in with `amr` reached.
    fn reached(&self, amr: &[String]) -> Option<usize> {
        self.0
            .iter()
            .rposition(|l| l.amr.iter().all(|m| amr.contains(m)))
    }

    /// The `amr` values a sign-in needs to reach the level `acr`, if it is offered.
    pub fn required_amr(&self, acr: &str) -> Option<&[String]> {
        self.0
            .iter()
            .find(|l| l.acr == acr)
            .map(|l| l.amr.as_slice())
    }

    /// The weakest level that needs the `amr` value `method`: what a client's `require_mfa`
    /// means for `mfa`.
    pub fn weakest_needing(&self, method: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|l| l.amr.iter().any(|m| m == method))
            .map(|l| l.acr.as_str())
    }

    /// Whether `acr` is at least as strong as `floor` (both offered levels).
    pub fn at_least(&self, acr: &str, floor: &str) -> bool {
        matches!((self.rank(acr), self.rank(floor)), (Some(a), Some(f)) if a >= f)
    }

    /// The `acr` value a sign-in with `amr` reached.
    pub fn reached_value(&self, amr: &[String]) -> Option<&str> {
        self.reached(amr).map(|r| self.0[r].acr.as_str())
    }
}

/// What a request asks for: `acr` values in order of preference, and whether they are
/// essential (the `claims` parameter, §5.5.1.1) or voluntary (`acr_values`, §3.1.2.1; a
/// client's `default_acr_values`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcrRequest {
    /// Values in order of preference; empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// The `acr` claim was requested as essential.
    #[serde(default)]
    pub essential: bool,
    /// `acr` was asked for at all (and so goes into the identity token).
    #[serde(default)]
    pub requested: bool,
}

/// How a sign-in stands against an [`AcrRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcrCheck {
    /// Met: the `acr` value tokens carry (the first requested value the sign-in meets, else
    /// the level it reached; `None` when it reached none).
    Met(Option<String>),
    /// Requested values are offered levels above the one reached: a further factor could reach
    /// one of them.
    StepUp {
        /// Those values, in the request's order of preference.
        wanted: Vec<String>,
        /// Without one of them the request fails (§5.5.1.1); otherwise the tokens say
        /// `reached` when none can be had (§3.1.2.1: `acr_values` are voluntary).
        essential: bool,
        /// The level reached.
        reached: Option<String>,
    },
    /// An essential request no sign-in here can meet.
    Unmet,
}

impl AcrCheck {
    /// What a check comes to when no step-up will happen (the request allows no interaction,
    /// the user just signed in, or has no factor that would reach the level): a voluntary
    /// request is met at the level reached; an essential one is not met.
    pub fn settled(self) -> AcrCheck {
        match self {
            Self::StepUp {
                essential: false,
                reached,
                ..
            } => Self::Met(reached),
            Self::StepUp { .. } => Self::Unmet,
            other => other,
        }
    }
}

/// Checks a sign-in that used `amr` against `request`.
pub fn check_acr(levels: &AcrLevels, request: &AcrRequest, amr: &[String]) -> AcrCheck {
    let reached = levels.reached(amr);
    let met = request.values.iter().find(|v| {
        levels
            .rank(v)
            .is_some_and(|rank| reached.is_some_and(|r| r >= rank))
    });
    if let Some(value) = met {
        return AcrCheck::Met(Some(value.clone()));
    }
    let actual = reached.map(|r| levels.0[r].acr.clone());
    if request.values.is_empty() {
        // Essential without values: any level will do, but there must be one.
        return match (actual, request.essential) {
            (None, true) => AcrCheck::Unmet,
            (actual, _) => AcrCheck::Met(actual),
        };
    }
    // No requested value is met: the offered ones are all above the level reached.
    let wanted: Vec<String> = (request.values.iter())
        .filter(|v| levels.rank(v).is_some())
        .cloned()
        .collect();
    match (wanted.is_empty(), request.essential) {
        (true, true) => AcrCheck::Unmet,
        (true, false) => AcrCheck::Met(actual),
        (false, essential) => AcrCheck::StepUp {
            wanted,
            essential,
            reached: actual,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels() -> AcrLevels {
        AcrLevels(vec![
            AcrLevel {
                acr: "1".into(),
                amr: vec!["pwd".into()],
            },
            AcrLevel {
                acr: "mfa".into(),
                amr: vec!["pwd".into(), "otp".into()],
            },
        ])
    }

    fn request(values: &[&str], essential: bool) -> AcrRequest {
        AcrRequest {
            values: values.iter().map(|v| v.to_string()).collect(),
            essential,
            requested: true,
        }
    }

    #[test]
    fn the_first_met_value_wins_and_voluntary_values_never_fail() {
        let pwd = vec!["pwd".to_string()];
        let both = vec!["pwd".to_string(), "otp".to_string()];
        let l = levels();
        assert_eq!(l.reached_value(&pwd), Some("1"));
        assert_eq!(l.reached_value(&both), Some("mfa"));
        assert_eq!(l.reached_value(&[]), None);
        // A stronger sign-in meets a weaker request, answered with the requested value.
        assert_eq!(
            check_acr(&l, &request(&["1"], true), &both),
            AcrCheck::Met(Some("1".into()))
        );
        assert_eq!(
            check_acr(&l, &request(&["x", "mfa", "1"], true), &both),
            AcrCheck::Met(Some("mfa".into()))
        );
        // Voluntary: a step-up if one can be had, else what was reached.
        let voluntary = check_acr(&l, &request(&["mfa"], false), &pwd);
        assert_eq!(
            voluntary,
            AcrCheck::StepUp {
                wanted: vec!["mfa".into()],
                essential: false,
                reached: Some("1".into())
            }
        );
        assert_eq!(voluntary.settled(), AcrCheck::Met(Some("1".into())));
        assert_eq!(
            check_acr(&l, &request(&["urn:unknown"], false), &pwd),
            AcrCheck::Met(Some("1".into()))
        );
        assert_eq!(
            check_acr(&l, &AcrRequest::default(), &pwd),
            AcrCheck::Met(Some("1".into()))
        );
    }

    #[test]
    fn essential_values_step_up_or_fail() {
        let pwd = vec!["pwd".to_string()];
        let l = levels();
        let essential = check_acr(&l, &request(&["urn:unknown", "mfa"], true), &pwd);
        assert_eq!(
            essential,
            AcrCheck::StepUp {
                wanted: vec!["mfa".into()],
                essential: true,
                reached: Some("1".into())
            }
        );
        assert_eq!(essential.settled(), AcrCheck::Unmet);
        assert_eq!(
            check_acr(&l, &request(&["urn:unknown"], true), &pwd),
            AcrCheck::Unmet
        );
        assert_eq!(
            check_acr(&l, &request(&[], true), &pwd),
            AcrCheck::Met(Some("1".into()))
        );
        assert_eq!(check_acr(&l, &request(&[], true), &[]), AcrCheck::Unmet);
        assert_eq!(
            check_acr(&AcrLevels(vec![]), &request(&["1"], true), &pwd),
            AcrCheck::Unmet
        );
    }
}
