//! The code flow's token side: code redemption and refresh-token rotation, on the memory
//! store with a fixed clock.

use crate::clock::{Clock as _, FixedClock};
use crate::crypto::handle_digest;
use crate::grants::TokenContext;
use crate::grants::authorization_code::*;
use crate::model::Client;
use crate::model::{AccessTokenType, Resources, Source, TokenEndpointAuthMethod, User};
use crate::protocol::OAuthError;
use crate::protocol::pkce::s256_challenge;
use crate::protocol::token::TokenResponse;
use crate::secret::Secret;
use crate::store::{ClientStore as _, GrantStore as _, MemoryStore, UserStore as _};
use crate::tokens::hash::left_half_hash;
use crate::tokens::{KeyPolicy, KeyRing, SigningAlg, ensure_signing_keys, load_key_ring};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};

pub(super) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REDIRECT: &str = "https://app.example/cb";

pub(super) struct World {
    pub(super) store: MemoryStore,
    ring: KeyRing,
    pub(super) clock: FixedClock,
    resources: Resources,
    pub(super) web: Client,
    other: Client,
    events: crate::events::Events,
    recorded: std::sync::Arc<crate::events::Recorder>,
}

fn client(id: &str) -> Client {
    Client::builder(id)
        .grant_types(&[GRANT_TYPE])
        .redirect_uris(&[REDIRECT])
        .scopes(&["openid"])
        .consent(false)
        .access_token_type(AccessTokenType::Reference)
        .lifetimes(300, 300)
        .refresh_lifetimes(3_600, 7_200)
        .auth_method(TokenEndpointAuthMethod::ClientSecretBasic)
        .build()
}

fn refreshing(mut c: Client) -> Client {
    c.grant_types.push("refresh_token".into());
    c.allowed_scopes
        .extend(["offline_access".into(), "profile".into()]);
    c
}

pub(super) async fn world() -> World {
    let store = MemoryStore::new();
    let clock = FixedClock::new(1_700_000_000);
    let policy = KeyPolicy::default();
    ensure_signing_keys(&store, &clock, &policy).await.unwrap();
    let ring = load_key_ring(&store, &clock, &policy).await.unwrap();
    let (web, other) = (refreshing(client("web")), refreshing(client("other")));
    store.upsert_client(&web, Source::Config).await.unwrap();
    store
        .insert_user(&User {
            subject: "alice-sub".into(),
            username: "alice".into(),
            password_hash: Secret::new("x".into()),
            claims: Default::default(),
            source: Source::Config,
            disabled: false,
            created_at: 0,
            updated_at: 0,
        })
        .await
        .unwrap();
    let recorded = std::sync::Arc::new(crate::events::Recorder::default());
    World {
        store,
        ring,
        clock,
        resources: Resources::default(),
        web,
        other,
        events: crate::events::Events::new(vec![recorded.clone()]),
        recorded,
    }
}

impl World {
    pub(super) fn ctx(&self) -> TokenContext<'_> {
        TokenContext {
            issuer: "https://id.example",
            now: self.clock.now(),
            resources: &self.resources,
            ring: &self.ring,
            alg: SigningAlg::Es256,
            grants: &self.store,
            clients: &self.store,
            events: &self.events,
            polls: &crate::device::Unpaced,
            http: None,
            dpop_nonces: &[],
            dpop_replay: None,
            dpop: None,
            certificate: None,
        }
    }

    async fn code(&self, challenge: Option<String>) -> String {
        self.code_for(challenge, &["openid"]).await
    }

    pub(super) async fn code_for(&self, challenge: Option<String>, scopes: &[&str]) -> String {
        self.code_bound(challenge, scopes, None).await
    }

    /// A code, bound to the DPoP key `dpop_jkt` when there is one (RFC 9449 §10).
    pub(super) async fn code_bound(
        &self,
        challenge: Option<String>,
        scopes: &[&str],
        dpop_jkt: Option<String>,
    ) -> String {
        let data = CodeData {
            redirect_uri: REDIRECT.into(),
            redirect_uri_presented: true,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            audiences: vec!["https://id.example/resources".into()],
            code_challenge: challenge,
            code_challenge_method: crate::protocol::pkce::ChallengeMethod::S256,
            claims: Default::default(),
            nonce: Some("n-0S6_WzA2Mj".into()),
            sign_in: crate::tokens::access_token::SignIn {
                auth_time: self.clock.now() - 10,
                amr: vec!["pwd".into()],
                acr: Some("1".into()),
                idp: "local".into(),
                sid: Some("sid-1".into()),
            },
            acr_in_id_token: false,
            dpop_jkt,
            authorization_details: vec![],
        };
        issue_code(&self.ctx(), &self.web, "alice-sub", &data)
            .await
            .unwrap()
    }

    async fn redeem(&self, client: &Client, body: &str) -> Result<TokenResponse, OAuthError> {
        super::token(&self.ctx(), &self.store, client, body).await
    }
}

