//! The one conformance suite every store implementation passes.
//!
//! A store's tests call [`store_conformance_tests!`](crate::store_conformance_tests) with an
//! expression that makes a fresh, empty store; the macro writes one test per check below.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support code

use std::sync::Arc;

use serde_json::json;

use super::{Store, StoreError};

mod accounts;
mod batch;
mod counters;
mod grants;
use crate::model::{
    AccessTokenType, ApiResource, ApiScope, Client, Grant, GrantKind, IdentityResource, KeyRecord,
    Resources, Session, Source, TokenEndpointAuthMethod, User,
};
use crate::secret::Secret;
pub use accounts::*;
pub use batch::*;
pub use counters::*;
pub use grants::*;

/// Writes one `#[tokio::test]` per conformance check, each on a fresh store made by `$make`
/// (an expression of type `impl Future<Output = Arc<dyn Store>>`).
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@each $make;
            clients_roundtrip,
            clients_compare_and_set,
            resources_roundtrip,
            grants_insert_and_find,
            grant_is_consumed_once,
            grant_consume_respects_kind_and_expiry,
            concurrent_consume_has_one_winner,
            rotation_consumes_and_inserts_together,
            renewal_moves_the_end_and_inserts_together,
            grant_families_and_purge,
            keys_roundtrip,
            users_roundtrip,
            sessions_roundtrip,
            session_grants_end_with_the_session,
            server_secrets_are_created_once,
            a_users_grants_go_together,
            every_grant_kind_is_stored_by_its_name,
            grants_are_found_by_their_lookup_digest,
            a_lookup_digest_names_one_grant,
            grant_data_is_compared_and_set,
            concurrent_compare_and_set_has_one_winner,
            a_session_is_renewed_in_one_step,
            factors_roundtrip,
            factor_updates_are_compared_and_set,
            concurrent_factor_updates_have_one_winner,
            links_roundtrip,
            a_batch_writes_everything,
            a_refused_batch_writes_nothing,
            a_conflicting_batch_writes_nothing,
            concurrent_batches_have_one_winner,
            a_batch_updates_data_once_per_version,
            counters_roundtrip,
            concurrent_counter_updates_lose_nothing,
            ping_answers
        );
    };
    (@each $make:expr; $($check:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let store: std::sync::Arc<dyn $crate::store::Store> = $make.await;
                $crate::store::conformance::$check(store).await;
            }
        )*
    };
}

fn client(id: &str) -> Client {
    Client::builder(id)
        .name(&format!("Client {id}"))
        .secret_digests(&["digest-1"])
        .grant_types(&["client_credentials"])
        .scopes(&["api1.read"])
        .consent(false)
        .lifetimes(3_600, 300)
        .refresh_lifetimes(3_600, 7_200)
        .auth_method(TokenEndpointAuthMethod::ClientSecretBasic)
        .build()
}

pub(super) fn grant(digest: &str, kind: GrantKind, family: Option<&str>, expires_at: i64) -> Grant {
    Grant {
        handle_digest: digest.into(),
        kind,
        client_id: "c1".into(),
        subject: Some("sub-1".into()),
        session_id: Some("sid-1".into()),
        family: family.map(Into::into),
        lookup_digest: None,
        data: json!({"scope": "openid api1.read", "n": 1}),
        version: 0,
        created_at: 1_000,
        expires_at,
        consumed_at: None,
    }
}

fn user(subject: &str, username: &str) -> User {
    let mut claims = serde_json::Map::new();
    claims.insert("name".into(), json!("Alice Smith"));
    claims.insert("email_verified".into(), json!(true));
    User {
        subject: subject.into(),
        username: username.into(),
        password_hash: Secret::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        claims,
        source: Source::Config,
        disabled: false,
        created_at: 1_000,
        updated_at: 1_000,
    }
}

pub(super) fn session(digest: &str, subject: &str, expires_at: i64) -> Session {
    Session {
        id_digest: digest.into(),
        sid: format!("sid-{digest}"),
        subject: subject.into(),
        auth_time: 1_000,
        created_at: 1_000,
        last_seen: 1_000,
        expires_at,
        absolute_expires_at: expires_at + 1_000,
        data: json!({"clients": ["web"]}),
    }
}

/// Clients: insert, replace, find, list in order with source, delete.
pub async fn clients_roundtrip(store: Arc<dyn Store>) {
    assert!(store.find_client("b").await.unwrap().is_none());
    store
        .upsert_client(&client("b"), Source::Config)
        .await
        .unwrap();
    store
        .upsert_client(&client("a"), Source::Managed)
        .await
        .unwrap();
    let mut changed = client("b");
    changed.allowed_scopes.push("api1.write".into());
    changed.settings.access_token_type = AccessTokenType::Reference;
    store.upsert_client(&changed, Source::Config).await.unwrap();
    assert_eq!(store.find_client("b").await.unwrap(), Some(changed.clone()));
    let list = store.list_clients().await.unwrap();
    assert_eq!(
        list,
        vec![(client("a"), Source::Managed), (changed, Source::Config)]
    );
    assert!(store.delete_client("a").await.unwrap());
    assert!(!store.delete_client("a").await.unwrap());
    assert_eq!(store.list_clients().await.unwrap().len(), 1);
}

