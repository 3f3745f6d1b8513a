//! Password reset by mail. A reset token is a random handle (256 bits) sent in a link to the
//! user's verified address; the store keeps only its SHA-256 digest, as a grant of its own kind,
//! so it is never accepted for another purpose, nor another kind for it (SEC-61, CVE-46). It
//! names one user and the password it replaces, lives [`RESET_LIFETIME`] seconds (checked at
//! use, not left to a purge) and is consumed once, atomically. Who may get one is decided here
//! too: only an active account with a local password and a verified address (SEC-63).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::UnixTime;
use crate::crypto::{constant_time_eq, handle_digest};
use crate::model::{Grant, GrantKind, User, check_username};
use crate::passwords::is_argon2_hash;
use crate::protocol::OAuthError;
use crate::sessions::random_id;
use crate::store::{GrantPayload, GrantStore, UserStore};

/// How long a reset link works, in seconds.
pub const RESET_LIFETIME: i64 = 30 * 60;
/// Longest token considered; longer ones are refused without a lookup.
const MAX_TOKEN: usize = 256;
/// Longest username or address looked up (RFC 5321 §4.5.3.1: a path is at most 256 octets).
pub const MAX_NAME: usize = 320;
/// Reset grants belong to no client.
const NO_CLIENT: &str = "";

/// What a reset token stands for.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordReset {
    /// The user whose password it sets: the token names them, no form field can.
    pub subject: String,
    /// The digest of the password hash it replaces: once the password changed (by this reset
    /// or any other way), the link no longer applies.
    pub replaces: String,
}

impl std::fmt::Debug for PasswordReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordReset")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl GrantPayload for PasswordReset {
    const KIND: GrantKind = GrantKind::PasswordReset;
}

impl PasswordReset {
    /// Whether the reset still applies to `user`: the user it names, active, with the password
    /// it was sent for.
    pub fn applies_to(&self, user: &User) -> bool {
        let password = handle_digest(user.password_hash.expose());
        !user.disabled
            && constant_time_eq(self.subject.as_bytes(), user.subject.as_bytes())
            && constant_time_eq(self.replaces.as_bytes(), password.as_bytes())
    }
}

/// The address a reset link for `user` may go to: the stored `email` claim, only when
/// `email_verified` is the JSON value `true`, for an active account that has a local password
/// (an account made by an upstream sign-in has none to reset). SEC-63: codes and links go only
/// to the stored, verified address, never to one from the request.
pub fn reset_address(user: &User) -> Option<&str> {
    let verified = user.claims.get("email_verified") == Some(&Value::Bool(true));
    let address = user.claims.get("email").and_then(Value::as_str)?;
    let usable = verified
        && !user.disabled
        && !address.is_empty()
        && is_argon2_hash(user.password_hash.expose());
    usable.then_some(address)
}

/// The account a reset is asked for by `name`: the user with that username, else (for a name
/// with `@`) the one account whose verified address it is, case-insensitively. Both lookups run
/// whenever the name could be an address, so the time taken does not tell which matched.
/// `None` when nothing matches or the account may not get a link ([`reset_address`]).
pub async fn find_reset_account(
    users: &dyn UserStore,
    name: &str,
) -> Result<Option<User>, OAuthError> {
    // Control characters are in no username or address (and some databases refuse NUL).
    if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Ok(None);
    }
    let by_username = match check_username(name) {
        Ok(()) => users.find_user_by_username(name).await?,
        Err(_) => None,
    };
    let by_address = if name.contains('@') {
        let matching: Vec<User> = (users.list_users().await?)
            .into_iter()
            .filter(|u| reset_address(u).is_some_and(|a| a.eq_ignore_ascii_case(name)))
            .collect();
        <[User; 1]>::try_from(matching).ok().map(|[one]| one)
    } else {
        None
    };
    Ok(by_username
        .filter(|u| reset_address(u).is_some())
        .or(by_address))
}

/// Issues a reset token for `user` at `now`: returns the token for the link; the store keeps
/// its digest, bound to the user.
pub async fn issue_reset(
    grants: &dyn GrantStore,
    user: &User,
    now: UnixTime,
) -> Result<String, OAuthError> {
    let token = random_id()?;
    let payload = PasswordReset {
        subject: user.subject.clone(),
        replaces: handle_digest(user.password_hash.expose()),
    };
    let expires = now.saturating_add(RESET_LIFETIME);
    let grant = Grant {
        subject: Some(user.subject.clone()),
        ..Grant::new(handle_digest(&token), NO_CLIENT, &payload, now, expires)?
    };
    grants.insert_grant(&grant).await?;
    Ok(token)
}

/// The live reset `token` stands for, without using it up (to show its form: a mail scanner
/// that opens the link must not spend it).
pub async fn find_reset(
    grants: &dyn GrantStore,
    token: &str,
    now: UnixTime,
) -> Result<Option<PasswordReset>, OAuthError> {
    if token.is_empty() || token.len() > MAX_TOKEN {
        return Ok(None);
    }
    let grant = grants.find_grant(&handle_digest(token)).await?;
    match grant.filter(|g| g.is::<PasswordReset>() && g.is_live(now)) {
        Some(grant) => Ok(Some(grant.payload()?)),
        None => Ok(None),
    }
}

