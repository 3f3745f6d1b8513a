//! CVE-22: issuing tokens is one transaction with consuming what they are issued for. A
//! failure injected after the tokens are made and before the commit leaves the code unused and
//! no token stored, and the client gets a retryable error.

use async_trait::async_trait;

use super::code_flow::{VERIFIER, World, body, world};
use crate::clock::UnixTime;
use crate::crypto::handle_digest;
use crate::grants::TokenContext;
use crate::model::{Grant, GrantKind};
use crate::protocol::OAuthError;
use crate::protocol::pkce::s256_challenge;
use crate::store::{GrantStore, MemoryStore, StoreError, StoreResult};

/// The memory store, whose commit of a rotation fails.
struct FailingCommit<'a>(&'a MemoryStore);

#[async_trait]
impl GrantStore for FailingCommit<'_> {
    async fn insert_grant(&self, grant: &Grant) -> StoreResult<()> {
        self.0.insert_grant(grant).await
    }
    async fn find_grant(&self, handle_digest: &str) -> StoreResult<Option<Grant>> {
        self.0.find_grant(handle_digest).await
    }
    async fn find_grant_by_lookup(
        &self,
        lookup_digest: &str,
        kind: GrantKind,
        now: UnixTime,
    ) -> StoreResult<Option<Grant>> {
        self.0.find_grant_by_lookup(lookup_digest, kind, now).await
    }
    async fn consume_grant(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        now: UnixTime,
    ) -> StoreResult<Option<Grant>> {
        self.0.consume_grant(handle_digest, kind, now).await
    }
    async fn rotate_grant(
        &self,
        _: &str,
        _: GrantKind,
        _: UnixTime,
        _: &[Grant],
    ) -> StoreResult<Option<Grant>> {
        Err(StoreError::Unavailable(
            "injected failure before commit".into(),
        ))
    }
    async fn renew_grant(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        now: UnixTime,
        expires_at: UnixTime,
        next: &[Grant],
    ) -> StoreResult<bool> {
        self.0
            .renew_grant(handle_digest, kind, now, expires_at, next)
            .await
    }
    async fn update_grant_data(
        &self,
        handle_digest: &str,
        kind: GrantKind,
        expected_version: i64,
        data: &serde_json::Value,
        now: UnixTime,
    ) -> StoreResult<bool> {
        self.0
            .update_grant_data(handle_digest, kind, expected_version, data, now)
            .await
    }
    async fn delete_grant(&self, handle_digest: &str) -> StoreResult<bool> {
        self.0.delete_grant(handle_digest).await
    }
    async fn delete_grant_family(&self, family: &str) -> StoreResult<u64> {
        self.0.delete_grant_family(family).await
    }
    async fn delete_session_grants(&self, sid: &str, keep_kind: GrantKind) -> StoreResult<u64> {
        self.0.delete_session_grants(sid, keep_kind).await
    }
    async fn delete_subject_grants(
        &self,
        subject: &str,
        keep_kind: Option<GrantKind>,
    ) -> StoreResult<u64> {
        self.0.delete_subject_grants(subject, keep_kind).await
    }
    async fn session_grant_clients(&self, sid: &str, kind: GrantKind) -> StoreResult<Vec<String>> {
        self.0.session_grant_clients(sid, kind).await
    }
    async fn subject_grant_clients(
        &self,
        subject: &str,
        kind: GrantKind,
    ) -> StoreResult<Vec<String>> {
        self.0.subject_grant_clients(subject, kind).await
    }
    async fn delete_subject_client_grants(
        &self,
        subject: &str,
        client_id: &str,
    ) -> StoreResult<u64> {
        self.0
            .delete_subject_client_grants(subject, client_id)
            .await
    }
    async fn purge_expired_grants(&self, before: UnixTime) -> StoreResult<u64> {
        self.0.purge_expired_grants(before).await
    }
}

/// A code for `openid offline_access`, with the S256 challenge of `VERIFIER`.
async fn offline_code(w: &World) -> String {
    w.code_for(
        Some(s256_challenge(VERIFIER)),
        &["openid", "offline_access"],
    )
    .await
}

#[tokio::test]
async fn cve22_a_failed_commit_leaves_the_code_unused_and_no_token() {
    let w = world().await;
    let code = offline_code(&w).await;
    let failing = FailingCommit(&w.store);
    let ctx = TokenContext {
        grants: &failing,
        ..w.ctx()
    };
    let form = body(&code, Some(VERIFIER));
    let refused = super::token(&ctx, &w.store, &w.web, &form).await;
    assert!(
        matches!(refused, Err(OAuthError::TemporarilyUnavailable { .. })),
        "a retryable 503: {refused:?}"
    );
    let stored = w.store.find_grant(&handle_digest(&code)).await.unwrap();
    assert_eq!(
        stored.unwrap().consumed_at,
        None,
        "the code is still unused"
    );
    // The retry succeeds: the code, its refresh token and its reference access token are then
    // the only grants, so the failed attempt left nothing behind.
    let tokens = super::token(&w.ctx(), &w.store, &w.web, &form)
        .await
        .unwrap();
    assert!(tokens.refresh_token.is_some());
    assert_eq!(w.store.purge_expired_grants(i64::MAX).await.unwrap(), 3);
}

/// SEC-14: a code found live, then redeemed by another request before this one's checks failed,
/// is a replay all the same: burning it finds it consumed and revokes what it gave.
#[tokio::test]
async fn a_failed_check_on_a_code_redeemed_meanwhile_revokes_its_family() {
    let w = world().await;
    let code = offline_code(&w).await;
    let form = body(&code, Some(VERIFIER));
    let tokens = super::token(&w.ctx(), &w.store, &w.web, &form)
        .await
        .unwrap();
    let refresh = handle_digest(tokens.refresh_token.as_deref().unwrap());
    assert!(w.store.find_grant(&refresh).await.unwrap().is_some());
    // The other request's checks failed after the code was consumed: it burns the code.
    let outcome = crate::grants::single_use::burn(
        &w.ctx(),
        &handle_digest(&code),
        GrantKind::AuthorizationCode,
    )
    .await;
    assert!(outcome.is_ok());
    assert!(
        w.store.find_grant(&refresh).await.unwrap().is_none(),
        "the refresh token the code gave is revoked"
    );
}
