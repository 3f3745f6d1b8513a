//! The grant checks of the conformance suite: insert and find, single use (also under
//! concurrency), kinds and expiry, families, rotation in one transaction, what goes with a
//! session or a user, lookup by a second key, and compare-and-set of a grant's data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support code

use std::sync::Arc;

use serde_json::json;

use super::grant;
use crate::model::GrantKind;
use crate::store::{Store, StoreError};

/// Grants: insert, find, duplicate digest is a conflict.
pub async fn grants_insert_and_find(store: Arc<dyn Store>) {
    let g = grant("d1", GrantKind::AuthorizationCode, Some("f1"), 2_000);
    store.insert_grant(&g).await.unwrap();
    assert_eq!(store.find_grant("d1").await.unwrap(), Some(g.clone()));
    assert!(store.find_grant("nope").await.unwrap().is_none());
    assert!(matches!(
        store.insert_grant(&g).await,
        Err(StoreError::Conflict(_))
    ));
}

/// A grant is consumed once; afterwards `find_grant` shows when.
pub async fn grant_is_consumed_once(store: Arc<dyn Store>) {
    store
        .insert_grant(&grant("d1", GrantKind::AuthorizationCode, None, 2_000))
        .await
        .unwrap();
    let won = store
        .consume_grant("d1", GrantKind::AuthorizationCode, 1_500)
        .await
        .unwrap();
    assert_eq!(won.as_ref().map(|g| g.consumed_at), Some(Some(1_500)));
    assert_eq!(won.map(|g| g.data["n"].clone()), Some(json!(1)));
    assert!(
        store
            .consume_grant("d1", GrantKind::AuthorizationCode, 1_501)
            .await
            .unwrap()
            .is_none()
    );
    let seen = store.find_grant("d1").await.unwrap().unwrap();
    assert_eq!(seen.consumed_at, Some(1_500));
}

/// Consumption requires the right kind and an unexpired grant.
pub async fn grant_consume_respects_kind_and_expiry(store: Arc<dyn Store>) {
    store
        .insert_grant(&grant("d1", GrantKind::AuthorizationCode, None, 2_000))
        .await
        .unwrap();
    assert!(
        store
            .consume_grant("d1", GrantKind::RefreshToken, 1_500)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .consume_grant("d1", GrantKind::AuthorizationCode, 2_000)
            .await
            .unwrap()
            .is_none(),
        "a grant is expired at its expires_at"
    );
    assert!(
        store
            .consume_grant("missing", GrantKind::AuthorizationCode, 1_500)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.find_grant("d1").await.unwrap().unwrap().consumed_at,
        None
    );
}

