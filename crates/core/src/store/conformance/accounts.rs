//! The account checks of the conformance suite: a user's factors (kept whole, listed in order,
//! updated by compare-and-set, also under concurrency) and links to accounts at external
//! identity providers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support code

use std::sync::Arc;

use crate::model::{ExternalIdentity, Factor, FactorData};
use crate::store::{Store, StoreError};

/// A TOTP factor whose last accepted step needs every bit of a `u64` below 2^54 (a value a
/// double would round).
fn totp(id: &str, subject: &str, created_at: i64) -> Factor {
    Factor {
        id: id.into(),
        subject: subject.into(),
        label: "Téléphone — authenticator app".into(),
        data: FactorData::Totp {
            secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into(),
            last_step: Some((1 << 53) + 1),
        },
        version: 0,
        created_at,
        last_used_at: None,
    }
}

fn recovery_codes(id: &str, subject: &str, created_at: i64) -> Factor {
    Factor {
        id: id.into(),
        subject: subject.into(),
        label: "Recovery codes".into(),
        data: FactorData::RecoveryCodes {
            hashes: vec![
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdC0x$aGFzaC0x".into(),
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdC0y$aGFzaC0y".into(),
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdC0z$aGFzaC0z".into(),
            ],
        },
        version: 4,
        created_at,
        last_used_at: Some(created_at + 60),
    }
}

fn link(
    provider: &str,
    upstream_subject: &str,
    subject: &str,
    created_at: i64,
) -> ExternalIdentity {
    ExternalIdentity {
        provider: provider.into(),
        upstream_subject: upstream_subject.into(),
        subject: subject.into(),
        email: Some(format!("{subject}@{provider}.example")),
        created_at,
        last_used_at: None,
    }
}