pub(super) fn body(code: &str, verifier: Option<&str>) -> String {
    let mut b = format!(
        "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
    );
    if let Some(v) = verifier {
        b.push_str(&format!("&code_verifier={v}"));
    }
    b
}

#[tokio::test]
async fn code_is_redeemed_once_for_tokens_with_a_valid_id_token() {
    let w = world().await;
    let code = w.code(Some(s256_challenge(VERIFIER))).await;
    let tokens = w
        .redeem(&w.web, &body(&code, Some(VERIFIER)))
        .await
        .unwrap();
    let id_token = tokens.id_token.unwrap();
    // OIDC Registration §2: a client that did not choose gets RS256 identity tokens.
    let rs256 = w
        .ring
        .published()
        .iter()
        .find(|k| k.alg == "RS256")
        .cloned()
        .unwrap();
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(serde_json::to_value(&rs256).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["web"]);
    validation.set_issuer(&["https://id.example"]);
    validation.validate_exp = false;
    let claims = decode::<serde_json::Value>(
        &id_token,
        &DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], "alice-sub");
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["sid"], "sid-1");
    assert_eq!(claims["amr"][0], "pwd");
    assert_eq!(
        claims["at_hash"],
        left_half_hash(SigningAlg::Rs256, &tokens.access_token)
    );
    assert_eq!(claims["auth_time"], w.clock.now() - 10);

    // SEC-14: a second redemption fails and revokes the access token issued from the code.
    let access_digest = handle_digest(&tokens.access_token);
    assert!(w.store.find_grant(&access_digest).await.unwrap().is_some());
    let again = w
        .redeem(&w.web, &body(&code, Some(VERIFIER)))
        .await
        .unwrap_err();
    assert_eq!(again.code(), "invalid_grant");
    assert!(
        w.store.find_grant(&access_digest).await.unwrap().is_none(),
        "family revoked"
    );
}

#[tokio::test]
async fn bindings_are_enforced_and_a_failed_attempt_burns_the_code() {
    let w = world().await;
    let challenge = || Some(s256_challenge(VERIFIER));
    // SEC-16: another client (also registered for codes) gets invalid_grant; the code is
    // burned for its own client too.
    let code = w.code(challenge()).await;
    let stolen = w.redeem(&w.other, &body(&code, Some(VERIFIER))).await;
    assert_eq!(stolen.unwrap_err().code(), "invalid_grant");
    assert!(
        w.redeem(&w.web, &body(&code, Some(VERIFIER)))
            .await
            .is_err(),
        "burned"
    );
    // RFC 6749 §4.1.3: redirect_uri identical.
    let code = w.code(challenge()).await;
    let wrong = body(&code, Some(VERIFIER)).replace("%2Fcb", "%2Fcb2");
    assert_eq!(
        w.redeem(&w.web, &wrong).await.unwrap_err().code(),
        "invalid_grant"
    );
    // SEC-18: wrong verifier burns the code; the right one afterwards fails.
    let code = w.code(challenge()).await;
    assert!(
        w.redeem(&w.web, &body(&code, Some(&VERIFIER.replace('d', "e"))))
            .await
            .is_err()
    );
    assert!(
        w.redeem(&w.web, &body(&code, Some(VERIFIER)))
            .await
            .is_err()
    );
    // A challenge without verifier, a verifier without challenge.
    let code = w.code(challenge()).await;
    assert_eq!(
        w.redeem(&w.web, &body(&code, None))
            .await
            .unwrap_err()
            .code(),
        "invalid_grant"
    );
    let code = w.code(None).await;
    assert_eq!(
        w.redeem(&w.web, &body(&code, Some(VERIFIER)))
            .await
            .unwrap_err()
            .code(),
        "invalid_grant"
    );
}

