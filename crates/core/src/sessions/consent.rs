//! Remembered consent (OIDC Core §3.1.2.4): what a user allowed a client, kept per user and
//! client when they asked for it to be remembered.

use crate::protocol::OrServerError as _;
use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::handle_digest;
use crate::model::Grant;
use crate::protocol::OAuthError;
use crate::store::GrantStore;

/// The grant kind remembered consent is stored under.
pub const CONSENT: &str = "consent";

/// Remembered consent lasts this long.
pub const CONSENT_LIFETIME: i64 = 365 * 86_400;

fn consent_key(subject: &str, client_id: &str) -> String {
    // The two parts are length-prefixed so that no pair of values can collide.
    handle_digest(&format!(
        "{CONSENT}:{}:{subject}:{client_id}",
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
        .filter(|g| g.kind == CONSENT && g.expires_at > now)
        .and_then(|g| serde_json::from_value::<StoredConsent>(g.data).ok());
    Ok(match stored {
        Some(StoredConsent::Current(c)) => c,
        Some(StoredConsent::Scopes(scopes)) => RememberedConsent {
            scopes,
            claims: vec![],
        },
        None => RememberedConsent::default(),
    })
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
        handle_digest: key,
        kind: CONSENT.into(),
        client_id: client_id.to_string(),
        subject: Some(subject.to_string()),
        session_id: None,
        family: None,
        data: serde_json::to_value(&all).or_server_error("encoding a stored record")?,
        created_at: now,
        expires_at: now.saturating_add(CONSENT_LIFETIME),
        consumed_at: None,
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
}
