//! The authorization code grant (RFC 6749 §4.1): codes are issued after sign-in and consent,
//! and redeemed once at the token endpoint.

use serde::{Deserialize, Serialize};

use super::{TokenContext, check_grant_allowed};
use crate::crypto::{base64url, handle_digest, random_bytes, random_handle};
use crate::model::{Client, Grant};
use crate::protocol::OAuthError;
use crate::protocol::form::Form;
use crate::protocol::pkce::verify_s256;
use crate::store::UserStore;
use crate::tokens::access_token::{AccessTokenRequest, IssuedAccessToken, issue_access_token};
use crate::tokens::id_token::{IdTokenRequest, issue_id_token};

/// The grant type name, and the kind codes are stored under.
pub const GRANT_TYPE: &str = "authorization_code";

/// Codes live this long by default (SECURITY.md SEC-13; RFC 6749 §4.1.2 allows ten minutes).
pub const CODE_LIFETIME: i64 = 60;

/// What a code stands for, stored with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeData {
    /// The redirect URI of the authorization request, compared at redemption.
    pub redirect_uri: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Audiences of the access token.
    pub audiences: Vec<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// The request's nonce, for the identity token.
    pub nonce: Option<String>,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Session id.
    pub sid: Option<String>,
}

/// Stores a new code for `client` and `subject` and returns it (128+ bits, stored as a digest).
pub async fn issue_code(
    ctx: &TokenContext<'_>,
    client: &Client,
    subject: &str,
    data: &CodeData,
) -> Result<String, OAuthError> {
    let code = random_handle().map_err(|_| OAuthError::ServerError)?;
    let family = base64url(&random_bytes(16).map_err(|_| OAuthError::ServerError)?);
    let grant = Grant {
        handle_digest: handle_digest(&code),
        kind: GRANT_TYPE.into(),
        client_id: client.client_id.clone(),
        subject: Some(subject.to_string()),
        session_id: data.sid.clone(),
        // Tokens issued from this code share its family, so a reuse can revoke them.
        family: Some(family),
        data: serde_json::to_value(data).map_err(|_| OAuthError::ServerError)?,
        created_at: ctx.now,
        expires_at: ctx.now + CODE_LIFETIME,
        consumed_at: None,
    };
    ctx.grants.insert_grant(&grant).await?;
    Ok(code)
}

/// Tokens from a redeemed code.
#[derive(Debug, Clone)]
pub struct CodeTokens {
    /// The access token.
    pub access: IssuedAccessToken,
    /// The identity token, when `openid` was granted.
    pub id_token: Option<String>,
}

fn invalid_grant(why: &'static str) -> OAuthError {
    OAuthError::InvalidGrant(why.into())
}

