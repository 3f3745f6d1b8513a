//! Remembered consent (OIDC Core §3.1.2.4): what a user allowed a client, kept per user and
//! client when they asked for it to be remembered.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::UnixTime;
use crate::crypto::handle_digest;
use crate::model::{Grant, GrantKind};
use crate::protocol::OAuthError;
use crate::store::{GrantPayload, GrantStore};

/// Remembered consent lasts this long.
pub const CONSENT_LIFETIME: i64 = 365 * 86_400;

fn consent_key(subject: &str, client_id: &str) -> String {
    // The two parts are length-prefixed so that no pair of values can collide. The kind's
    // name is part of the key of every consent stored so far.
    handle_digest(&format!(
        "{}:{}:{subject}:{client_id}",
        GrantKind::Consent.as_str(),
        subject.len()
    ))
}

/// What a user consented to for a client and asked to be remembered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedConsent {
    /// Scopes.
    pub scopes: Vec<String>,
    /// Claims asked for by name (OIDC Core §5.5) beyond what the scopes release.
    #[serde(default)]
    pub claims: Vec<String>,
}

impl RememberedConsent {
    /// Whether it covers every one of `scopes` and `claims`.
    pub fn covers(&self, scopes: &[String], claims: &[String]) -> bool {
        scopes.iter().all(|s| self.scopes.contains(s))
            && claims.iter().all(|c| self.claims.contains(c))
    }
}

/// Stored consent, as written now or (a list of scopes) before claims were remembered.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredConsent {
    Current(RememberedConsent),
    Scopes(Vec<String>),
}

impl GrantPayload for RememberedConsent {
    const KIND: GrantKind = GrantKind::Consent;

    /// Also reads consent stored before claims were remembered.
    fn read(data: &Value) -> serde_json::Result<RememberedConsent> {
        Ok(match StoredConsent::deserialize(data)? {
            StoredConsent::Current(consent) => consent,
            StoredConsent::Scopes(scopes) => RememberedConsent {
                scopes,
                claims: vec![],
            },
        })
    }
}

/// What `subject` has consented to for `client_id` and asked to be remembered.
pub async fn remembered_consent(
    grants: &dyn GrantStore,
    subject: &str,
    client_id: &str,
    now: UnixTime,
) -> Result<RememberedConsent, OAuthError> {
    let stored = grants
        .find_grant(&consent_key(subject, client_id))
        .await?
        .filter(|g| g.is::<RememberedConsent>() && g.expires_at > now);
    match stored {
        Some(grant) => grant.payload(),
        None => Ok(RememberedConsent::default()),
    }
}

/// The clients `subject` consented to and asked to be remembered, with what each was given.
pub async fn remembered_consents(
    grants: &dyn GrantStore,
    subject: &str,
    now: UnixTime,
) -> Result<Vec<(String, RememberedConsent)>, OAuthError> {
    let mut all = Vec::new();
    for client_id in grants
        .subject_grant_clients(subject, GrantKind::Consent)
        .await?
    {
        let consent = remembered_consent(grants, subject, &client_id, now).await?;
        if !consent.scopes.is_empty() {
            all.push((client_id, consent));
        }
    }
    Ok(all)
}

/// Remembers consent to `scopes` and `claims` (added to what was remembered before).
pub async fn remember_consent(
    grants: &dyn GrantStore,
    subject: &str,
    client_id: &str,
    (scopes, claims): (&[String], &[String]),
    now: UnixTime,
) -> Result<(), OAuthError> {
    let key = consent_key(subject, client_id);
    let mut all = remembered_consent(grants, subject, client_id, now).await?;
    for s in scopes {
        if !all.scopes.contains(s) {
            all.scopes.push(s.clone());
        }
    }
    for c in claims {
        if !all.claims.contains(c) {
            all.claims.push(c.clone());
        }
    }
    grants.delete_grant(&key).await?;
    let record = Grant {
        subject: Some(subject.to_string()),
        ..Grant::new(
            key,
            client_id,
            &all,
            now,
            now.saturating_add(CONSENT_LIFETIME),
        )?
    };
    match grants.insert_grant(&record).await {
        // Another instance remembered the same consent at the same moment.
        Err(crate::store::StoreError::Conflict(_)) => Ok(()),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn consent_is_remembered_and_merged() {
        let store = MemoryStore::new();
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            remembered_consent(&store, "u", "c", 0).await.unwrap(),
            RememberedConsent::default()
        );
        remember_consent(&store, "u", "c", (&s(&["openid"]), &[]), 0)
            .await
            .unwrap();
        remember_consent(&store, "u", "c", (&s(&["profile"]), &s(&["email"])), 1)
            .await
            .unwrap();
        let remembered = remembered_consent(&store, "u", "c", 2).await.unwrap();
        assert_eq!(remembered.scopes, s(&["openid", "profile"]));
        assert!(remembered.covers(&s(&["openid"]), &s(&["email"])));
        assert!(!remembered.covers(&s(&["openid"]), &s(&["phone_number"])));
        assert!(!remembered.covers(&s(&["phone"]), &[]));
        assert_eq!(
            remembered_consent(&store, "u", "other", 2).await.unwrap(),
            RememberedConsent::default()
        );
    }

    #[tokio::test]
    async fn consent_stored_as_a_list_of_scopes_reads_and_corrupt_consent_is_an_error() {
        let store = MemoryStore::new();
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        remember_consent(&store, "u", "c", (&s(&["openid"]), &[]), 0)
            .await
            .unwrap();
        let key = consent_key("u", "c");
        let mut stored = store.find_grant(&key).await.unwrap().unwrap();
        stored.data = serde_json::json!(["openid", "profile"]);
        store.delete_grant(&key).await.unwrap();
        store.insert_grant(&stored).await.unwrap();
        let remembered = remembered_consent(&store, "u", "c", 1).await.unwrap();
        assert_eq!(remembered.scopes, s(&["openid", "profile"]));
        assert!(remembered.claims.is_empty());
        stored.data = serde_json::json!({"scopes": "openid"});
        store.delete_grant(&key).await.unwrap();
        store.insert_grant(&stored).await.unwrap();
        let corrupt = remembered_consent(&store, "u", "c", 1).await.unwrap_err();
        assert!(
            corrupt
                .to_string()
                .contains("payload of a grant of kind consent"),
            "{corrupt}"
        );
    }
}
