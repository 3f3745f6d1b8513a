//! DPoP (RFC 9449): a client proves, with a fresh signed proof per request, that it holds the
//! private key its tokens are bound to. This module checks a proof (§4.3); binding tokens to
//! the key's thumbprint (`cnf.jkt`, §6) and the single use of each proof's `jti` across
//! instances are the grants' and the store's.

use serde_json::{Map, Value};

use crate::clients::jwk::ClientJwk;
use crate::clock::UnixTime;
use crate::crypto::{base64url, sha256};
use crate::protocol::OAuthError;
use crate::tokens::verify::parse_compact;

/// Algorithms accepted for proofs (RFC 9449 §4.2: asymmetric only; advertised as
/// `dpop_signing_alg_values_supported`, §5.1).
pub const DPOP_ALGS: &[&str] = &["ES256", "EdDSA", "PS256", "RS256"];
/// Proofs longer than this are refused before any decoding: a proof is a header with one
/// public key and a few claims.
pub const MAX_PROOF: usize = 8 * 1024;
/// How far a proof's `iat` may be from now, in seconds, either way (§4.3 step 11, §11.1: a
/// short window, with a little clock skew).
pub const PROOF_WINDOW: i64 = 60;
/// Longest `jti` accepted (§4.2: enough for 96 bits of randomness many times over).
const MAX_JTI: usize = 256;

/// What the request a proof comes with must match.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The HTTP method (`htm`).
    pub method: &'a str,
    /// The URL the request was sent to, as the issuer names it (`htu`).
    pub url: &'a str,
    /// The access token the request presents, whose hash the proof must carry (`ath`).
    pub access_token: Option<&'a str>,
    /// The nonces the server accepts, the current one first; none when it requires none (§8).
    pub nonces: &'a [String],
    /// The time of the request.
    pub now: UnixTime,
}

/// A checked proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 thumbprint of the proof's public key: what tokens are bound to (§6.1).
    pub jkt: String,
    /// The proof's unique identifier, to be used once (§11.1).
    pub jti: String,
    /// When it was made.
    pub iat: UnixTime,
    /// The hash of the access token it is sent with (`ath`, §4.2), as sent.
    pub ath: Option<String>,
}

fn invalid(why: &'static str) -> OAuthError {
    OAuthError::InvalidDpopProof(why.into())
}

/// Checks the request's `DPoP` header values (RFC 9449 §4.3), in the order of the steps there.
/// `None` when the request carries no proof; a request with a proof gets its checked proof or
/// `invalid_dpop_proof` (`use_dpop_nonce` when only the nonce is missing or stale, §8).
pub fn check_proof(
    headers: &[String],
    expected: &Expected<'_>,
) -> Result<Option<Proof>, OAuthError> {
    let proof = match headers {
        [] => return Ok(None),
        [one] => one,
        // Step 1: "there is not more than one DPoP HTTP request header field".
        _ => return Err(invalid("more than one DPoP header")),
    };
    // Step 2: a single well-formed JWT.
    if proof.len() > MAX_PROOF {
        return Err(invalid("the DPoP proof is too large"));
    }
    let jws = parse_compact(proof).ok_or_else(|| invalid("the DPoP proof is not a JWS"))?;
    let header = &jws.header;
    // Step 4: `typ` is `dpop+jwt`.
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err(invalid("the DPoP proof's typ is not dpop+jwt"));
    }
    if header.crit.is_some() {
        return Err(invalid("the DPoP proof has critical header parameters"));
    }
    // Step 5: an asymmetric algorithm we accept.
    if !DPOP_ALGS.contains(&header.alg.as_str()) {
        return Err(invalid("the DPoP proof's alg is not accepted"));
    }
    // Steps 6-7: the public key of the header verifies the signature; no private member.
    let key = header
        .jwk
        .as_ref()
        .ok_or_else(|| invalid("the DPoP proof has no jwk header"))?;
    let jwk = ClientJwk::from_json(key)
        .map_err(|_| invalid("the DPoP proof's jwk is not a public key we accept"))?;
    if !jwk.verify(&header.alg, jws.signing_input, &jws.signature) {
        return Err(invalid("the DPoP proof's signature does not verify"));
    }
    let claims = &jws.unverified_claims;
    // Step 3: the claims, then steps 8-12.
    let jti = text(claims, "jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI {
        return Err(invalid("the DPoP proof's jti is empty or too long"));
    }
    if text(claims, "htm")? != expected.method {
        return Err(invalid("the DPoP proof's htm is not this request's method"));
    }
    let htu = normalized_htu(text(claims, "htu")?);
    if htu.is_none() || htu != normalized_htu(expected.url) {
        return Err(invalid("the DPoP proof's htu is not this endpoint"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("the DPoP proof has no numeric iat"))?;
    check_nonce(claims, expected.nonces)?;
    if (iat - expected.now).abs() > PROOF_WINDOW {
        return Err(invalid("the DPoP proof's iat is too far from now"));
    }
    if let Some(token) = expected.access_token {
        // §4.3 step 12, §4.2: `ath` is base64url(SHA-256(access token)).
        let ath = claims.get("ath").and_then(Value::as_str);
        if ath != Some(base64url(&sha256(token.as_bytes())).as_str()) {
            return Err(invalid(
                "the DPoP proof's ath does not match the access token",
            ));
        }
    }
    Ok(Some(Proof {
        jkt: jwk.thumbprint(),
        jti: jti.to_string(),
        iat,
        ath: claims
            .get("ath")
            .and_then(Value::as_str)
            .map(str::to_string),
    }))
}

/// A required string claim.
fn text<'c>(claims: &'c Map<String, Value>, name: &'static str) -> Result<&'c str, OAuthError> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| OAuthError::InvalidDpopProof(format!("the DPoP proof has no {name}").into()))
}

/// §4.3 step 10, §8: when the server requires a nonce, the proof carries the current one.
fn check_nonce(claims: &Map<String, Value>, nonces: &[String]) -> Result<(), OAuthError> {
    let Some(current) = nonces.first() else {
        return Ok(());
    };
    let sent = claims.get("nonce").and_then(Value::as_str);
    if sent.is_some_and(|sent| nonces.iter().any(|n| n == sent)) {
        return Ok(());
    }
    Err(OAuthError::UseDpopNonce {
        description: "the DPoP proof must carry the server's current nonce".into(),
        nonce: current.clone(),
    })
}

/// §4.3 step 9: `htu` compared without query and fragment, after RFC 3986 §6.2.2-§6.2.3
/// normalisation (case of scheme and host, default port, percent-encoding). A URL that does not
/// parse compares as nothing.
fn normalized_htu(url: &str) -> Option<String> {
    let mut url = url::Url::parse(url).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

mod bind;
mod replay;
pub use bind::{
    Replay, UsedProof, check_certificate_binding, check_request_proof, check_resource_request,
};
pub(crate) use bind::{check_bound, token_request_proof};
pub use replay::{FirstUse, LocalReplay};

#[cfg(test)]
pub(crate) mod tests;
