//! Binding tokens to a DPoP key: proofs are used once (RFC 9449 §11.1), token requests bind
//! what they get to the proof's key (§5, §10), and a bound token is used only with a proof of
//! its key (§7).

use serde::{Deserialize, Serialize};

use super::{Expected, FirstUse, LocalReplay, PROOF_WINDOW, Proof, check_proof};
use crate::clock::UnixTime;
use crate::crypto::{base64url, constant_time_eq, handle_digest, sha256};
use crate::grants::TokenContext;
use crate::model::{Client, Grant, GrantKind};
use crate::protocol::OAuthError;
use crate::protocol::context::RequestContext;
use crate::protocol::token::TokenType;
use crate::store::{GrantPayload, GrantStore, StoreError};
use crate::tokens::access_token::Confirmation;

/// The replay marker of a proof's `jti`, kept while the proof could still be accepted. It
/// carries nothing besides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedProof;

impl GrantPayload for UsedProof {
    const KIND: GrantKind = GrantKind::DpopProofJti;
}

/// Where a server remembers the proofs it accepted: the store, and the memory of a server that
/// is its database's only instance.
#[derive(Clone, Copy)]
pub struct Replay<'a> {
    /// The grant store, shared by every instance.
    pub grants: &'a dyn GrantStore,
    /// The memory of a lone instance, asked first.
    pub local: Option<&'a LocalReplay>,
}

/// Checks the proof `http` carries (§4.3) and uses its `jti` up, so that a replay fails on
/// every instance (§11.1). `None` when the request has no proof.
pub async fn check_request_proof(
    http: &RequestContext,
    replay: Replay<'_>,
    nonces: &[String],
    access_token: Option<&str>,
    now: UnixTime,
) -> Result<Option<Proof>, OAuthError> {
    let expected = Expected {
        method: &http.method,
        url: &http.url,
        access_token,
        nonces,
        now,
    };
    let Some(proof) = check_proof(&http.dpop, &expected)? else {
        return Ok(None);
    };
    // Keyed by the key as well as the jti: one client's jti cannot block another's.
    let key = handle_digest(&format!(
        "{}\n{}\n{}",
        UsedProof::KIND.as_str(),
        proof.jkt,
        proof.jti
    ));
    // A proof is acceptable until `iat` + the window; the marker outlives that.
    let until = proof.iat.max(now).saturating_add(PROOF_WINDOW + 1);
    let used = || {
        OAuthError::InvalidDpopProof(
            "the DPoP proof was used before, or made before the server started; make a new one \
             for every request"
                .into(),
        )
    };
    match replay
        .local
        .map(|l| l.first_use(key.clone(), proof.iat, now, until))
    {
        Some(FirstUse::Yes) => return Ok(Some(proof)),
        Some(FirstUse::No) => return Err(used()),
        Some(FirstUse::Unknown) | None => {}
    }
    let marker = Grant::new(key, "", &UsedProof, now, until)?;
    match replay.grants.insert_grant(&marker).await {
        Ok(()) => Ok(Some(proof)),
        Err(StoreError::Conflict(_)) => Err(used()),
        Err(e) => Err(e.into()),
    }
}

/// The proof of a token request, checked and used up; a client registered with
/// `require_dpop` must send one (§5.2 `dpop_bound_access_tokens`).
pub(crate) async fn token_request_proof(
    ctx: &TokenContext<'_>,
    client: &Client,
) -> Result<Option<Proof>, OAuthError> {
    let replay = Replay {
        grants: ctx.grants,
        local: ctx.dpop_replay,
    };
    let proof = match ctx.http {
        Some(http) => check_request_proof(http, replay, ctx.dpop_nonces, None, ctx.now).await?,
        None => None,
    };
    if proof.is_none() && client.settings.require_dpop {
        return Err(OAuthError::InvalidDpopProof(
            "this client must send a DPoP proof with every token request".into(),
        ));
    }
    Ok(proof)
}

/// Whether `proof` is made with the key `bound`; the reason when it is not.
fn proof_of_key(bound: &str, proof: Option<&Proof>, what: &str) -> Result<(), String> {
    match proof {
        None => Err(format!(
            "the {what} is bound to a DPoP key: send a proof made with it"
        )),
        Some(p) if constant_time_eq(p.jkt.as_bytes(), bound.as_bytes()) => Ok(()),
        Some(_) => Err(format!(
            "the DPoP proof is made with another key than the {what} is bound to"
        )),
    }
}

/// A grant bound to the key `bound` (an authorization code's `dpop_jkt`, §10; a public
/// client's refresh token, §5) is redeemed only with a proof of that key: `invalid_grant`
/// otherwise (CVE-51).
pub(crate) fn check_bound(
    bound: Option<&str>,
    proof: Option<&Proof>,
    what: &'static str,
) -> Result<(), OAuthError> {
    match bound {
        None => Ok(()),
        Some(bound) => {
            proof_of_key(bound, proof, what).map_err(|why| OAuthError::InvalidGrant(why.into()))
        }
    }
}

/// §7.1-§7.2: at a protected resource, a token bound to a key is accepted only with the DPoP
/// scheme and a proof of that key whose `ath` is the token's hash (§4.3 step 12); the DPoP
/// scheme is only for bound tokens; a bound token sent as a bearer token is refused, so that
/// binding cannot be stripped. Each refusal is `invalid_token` (SEC-30, CVE-24).
pub fn check_resource_request(
    token: &str,
    cnf: Option<&Confirmation>,
    scheme: TokenType,
    proof: Option<&Proof>,
) -> Result<(), OAuthError> {
    match (cnf.and_then(|c| c.jkt.as_deref()), scheme) {
        (None, TokenType::Bearer) => Ok(()),
        (Some(_), TokenType::Bearer) => Err(OAuthError::InvalidToken(
            "the access token is bound to a DPoP key: send it with the DPoP scheme and a proof"
                .into(),
        )),
        (None, TokenType::DPoP) => Err(OAuthError::InvalidToken(
            "the access token is not bound to a DPoP key: send it with the Bearer scheme".into(),
        )),
        (Some(jkt), TokenType::DPoP) => {
            proof_of_key(jkt, proof, "access token")
                .map_err(|why| OAuthError::InvalidToken(why.into()))?;
            let ath = base64url(&sha256(token.as_bytes()));
            if proof.and_then(|p| p.ath.as_deref()) != Some(ath.as_str()) {
                return Err(OAuthError::InvalidToken(
                    "the DPoP proof's ath is not the hash of this access token".into(),
                ));
            }
            Ok(())
        }
    }
}

/// RFC 8705 §3: at a protected resource, a token bound to a TLS client certificate is accepted
/// only over a mutual-TLS connection with that certificate (`presented` is its thumbprint);
/// `invalid_token` otherwise (SEC-68).
pub fn check_certificate_binding(
    cnf: Option<&Confirmation>,
    presented: Option<&str>,
) -> Result<(), OAuthError> {
    let Some(bound) = cnf.and_then(|c| c.x5t_s256.as_deref()) else {
        return Ok(());
    };
    match presented {
        Some(p) if constant_time_eq(p.as_bytes(), bound.as_bytes()) => Ok(()),
        Some(_) => Err(OAuthError::InvalidToken(
            "the access token is bound to another TLS client certificate".into(),
        )),
        None => Err(OAuthError::InvalidToken(
            "the access token is bound to a TLS client certificate: send it over mutual TLS \
             with that certificate"
                .into(),
        )),
    }
}