/// Clients written only where expected: an insert never over an existing client; a replace
/// only at the version read, so that of two writers who read one version one wins.
pub async fn clients_compare_and_set(store: Arc<dyn Store>) {
    use crate::clients::manage::version_of;
    assert!(
        store
            .insert_client(&client("c"), Source::Managed)
            .await
            .unwrap()
    );
    let mut other = client("c");
    other.allowed_scopes.push("api1.write".into());
    assert!(!store.insert_client(&other, Source::Managed).await.unwrap());
    assert_eq!(store.find_client("c").await.unwrap(), Some(client("c")));
    let read = version_of(&client("c"));
    let mut first = client("c");
    first.enabled = false;
    let mut second = client("c");
    second.client_name = Some("second".into());
    assert!(
        store
            .replace_client(&first, Source::Managed, &read)
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_client(&second, Source::Managed, &read)
            .await
            .unwrap()
    );
    assert_eq!(store.find_client("c").await.unwrap(), Some(first.clone()));
    assert!(
        store
            .replace_client(&second, Source::Managed, &version_of(&first))
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_client(&client("none"), Source::Managed, &read)
            .await
            .unwrap()
    );
    assert!(store.find_client("none").await.unwrap().is_none());
}

/// Resources: empty until saved; saved value read back whole.
pub async fn resources_roundtrip(store: Arc<dyn Store>) {
    assert_eq!(store.load_resources().await.unwrap(), Resources::default());
    let resources = Resources {
        authorization_details_types: vec![],
        api_scopes: vec![ApiScope {
            name: "api1.read".into(),
            display_name: Some("Read".into()),
            show_in_discovery: true,
        }],
        api_resources: vec![ApiResource {
            name: "urn:api1".into(),
            scopes: vec!["api1.read".into()],
            secret_digests: vec!["d".into()],
            signing_alg: Some(crate::tokens::SigningAlg::Ps256),
        }],
        identity_resources: IdentityResource::builtin(),
    };
    store.save_resources(&resources).await.unwrap();
    assert_eq!(store.load_resources().await.unwrap(), resources);
    let emptied = Resources::default();
    store.save_resources(&emptied).await.unwrap();
    assert_eq!(store.load_resources().await.unwrap(), emptied);

    // The managed resources are apart from those, and changed by compare-and-set: of two
    // writers from the same state, one wins.
    assert_eq!(store.load_managed_resources().await.unwrap(), emptied);
    assert!(
        store
            .replace_managed_resources(&emptied, &resources)
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_managed_resources(&emptied, &emptied)
            .await
            .unwrap(),
        "a stale writer loses"
    );
    assert_eq!(store.load_managed_resources().await.unwrap(), resources);
    assert_eq!(store.load_resources().await.unwrap(), emptied);
    let (a, b) = tokio::join!(
        store.replace_managed_resources(&resources, &emptied),
        store.replace_managed_resources(&resources, &emptied),
    );
    assert_eq!(
        [a.unwrap(), b.unwrap()].iter().filter(|won| **won).count(),
        1
    );
    assert!(
        store
            .replace_managed_resources(&emptied, &resources)
            .await
            .unwrap(),
        "emptied, then made again"
    );
}