/// Factors: kept whole (TOTP step, recovery code hashes, version, times), listed per user by
/// creation then id, a duplicate id is a conflict, deleted one by one or all of a user's.
pub async fn factors_roundtrip(store: Arc<dyn Store>) {
    assert!(store.list_factors("alice").await.unwrap().is_empty());
    let app = totp("app", "alice", 2_000);
    let codes = recovery_codes("codes", "alice", 1_000);
    let mut spare = totp("spare", "alice", 2_000);
    spare.data = FactorData::Totp {
        secret: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ".into(),
        last_step: None,
    };
    let bobs = recovery_codes("bobs", "bob", 1_500);
    for factor in [&spare, &bobs, &app, &codes] {
        store.insert_factor(factor).await.unwrap();
    }
    assert_eq!(
        store.list_factors("alice").await.unwrap(),
        vec![codes.clone(), app.clone(), spare.clone()],
        "oldest first, then by id"
    );
    assert_eq!(store.list_factors("bob").await.unwrap(), vec![bobs.clone()]);
    assert!(store.list_factors("nobody").await.unwrap().is_empty());
    assert_eq!(
        store.find_factor(&bobs.id).await.unwrap(),
        Some(bobs.clone())
    );
    assert_eq!(store.find_factor("no-such-factor").await.unwrap(), None);

    assert!(matches!(
        store.insert_factor(&totp("app", "bob", 3_000)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.list_factors("bob").await.unwrap(), vec![bobs.clone()]);
    assert_eq!(store.list_factors("alice").await.unwrap()[1], app);

    assert!(
        !store.delete_factor("bob", "app").await.unwrap(),
        "another user's factor is not deleted"
    );
    assert!(store.delete_factor("alice", "app").await.unwrap());
    assert!(!store.delete_factor("alice", "app").await.unwrap());
    assert_eq!(
        store.list_factors("alice").await.unwrap(),
        vec![codes, spare]
    );
    assert_eq!(store.delete_factors("alice").await.unwrap(), 2);
    assert_eq!(store.delete_factors("alice").await.unwrap(), 0);
    assert!(store.list_factors("alice").await.unwrap().is_empty());
    assert_eq!(store.list_factors("bob").await.unwrap(), vec![bobs]);
}

/// A factor's data and last use are replaced only while its version is the one expected, and
/// the version then counts up; a stale version, another user or an unknown id changes nothing.
/// Its label and creation time stay.
pub async fn factor_updates_are_compared_and_set(store: Arc<dyn Store>) {
    let enrolled = totp("f1", "alice", 1_000);
    store.insert_factor(&enrolled).await.unwrap();
    let stored = |store: Arc<dyn Store>| async move {
        let mut factors = store.list_factors("alice").await.unwrap();
        assert_eq!(factors.len(), 1);
        factors.remove(0)
    };

    let mut used = enrolled.clone();
    used.data = FactorData::Totp {
        secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into(),
        last_step: Some(60_000_000),
    };
    used.last_used_at = Some(1_800_000_000);
    used.label = "renamed".into();
    used.created_at = 5;
    assert!(store.update_factor(&used).await.unwrap());
    let expected = Factor {
        version: 1,
        label: enrolled.label.clone(),
        created_at: enrolled.created_at,
        ..used.clone()
    };
    assert_eq!(stored(store.clone()).await, expected);

    // A second use of what was read before the first (version 0) loses.
    let mut stale = enrolled.clone();
    stale.data = FactorData::Totp {
        secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into(),
        last_step: Some(60_000_001),
    };
    stale.last_used_at = Some(1_800_000_030);
    assert!(!store.update_factor(&stale).await.unwrap());
    assert_eq!(stored(store.clone()).await, expected);

    let mut other_user = expected.clone();
    other_user.subject = "bob".into();
    other_user.last_used_at = None;
    assert!(!store.update_factor(&other_user).await.unwrap());
    let mut unknown = expected.clone();
    unknown.id = "f2".into();
    assert!(!store.update_factor(&unknown).await.unwrap());
    assert_eq!(stored(store.clone()).await, expected);
    assert!(store.list_factors("bob").await.unwrap().is_empty());

    // With the version it now has, the next use succeeds, and may clear the last use.
    let mut next = expected.clone();
    next.last_used_at = None;
    assert!(store.update_factor(&next).await.unwrap());
    assert_eq!(
        stored(store.clone()).await,
        Factor {
            version: 2,
            ..next.clone()
        }
    );
    assert!(!store.update_factor(&next).await.unwrap());
}

/// Many uses of one factor at once, all expecting the same version: exactly one wins, and its
/// data is what is stored.
pub async fn concurrent_factor_updates_have_one_winner(store: Arc<dyn Store>) {
    let enrolled = recovery_codes("race", "alice", 1_000);
    store.insert_factor(&enrolled).await.unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            let mut used = enrolled.clone();
            used.data = FactorData::RecoveryCodes {
                hashes: vec![format!("$argon2id$left-by-{i}")],
            };
            used.last_used_at = Some(2_000 + i);
            tokio::spawn(async move {
                let won = store.update_factor(&used).await.unwrap();
                won.then_some(used)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        winners.extend(t.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "exactly one use wins");
    let winner = winners.pop().unwrap();
    assert_eq!(
        store.list_factors("alice").await.unwrap(),
        vec![Factor {
            version: enrolled.version + 1,
            ..winner
        }]
    );
}

/// Links: found by provider and upstream subject, a second link of one upstream account is a
/// conflict, a sign-in is recorded, listed per user by provider, deleted one by one or all of
/// a user's.
pub async fn links_roundtrip(store: Arc<dyn Store>) {
    let github = link("github", "u1", "alice", 1_000);
    let mut gitlab = link("gitlab", "u9", "alice", 2_000);
    gitlab.email = None;
    let google = link("google", "u1", "bob", 1_500);
    for l in [&gitlab, &google, &github] {
        store.insert_link(l).await.unwrap();
    }
    assert_eq!(
        store.find_link("github", "u1").await.unwrap(),
        Some(github.clone())
    );
    assert_eq!(
        store.find_link("gitlab", "u9").await.unwrap(),
        Some(gitlab.clone())
    );
    assert_eq!(
        store.find_link("google", "u1").await.unwrap(),
        Some(google.clone())
    );
    assert!(store.find_link("github", "u2").await.unwrap().is_none());
    assert!(store.find_link("gitlab", "u1").await.unwrap().is_none());

    assert!(matches!(
        store.insert_link(&link("github", "u1", "bob", 3_000)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.find_link("github", "u1").await.unwrap(),
        Some(github.clone()),
        "the first link stays"
    );

    assert!(store.touch_link("github", "u1", 5_000).await.unwrap());
    assert!(!store.touch_link("github", "u2", 5_000).await.unwrap());
    let touched = ExternalIdentity {
        last_used_at: Some(5_000),
        ..github.clone()
    };
    assert_eq!(
        store.find_link("github", "u1").await.unwrap(),
        Some(touched.clone())
    );
    assert!(store.touch_link("github", "u1", 6_000).await.unwrap());
    let touched = ExternalIdentity {
        last_used_at: Some(6_000),
        ..github
    };

    assert_eq!(
        store.list_links("alice").await.unwrap(),
        vec![touched, gitlab.clone()]
    );
    assert_eq!(store.list_links("bob").await.unwrap(), vec![google.clone()]);
    assert!(store.list_links("nobody").await.unwrap().is_empty());

    assert!(store.delete_link("github", "u1").await.unwrap());
    assert!(!store.delete_link("github", "u1").await.unwrap());
    assert!(store.find_link("github", "u1").await.unwrap().is_none());
    assert_eq!(store.list_links("alice").await.unwrap(), vec![gitlab]);

    store
        .insert_link(&link("github", "u1", "alice", 7_000))
        .await
        .unwrap();
    assert_eq!(store.delete_links("alice").await.unwrap(), 2);
    assert_eq!(store.delete_links("alice").await.unwrap(), 0);
    assert!(store.list_links("alice").await.unwrap().is_empty());
    assert!(store.find_link("gitlab", "u9").await.unwrap().is_none());
    assert_eq!(store.list_links("bob").await.unwrap(), vec![google]);
}
