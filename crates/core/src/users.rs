//! Local user accounts: the rules for creating, changing, disabling, enabling and deleting
//! them, the same whoever asks (the configuration at start, the CLI, an admin API).
//!
//! Passwords arrive hashed: Argon2id is slow on purpose and the caller knows where it may run
//! (off the async threads, in the background at start), so hashing stays with it.

use serde_json::{Map, Value};

use crate::clock::Clock;
use crate::crypto::{RandomError, base64url, random_bytes};
use crate::model::{GrantKind, Source, User};
use crate::secret::Secret;
use crate::store::{
    FactorStore, GrantStore, IdentityLinkStore, SessionStore, Store, StoreError, UserStore,
};

pub use crate::model::{check_profile_claim, check_username};

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The login name, unique.
    pub username: String,
    /// The subject identifier to give; `None` (the usual case) draws a new one.
    pub subject: Option<String>,
    /// Profile claims (name, email, ...).
    pub claims: Map<String, Value>,
    /// Where the account comes from.
    pub source: Source,
    /// Created disabled: it cannot sign in.
    pub disabled: bool,
}

impl NewUser {
    /// Every problem with the user's data, each naming its field (`username`, `subject`,
    /// `claims.email`).
    pub fn problems(&self) -> Vec<UserProblem> {
        let mut problems = Vec::new();
        if let Err(why) = check_username(&self.username) {
            problems.push(UserProblem::new("username", why));
        }
        if let Some(subject) = &self.subject
            && let Err(why) = check_subject(subject)
        {
            problems.push(UserProblem::new("subject", why));
        }
        problems.extend(claim_problems(&self.claims));
        problems
    }
}

/// One thing wrong with a user's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProblem {
    /// The field: `username`, `subject`, `claims.<name>`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl UserProblem {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for UserProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Why a user could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The user's data breaks a rule.
    #[error("{}", join(.0))]
    Invalid(Vec<UserProblem>),
    /// A user with this username (or the subject given) exists.
    #[error("user `{0}` exists")]
    Exists(String),
    /// There is no such user (any more).
    #[error("no such user")]
    NotFound,
    /// No random subject identifier could be drawn.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn join(problems: &[UserProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks a subject identifier given rather than drawn: OIDC Core §2 `sub` is at most 255
/// ASCII characters; printable ones only, since relying parties log and display it.
pub fn check_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty()
        || subject.len() > 255
        || !subject.bytes().all(|b| (0x21..=0x7e).contains(&b))
    {
        return Err("must be 1-255 printable ASCII characters without spaces".into());
    }
    Ok(())
}

fn claim_problems(claims: &Map<String, Value>) -> Vec<UserProblem> {
    claims
        .keys()
        .filter_map(|name| {
            check_profile_claim(name)
                .err()
                .map(|why| UserProblem::new(format!("claims.{name}"), why))
        })
        .collect()
}

/// A new subject identifier: 128 random bits, base64url (OIDC Core §2: locally unique and
/// never reassigned, so drawn rather than derived from the username, which may change hands).
pub fn new_subject() -> Result<String, RandomError> {
    Ok(base64url(&random_bytes(16)?))
}

/// A change to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// A new Argon2id PHC hash.
    pub password_hash: Option<Secret<String>>,
    /// The new profile claims, replacing the old ones.
    pub claims: Option<Map<String, Value>>,
    /// Disable or enable the account.
    pub disabled: Option<bool>,
}

/// What [`Users::update`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Updated {
    /// The stored user changed (false when the change changed nothing).
    pub written: bool,
    /// The account was disabled by this change: its sessions ended and this many grants went.
    pub ended_grants: Option<u64>,
}

/// The user service, over the stores a user's life touches.
#[derive(Clone, Copy)]
pub struct Users<'a> {
    users: &'a dyn UserStore,
    sessions: &'a dyn SessionStore,
    grants: &'a dyn GrantStore,
    factors: &'a dyn FactorStore,
    links: &'a dyn IdentityLinkStore,
    clock: &'a dyn Clock,
}

impl<'a> Users<'a> {
    /// The service over `store`, telling time by `clock`.
    pub fn new(store: &'a dyn Store, clock: &'a dyn Clock) -> Self {
        Self {
            users: store,
            sessions: store,
            grants: store,
            factors: store,
            links: store,
            clock,
        }
    }

    /// Refuses a username already taken; lets a caller stop before asking for a password.
    /// [`Users::create`] refuses it too.
    pub async fn ensure_username_free(&self, username: &str) -> Result<(), UserError> {
        match self.users.find_user_by_username(username).await? {
            Some(_) => Err(UserError::Exists(username.into())),
            None => Ok(()),
        }
    }

