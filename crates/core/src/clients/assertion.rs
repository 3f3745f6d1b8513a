//! Client assertions: `private_key_jwt` and `client_secret_jwt` (OIDC Core §9, RFC 7523 §2.2,
//! §3).
//!
//! The assertion is checked as SECURITY-STATUS.md SEC-37/38/39/40 ask: a fixed algorithm allow-list,
//! the key taken from the client's registration (never from the token), `iss` = `sub` =
//! client_id, `aud` naming us, `exp` required and close, NumericDates that are numbers, and a
//! `jti` that is used once, persisted so replays fail on every instance and after restarts.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::jwk::ASSERTION_ALGS;
use crate::clock::UnixTime;
use crate::crypto::handle_digest;
use crate::model::{Client, Grant, GrantKind, TokenEndpointAuthMethod};
use crate::protocol::OAuthError;
use crate::secret::Secret;
use crate::store::{ClientStore, GrantPayload, GrantStore, StoreError};
use crate::tokens::verify::{UnverifiedJws, parse_compact};

/// RFC 7523 §2.2.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The replay marker of an assertion's `jti`, kept until the assertion expires. It carries
/// nothing besides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedAssertion;

impl GrantPayload for UsedAssertion {
    const KIND: GrantKind = GrantKind::ClientAssertionJti;
}

/// Clock skew tolerated between client and server.
pub const LEEWAY: i64 = 60;

/// Longest assertion lifetime accepted by default: one hour, as client libraries sign them
/// (authlib signs for an hour, pyoidc and the OpenID Foundation's tools for ten minutes).
/// `[client_authentication] max_assertion_lifetime` changes it; the `jti` is remembered until
/// `exp`, so a longer lifetime costs only storage.
pub const DEFAULT_MAX_LIFETIME: i64 = 3_600;

/// HMAC algorithms for `client_secret_jwt`, with the least key length each needs
/// (RFC 7518 §3.2: a key at least as long as the hash output).
pub const HMAC_ALGS: &[(&str, usize)] = &[("HS256", 32), ("HS384", 48), ("HS512", 64)];

/// The clear secrets of `client_secret_jwt` clients, by client_id. They come from the
/// configuration and live only in memory; the store keeps digests.
pub type SharedSecrets = std::collections::HashMap<String, Vec<Secret<String>>>;

/// Where the assertion was presented.
#[derive(Debug, Clone, Copy)]
pub struct AssertionAudience<'a> {
    /// Our issuer identifier.
    pub issuer: &'a str,
    /// The endpoint's URL (token, introspection, revocation).
    pub endpoint: &'a str,
    /// Every endpoint URL of ours an assertion's `aud` array may also hold.
    pub endpoints: &'a [String],
    /// The longest lifetime (`exp` after now) accepted, in seconds.
    pub max_lifetime: i64,
    /// The time of the request (the assertion's `exp`, `nbf` and `iat` are compared with it).
    pub now: UnixTime,
    /// HMAC keys of `client_secret_jwt` clients.
    pub shared_secrets: &'a SharedSecrets,
    /// Where the keys of clients registered with a `jwks_uri` are read; `None`: such clients
    /// cannot authenticate here.
    pub remote_keys: Option<&'a dyn RemoteKeys>,
    /// The TLS client certificate of the request, if it came over mutual TLS (RFC 8705).
    pub certificate: Option<&'a dyn super::mtls::PresentedCertificate>,
    /// The algorithms `private_key_jwt` assertions may be signed with ([`ASSERTION_ALGS`], or
    /// fewer under a security profile: FAPI 2.0 SP §5.4.1).
    pub algs: &'a [&'a str],
}

impl std::fmt::Debug for dyn RemoteKeys + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RemoteKeys")
    }
}

/// The key sets clients publish at their `jwks_uri` (RFC 7591 §2), fetched and kept for a
/// while by the server.
#[async_trait::async_trait]
pub trait RemoteKeys: Send + Sync {
    /// The keys at `uri`: the kept ones, or fetched again when `fresh` is asked for (an
    /// assertion signed with a key not among them: the client may have rotated, OIDC Core
    /// §10.1.1). What cannot be fetched or read is an error with its reason.
    async fn keys(
        &self,
        uri: &str,
        fresh: bool,
    ) -> Result<Vec<crate::clients::jwk::ClientJwk>, String>;
}

