//! The local account an upstream identity signs in to. Accounts are found by the provider and
//! the upstream subject, never by e-mail alone. A first sign-in creates an account
//! (just-in-time), or — only where the provider's `link_by_verified_email` is set, the upstream
//! says the address is verified, and exactly one active local account has it — asks the user to
//! prove that account before linking to it. An address the upstream does not vouch for never
//! reaches an existing account (the account-takeover bugs of other servers).

use serde_json::Value;

use super::{Provider, UpstreamIdentity};
use crate::clock::Clock;
use crate::model::{ExternalIdentity, Source, User};
use crate::protocol::OAuthError;
use crate::secret::Secret;
use crate::store::{Store, StoreError};
use crate::users::{NewUser, UserError, Users};

/// The password hash of an account made by an upstream sign-in: no password matches it.
pub const NO_PASSWORD: &str = "!upstream";

/// Where an upstream identity leads.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Its linked account: sign it in.
    Linked(User),
    /// A new account, made and linked just now.
    Created(User),
    /// The local account with the verified address: the user proves it, then it is linked.
    ProveLink(User),
    /// Its linked account is disabled.
    Disabled,
}

fn internal(e: impl std::fmt::Display) -> OAuthError {
    OAuthError::internal("finding an upstream identity's account", e.to_string())
}

/// Finds or makes the account of `identity`.
pub async fn resolve_account(
    store: &dyn Store,
    clock: &dyn Clock,
    provider: &Provider,
    identity: &UpstreamIdentity,
) -> Result<Resolution, OAuthError> {
    if let Some(link) = store.find_link(&provider.name, &identity.subject).await? {
        match store.find_user_by_subject(&link.subject).await? {
            Some(user) if user.disabled => return Ok(Resolution::Disabled),
            Some(user) => {
                store
                    .touch_link(&provider.name, &identity.subject, clock.now())
                    .await?;
                return Ok(Resolution::Linked(user));
            }
            // The account is gone: the link is stale.
            None => {
                store.delete_link(&provider.name, &identity.subject).await?;
            }
        }
    }
    if provider.link_by_verified_email
        && identity.email_verified
        && let Some(email) = &identity.email
        && let Some(local) = account_with_email(store, email).await?
    {
        return Ok(Resolution::ProveLink(local));
    }
    let user = create_account(store, clock, provider, identity).await?;
    link(store, clock, &user, identity).await?;
    Ok(Resolution::Created(user))
}

/// The one active account whose verified `email` is `email` (case-insensitive), if exactly
/// one: an address no one verified here proves nothing about who owns the account.
async fn account_with_email(store: &dyn Store, email: &str) -> Result<Option<User>, OAuthError> {
    let matching: Vec<User> = store
        .list_users()
        .await?
        .into_iter()
        .filter(|u| !u.disabled)
        .filter(|u| u.claims.get("email_verified") == Some(&Value::Bool(true)))
        .filter(|u| {
            u.claims
                .get("email")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        })
        .collect();
    Ok(match <[User; 1]>::try_from(matching) {
        Ok([one]) => Some(one),
        Err(_) => None,
    })
}

