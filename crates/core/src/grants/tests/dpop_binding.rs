//! Codes and refresh tokens bound to a DPoP key (RFC 9449 §5, §10; SEC-31, CVE-51).

use serde_json::json;

use super::code_flow::{VERIFIER, body, world};
use crate::clients::jwk::ClientJwk;
use crate::clock::Clock as _;
use crate::dpop::tests::proof;
use crate::grants::TokenContext;
use crate::protocol::OAuthError;
use crate::protocol::context::RequestContext;
use crate::protocol::pkce::s256_challenge;
use crate::protocol::token::TokenType;
use crate::tokens::{SigningAlg, SigningKey};

fn thumbprint(key: &SigningKey) -> String {
    let jwk = serde_json::to_value(key.public_jwk()).unwrap();
    ClientJwk::from_json(&jwk).unwrap().thumbprint()
}

/// A token request carrying a proof by `key`, made at `now`.
fn request_with_proof(key: Option<&SigningKey>, now: i64, jti: &str) -> RequestContext {
    let claims = json!({"jti": jti, "htm": "POST", "htu": "https://id.example/token", "iat": now});
    RequestContext {
        dpop: key
            .map(|k| proof(k, json!({}), claims))
            .into_iter()
            .collect(),
        ..RequestContext::new("POST", "https://id.example/token".into())
    }
}

#[tokio::test]
async fn sec31_a_code_bound_with_dpop_jkt_is_redeemed_only_with_that_keys_proof() {
    let w = world().await;
    let key = SigningKey::generate(SigningAlg::Es256).unwrap().0;
    let other = SigningKey::generate(SigningAlg::Es256).unwrap().0;
    let challenge = Some(s256_challenge(VERIFIER));
    let code = w
        .code_bound(challenge, &["openid"], Some(thumbprint(&key)))
        .await;
    let form = body(&code, Some(VERIFIER));
    let now = w.clock.now();
    for (n, presented) in [None, Some(&other)].into_iter().enumerate() {
        let http = request_with_proof(presented, now, &format!("j-{n}"));
        let ctx = TokenContext {
            http: Some(&http),
            ..w.ctx()
        };
        let refused = super::token(&ctx, &w.store, &w.web, &form).await;
        assert!(
            matches!(refused, Err(OAuthError::InvalidGrant(_))),
            "{refused:?}"
        );
    }
    // The failed attempts burned nothing: the key's holder redeems the code.
    let http = request_with_proof(Some(&key), now, "j-right");
    let ctx = TokenContext {
        http: Some(&http),
        ..w.ctx()
    };
    let tokens = super::token(&ctx, &w.store, &w.web, &form).await.unwrap();
    assert_eq!(tokens.token_type, TokenType::DPoP);
}