/// Uses up the reset `token`: of concurrent uses exactly one gets it; expired, used and other
/// kinds of handle get `None`.
pub async fn take_reset(
    grants: &dyn GrantStore,
    token: &str,
    now: UnixTime,
) -> Result<Option<PasswordReset>, OAuthError> {
    if token.is_empty() || token.len() > MAX_TOKEN {
        return Ok(None);
    }
    let digest = handle_digest(token);
    match grants
        .consume_grant(&digest, GrantKind::PasswordReset, now)
        .await?
    {
        Some(grant) => Ok(Some(grant.payload()?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::authorize::AuthorizationRequest;
    use crate::model::Source;
    use crate::secret::Secret;
    use crate::sessions::{Flow, Interaction, save_page_record};
    use crate::store::MemoryStore;

    const NOW: i64 = 1_700_000_000;
    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";

    fn user(username: &str, claims: Value) -> User {
        User {
            subject: format!("sub-{username}"),
            username: username.into(),
            password_hash: Secret::new(HASH.into()),
            claims: claims.as_object().cloned().unwrap_or_default(),
            source: Source::Managed,
            disabled: false,
            created_at: NOW,
            updated_at: NOW,
        }
    }

    fn verified(username: &str, email: &str) -> User {
        user(
            username,
            json!({"email": email, "email_verified": true, "name": "N"}),
        )
    }

    #[test]
    fn only_a_verified_address_of_an_active_account_with_a_password_is_used() {
        assert_eq!(
            reset_address(&verified("a", "a@example.com")),
            Some("a@example.com")
        );
        for claims in [
            json!({"email": "a@example.com"}),
            json!({"email": "a@example.com", "email_verified": "true"}),
            json!({"email": "a@example.com", "email_verified": false}),
            json!({"email_verified": true}),
            json!({"email": "", "email_verified": true}),
        ] {
            assert_eq!(reset_address(&user("a", claims.clone())), None, "{claims}");
        }
        let mut disabled = verified("a", "a@example.com");
        disabled.disabled = true;
        assert_eq!(reset_address(&disabled), None);
        let mut upstream = verified("a", "a@example.com");
        upstream.password_hash = Secret::new("!upstream".into());
        assert_eq!(reset_address(&upstream), None);
    }

    #[tokio::test]
    async fn accounts_are_found_by_username_or_by_one_verified_address() {
        let store = MemoryStore::new();
        for u in [
            verified("alice", "Alice@Example.com"),
            user("bob", json!({"email": "bob@example.com"})),
            verified("c1", "shared@example.com"),
            verified("c2", "shared@example.com"),
        ] {
            store.insert_user(&u).await.unwrap();
        }
        let found = async |name: &str| {
            find_reset_account(&store, name)
                .await
                .unwrap()
                .map(|u| u.username)
        };
        assert_eq!(found("alice").await.as_deref(), Some("alice"));
        assert_eq!(found("alice@example.COM").await.as_deref(), Some("alice"));
        assert_eq!(found("bob").await, None, "no verified address");
        assert_eq!(found("bob@example.com").await, None);
        assert_eq!(found("shared@example.com").await, None, "two accounts");
        assert_eq!(found("nobody").await, None);
        assert_eq!(found("").await, None);
        assert_eq!(found("alice\u{0}").await, None);
        assert_eq!(found(&"a".repeat(MAX_NAME + 1)).await, None);
    }

    #[tokio::test]
    async fn a_reset_token_is_hashed_typed_single_use_and_expires() {
        let store = MemoryStore::new();
        let alice = verified("alice", "a@example.com");
        let token = issue_reset(&store, &alice, NOW).await.unwrap();
        assert_eq!(token.len(), 43, "256 bits, base64url");
        assert!(store.find_grant(&token).await.unwrap().is_none(), "hashed");
        let shown = find_reset(&store, &token, NOW).await.unwrap().unwrap();
        assert!(shown.applies_to(&alice));
        assert!(find_reset(&store, &token, NOW).await.unwrap().is_some());
        let taken = take_reset(&store, &token, NOW + 60).await.unwrap().unwrap();
        assert_eq!(taken.subject, alice.subject);
        assert!(
            take_reset(&store, &token, NOW + 61)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            find_reset(&store, &token, NOW + 61)
                .await
                .unwrap()
                .is_none()
        );
        let late = issue_reset(&store, &alice, NOW).await.unwrap();
        let expiry = NOW + RESET_LIFETIME;
        assert!(find_reset(&store, &late, expiry).await.unwrap().is_none());
        assert!(take_reset(&store, &late, expiry).await.unwrap().is_none());
        for bad in ["", "x", &"x".repeat(MAX_TOKEN + 1)] {
            assert!(take_reset(&store, bad, NOW).await.unwrap().is_none());
        }
    }

    #[tokio::test]
    async fn another_kind_of_handle_is_no_reset_token() {
        let store = MemoryStore::new();
        let request = AuthorizationRequest::default();
        let interaction = Interaction::new(Flow::Account, request, "browser".into());
        let page = save_page_record(&store, interaction, NOW).await.unwrap();
        assert!(find_reset(&store, &page.id, NOW).await.unwrap().is_none());
        assert!(take_reset(&store, &page.id, NOW).await.unwrap().is_none());
        assert!(
            store
                .find_grant(&handle_digest(&page.id))
                .await
                .unwrap()
                .is_some_and(|g| g.consumed_at.is_none())
        );
    }

    #[tokio::test]
    async fn a_reset_applies_to_its_user_and_password_only() {
        let store = MemoryStore::new();
        let alice = verified("alice", "a@example.com");
        let token = issue_reset(&store, &alice, NOW).await.unwrap();
        let reset = find_reset(&store, &token, NOW).await.unwrap().unwrap();
        assert!(!reset.applies_to(&verified("bob", "b@example.com")));
        let mut changed = alice.clone();
        changed.password_hash = Secret::new(format!("{HASH}x"));
        assert!(!reset.applies_to(&changed), "the password changed since");
        let mut disabled = alice;
        disabled.disabled = true;
        assert!(!reset.applies_to(&disabled));
    }
}
