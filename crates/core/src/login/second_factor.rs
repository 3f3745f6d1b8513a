//! Second factors at sign-in: which of a user's factors can complete a sign-in or a step-up,
//! and the use of a code the user presents — each accepted once, even when two requests bring
//! it at the same moment (the factor is updated by compare-and-set).

use super::{Authenticated, LoginMethod, PriorSignIn};
use crate::authorize::acr::AcrLevels;
use crate::clock::UnixTime;
use crate::factors::totp::TotpSecret;
use crate::model::{Factor, FactorData};
use crate::protocol::OAuthError;
use crate::store::FactorStore;

/// How often a use is tried again when another request changed the factor in between.
const RETRIES: usize = 3;

/// The second-factor methods `factors` offer, TOTP first; recovery codes only while some are
/// left.
pub fn offered_methods(factors: &[Factor]) -> Vec<LoginMethod> {
    let mut offered = Vec::new();
    for f in factors {
        let method = match &f.data {
            FactorData::Totp { .. } => LoginMethod::Totp,
            FactorData::RecoveryCodes { hashes } if !hashes.is_empty() => LoginMethod::RecoveryCode,
            FactorData::RecoveryCodes { .. } => continue,
            FactorData::Passkey { .. } => LoginMethod::PasskeyAsSecondFactor,
        };
        if !offered.contains(&method) {
            offered.push(method);
        }
    }
    offered.sort_by_key(|m| LoginMethod::ALL.iter().position(|a| a == m));
    offered
}

/// The methods of `offered` that, used after `prior` and `so_far`, reach one of the levels
/// `wanted`.
pub fn methods_reaching(
    levels: &AcrLevels,
    (prior, so_far): (Option<&PriorSignIn>, &[LoginMethod]),
    offered: &[LoginMethod],
    wanted: &[String],
) -> Vec<LoginMethod> {
    offered
        .iter()
        .copied()
        .filter(|m| {
            let mut methods = so_far.to_vec();
            methods.push(*m);
            let acr = Authenticated::by(prior, &methods, levels).acr;
            acr.is_some_and(|acr| wanted.iter().any(|w| levels.at_least(&acr, w)))
        })
        .collect()
}

/// Uses the TOTP code `presented` with one of `subject`'s authenticator apps: true when it is
/// the current code of one (a step of drift either side) and was not used before.
pub async fn use_totp(
    store: &dyn FactorStore,
    subject: &str,
    presented: &str,
    now: UnixTime,
) -> Result<bool, OAuthError> {
    for _ in 0..RETRIES {
        let mut changed = false;
        for mut factor in store.list_factors(subject).await? {
            let FactorData::Totp { secret, last_step } = &factor.data else {
                continue;
            };
            let Some(secret) = TotpSecret::from_base32(secret) else {
                continue;
            };
            let Some(step) = secret.verify(presented, now, *last_step) else {
                continue;
            };
            factor.data = FactorData::Totp {
                secret: secret.base32(),
                last_step: Some(step),
            };
            factor.last_used_at = Some(now);
            if store.update_factor(&factor).await? {
                return Ok(true);
            }
            // Changed since it was read (perhaps by this very code): read again.
            changed = true;
        }
        if !changed {
            return Ok(false);
        }
    }
    Ok(false)
}

/// Uses the recovery code whose stored hash is `hash` (found by the caller, who checked the
/// code against the hashes where password checks run): true when it was still unused, and now
/// is used.
pub async fn use_recovery_code(
    store: &dyn FactorStore,
    subject: &str,
    hash: &str,
    now: UnixTime,
) -> Result<bool, OAuthError> {
    for _ in 0..RETRIES {
        let factors = store.list_factors(subject).await?;
        let Some(mut factor) = factors.into_iter().find(|f| {
            matches!(&f.data, FactorData::RecoveryCodes { hashes } if hashes.iter().any(|h| h == hash))
        }) else {
            return Ok(false);
        };
        if let FactorData::RecoveryCodes { hashes } = &mut factor.data {
            hashes.retain(|h| h != hash);
        }
        factor.last_used_at = Some(now);
        if store.update_factor(&factor).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The unused recovery-code hashes of `subject`, to check a presented code against.
pub async fn recovery_hashes(
    store: &dyn FactorStore,
    subject: &str,
) -> Result<Vec<String>, OAuthError> {
    Ok(store
        .list_factors(subject)
        .await?
        .into_iter()
        .flat_map(|f| match f.data {
            FactorData::RecoveryCodes { hashes } => hashes,
            FactorData::Totp { .. } | FactorData::Passkey { .. } => Vec::new(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::factors::totp::{DIGITS, STEP_SECONDS, step_of};
    use crate::store::MemoryStore;

    fn factor(id: &str, data: FactorData) -> Factor {
        Factor {
            id: id.into(),
            subject: "alice".into(),
            label: id.into(),
            data,
            version: 0,
            created_at: 1,
            last_used_at: None,
        }
    }

    #[tokio::test]
    async fn a_totp_code_is_used_once_and_a_recovery_code_once() {
        let store = MemoryStore::new();
        let secret = TotpSecret::generate().unwrap();
        let totp = FactorData::Totp {
            secret: secret.base32(),
            last_step: None,
        };
        store.insert_factor(&factor("app", totp)).await.unwrap();
        let codes = FactorData::RecoveryCodes {
            hashes: vec!["h1".into(), "h2".into()],
        };
        store.insert_factor(&factor("codes", codes)).await.unwrap();
        let now = 1_700_000_000;
        let code = secret.code_at(step_of(now).unwrap(), DIGITS);
        assert!(use_totp(&store, "alice", &code, now).await.unwrap());
        assert!(!use_totp(&store, "alice", &code, now + 1).await.unwrap());
        assert!(!use_totp(&store, "bob", &code, now).await.unwrap());
        let next = secret.code_at(step_of(now + STEP_SECONDS).unwrap(), DIGITS);
        assert!(
            use_totp(&store, "alice", &next, now + STEP_SECONDS)
                .await
                .unwrap()
        );

        assert!(use_recovery_code(&store, "alice", "h2", now).await.unwrap());
        assert!(!use_recovery_code(&store, "alice", "h2", now).await.unwrap());
        assert_eq!(recovery_hashes(&store, "alice").await.unwrap(), ["h1"]);
        let factors = store.list_factors("alice").await.unwrap();
        assert_eq!(
            offered_methods(&factors),
            [LoginMethod::Totp, LoginMethod::RecoveryCode]
        );
        assert!(use_recovery_code(&store, "alice", "h1", now).await.unwrap());
        let factors = store.list_factors("alice").await.unwrap();
        assert_eq!(offered_methods(&factors), [LoginMethod::Totp]);
    }

    #[test]
    fn only_methods_that_reach_a_wanted_level_are_asked_for() {
        let levels = AcrLevels::default();
        let prior = PriorSignIn {
            amr: vec!["pwd".into()],
            idp: "local".into(),
            ..PriorSignIn::default()
        };
        let offered = [LoginMethod::Totp, LoginMethod::RecoveryCode];
        let two = vec!["2".to_string()];
        assert_eq!(
            methods_reaching(&levels, (Some(&prior), &[]), &offered, &two),
            offered
        );
        // After a code alone (no password), another code is still one kind of factor.
        let none = methods_reaching(&levels, (None, &[LoginMethod::Totp]), &offered, &two);
        assert!(none.is_empty());
        assert!(methods_reaching(&levels, (Some(&prior), &[]), &offered, &["9".into()]).is_empty());
    }
}