/// A refusal, with its reason: what is wrong with the presented assertion, which tells the
/// caller nothing it did not send (the caller's authentication logs it once).
fn refuse(why: &str) -> OAuthError {
    OAuthError::InvalidClient {
        description: format!("client assertion refused: {why}").into(),
        used_authorization_header: false,
    }
}

/// A refusal after the signature verified (REL-13: a clock skewed past the leeway says so).
fn refuse_signed(why: &str) -> OAuthError {
    refuse(why)
}

/// A NumericDate claim: absent is `None`; anything but a JSON number (a string, null, an
/// array) is an error, never "absent" (SEC-40, CVE-32).
fn numeric(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, OAuthError> {
    // RFC 7519 §2: a NumericDate is a JSON number of seconds, which may have a fraction; it is
    // read to the whole second below it. Anything but a number is refused.
    let seconds = |v: &Value| {
        v.as_i64().or_else(|| {
            v.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e15)
                .map(|f| f.floor() as i64)
        })
    };
    match claims.get(name) {
        None => Ok(None),
        Some(v) => seconds(v)
            .map(Some)
            .ok_or_else(|| refuse(&format!("`{name}` is not a number"))),
    }
}

fn string<'c>(claims: &'c Map<String, Value>, name: &str) -> Result<&'c str, OAuthError> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| refuse(&format!("`{name}` is missing")))
}

/// Verifies a client assertion and returns the client it authenticates.
pub async fn verify_client_assertion(
    clients: &dyn ClientStore,
    grants: &dyn GrantStore,
    assertion_type: &str,
    assertion: &str,
    client_id_param: Option<&str>,
    audience: &AssertionAudience<'_>,
) -> Result<Client, OAuthError> {
    let (jws, client_id) = read_assertion(assertion_type, assertion, client_id_param)?;
    if hmac_alg(&jws.header.alg).is_none() && !audience.algs.contains(&jws.header.alg.as_str()) {
        return Err(refuse(&format!(
            "algorithm {} is not accepted here; use one of {}",
            jws.header.alg,
            audience.algs.join(", ")
        )));
    }
    let client = clients
        .find_client(&client_id)
        .await?
        .filter(|c| c.enabled)
        .ok_or_else(|| refuse("unknown or disabled client"))?;
    let (jti, exp) = match (&client.jwks_uri, audience.remote_keys) {
        (Some(uri), Some(remote)) => {
            // Keys by reference: the kept set first, then, if the assertion's key is not in
            // it, the set fetched again (once; the fetcher bounds how often).
            let mut with_keys = client.clone();
            with_keys.jwks = remote.keys(uri, false).await.map_err(|why| {
                refuse(&format!("the client's jwks_uri could not be read: {why}"))
            })?;
            if check_assertion(&with_keys, &jws, audience).is_err() {
                with_keys.jwks = remote.keys(uri, true).await.map_err(|why| {
                    refuse(&format!("the client's jwks_uri could not be read: {why}"))
                })?;
            }
            let (jti, exp) = check_assertion(&with_keys, &jws, audience)?;
            (jti, exp)
        }
        (Some(_), None) => return Err(refuse("keys by reference cannot be read here")),
        (None, _) => check_assertion(&client, &jws, audience)?,
    };
    remember_jti(grants, &client, jti, exp, audience.now).await?;
    Ok(client)
}