#[tokio::test]
async fn expired_codes_and_disabled_users_get_nothing() {
    let w = world().await;
    let code = w.code(None).await;
    w.clock.advance(CODE_LIFETIME);
    assert_eq!(
        w.redeem(&w.web, &body(&code, None))
            .await
            .unwrap_err()
            .code(),
        "invalid_grant"
    );
    w.clock.advance(-CODE_LIFETIME);
    let code = w.code(None).await;
    let mut alice = w
        .store
        .find_user_by_subject("alice-sub")
        .await
        .unwrap()
        .unwrap();
    alice.disabled = true;
    w.store.update_user(&alice).await.unwrap();
    assert_eq!(
        w.redeem(&w.web, &body(&code, None))
            .await
            .unwrap_err()
            .code(),
        "invalid_grant"
    );
}

/// A refresh's response: a refresh grant always rotates, so its `refresh_token` is there.
#[derive(Debug)]
struct Refreshed {
    access_token: String,
    scope: String,
    refresh_token: String,
    id_token: Option<String>,
}

async fn refresh(
    w: &World,
    client: &Client,
    token: &str,
    scope: Option<&str>,
) -> Result<Refreshed, OAuthError> {
    let mut body = format!("grant_type=refresh_token&refresh_token={token}");
    if let Some(scope) = scope {
        body.push_str(&format!("&scope={scope}"));
    }
    let t = super::token(&w.ctx(), &w.store, client, &body).await?;
    Ok(Refreshed {
        access_token: t.access_token,
        scope: t.scope,
        refresh_token: t.refresh_token.expect("a refresh rotates"),
        id_token: t.id_token,
    })
}

async fn first_refresh_token(w: &World) -> String {
    let code = w
        .code_for(None, &["openid", "profile", "offline_access"])
        .await;
    w.redeem(&w.web, &body(&code, None))
        .await
        .unwrap()
        .refresh_token
        .expect("offline_access gives a refresh token")
}

#[tokio::test]
async fn no_refresh_token_without_offline_access() {
    let w = world().await;
    let code = w.code(None).await;
    assert!(
        w.redeem(&w.web, &body(&code, None))
            .await
            .unwrap()
            .refresh_token
            .is_none()
    );
}

/// SEC-20/22: rotation, and reuse of a rotated token ends the family.
#[tokio::test]
async fn rotation_and_reuse_detection() {
    let w = world().await;
    let first = first_refresh_token(&w).await;
    let second = refresh(&w, &w.web, &first, None).await.unwrap();
    assert_ne!(second.refresh_token, first);
    let id_token = second
        .id_token
        .expect("openid gives a fresh identity token");
    assert!(!id_token.is_empty());
    let third = refresh(&w, &w.web, &second.refresh_token, None)
        .await
        .unwrap();
    // Replaying the first token revokes the current one too.
    assert_eq!(
        refresh(&w, &w.web, &first, None).await.unwrap_err().code(),
        "invalid_grant"
    );
    assert_eq!(
        refresh(&w, &w.web, &third.refresh_token, None)
            .await
            .unwrap_err()
            .code(),
        "invalid_grant"
    );
    // And the reference access tokens of the family.
    assert!(
        w.store
            .find_grant(&handle_digest(&third.access_token))
            .await
            .unwrap()
            .is_none()
    );
}

/// SEC-24: narrow, never widen; narrowing does not shrink the grant itself.
#[tokio::test]
async fn scope_may_narrow_but_not_widen() {
    let w = world().await;
    let token = first_refresh_token(&w).await;
    let narrow = refresh(&w, &w.web, &token, Some("openid")).await.unwrap();
    assert_eq!(narrow.scope, "openid");
    let back = refresh(&w, &w.web, &narrow.refresh_token, Some("openid+profile"))
        .await
        .unwrap();
    assert_eq!(back.scope, "openid profile");
    let wide = refresh(&w, &w.web, &back.refresh_token, Some("openid+api1.write")).await;
    assert_eq!(wide.unwrap_err().code(), "invalid_scope");
}