/// Links `user` to the upstream `identity`.
pub async fn link(
    store: &dyn Store,
    clock: &dyn Clock,
    user: &User,
    identity: &UpstreamIdentity,
) -> Result<(), OAuthError> {
    let link = ExternalIdentity {
        provider: identity.provider.clone(),
        upstream_subject: identity.subject.clone(),
        subject: user.subject.clone(),
        email: identity.email.clone(),
        created_at: clock.now(),
        last_used_at: Some(clock.now()),
    };
    match store.insert_link(&link).await {
        Ok(()) => Ok(()),
        // Linked by a concurrent first sign-in: that link stands.
        Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A new account for `identity`: named `provider:name` (the upstream's preferred username,
/// else its subject), numbered if taken, with the upstream's profile claims.
async fn create_account(
    store: &dyn Store,
    clock: &dyn Clock,
    provider: &Provider,
    identity: &UpstreamIdentity,
) -> Result<User, OAuthError> {
    let base = identity
        .preferred_username
        .as_deref()
        .filter(|n| crate::model::check_username(n).is_ok() && n.len() <= 64)
        .unwrap_or(&identity.subject);
    let users = Users::new(store, clock);
    for attempt in 0..5 {
        let username = match attempt {
            0 => format!("{}:{base}", provider.name),
            n => format!("{}:{base}-{}", provider.name, n + 1),
        };
        let new = NewUser {
            username,
            subject: None,
            claims: identity.claims.clone(),
            source: Source::Managed,
            disabled: false,
        };
        match users.create(new, Secret::new(NO_PASSWORD.into())).await {
            Ok(user) => return Ok(user),
            Err(UserError::Exists(_)) => continue,
            Err(e) => return Err(internal(e)),
        }
    }
    let new = NewUser {
        username: format!("{}:{}", provider.name, identity.subject),
        subject: None,
        claims: identity.claims.clone(),
        source: Source::Managed,
        disabled: false,
    };
    users
        .create(new, Secret::new(NO_PASSWORD.into()))
        .await
        .map_err(internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::federation::Protocol;
    use crate::store::{IdentityLinkStore as _, MemoryStore, UserStore as _};
    use serde_json::json;

    fn identity(sub: &str, email: &str, verified: bool) -> UpstreamIdentity {
        let claims = json!({"email": email, "email_verified": verified, "name": "Al"});
        UpstreamIdentity {
            provider: "corp".into(),
            subject: sub.into(),
            email: Some(email.into()),
            email_verified: verified,
            preferred_username: Some("al".into()),
            claims: claims.as_object().unwrap().clone(),
            amr: vec![],
            acr: None,
            sid: None,
        }
    }

    async fn local(store: &MemoryStore, name: &str, email: &str) -> User {
        let clock = FixedClock::new(1_000);
        let claims = json!({"email": email, "email_verified": true})
            .as_object()
            .unwrap()
            .clone();
        let new = NewUser {
            username: name.into(),
            subject: None,
            claims,
            source: Source::Config,
            disabled: false,
        };
        Users::new(store, &clock)
            .create(new, Secret::new("h".into()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn accounts_are_found_by_subject_and_linked_only_by_a_verified_address() {
        let store = MemoryStore::new();
        let clock = FixedClock::new(1_000);
        let alice = local(&store, "alice", "Alice@Example.com").await;
        let mut p = super::super::tests::provider(Protocol::Oidc);
        // Linking off: a new account.
        let r = resolve_account(&store, &clock, &p, &identity("u1", "al@corp.example", true))
            .await
            .unwrap();
        let Resolution::Created(made) = r else {
            panic!("{r:?}")
        };
        assert_eq!(made.username, "corp:al");
        assert_ne!(made.subject, alice.subject);
        // The same upstream subject: the same account.
        let r = resolve_account(
            &store,
            &clock,
            &p,
            &identity("u1", "changed@example.com", false),
        )
        .await
        .unwrap();
        assert_eq!(
            r,
            Resolution::Linked(
                store
                    .find_user_by_subject(&made.subject)
                    .await
                    .unwrap()
                    .unwrap()
            )
        );
        // Linking on: an unverified address never reaches alice; a verified one asks for proof.
        p.link_by_verified_email = true;
        let r = resolve_account(
            &store,
            &clock,
            &p,
            &identity("u2", "alice@example.com", false),
        )
        .await
        .unwrap();
        let Resolution::Created(other) = r else {
            panic!("{r:?}")
        };
        assert_eq!(other.username, "corp:al-2");
        let r = resolve_account(
            &store,
            &clock,
            &p,
            &identity("u3", "ALICE@example.com", true),
        )
        .await
        .unwrap();
        assert_eq!(r, Resolution::ProveLink(alice.clone()));
        assert!(
            store.find_link("corp", "u3").await.unwrap().is_none(),
            "not linked before proof"
        );
        // Two local accounts with the address: ambiguous, never linked.
        local(&store, "alice2", "alice@example.com").await;
        let r = resolve_account(
            &store,
            &clock,
            &p,
            &identity("u4", "alice@example.com", true),
        )
        .await
        .unwrap();
        assert!(matches!(r, Resolution::Created(_)), "{r:?}");
    }

    /// CVE-34: with linking on, only an address the upstream says is verified (JSON `true`)
    /// and that is verified here leads to the link step; every other cell is a separate
    /// account, never a sign-in to the existing one.
    #[tokio::test]
    async fn cve34_only_verified_on_both_sides_leads_to_linking() {
        for upstream in [json!(true), json!(false), Value::Null, json!("true")] {
            for local_verified in [true, false] {
                let store = MemoryStore::new();
                let clock = FixedClock::new(1_000);
                let claims = json!({"email": "v@example.com", "email_verified": local_verified});
                let new = NewUser {
                    username: "victim".into(),
                    subject: None,
                    claims: claims.as_object().unwrap().clone(),
                    source: Source::Config,
                    disabled: false,
                };
                let victim = Users::new(&store, &clock)
                    .create(new, Secret::new("h".into()))
                    .await
                    .unwrap();
                let mut p = super::super::tests::provider(Protocol::Oidc);
                p.link_by_verified_email = true;
                let mut upstream_claims = json!({"sub": "attacker", "email": "v@example.com"});
                if !upstream.is_null() {
                    upstream_claims["email_verified"] = upstream.clone();
                }
                let id = crate::federation::identity_from_claims(
                    &p,
                    upstream_claims.as_object().unwrap(),
                )
                .unwrap();
                let r = resolve_account(&store, &clock, &p, &id).await.unwrap();
                let both = upstream == json!(true) && local_verified;
                match r {
                    Resolution::ProveLink(u) => assert!(both && u.subject == victim.subject),
                    Resolution::Created(u) => assert!(
                        !both && u.subject != victim.subject,
                        "{upstream} {local_verified}"
                    ),
                    other => panic!("{upstream} {local_verified}: {other:?}"),
                }
            }
        }
    }
}
