//! The grant checks of the conformance suite: insert and find, single use (also under
//! concurrency), kinds and expiry, families, rotation in one transaction, and what goes with a
//! session or a user.
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
    // Not consumable any more: nothing is inserted.
    let again = grant("r2", GrantKind::RefreshToken, Some("f"), 9_000);
    assert!(
        store
            .rotate_grant(
                "r0",
                GrantKind::RefreshToken,
                2_001,
                std::slice::from_ref(&again)
            )
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.find_grant("r2").await.unwrap().is_none());
    // Wrong kind or expired: the same.
    assert!(
        store
            .rotate_grant(
                "r1",
                GrantKind::AuthorizationCode,
                2_001,
                std::slice::from_ref(&again)
            )
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .rotate_grant(
                "r1",
                GrantKind::RefreshToken,
                9_000,
                std::slice::from_ref(&again)
            )
            .await
            .unwrap()
            .is_none()
    );
    // 16 concurrent rotations of r1, each with its own successor: one winner.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let next = grant(&format!("n{i}"), GrantKind::RefreshToken, Some("f"), 9_000);
            store
                .rotate_grant("r1", GrantKind::RefreshToken, 3_000, &[next])
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
            .delete_subject_grants("sub-1", Some(GrantKind::Consent))
            .await
            .unwrap(),
        2
    );
    assert!(store.find_grant("u1").await.unwrap().is_none());
    assert!(store.find_grant("u2").await.unwrap().is_none());
    assert!(store.find_grant("u3").await.unwrap().is_some());
    assert!(store.find_grant("o1").await.unwrap().is_some());
    // Nothing kept: every grant of the user goes.
    assert_eq!(store.delete_subject_grants("sub-1", None).await.unwrap(), 1);
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