/// The first, key-less half of the checks: the assertion type, the compact JWS (size-bounded,
/// strictly parsed), its header (no `crit`, an assertion `typ`, an allowed algorithm) and
/// `iss` = `sub` = `client_id`. Returns the parsed token and the client id it names.
pub fn read_assertion<'a>(
    assertion_type: &str,
    assertion: &'a str,
    client_id_param: Option<&str>,
) -> Result<(UnverifiedJws<'a>, String), OAuthError> {
    if assertion_type != ASSERTION_TYPE {
        return Err(refuse("unsupported client_assertion_type"));
    }
    let jws = parse_compact(assertion).ok_or_else(|| refuse("not a well-formed compact JWS"))?;
    let header = &jws.header;
    if header.crit.is_some() {
        return Err(refuse("critical header extensions are not understood"));
    }
    // A token of another kind (an access token, a logout token) is not an assertion.
    if let Some(typ) = &header.typ
        && !typ.eq_ignore_ascii_case("JWT")
        && !typ.eq_ignore_ascii_case("client-authentication+jwt")
    {
        return Err(refuse("unexpected typ"));
    }
    if hmac_alg(&header.alg).is_none() && !ASSERTION_ALGS.contains(&header.alg.as_str()) {
        return Err(refuse("algorithm not allowed"));
    }
    // RFC 7523 §3: iss and sub are the client_id.
    let client_id = string(&jws.unverified_claims, "iss")?;
    if string(&jws.unverified_claims, "sub")? != client_id
        || client_id_param.is_some_and(|id| id != client_id)
    {
        return Err(refuse("iss, sub and client_id differ"));
    }
    let client_id = client_id.to_owned();
    Ok((jws, client_id))
}
/// The second half, for the client the assertion names: the signature with a key from the
/// client's registration (never from the token), then the claims. Returns the `jti` and the
/// time until which it must be remembered; the caller records it (single use is not checked
/// here, see [`verify_client_assertion`]).
pub fn check_assertion<'j>(
    client: &Client,
    jws: &'j UnverifiedJws<'_>,
    audience: &AssertionAudience<'_>,
) -> Result<(&'j str, i64), OAuthError> {
    let header = &jws.header;
    let claims = &jws.unverified_claims;
    let (signing_input, signature) = (jws.signing_input, &jws.signature);
    // SEC-38: the key type follows the registered method, never the token's header: HMAC
    // only for client_secret_jwt, public keys only for private_key_jwt.
    let method = client.token_endpoint_auth_method;
    let hmac = hmac_alg(&header.alg).is_some();
    if !matches!(
        (method, hmac),
        (TokenEndpointAuthMethod::ClientSecretJwt, true)
            | (TokenEndpointAuthMethod::PrivateKeyJwt, false)
    ) {
        let used = if hmac {
            "an HMAC-signed assertion (client_secret_jwt)"
        } else {
            "an assertion signed with a private key (private_key_jwt)"
        };
        return Err(refuse(&format!(
            "the client is registered for {}; this request used {used}",
            method.as_str()
        )));
    }
    let verified = match (method, hmac_alg(&header.alg)) {
        (TokenEndpointAuthMethod::ClientSecretJwt, Some(min_len)) => audience
            .shared_secrets
            .get(&client.client_id)
            .into_iter()
            .flatten()
            .filter(|s| s.expose().len() >= min_len)
            .any(|s| verify_hmac(&header.alg, s.expose(), signing_input, signature)),
        (TokenEndpointAuthMethod::PrivateKeyJwt, None) => client
            .jwks
            .iter()
            .filter(|k| header.kid.is_none() || k.kid == header.kid)
            .any(|k| k.verify(&header.alg, signing_input, signature)),
        _ => false,
    };
    if !verified {
        let known = |kid: &String| client.jwks.iter().any(|k| k.kid.as_ref() == Some(kid));
        return Err(refuse(match &header.kid {
            Some(kid) if method == TokenEndpointAuthMethod::PrivateKeyJwt && !known(kid) => {
                "the assertion's kid names none of the client's registered keys"
            }
            _ => "signature does not verify with the client's registered keys",
        }));
    }
    check_claims(claims, audience)?;
    let jti = string(claims, "jti")?;
    if jti.len() > 256 {
        return Err(refuse("jti is too long"));
    }
    let exp = numeric(claims, "exp")?.unwrap_or(audience.now);
    Ok((jti, exp))
}

/// The least key length of an HMAC algorithm we accept, or `None` for any other name.
fn hmac_alg(alg: &str) -> Option<usize> {
    HMAC_ALGS
        .iter()
        .find(|(name, _)| *name == alg)
        .map(|(_, min_len)| *min_len)
}

