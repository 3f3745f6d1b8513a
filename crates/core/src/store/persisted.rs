//! Typed grants over one table. Every grant is stored in one row shape, [`Grant`]; what each
//! kind keeps besides is its payload, a type that names its kind ([`GrantPayload`]). Payloads
//! are written by [`Grant::new`] and read by [`Grant::payload`], here and nowhere else, so
//! that no caller names a kind by its stored string or handles a grant's JSON, and a payload
//! that does not read is an error with its cause, never a default.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::GrantStore;
use crate::clock::UnixTime;
use crate::model::{Grant, GrantKind};
use crate::protocol::{OAuthError, OrServerError as _};

/// What one kind of grant keeps in its row's `data`.
pub trait GrantPayload: Serialize + DeserializeOwned {
    /// The kind whose rows carry this payload.
    const KIND: GrantKind;

    /// Reads a stored payload. Serde's reading unless a kind read on a hot path does better.
    fn read(data: &Value) -> serde_json::Result<Self> {
        Self::deserialize(data)
    }
}

/// Why a grant's payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The grant is of another kind than the payload asked for.
    #[error("a grant of kind {stored} read as one of kind {wanted}")]
    OtherKind {
        /// The grant's kind.
        stored: GrantKind,
        /// The payload's kind.
        wanted: GrantKind,
    },
    /// The stored JSON is not a payload of its kind.
    #[error("the payload of a grant of kind {kind} does not read")]
    Unreadable {
        /// The grant's kind.
        kind: GrantKind,
        /// What serde says.
        #[source]
        source: serde_json::Error,
    },
}

impl Grant {
    /// A new grant of `payload`'s kind under `handle_digest`, issued to `client_id` at
    /// `created_at` and live until `expires_at`: not bound to a user, session or family, with
    /// no lookup key (set those on the result).
    pub fn new<T: GrantPayload>(
        handle_digest: String,
        client_id: impl Into<String>,
        payload: &T,
        created_at: UnixTime,
        expires_at: UnixTime,
    ) -> Result<Grant, OAuthError> {
        Ok(Grant {
            handle_digest,
            kind: T::KIND,
            client_id: client_id.into(),
            subject: None,
            session_id: None,
            family: None,
            lookup_digest: None,
            data: serde_json::to_value(payload).or_server_error("encoding a grant's payload")?,
            version: 0,
            created_at,
            expires_at,
            consumed_at: None,
        })
    }

    /// Whether the grant is of `T`'s kind.
    pub fn is<T: GrantPayload>(&self) -> bool {
        self.kind == T::KIND
    }

    /// Whether it may still be used at `now`: not consumed, not expired.
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.consumed_at.is_none() && self.expires_at > now
    }

    /// The grant's payload as `T`: an error with its cause when the grant is of another kind or
    /// its data does not read as `T`.
    pub fn payload<T: GrantPayload>(&self) -> Result<T, OAuthError> {
        if !self.is::<T>() {
            let mismatch = PayloadError::OtherKind {
                stored: self.kind,
                wanted: T::KIND,
            };
            return Err(OAuthError::internal("reading a grant's payload", mismatch));
        }
        T::read(&self.data)
            .map_err(|source| PayloadError::Unreadable {
                kind: self.kind,
                source,
            })
            .or_server_error("reading a grant's payload")
    }
}

/// Replaces the payload of `grant` (as it was read) with `payload` if the stored grant is still
/// that one: live, and its payload not replaced meanwhile, on this instance or another
/// (compare-and-set). True when this call replaced it; false when someone else changed it
/// first or it was consumed or expired.
pub async fn replace_payload<T: GrantPayload>(
    grants: &dyn GrantStore,
    grant: &Grant,
    payload: &T,
    now: UnixTime,
) -> Result<bool, OAuthError> {
    if !grant.is::<T>() {
        let mismatch = PayloadError::OtherKind {
            stored: grant.kind,
            wanted: T::KIND,
        };
        return Err(OAuthError::internal(
            "replacing a grant's payload",
            mismatch,
        ));
    }
    let data = serde_json::to_value(payload).or_server_error("encoding a grant's payload")?;
    Ok(grants
        .update_grant_data(&grant.handle_digest, T::KIND, grant.version, &data, now)
        .await?)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::store::MemoryStore;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pending {
        approved: Option<bool>,
    }

    impl GrantPayload for Pending {
        const KIND: GrantKind = GrantKind::Interaction;
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Marker;

    impl GrantPayload for Marker {
        const KIND: GrantKind = GrantKind::SessionClient;
    }

    #[test]
    fn a_payload_is_read_as_its_own_kind_only() {
        let grant = Grant::new("d".into(), "c", &Pending { approved: None }, 1, 2).unwrap();
        assert_eq!(grant.kind, GrantKind::Interaction);
        assert!(grant.is::<Pending>() && !grant.is::<Marker>());
        assert_eq!(
            grant.payload::<Pending>().unwrap(),
            Pending { approved: None }
        );
        let other = grant.payload::<Marker>().unwrap_err().to_string();
        assert!(
            other.contains("a grant of kind interaction read as one of kind session_client"),
            "{other}"
        );
        let corrupt = Grant {
            data: serde_json::json!({"approved": "yes"}),
            ..grant
        };
        let unreadable = corrupt.payload::<Pending>().unwrap_err().to_string();
        assert!(
            unreadable
                .contains("payload of a grant of kind interaction does not read: invalid type"),
            "{unreadable}"
        );
        let marker = Grant::new("m".into(), "c", &Marker, 1, 2).unwrap();
        assert_eq!(marker.data, Value::Null);
        assert_eq!(marker.payload::<Marker>().unwrap(), Marker);
    }

    #[tokio::test]
    async fn a_payload_is_replaced_once_by_one_of_two_readers() {
        let store = MemoryStore::new();
        let pending = Grant::new("d".into(), "c", &Pending { approved: None }, 1, 100).unwrap();
        store.insert_grant(&pending).await.unwrap();
        let first = store.find_grant("d").await.unwrap().unwrap();
        let second = first.clone();
        let approve = Pending {
            approved: Some(true),
        };
        let deny = Pending {
            approved: Some(false),
        };
        assert!(replace_payload(&store, &first, &approve, 2).await.unwrap());
        assert!(!replace_payload(&store, &second, &deny, 2).await.unwrap());
        let stored = store.find_grant("d").await.unwrap().unwrap();
        assert_eq!(stored.payload::<Pending>().unwrap(), approve);
        assert_eq!(stored.version, 1);
        assert!(replace_payload(&store, &first, &Marker, 2).await.is_err());
    }
}
