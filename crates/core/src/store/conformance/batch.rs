//! Batches: every write happens or none does.

use std::sync::Arc;

use super::{grant, session};
use crate::model::GrantKind;
use crate::store::{BatchWrite, Committed, Store, StoreError, WriteBatch};

fn consume(digest: &str) -> BatchWrite {
    BatchWrite::Consume {
        handle_digest: digest.into(),
        kind: GrantKind::Interaction,
    }
}

/// A sign-in's batch: the form taken, the session opened, the code and the session's client
/// stored, in one commit; a client recorded before stays as it was.
pub async fn a_batch_writes_everything(store: Arc<dyn Store>) {
    store
        .insert_grant(&grant("form", GrantKind::Interaction, None, 2_000))
        .await
        .unwrap();
    let known = grant("client", GrantKind::SessionClient, None, 9_000);
    store.insert_grant(&known).await.unwrap();
    let mut batch = WriteBatch::new(1_500);
    batch.push(consume("form"));
    batch.push(BatchWrite::InsertSession(session("s1", "alice", 5_000)));
    batch.push(BatchWrite::Insert(grant(
        "code",
        GrantKind::AuthorizationCode,
        Some("f"),
        1_600,
    )));
    let mut again = known.clone();
    again.expires_at = 3_000;
    batch.push(BatchWrite::InsertOnce(again));
    assert_eq!(store.commit(&batch).await.unwrap(), Committed::All);
    let form = store.find_grant("form").await.unwrap().unwrap();
    assert_eq!(form.consumed_at, Some(1_500));
    assert!(store.find_session("s1", 1_500).await.unwrap().is_some());
    assert!(store.find_grant("code").await.unwrap().is_some());
    assert_eq!(store.find_grant("client").await.unwrap(), Some(known));
    // An empty batch commits.
    let empty = WriteBatch::new(1_500);
    assert_eq!(store.commit(&empty).await.unwrap(), Committed::All);
}

/// A write whose condition fails refuses the batch, and the writes before it are undone:
/// a form taken already, a session ended meanwhile.
pub async fn a_refused_batch_writes_nothing(store: Arc<dyn Store>) {
    store
        .insert_grant(&grant("form", GrantKind::Interaction, None, 2_000))
        .await
        .unwrap();
    store
        .insert_session(&session("old", "alice", 5_000))
        .await
        .unwrap();
    // The form is taken by the first batch; the second finds it gone at its consume.
    let sign_in = |digest: &str, code: &str| {
        let mut batch = WriteBatch::new(1_500);
        batch.push(BatchWrite::InsertSession(session(digest, "alice", 5_000)));
        batch.push(consume("form"));
        let code = grant(code, GrantKind::AuthorizationCode, None, 1_600);
        batch.push(BatchWrite::Insert(code));
        batch
    };
    assert_eq!(
        store.commit(&sign_in("s1", "c1")).await.unwrap(),
        Committed::All
    );
    assert_eq!(
        store.commit(&sign_in("s2", "c2")).await.unwrap(),
        Committed::Refused(1)
    );
    assert!(store.find_session("s2", 1_500).await.unwrap().is_none());
    assert!(store.find_grant("c2").await.unwrap().is_none());
    // A renewal of a session that has ended refuses its batch; the consume before it is undone.
    store
        .insert_grant(&grant("form2", GrantKind::Interaction, None, 2_000))
        .await
        .unwrap();
    let mut batch = WriteBatch::new(1_500);
    batch.push(consume("form2"));
    batch.push(BatchWrite::RenewSession {
        old_digest: "ended".into(),
        renewed: session("new", "alice", 5_000),
    });
    assert_eq!(store.commit(&batch).await.unwrap(), Committed::Refused(1));
    let form = store.find_grant("form2").await.unwrap().unwrap();
    assert_eq!(form.consumed_at, None, "the consume was undone");
    // A renewal of a live session moves it, with the rest.
    let mut batch = WriteBatch::new(1_500);
    batch.push(consume("form2"));
    batch.push(BatchWrite::RenewSession {
        old_digest: "old".into(),
        renewed: session("new", "alice", 5_000),
    });
    assert_eq!(store.commit(&batch).await.unwrap(), Committed::All);
    assert!(store.find_session("old", 1_500).await.unwrap().is_none());
    let renewed = store.find_session("new", 1_500).await.unwrap().unwrap();
    assert_eq!(renewed.sid, "sid-old");
}