fn verify_hmac(alg: &str, secret: &str, message: &[u8], tag: &[u8]) -> bool {
    let algorithm = match alg {
        "HS256" => aws_lc_rs::hmac::HMAC_SHA256,
        "HS384" => aws_lc_rs::hmac::HMAC_SHA384,
        "HS512" => aws_lc_rs::hmac::HMAC_SHA512,
        _ => return false,
    };
    // Constant-time comparison inside aws-lc-rs.
    aws_lc_rs::hmac::verify(
        &aws_lc_rs::hmac::Key::new(algorithm, secret.as_bytes()),
        message,
        tag,
    )
    .is_ok()
}

fn check_claims(
    claims: &Map<String, Value>,
    audience: &AssertionAudience<'_>,
) -> Result<(), OAuthError> {
    let now = audience.now;
    // RFC 7523 §3: the audience identifies the authorization server (issuer or endpoint URL).
    let names_us = |v: &Value| {
        v.as_str()
            .is_some_and(|a| a == audience.issuer || a == audience.endpoint)
    };
    // draft-ietf-oauth-rfc7523bis §4: an audience that also names another party lets that
    // party replay the assertion here: an array holds our issuer and endpoint URLs only.
    let ours = |v: &Value| {
        v.as_str().is_some_and(|a| {
            a == audience.issuer
                || a == audience.endpoint
                || audience.endpoints.iter().any(|e| e == a)
        })
    };
    let aud_ok = match claims.get("aud") {
        Some(Value::Array(items)) => {
            if !items.iter().all(ours) {
                return Err(refuse_signed(
                    "`aud` names a party other than this server; send the issuer alone",
                ));
            }
            items.iter().any(names_us)
        }
        Some(v) => names_us(v),
        None => false,
    };
    if !aud_ok {
        return Err(refuse_signed(
            "`aud` must be the issuer or the endpoint's URL",
        ));
    }
    let exp = numeric(claims, "exp")?.ok_or_else(|| refuse_signed("`exp` is missing"))?;
    // RFC 7519 §4.1.4, §4.1.5, §4.1.6: NumericDates, with a leeway for clock skew.
    if exp.saturating_add(LEEWAY) <= now {
        return Err(refuse_signed(
            "it has expired (`exp` is more than 60 s in the past; check the client's clock)",
        ));
    }
    if exp > now.saturating_add(audience.max_lifetime.saturating_add(LEEWAY)) {
        return Err(refuse_signed(&format!(
            "`exp` is more than {} s ahead (plus 60 s for clock skew); sign shorter-lived \
             assertions or raise [client_authentication] max_assertion_lifetime",
            audience.max_lifetime
        )));
    }
    if numeric(claims, "nbf")?.is_some_and(|nbf| nbf > now + LEEWAY) {
        return Err(refuse_signed(
            "it is not valid yet (`nbf` is more than 60 s ahead; check the client's clock)",
        ));
    }
    if numeric(claims, "iat")?.is_some_and(|iat| iat > now + LEEWAY) {
        return Err(refuse_signed(
            "it was issued in the future (`iat` is more than 60 s ahead; check the client's clock)",
        ));
    }
    Ok(())
}

/// Records the jti; a second use within its lifetime finds the marker and fails (atomic: the
/// digest is the primary key).
async fn remember_jti(
    grants: &dyn GrantStore,
    client: &Client,
    jti: &str,
    exp: i64,
    now: i64,
) -> Result<(), OAuthError> {
    // The kind's name is part of the key of every marker stored so far.
    let key = handle_digest(&format!(
        "{}\n{}\n{jti}",
        UsedAssertion::KIND.as_str(),
        client.client_id
    ));
    let marker = Grant::new(
        key,
        &client.client_id,
        &UsedAssertion,
        now,
        exp.saturating_add(LEEWAY),
    )?;
    match grants.insert_grant(&marker).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(_)) => Err(refuse("jti already used")),
        Err(e) => Err(e.into()),
    }
}