/// Keys: insert, list by activation, private bytes intact, conflict, delete.
pub async fn keys_roundtrip(store: Arc<dyn Store>) {
    let key = |kid: &str, activates_at: i64| KeyRecord {
        kid: kid.into(),
        alg: "ES256".into(),
        private_pkcs8: Secret::new((0u8..=255).collect()),
        created_at: 1_000,
        activates_at,
    };
    store.insert_key(&key("later", 3_000)).await.unwrap();
    store.insert_key(&key("first", 1_000)).await.unwrap();
    let keys = store.list_keys().await.unwrap();
    assert_eq!(keys, vec![key("first", 1_000), key("later", 3_000)]);
    assert!(matches!(
        store.insert_key(&key("first", 9)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .replace_key_material("first", b"sealed")
            .await
            .unwrap()
    );
    assert!(!store.replace_key_material("none", b"sealed").await.unwrap());
    let first = store.list_keys().await.unwrap().remove(0);
    assert_eq!(first.private_pkcs8.expose(), b"sealed");
    assert_eq!((first.kid.as_str(), first.activates_at), ("first", 1_000));
    assert!(store.delete_key("first").await.unwrap());
    assert!(!store.delete_key("first").await.unwrap());
    assert_eq!(store.list_keys().await.unwrap().len(), 1);
}

/// Users: unique username and subject, lookups, update, order, delete.
pub async fn users_roundtrip(store: Arc<dyn Store>) {
    store.insert_user(&user("s2", "bob")).await.unwrap();
    store.insert_user(&user("s1", "alice")).await.unwrap();
    assert!(matches!(
        store.insert_user(&user("s3", "alice")).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.insert_user(&user("s1", "carol")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.find_user_by_username("alice").await.unwrap(),
        Some(user("s1", "alice"))
    );
    assert_eq!(
        store
            .find_user_by_subject("s2")
            .await
            .unwrap()
            .map(|u| u.username),
        Some("bob".into())
    );
    let mut changed = user("s1", "alice");
    changed.password_hash = Secret::new("$argon2id$new".into());
    changed.disabled = true;
    changed.claims.insert("department".into(), json!("R&D"));
    changed.updated_at = 2_000;
    assert!(store.update_user(&changed).await.unwrap());
    assert_eq!(
        store.find_user_by_username("alice").await.unwrap(),
        Some(changed)
    );
    assert!(!store.update_user(&user("nobody", "x")).await.unwrap());
    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(store.delete_user("s1").await.unwrap());
    assert!(
        store
            .find_user_by_username("alice")
            .await
            .unwrap()
            .is_none()
    );
}

/// Sessions: expiry on lookup, update, per-subject listing, delete, purge.
pub async fn sessions_roundtrip(store: Arc<dyn Store>) {
    store
        .insert_session(&session("s1", "alice", 2_000))
        .await
        .unwrap();
    store
        .insert_session(&session("s2", "alice", 5_000))
        .await
        .unwrap();
    store
        .insert_session(&session("s3", "bob", 5_000))
        .await
        .unwrap();
    assert_eq!(
        store.find_session("s1", 1_500).await.unwrap(),
        Some(session("s1", "alice", 2_000))
    );
    assert!(store.find_session("s1", 2_000).await.unwrap().is_none());
    // Sliding expiry moves; the absolute expiry never does.
    let mut touched = session("s2", "alice", 6_000);
    touched.absolute_expires_at = 6_000; // as inserted (5_000 + 1_000)
    touched.last_seen = 1_700;
    touched.data = json!({"clients": ["web", "spa"]});
    assert!(store.update_session(&touched).await.unwrap());
    assert_eq!(
        store.find_session("s2", 1_800).await.unwrap(),
        Some(touched.clone())
    );
    let alice: Vec<String> = store
        .list_sessions_for_subject("alice", 2_500)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id_digest)
        .collect();
    assert_eq!(alice, ["s2"]);
    let mut live: Vec<String> = store
        .list_sessions(2_500)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id_digest)
        .collect();
    live.sort();
    assert_eq!(live, ["s2", "s3"]);
    assert_eq!(
        store.delete_session("s3").await.unwrap().map(|s| s.subject),
        Some("bob".into())
    );
    assert!(store.delete_session("s3").await.unwrap().is_none());
    assert_eq!(store.purge_expired_sessions(2_500).await.unwrap(), 1);
    assert!(store.find_session("s2", 1_800).await.unwrap().is_some());
}

/// A session moves to a new cookie digest in one step, keeping its sid; the old digest then
/// finds nothing, and renewing it again fails.
pub async fn a_session_is_renewed_in_one_step(store: Arc<dyn Store>) {
    let old = session("old", "alice", 5_000);
    store.insert_session(&old).await.unwrap();
    let mut renewed = session("new", "alice", 6_000);
    renewed.auth_time = 2_000;
    renewed.sid = "ignored".into();
    assert!(store.renew_session("old", &renewed).await.unwrap());
    assert!(store.find_session("old", 1_500).await.unwrap().is_none());
    let found = store.find_session("new", 1_500).await.unwrap().unwrap();
    assert_eq!(found.sid, old.sid, "the sid stays");
    assert_eq!(found.auth_time, 2_000);
    assert_eq!(found.expires_at, 6_000);
    assert!(!store.renew_session("old", &renewed).await.unwrap());
}

/// A server secret is stored by the first caller; every later (or concurrent) caller gets that
/// one, whatever candidate it brings.
pub async fn server_secrets_are_created_once(store: Arc<dyn Store>) {
    let candidates: Vec<Secret<String>> = (0..8)
        .map(|i| Secret::new(format!("candidate-{i}")))
        .collect();
    let mut tasks = Vec::new();
    for candidate in candidates.clone() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.server_secret("cookies", &candidate, 1).await.unwrap()
        }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    assert!(seen.iter().all(|s| s == &seen[0]), "one value for everyone");
    assert!(candidates.contains(&seen[0]));
    let later = store
        .server_secret("cookies", &Secret::new("late".into()), 2)
        .await
        .unwrap();
    assert_eq!(later, seen[0]);
    let other = store
        .server_secret("other", &Secret::new("o".into()), 2)
        .await
        .unwrap();
    assert_eq!(other.expose(), "o");
    store.reclaim_space().await.unwrap();
}

/// The store answers a ping.
pub async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    assert!(["memory", "sqlite", "postgres"].contains(&store.backend()));
}
