//! Parked requests: the parameters of a browser POST (`/authorize`, `/end_session`) kept for a
//! moment under a random handle, so that the browser continues with a GET on our own site that
//! names only the handle (its SameSite=Lax cookies are then sent, and no parameter moves into a
//! URL). Each is taken once. The store a pushed authorization request (RFC 9126) will use.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::crypto::{handle_digest, random_handle};
use crate::model::{Grant, GrantKind};
use crate::protocol::form::Form;
use crate::protocol::{OAuthError, OrServerError as _};
use crate::store::{GrantPayload, GrantStore};

/// A parked request waits this long, in seconds.
pub const PARKED_LIFETIME: i64 = 120;

/// A parked request: its form, URL-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedRequest(pub String);

impl GrantPayload for ParkedRequest {
    const KIND: GrantKind = GrantKind::ParkedRequest;
}

/// Parks `form` and returns the handle that names it.
pub async fn park_request(
    grants: &dyn GrantStore,
    form: &Form,
    now: UnixTime,
) -> Result<String, OAuthError> {
    let handle = random_handle().or_server_error("drawing random bytes")?;
    let client_id = form.one("client_id").ok().flatten().unwrap_or_default();
    let parked = ParkedRequest(form.encode());
    let digest = handle_digest(&handle);
    let record = Grant::new(digest, client_id, &parked, now, now + PARKED_LIFETIME)?;
    grants.insert_grant(&record).await?;
    Ok(handle)
}

/// Takes the parked request `handle` names, once; `None` when it is unknown, expired or was
/// taken already.
pub async fn take_parked_request(
    grants: &dyn GrantStore,
    handle: &str,
    now: UnixTime,
) -> Result<Option<Form>, OAuthError> {
    if handle.len() > 256 {
        return Ok(None);
    }
    let digest = handle_digest(handle);
    let Some(parked) = grants
        .consume_grant(&digest, ParkedRequest::KIND, now)
        .await?
    else {
        return Ok(None);
    };
    // Used: its room is given back at once rather than at the next purge.
    grants.delete_grant(&digest).await?;
    let ParkedRequest(encoded) = parked.payload()?;
    Form::parse(encoded.as_bytes()).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn a_parked_request_is_taken_once_before_it_expires() {
        let store = MemoryStore::new();
        let form = Form::parse(b"client_id=web&scope=openid+profile").unwrap();
        let handle = park_request(&store, &form, 100).await.unwrap();
        assert_eq!(
            take_parked_request(&store, &handle, 101).await.unwrap(),
            Some(form.clone())
        );
        assert_eq!(
            take_parked_request(&store, &handle, 101).await.unwrap(),
            None
        );
        let late = park_request(&store, &form, 100).await.unwrap();
        let expired = 100 + PARKED_LIFETIME;
        assert_eq!(
            take_parked_request(&store, &late, expired).await.unwrap(),
            None
        );
    }
}