/// Redeems a code (RFC 6749 §4.1.3) for an authenticated client, with the checks in the order
/// of the spec: single use, client binding, redirect URI, PKCE, then the user.
pub async fn exchange(
    ctx: &TokenContext<'_>,
    users: &dyn UserStore,
    client: &Client,
    form: &Form,
) -> Result<CodeTokens, OAuthError> {
    check_grant_allowed(client, GRANT_TYPE)?;
    let code = form.required("code")?;
    let digest = handle_digest(code);
    // Atomic single use (SEC-15). A code seen before is a replay: what it issued is revoked
    // (RFC 6749 §4.1.2, SEC-14).
    let Some(grant) = ctx
        .grants
        .consume_grant(&digest, GRANT_TYPE, ctx.now)
        .await?
    else {
        if let Some(used) = ctx.grants.find_grant(&digest).await?
            && used.kind == GRANT_TYPE
            && used.consumed_at.is_some()
            && let Some(family) = &used.family
        {
            ctx.grants.delete_grant_family(family).await?;
        }
        return Err(invalid_grant(
            "the code is invalid, expired or already used",
        ));
    };
    let data: CodeData = serde_json::from_value(grant.data).map_err(|_| OAuthError::ServerError)?;
    // SEC-16: the code is bound to its client; it is burned either way.
    if grant.client_id != client.client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    // RFC 6749 §4.1.3: identical to the authorization request's redirect_uri.
    if form.one("redirect_uri")? != Some(data.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    // RFC 7636 §4.6; SEC-18: no downgrade either way, and a failed verifier burns the code.
    match (&data.code_challenge, form.one("code_verifier")?) {
        (Some(challenge), Some(verifier)) if verify_s256(challenge, verifier) => {}
        (None, None) => {}
        (Some(_), _) => return Err(invalid_grant("the code_verifier does not match")),
        (None, Some(_)) => return Err(invalid_grant("no code_challenge was sent for this code")),
    }
    // SEC-26: a disabled or deleted user gets nothing.
    let subject = grant.subject.unwrap_or_default();
    let active = users
        .find_user_by_subject(&subject)
        .await?
        .is_some_and(|u| !u.disabled);
    if !active {
        return Err(invalid_grant("the user can no longer sign in"));
    }
    let access = issue_access_token(
        AccessTokenRequest {
            issuer: ctx.issuer,
            client,
            subject: subject.clone(),
            scopes: data.scopes.clone(),
            audiences: data.audiences.clone(),
            now: ctx.now,
            family: grant.family.clone(),
        },
        ctx.ring,
        ctx.alg,
        ctx.grants,
    )
    .await?;
    let id_token = if data.scopes.iter().any(|s| s == "openid") {
        let key = ctx
            .ring
            .signing_key(ctx.alg)
            .map_err(|_| OAuthError::ServerError)?;
        Some(
            issue_id_token(
                &IdTokenRequest {
                    issuer: ctx.issuer,
                    subject: &subject,
                    client_id: &client.client_id,
                    now: ctx.now,
                    lifetime: client.identity_token_lifetime,
                    auth_time: data.auth_time,
                    nonce: data.nonce.as_deref(),
                    amr: &data.amr,
                    idp: "local",
                    sid: data.sid.as_deref(),
                    access_token: Some(&access.token),
                    code: None,
                },
                key,
            )
            .map_err(|_| OAuthError::ServerError)?,
        )
    } else {
        None
    };
    Ok(CodeTokens { access, id_token })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock as _, FixedClock};
    use crate::model::{AccessTokenType, Resources, Source, TokenEndpointAuthMethod, User};
    use crate::protocol::pkce::s256_challenge;
    use crate::secret::Secret;
    use crate::store::{ClientStore as _, GrantStore as _, MemoryStore};
    use crate::tokens::hash::left_half_hash;
    use crate::tokens::{KeyPolicy, KeyRing, SigningAlg, ensure_signing_keys, load_key_ring};
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const REDIRECT: &str = "https://app.example/cb";

    struct World {
        store: MemoryStore,
        ring: KeyRing,
        clock: FixedClock,
        resources: Resources,
        web: Client,
        other: Client,
    }

    fn client(id: &str) -> Client {
        Client {
            client_id: id.into(),
            client_name: None,
            secret_digests: vec![],
            grant_types: vec![GRANT_TYPE.into()],
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![],
            allowed_scopes: vec!["openid".into()],
            require_pkce: true,
            require_consent: false,
            access_token_type: AccessTokenType::Reference,
            access_token_lifetime: 300,
            identity_token_lifetime: 300,
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            jwks: vec![],
            enabled: true,
        }
    }

    async fn world() -> World {
        let store = MemoryStore::new();
        let clock = FixedClock::new(1_700_000_000);
        let policy = KeyPolicy::default();
        ensure_signing_keys(&store, &clock, &policy).await.unwrap();
        let ring = load_key_ring(&store, &clock, &policy).await.unwrap();
        let (web, other) = (client("web"), client("other"));
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
        World {
            store,
            ring,
            clock,
            resources: Resources::default(),
            web,
            other,
        }
    }

    impl World {
        fn ctx(&self) -> TokenContext<'_> {
            TokenContext {
                issuer: "https://id.example",
                now: self.clock.now(),
                resources: &self.resources,
                ring: &self.ring,
                alg: SigningAlg::Es256,
                grants: &self.store,
            }
        }

        async fn code(&self, challenge: Option<String>) -> String {
            let data = CodeData {
                redirect_uri: REDIRECT.into(),
                scopes: vec!["openid".into()],
                audiences: vec!["https://id.example/resources".into()],
                code_challenge: challenge,
                nonce: Some("n-0S6_WzA2Mj".into()),
                auth_time: self.clock.now() - 10,
                amr: vec!["pwd".into()],
                sid: Some("sid-1".into()),
            };
            issue_code(&self.ctx(), &self.web, "alice-sub", &data)
                .await
                .unwrap()
        }

        async fn redeem(&self, client: &Client, body: &str) -> Result<CodeTokens, OAuthError> {
            exchange(
                &self.ctx(),
                &self.store,
                client,
                &Form::parse(body.as_bytes()).unwrap(),
            )
            .await
        }
    }

    fn body(code: &str, verifier: Option<&str>) -> String {
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
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::to_value(&w.ring.published()[0]).unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
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
            left_half_hash(SigningAlg::Es256, &tokens.access.token)
        );
        assert_eq!(claims["auth_time"], w.clock.now() - 10);

        // SEC-14: a second redemption fails and revokes the access token issued from the code.
        let access_digest = handle_digest(&tokens.access.token);
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
}