/// Many concurrent consumers of one grant: exactly one wins.
pub async fn concurrent_consume_has_one_winner(store: Arc<dyn Store>) {
    store
        .insert_grant(&grant("race", GrantKind::RefreshToken, None, 2_000))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .consume_grant("race", GrantKind::RefreshToken, 1_500)
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

/// Families are deleted together; expired grants are purged, live ones kept.
pub async fn grant_families_and_purge(store: Arc<dyn Store>) {
    for (d, f, exp) in [
        ("a", Some("fam"), 5_000),
        ("b", Some("fam"), 5_000),
        ("c", Some("other"), 5_000),
        ("old", None, 1_200),
    ] {
        store
            .insert_grant(&grant(d, GrantKind::RefreshToken, f, exp))
            .await
            .unwrap();
    }
    assert_eq!(store.delete_grant_family("fam").await.unwrap(), 2);
    assert!(store.find_grant("a").await.unwrap().is_none());
    assert!(store.find_grant("c").await.unwrap().is_some());
    assert_eq!(store.purge_expired_grants(2_000).await.unwrap(), 1);
    assert!(store.find_grant("old").await.unwrap().is_none());
    assert!(store.delete_grant("c").await.unwrap());
    assert!(!store.delete_grant("c").await.unwrap());
}

/// A rotation consumes one grant and inserts its successors together (CVE-22); a failed insert
/// leaves the grant unconsumed; of concurrent rotations of one grant, one wins and only its
/// successor exists.
pub async fn rotation_consumes_and_inserts_together(store: Arc<dyn Store>) {
    store
        .insert_grant(&grant("r0", GrantKind::RefreshToken, Some("f"), 9_000))
        .await
        .unwrap();
    store
        .insert_grant(&grant("taken", GrantKind::ReferenceToken, Some("f"), 9_000))
        .await
        .unwrap();
    // A successor that cannot be inserted undoes the whole rotation.
    let clash = [
        grant("r1", GrantKind::RefreshToken, Some("f"), 9_000),
        grant("taken", GrantKind::ReferenceToken, Some("f"), 9_000),
    ];
    assert!(matches!(
        store
            .rotate_grant("r0", GrantKind::RefreshToken, 2_000, &clash)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.find_grant("r0").await.unwrap().unwrap().consumed_at,
        None
    );
    assert!(store.find_grant("r1").await.unwrap().is_none());
    let next = [
        grant("r1", GrantKind::RefreshToken, Some("f"), 9_000),
        grant("a1", GrantKind::ReferenceToken, Some("f"), 9_000),
    ];
    let consumed = store
        .rotate_grant("r0", GrantKind::RefreshToken, 2_000, &next)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(consumed.handle_digest, "r0");
    assert_eq!(
        store.find_grant("r0").await.unwrap().unwrap().consumed_at,
        Some(2_000)
    );
    assert!(store.find_grant("r1").await.unwrap().is_some());
    assert!(store.find_grant("a1").await.unwrap().is_some());
    // Not consumable any more, of another kind, or expired: nothing is inserted.
    let again = grant("r2", GrantKind::RefreshToken, Some("f"), 9_000);
    for (digest, kind, now) in [
        ("r0", GrantKind::RefreshToken, 2_001),
        ("r1", GrantKind::AuthorizationCode, 2_001),
        ("r1", GrantKind::RefreshToken, 9_000),
    ] {
        let rotated = store
            .rotate_grant(digest, kind, now, std::slice::from_ref(&again))
            .await;
        assert!(rotated.unwrap().is_none(), "{digest} as {kind} at {now}");
        assert!(store.find_grant("r2").await.unwrap().is_none());
    }
    one_of_concurrent_rotations_wins(store, "r1").await;
}

/// A renewal (a refresh token that does not rotate) moves a live grant's end and inserts what
/// it issued together; a grant consumed, of another kind or expired is left alone and nothing
/// is inserted; a record that cannot be inserted undoes the renewal.
pub async fn renewal_moves_the_end_and_inserts_together(store: Arc<dyn Store>) {
    store
        .insert_grant(&grant("n0", GrantKind::RefreshToken, Some("g"), 9_000))
        .await
        .unwrap();
    store
        .insert_grant(&grant("held", GrantKind::ReferenceToken, Some("g"), 9_000))
        .await
        .unwrap();
    let clash = [grant("held", GrantKind::ReferenceToken, Some("g"), 9_000)];
    assert!(matches!(
        store
            .renew_grant("n0", GrantKind::RefreshToken, 2_000, 5_000, &clash)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.find_grant("n0").await.unwrap().unwrap().expires_at,
        9_000
    );
    let issued = [grant("b1", GrantKind::ReferenceToken, Some("g"), 9_000)];
    assert!(
        store
            .renew_grant("n0", GrantKind::RefreshToken, 2_000, 12_000, &issued)
            .await
            .unwrap()
    );
    let renewed = store.find_grant("n0").await.unwrap().unwrap();
    assert_eq!((renewed.expires_at, renewed.consumed_at), (12_000, None));
    assert!(store.find_grant("b1").await.unwrap().is_some());
    // Of another kind, expired, or consumed: nothing changes and nothing is inserted.
    let late = [grant("b2", GrantKind::ReferenceToken, Some("g"), 9_000)];
    for (kind, now) in [
        (GrantKind::AuthorizationCode, 2_001),
        (GrantKind::RefreshToken, 12_000),
    ] {
        assert!(
            !store
                .renew_grant("n0", kind, now, 20_000, &late)
                .await
                .unwrap(),
            "{kind} at {now}"
        );
    }
    store
        .consume_grant("n0", GrantKind::RefreshToken, 2_002)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !store
            .renew_grant("n0", GrantKind::RefreshToken, 2_003, 20_000, &late)
            .await
            .unwrap()
    );
    assert!(store.find_grant("b2").await.unwrap().is_none());
    assert_eq!(
        store.find_grant("n0").await.unwrap().unwrap().expires_at,
        12_000
    );
}

/// 16 concurrent rotations of the live refresh token `digest`, each with its own successor:
/// one winner, and only its successor exists.
async fn one_of_concurrent_rotations_wins(store: Arc<dyn Store>, digest: &'static str) {
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let next = grant(&format!("n{i}"), GrantKind::RefreshToken, Some("f"), 9_000);
            store
                .rotate_grant(digest, GrantKind::RefreshToken, 3_000, &[next])
                .await
                .unwrap()
                .is_some()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
    let mut successors = 0;
    for i in 0..16 {
        successors += usize::from(store.find_grant(&format!("n{i}")).await.unwrap().is_some());
    }
    assert_eq!(successors, 1, "only the winner's successor exists");
}

/// Ending a session deletes its grants, except the kind that outlives it.
pub async fn session_grants_end_with_the_session(store: Arc<dyn Store>) {
    let mut other = grant("g3", GrantKind::AuthorizationCode, None, 9_000);
    other.session_id = Some("sid-2".into());
    for g in [
        grant("g1", GrantKind::AuthorizationCode, None, 9_000),
        grant("g2", GrantKind::RefreshToken, Some("f"), 9_000),
        other,
    ] {
        store.insert_grant(&g).await.unwrap();
    }
    assert_eq!(
        store
            .session_grant_clients("sid-1", GrantKind::AuthorizationCode)
            .await
            .unwrap(),
        ["c1"]
    );
    assert!(
        store
            .session_grant_clients("sid-1", GrantKind::Consent)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .delete_session_grants("sid-1", GrantKind::RefreshToken)
            .await
            .unwrap(),
        1
    );
    assert!(store.find_grant("g1").await.unwrap().is_none());
    assert!(store.find_grant("g2").await.unwrap().is_some());
    assert!(store.find_grant("g3").await.unwrap().is_some());
}

/// A user's grants are deleted together, except the kind kept (remembered consent), if any.
pub async fn a_users_grants_go_together(store: Arc<dyn Store>) {
    let mut other = grant("o1", GrantKind::RefreshToken, None, 9_000);
    other.subject = Some("sub-2".into());
    for g in [
        grant("u1", GrantKind::RefreshToken, Some("f"), 9_000),
        grant("u2", GrantKind::JwtAccessToken, Some("f"), 9_000),
        grant("u3", GrantKind::Consent, None, 9_000),
        other,
    ] {
        store.insert_grant(&g).await.unwrap();
    }
    assert_eq!(
        store
            .subject_grant_clients("sub-1", GrantKind::Consent)
            .await
            .unwrap(),
        ["c1"]
    );
    assert!(
        store
            .subject_grant_clients("sub-2", GrantKind::Consent)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .delete_subject_client_grants("sub-1", "other-client")
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .delete_subject_grants("sub-1", Some(GrantKind::Consent))
            .await
            .unwrap(),
        2
    );
    assert!(store.find_grant("u1").await.unwrap().is_none());
    assert!(store.find_grant("u2").await.unwrap().is_none());
    assert!(store.find_grant("u3").await.unwrap().is_some());
    assert!(store.find_grant("o1").await.unwrap().is_some());
    // A user's grants for one client go together, another user's stay.
    assert_eq!(
        store
            .delete_subject_client_grants("sub-1", "c1")
            .await
            .unwrap(),
        1
    );
    assert!(store.find_grant("u3").await.unwrap().is_none());
    assert!(store.find_grant("o1").await.unwrap().is_some());
    // Nothing kept: every grant of the user goes.
    assert_eq!(store.delete_subject_grants("sub-1", None).await.unwrap(), 0);
    assert!(store.find_grant("u3").await.unwrap().is_none());
    assert!(store.find_grant("o1").await.unwrap().is_some());
}

/// Every kind is stored under its name and read back as itself.
pub async fn every_grant_kind_is_stored_by_its_name(store: Arc<dyn Store>) {
    for kind in GrantKind::ALL {
        store
            .insert_grant(&grant(kind.as_str(), kind, None, 9_000))
            .await
            .unwrap();
    }
    for kind in GrantKind::ALL {
        let found = store.find_grant(kind.as_str()).await.unwrap().unwrap();
        assert_eq!(found.kind, kind);
    }
}

/// A grant with a lookup digest is found by it while it is live and of the kind asked for.
pub async fn grants_are_found_by_their_lookup_digest(store: Arc<dyn Store>) {
    let mut pending = grant("p1", GrantKind::Interaction, None, 2_000);
    pending.lookup_digest = Some("user-code-1".into());
    store.insert_grant(&pending).await.unwrap();
    assert_eq!(store.find_grant("p1").await.unwrap(), Some(pending.clone()));
    let found = |lookup: &'static str, kind, now| {
        let store = store.clone();
        async move { store.find_grant_by_lookup(lookup, kind, now).await.unwrap() }
    };
    assert_eq!(
        found("user-code-1", GrantKind::Interaction, 1_500).await,
        Some(pending)
    );
    assert!(
        found("user-code-2", GrantKind::Interaction, 1_500)
            .await
            .is_none()
    );
    assert!(
        found("user-code-1", GrantKind::Consent, 1_500)
            .await
            .is_none()
    );
    assert!(
        found("user-code-1", GrantKind::Interaction, 2_000)
            .await
            .is_none(),
        "a grant is expired at its expires_at"
    );
    store
        .consume_grant("p1", GrantKind::Interaction, 1_600)
        .await
        .unwrap()
        .unwrap();
    assert!(
        found("user-code-1", GrantKind::Interaction, 1_700)
            .await
            .is_none()
    );
}

/// A lookup digest names one grant: a second grant with it is a conflict, also as the
/// successor of a rotation (which then changes nothing), also while the first is expired.
pub async fn a_lookup_digest_names_one_grant(store: Arc<dyn Store>) {
    let mut first = grant("l1", GrantKind::Interaction, None, 1_200);
    first.lookup_digest = Some("code".into());
    store.insert_grant(&first).await.unwrap();
    let mut second = grant("l2", GrantKind::Interaction, None, 9_000);
    second.lookup_digest = Some("code".into());
    assert!(matches!(
        store.insert_grant(&second).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.find_grant("l2").await.unwrap().is_none());
    store
        .insert_grant(&grant("r0", GrantKind::RefreshToken, Some("f"), 9_000))
        .await
        .unwrap();
    let rotated = store
        .rotate_grant(
            "r0",
            GrantKind::RefreshToken,
            1_500,
            std::slice::from_ref(&second),
        )
        .await;
    assert!(matches!(rotated, Err(StoreError::Conflict(_))));
    assert_eq!(
        store.find_grant("r0").await.unwrap().unwrap().consumed_at,
        None
    );
    assert!(store.find_grant("l2").await.unwrap().is_none());
    // Once the first is purged, the digest is free again.
    assert_eq!(store.purge_expired_grants(1_300).await.unwrap(), 1);
    store.insert_grant(&second).await.unwrap();
    assert_eq!(
        store
            .find_grant_by_lookup("code", GrantKind::Interaction, 1_500)
            .await
            .unwrap()
            .map(|g| g.handle_digest),
        Some("l2".into())
    );
}

/// A grant's data is replaced only while it is live, of the kind named, and still at the
/// version expected; each replacement counts the version up.
pub async fn grant_data_is_compared_and_set(store: Arc<dyn Store>) {
    store
        .insert_grant(&grant("p1", GrantKind::Interaction, None, 2_000))
        .await
        .unwrap();
    let approved = json!({"approved": true});
    let denied = json!({"approved": false});
    let kind = GrantKind::Interaction;
    let set = |digest: &'static str, kind, version, data: serde_json::Value, now| {
        let store = store.clone();
        async move {
            store
                .update_grant_data(digest, kind, version, &data, now)
                .await
                .unwrap()
        }
    };
    assert!(!set("p1", GrantKind::Consent, 0, approved.clone(), 1_500).await);
    assert!(!set("p1", kind, 1, approved.clone(), 1_500).await);
    assert!(
        !set("p1", kind, 0, approved.clone(), 2_000).await,
        "expired"
    );
    assert!(!set("missing", kind, 0, approved.clone(), 1_500).await);
    assert!(set("p1", kind, 0, approved.clone(), 1_500).await);
    let stored = store.find_grant("p1").await.unwrap().unwrap();
    assert_eq!((stored.data, stored.version), (approved.clone(), 1));
    assert!(
        !set("p1", kind, 0, denied.clone(), 1_500).await,
        "decided already"
    );
    assert!(set("p1", kind, 1, denied.clone(), 1_500).await);
    store
        .consume_grant("p1", kind, 1_600)
        .await
        .unwrap()
        .unwrap();
    assert!(!set("p1", kind, 2, approved, 1_700).await, "consumed");
    let stored = store.find_grant("p1").await.unwrap().unwrap();
    assert_eq!((stored.data, stored.version), (denied, 2));
}

/// Many instances deciding one pending grant at once: exactly one decision is stored.
pub async fn concurrent_compare_and_set_has_one_winner(store: Arc<dyn Store>) {
    store
        .insert_grant(&grant("race", GrantKind::Interaction, None, 9_000))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let data = json!({ "decided_by": i });
                let won = store
                    .update_grant_data("race", GrantKind::Interaction, 0, &data, 1_500)
                    .await
                    .unwrap();
                won.then_some(data)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        winners.extend(t.await.unwrap());
    }
    assert_eq!(winners.len(), 1);
    let stored = store.find_grant("race").await.unwrap().unwrap();
    assert_eq!((Some(stored.data), stored.version), (winners.pop(), 1));
}
