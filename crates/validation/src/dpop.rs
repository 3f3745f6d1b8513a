//! DPoP (RFC 9449) at the API: a token bound to a key (`cnf.jkt`, §6) is accepted only with
//! the DPoP scheme and a fresh proof of that key for this request (§7.1, §4.3).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};

/// Algorithms of proofs (§4.2: asymmetric only).
pub(crate) const PROOF_ALGS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::PS256,
    Algorithm::RS256,
];
/// The longest proof read.
const MAX_PROOF: usize = 8 * 1024;
/// Seconds a proof's `iat` may be from now (§11.1).
const WINDOW: i64 = 60;
/// Proof identifiers remembered at most; past it, the expired ones are dropped first and, if
/// the cache is still full, proofs are refused until room is made.
const MAX_SEEN: usize = 100_000;
/// Members of a private or symmetric JWK (RFC 7518 §6): never in a proof's header (§4.3).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The request a proof must be for.
pub(crate) struct ProofRequest<'a> {
    /// The `DPoP` header values.
    pub(crate) proofs: Vec<&'a str>,
    /// `htm`.
    pub(crate) method: &'a str,
    /// `htu`: the API's URL and the request's path.
    pub(crate) url: String,
    /// The access token presented (`ath`).
    pub(crate) token: &'a str,
    /// The thumbprint the token is bound to.
    pub(crate) jkt: &'a str,
    /// The time of the request, in seconds since the epoch.
    pub(crate) now: i64,
}

/// The proofs seen recently: a replay is refused on this instance (§11.1). APIs running
/// several instances see a proof replayed at another instance within the proof window only
/// if they share nothing; the window keeps that short.
#[derive(Debug, Default)]
pub(crate) struct SeenProofs(Mutex<HashMap<String, i64>>);

impl SeenProofs {
    /// Records `key` until `until`; false when it was seen before (or there is no room).
    fn first_use(&self, key: String, now: i64, until: i64) -> bool {
        let Ok(mut seen) = self.0.lock() else {
            return false;
        };
        if seen.len() >= MAX_SEEN {
            seen.retain(|_, expiry| *expiry > now);
        }
        if seen.len() >= MAX_SEEN || seen.get(&key).is_some_and(|expiry| *expiry > now) {
            return false;
        }
        seen.insert(key, until);
        true
    }
}

/// `htu` without query and fragment, normalised (§4.3 step 9).
fn normalized(url: &str) -> Option<String> {
    let mut url = url::Url::parse(url).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// The proof's header as sent, to see members that a parsed JWK would drop.
fn raw_header(proof: &str) -> Option<Map<String, Value>> {
    let segment = proof.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Checks `request`'s proof (§4.3, §7.1); the reason when it fails.
pub(crate) fn check(request: &ProofRequest<'_>, seen: &SeenProofs) -> Result<(), String> {
    let [proof] = request.proofs[..] else {
        return Err("exactly one DPoP proof is needed".into());
    };
    if proof.len() > MAX_PROOF {
        return Err("the DPoP proof is too large".into());
    }
    let header = decode_header(proof).map_err(|_| "the DPoP proof is not a JWS")?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err("the DPoP proof's typ is not dpop+jwt".into());
    }
    if !PROOF_ALGS.contains(&header.alg) {
        return Err("the DPoP proof's alg is not accepted".into());
    }
    let raw = raw_header(proof).ok_or("the DPoP proof's header is not JSON")?;
    let jwk_members = raw.get("jwk").and_then(Value::as_object);
    if jwk_members.is_none_or(|jwk| PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)))
        || raw.contains_key("crit")
    {
        return Err("the DPoP proof's jwk is not a public key".into());
    }
    let jwk = header.jwk.ok_or("the DPoP proof has no jwk")?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "the DPoP proof's jwk is unusable")?;
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = decode::<Map<String, Value>>(proof, &key, &validation)
        .map_err(|_| "the DPoP proof's signature does not verify")?
        .claims;
    let thumbprint = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| "the DPoP proof's jwk has no thumbprint")?;
    if thumbprint != request.jkt {
        return Err("the DPoP proof is made with another key than the token is bound to".into());
    }
    check_claims(request, &claims)?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let until = iat.max(request.now) + WINDOW + 1;
    if !seen.first_use(format!("{thumbprint}\n{jti}"), request.now, until) {
        return Err("the DPoP proof was used before".into());
    }
    Ok(())
}

/// §4.3 steps 8-12: `htm`, `htu`, `iat`, `jti` and `ath`.
fn check_claims(request: &ProofRequest<'_>, claims: &Map<String, Value>) -> Result<(), String> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = text("jti").unwrap_or_default();
    if jti.is_empty() || jti.len() > 256 {
        return Err("the DPoP proof's jti is missing or too long".into());
    }
    if text("htm") != Some(request.method) {
        return Err("the DPoP proof's htm is not this request's method".into());
    }
    let htu = text("htu").and_then(normalized);
    if htu.is_none() || htu != normalized(&request.url) {
        return Err("the DPoP proof's htu is not this URL".into());
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or("the DPoP proof has no numeric iat")?;
    if (iat - request.now).abs() > WINDOW {
        return Err("the DPoP proof's iat is too far from now".into());
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, request.token.as_bytes());
    if text("ath") != Some(URL_SAFE_NO_PAD.encode(digest.as_ref()).as_str()) {
        return Err("the DPoP proof's ath is not this token's hash".into());
    }
    Ok(())
}