/// An insert that conflicts fails the batch with `Conflict`, and nothing of it stays.
pub async fn a_conflicting_batch_writes_nothing(store: Arc<dyn Store>) {
    store
        .insert_grant(&grant("form", GrantKind::Interaction, None, 2_000))
        .await
        .unwrap();
    store
        .insert_grant(&grant("taken", GrantKind::AuthorizationCode, None, 2_000))
        .await
        .unwrap();
    let mut batch = WriteBatch::new(1_500);
    batch.push(consume("form"));
    batch.push(BatchWrite::InsertSession(session("s1", "alice", 5_000)));
    batch.push(BatchWrite::Insert(grant(
        "taken",
        GrantKind::AuthorizationCode,
        None,
        1_600,
    )));
    let failed = store.commit(&batch).await;
    assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
    let form = store.find_grant("form").await.unwrap().unwrap();
    assert_eq!(form.consumed_at, None);
    assert!(store.find_session("s1", 1_500).await.unwrap().is_none());
}

/// Of many batches that take the same form at once, exactly one commits, and only its
/// session exists.
pub async fn concurrent_batches_have_one_winner(store: Arc<dyn Store>) {
    store
        .insert_grant(&grant("form", GrantKind::Interaction, None, 2_000))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut batch = WriteBatch::new(1_500);
                batch.push(consume("form"));
                let digest = format!("s{i}");
                batch.push(BatchWrite::InsertSession(session(&digest, "alice", 5_000)));
                (digest, store.commit(&batch).await.unwrap())
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (digest, outcome) = t.await.unwrap();
        match outcome {
            Committed::All => winners.push(digest),
            refused => assert_eq!(refused, Committed::Refused(0)),
        }
    }
    assert_eq!(winners.len(), 1);
    let live = store
        .list_sessions_for_subject("alice", 1_500)
        .await
        .unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id_digest, winners[0]);
}

/// A decision on a pending grant is a compare-and-set of its data in the batch: the first of
/// two deciders who read the same version wins, the second's batch is refused and undone.
pub async fn a_batch_updates_data_once_per_version(store: Arc<dyn Store>) {
    let pending = grant("device", GrantKind::DeviceCode, None, 2_000);
    store.insert_grant(&pending).await.unwrap();
    for form in ["form1", "form2"] {
        let g = grant(form, GrantKind::Interaction, None, 2_000);
        store.insert_grant(&g).await.unwrap();
    }
    let decide = |form: &str, decision: &str| {
        let mut batch = WriteBatch::new(1_500);
        batch.push(consume(form));
        batch.push(BatchWrite::UpdateData {
            handle_digest: "device".into(),
            kind: GrantKind::DeviceCode,
            expected_version: 0,
            data: serde_json::json!({ "decision": decision }),
        });
        batch
    };
    let first = store.commit(&decide("form1", "approved")).await.unwrap();
    assert_eq!(first, Committed::All);
    let second = store.commit(&decide("form2", "denied")).await.unwrap();
    assert_eq!(second, Committed::Refused(1));
    let decided = store.find_grant("device").await.unwrap().unwrap();
    assert_eq!(decided.data, serde_json::json!({ "decision": "approved" }));
    assert_eq!(decided.version, 1);
    let form2 = store.find_grant("form2").await.unwrap().unwrap();
    assert_eq!(
        form2.consumed_at, None,
        "the refused batch's consume was undone"
    );
    // An expired grant is not decided.
    let mut late = WriteBatch::new(2_500);
    late.push(decide("form2", "denied").writes()[1].clone());
    assert_eq!(store.commit(&late).await.unwrap(), Committed::Refused(0));
}