/// SEC-23, SEC-26, SEC-25 lifetimes.
#[tokio::test]
async fn client_binding_user_state_and_lifetimes() {
    let w = world().await;
    let token = first_refresh_token(&w).await;
    assert_eq!(
        refresh(&w, &w.other, &token, None)
            .await
            .unwrap_err()
            .code(),
        "invalid_grant"
    );

    // Sliding: unused for longer than the sliding lifetime (3600 s in these clients).
    let token = first_refresh_token(&w).await;
    w.clock.advance(3_600);
    assert!(refresh(&w, &w.web, &token, None).await.is_err());

    // Absolute: used within the sliding window every time, still ends at 7200 s.
    let mut token = first_refresh_token(&w).await;
    for _ in 0..3 {
        w.clock.advance(1_800);
        token = refresh(&w, &w.web, &token, None)
            .await
            .unwrap()
            .refresh_token;
    }
    w.clock.advance(1_800);
    assert!(
        refresh(&w, &w.web, &token, None).await.is_err(),
        "past the absolute lifetime"
    );

    let token = first_refresh_token(&w).await;
    let mut alice = w
        .store
        .find_user_by_subject("alice-sub")
        .await
        .unwrap()
        .unwrap();
    alice.disabled = true;
    w.store.update_user(&alice).await.unwrap();
    assert_eq!(
        refresh(&w, &w.web, &token, None).await.unwrap_err().code(),
        "invalid_grant"
    );
}

/// FAPI 2.0 SP §5.3.2.1: a client whose refresh tokens do not rotate uses one until its
/// family's absolute end; every refresh answers without a new one. A failed check still burns
/// it, and a burned one revokes the family when presented again.
#[tokio::test]
async fn a_refresh_token_without_rotation_serves_until_the_absolute_end() {
    let mut w = world().await;
    w.web.settings.refresh_token_rotation = false;
    let token = first_refresh_token(&w).await;
    let mut access = vec![];
    // Past the first sliding end (3600 s), each use within the sliding lifetime of the last,
    // to the absolute end (7200 s).
    for _ in 0..3 {
        w.clock.advance(1_900);
        let t = super::token(
            &w.ctx(),
            &w.store,
            &w.web,
            &format!("grant_type=refresh_token&refresh_token={token}"),
        )
        .await
        .unwrap();
        assert!(t.refresh_token.is_none(), "the client keeps its token");
        assert!(t.id_token.is_some());
        access.push(t.access_token);
    }
    w.clock.advance(1_900);
    assert!(
        refresh(&w, &w.web, &token, None).await.is_err(),
        "past the absolute lifetime"
    );
    // Each use moves its end a sliding lifetime on; unused for longer, it ends.
    let idle = first_refresh_token(&w).await;
    w.clock.advance(3_601);
    assert!(refresh(&w, &w.web, &idle, None).await.is_err(), "idle");
    // Another client presenting it burns it; the client's next use is a replay that ends the
    // family.
    let token = first_refresh_token(&w).await;
    let stolen = refresh(&w, &w.other, &token, None).await.unwrap_err();
    assert_eq!(stolen.code(), "invalid_grant");
    assert_eq!(
        refresh(&w, &w.web, &token, None).await.unwrap_err().code(),
        "invalid_grant"
    );
    assert!(
        w.recorded
            .seen()
            .iter()
            .any(|e| e.starts_with("ReplayDetected")),
        "{:?}",
        w.recorded.seen()
    );
    assert!(
        !w.recorded
            .seen()
            .iter()
            .any(|e| e.starts_with("RefreshRotated")),
        "nothing rotated"
    );
}

/// SEC-21: concurrent refreshes with one token, exactly one winner.
#[tokio::test]
async fn concurrent_refreshes_have_one_winner() {
    let w = world().await;
    let token = first_refresh_token(&w).await;
    let (a, b, c, d) = tokio::join!(
        refresh(&w, &w.web, &token, None),
        refresh(&w, &w.web, &token, None),
        refresh(&w, &w.web, &token, None),
        refresh(&w, &w.web, &token, None)
    );
    assert_eq!(
        [a.is_ok(), b.is_ok(), c.is_ok(), d.is_ok()]
            .iter()
            .filter(|ok| **ok)
            .count(),
        1
    );
}

/// Domain events: the issue, the rotation and the replay are each told once.
#[tokio::test]
async fn issuing_rotating_and_replaying_are_told_as_events() {
    let w = world().await;
    let first = first_refresh_token(&w).await;
    refresh(&w, &w.web, &first, None).await.unwrap();
    refresh(&w, &w.web, &first, None).await.unwrap_err();
    assert_eq!(
        w.recorded.seen(),
        [
            r#"TokensIssued { grant_type: AuthorizationCode, client_id: "web" }"#,
            r#"RefreshRotated { client_id: "web" }"#,
            r#"TokensIssued { grant_type: RefreshToken, client_id: "web" }"#,
            r#"ReplayDetected { kind: "refresh_token", client_id: "web", peer: None }"#,
        ]
    );
}