    /// Creates a user with the already hashed password `password_hash`.
    pub async fn create(
        &self,
        new: NewUser,
        password_hash: Secret<String>,
    ) -> Result<User, UserError> {
        let problems = new.problems();
        if !problems.is_empty() {
            return Err(UserError::Invalid(problems));
        }
        let now = self.clock.now();
        let user = User {
            subject: match new.subject {
                Some(subject) => subject,
                None => new_subject()?,
            },
            username: new.username,
            password_hash,
            claims: new.claims,
            source: new.source,
            disabled: new.disabled,
            created_at: now,
            updated_at: now,
        };
        match self.users.insert_user(&user).await {
            Ok(()) => Ok(user),
            // The store keeps usernames and subjects unique, also against a concurrent create.
            Err(StoreError::Conflict(_)) => Err(UserError::Exists(user.username)),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies `change` to `user` and stores it when something changed. Disabling ends what
    /// the user holds (see [`Users::disable`]) before the flag is stored, so that a failure
    /// leaves the account enabled and the next attempt ends them again.
    pub async fn update(&self, user: &mut User, change: UserChange) -> Result<Updated, UserError> {
        if let Some(claims) = &change.claims {
            let problems = claim_problems(claims);
            if !problems.is_empty() {
                return Err(UserError::Invalid(problems));
            }
        }
        let mut updated = Updated::default();
        if change.disabled == Some(true) && !user.disabled {
            updated.ended_grants = Some(
                self.end_everything_of(&user.subject, Some(GrantKind::Consent))
                    .await?,
            );
        }
        let mut changed = false;
        if let Some(hash) = change.password_hash
            && hash.expose() != user.password_hash.expose()
        {
            user.password_hash = hash;
            changed = true;
        }
        if let Some(claims) = change.claims
            && claims != user.claims
        {
            user.claims = claims;
            changed = true;
        }
        if let Some(disabled) = change.disabled
            && disabled != user.disabled
        {
            user.disabled = disabled;
            changed = true;
        }
        if changed {
            user.updated_at = self.clock.now();
            if !self.users.update_user(user).await? {
                return Err(UserError::NotFound);
            }
            updated.written = true;
        }
        Ok(updated)
    }

    /// Replaces the password of `user` with the already hashed `password_hash`.
    pub async fn set_password_hash(
        &self,
        user: &mut User,
        password_hash: Secret<String>,
    ) -> Result<Updated, UserError> {
        let change = UserChange {
            password_hash: Some(password_hash),
            ..UserChange::default()
        };
        self.update(user, change).await
    }

    /// Disables the user `subject`: no grant gives them tokens and they cannot sign in. What
    /// they hold ends now (sessions, refresh and access tokens, codes), not only while
    /// disabled, so enabling them again revives none of it; remembered consent is kept.
    pub async fn disable(&self, subject: &str) -> Result<Updated, UserError> {
        self.set_disabled(subject, true).await
    }

    /// Enables the user `subject` again.
    pub async fn enable(&self, subject: &str) -> Result<Updated, UserError> {
        self.set_disabled(subject, false).await
    }

    async fn set_disabled(&self, subject: &str, disabled: bool) -> Result<Updated, UserError> {
        let mut user = self
            .users
            .find_user_by_subject(subject)
            .await?
            .ok_or(UserError::NotFound)?;
        let change = UserChange {
            disabled: Some(disabled),
            ..UserChange::default()
        };
        self.update(&mut user, change).await
    }

    /// Deletes the user `subject` with everything they hold, consent, factors and links to
    /// external identities included. Returns how
    /// many grants went, or `None` when there was no such user.
    pub async fn delete(&self, subject: &str) -> Result<Option<u64>, UserError> {
        // Grants first: a user deleted with grants left would have tokens that name a subject
        // no longer there, and a retry would not find the user to clean them up.
        let ended = self.end_everything_of(subject, None).await?;
        self.factors.delete_factors(subject).await?;
        self.links.delete_links(subject).await?;
        Ok(self.users.delete_user(subject).await?.then_some(ended))
    }

    /// Ends the sessions of `subject` and deletes the grants they hold, except those of the
    /// kind `keep`, if any. Returns how many grants went.
    async fn end_everything_of(
        &self,
        subject: &str,
        keep: Option<GrantKind>,
    ) -> Result<u64, StoreError> {
        let now = self.clock.now();
        for session in self
            .sessions
            .list_sessions_for_subject(subject, now)
            .await?
        {
            self.sessions.delete_session(&session.id_digest).await?;
        }
        self.grants.delete_subject_grants(subject, keep).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::clock::FixedClock;
    use crate::model::{Grant, Session};
    use crate::store::MemoryStore;

    const NOW: i64 = 1_700_000_000;

    fn hash(text: &str) -> Secret<String> {
        Secret::new(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${text}"))
    }

    fn alice() -> NewUser {
        let mut claims = Map::new();
        claims.insert("name".into(), json!("Alice"));
        NewUser {
            username: "alice".into(),
            subject: None,
            claims,
            source: Source::Managed,
            disabled: false,
        }
    }

    async fn holding(store: &MemoryStore, subject: &str) {
        store
            .insert_session(&Session {
                id_digest: "session".into(),
                sid: "sid".into(),
                subject: subject.into(),
                auth_time: NOW,
                created_at: NOW,
                last_seen: NOW,
                expires_at: NOW + 3_600,
                absolute_expires_at: NOW + 7_200,
                data: json!({}),
            })
            .await
            .unwrap();
        for (digest, kind) in [
            ("refresh", GrantKind::RefreshToken),
            ("consent", GrantKind::Consent),
        ] {
            store
                .insert_grant(&Grant {
                    handle_digest: digest.into(),
                    kind,
                    client_id: "app".into(),
                    subject: Some(subject.into()),
                    session_id: None,
                    family: None,
                    lookup_digest: None,
                    data: json!({}),
                    version: 0,
                    created_at: NOW,
                    expires_at: NOW + 3_600,
                    consumed_at: None,
                })
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_user_is_created_with_a_drawn_subject_and_the_given_hash() {
        let (store, clock) = (MemoryStore::new(), FixedClock::new(NOW));
        let users = Users::new(&store, &clock);
        let user = users.create(alice(), hash("a")).await.unwrap();
        assert_eq!(user.subject.len(), 22, "128 bits, base64url");
        assert_eq!(user.password_hash.expose(), hash("a").expose());
        assert_eq!((user.created_at, user.updated_at), (NOW, NOW));
        let stored = store.find_user_by_username("alice").await.unwrap().unwrap();
        assert_eq!(stored, user);
    }

    #[tokio::test]
    async fn a_taken_username_is_refused_before_and_at_creation() {
        let (store, clock) = (MemoryStore::new(), FixedClock::new(NOW));
        let users = Users::new(&store, &clock);
        users.ensure_username_free("alice").await.unwrap();
        users.create(alice(), hash("a")).await.unwrap();
        assert!(matches!(
            users.ensure_username_free("alice").await,
            Err(UserError::Exists(name)) if name == "alice"
        ));
        assert!(matches!(
            users.create(alice(), hash("b")).await,
            Err(UserError::Exists(_))
        ));
    }

    #[tokio::test]
    async fn bad_names_and_server_set_claims_are_refused_with_their_field() {
        let (store, clock) = (MemoryStore::new(), FixedClock::new(NOW));
        let mut new = alice();
        new.username = " alice".into();
        new.subject = Some("has space".into());
        new.claims.insert("sub".into(), json!("forged"));
        let Err(UserError::Invalid(problems)) =
            Users::new(&store, &clock).create(new, hash("a")).await
        else {
            panic!("expected problems");
        };
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["username", "subject", "claims.sub"]);
        assert!(store.list_users().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn disabling_ends_sessions_and_grants_but_keeps_consent() {
        let (store, clock) = (MemoryStore::new(), FixedClock::new(NOW));
        let users = Users::new(&store, &clock);
        let user = users.create(alice(), hash("a")).await.unwrap();
        holding(&store, &user.subject).await;
        clock.advance(10);
        let updated = users.disable(&user.subject).await.unwrap();
        assert_eq!(
            updated,
            Updated {
                written: true,
                ended_grants: Some(1)
            }
        );
        let stored = store.find_user_by_subject(&user.subject).await.unwrap();
        assert!(
            stored
                .as_ref()
                .is_some_and(|u| u.disabled && u.updated_at == NOW + 10)
        );
        assert!(store.find_session("session", NOW).await.unwrap().is_none());
        assert!(store.find_grant("refresh").await.unwrap().is_none());
        assert!(store.find_grant("consent").await.unwrap().is_some());
        // Disabled already: nothing more to end or write. Enabling revives nothing.
        assert_eq!(
            users.disable(&user.subject).await.unwrap(),
            Updated::default()
        );
        assert!(users.enable(&user.subject).await.unwrap().written);
        assert!(store.find_grant("refresh").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_update_that_changes_nothing_writes_nothing() {
        let (store, clock) = (MemoryStore::new(), FixedClock::new(NOW));
        let users = Users::new(&store, &clock);
        let mut user = users.create(alice(), hash("a")).await.unwrap();
        clock.advance(10);
        let same = UserChange {
            password_hash: Some(hash("a")),
            claims: Some(user.claims.clone()),
            disabled: Some(false),
        };
        assert_eq!(
            users.update(&mut user, same).await.unwrap(),
            Updated::default()
        );
        assert_eq!(user.updated_at, NOW);
        assert!(
            users
                .set_password_hash(&mut user, hash("b"))
                .await
                .unwrap()
                .written
        );
        assert_eq!(user.updated_at, NOW + 10);
    }

    #[tokio::test]
    async fn deleting_ends_everything_the_user_holds() {
        let (store, clock) = (MemoryStore::new(), FixedClock::new(NOW));
        let users = Users::new(&store, &clock);
        let user = users.create(alice(), hash("a")).await.unwrap();
        holding(&store, &user.subject).await;
        assert_eq!(users.delete(&user.subject).await.unwrap(), Some(2));
        assert!(
            store
                .find_user_by_subject(&user.subject)
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.find_session("session", NOW).await.unwrap().is_none());
        assert!(store.find_grant("consent").await.unwrap().is_none());
        assert_eq!(users.delete(&user.subject).await.unwrap(), None);
        assert!(matches!(
            users.disable(&user.subject).await,
            Err(UserError::NotFound)
        ));
    }
}
