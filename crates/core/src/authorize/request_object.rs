//! Request objects (RFC 9101; OIDC Core §6.1): an authorization request's parameters as the
//! claims of a JWT the client signed with one of its registered keys, sent by value in
//! `request` or pushed (RFC 9126 §3).
//!
//! The checks are SEC-38/39/40/41/42's: the compact JWS is bounded and strictly parsed; a JWE
//! is refused (CVE-13, CVE-62), as is `alg: none`; the algorithm is on an allow-list of
//! asymmetric ones and the key comes from the client's registration, never from the token;
//! `iss` is the client, `aud` is us, `exp` is required and close, NumericDates are numbers,
//! and a `jti` is used once on every instance.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clients::assertion::{LEEWAY, RemoteKeys};
use crate::clients::jwk::ClientJwk;
use crate::clock::UnixTime;
use crate::crypto::handle_digest;
use crate::model::{Client, Grant, GrantKind};
use crate::protocol::OAuthError;
use crate::protocol::form::{Form, MAX_PARAMETERS};
use crate::store::{GrantPayload, GrantStore, StoreError};
use crate::tokens::verify::{UnverifiedJws, parse_compact};

/// Algorithms a request object may be signed with (SEC-38: asymmetric only; `none` and HS*
/// never, so a request object is always signed with a key the client registered).
pub const REQUEST_OBJECT_ALGS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];

/// RFC 9101 §10.8: the media type's `typ`.
pub const REQUEST_OBJECT_TYP: &str = "oauth-authz-req+jwt";

/// The longest a request object may live by default (FAPI 2.0 Message Signing §5.3.1: `exp`
/// no more than 60 minutes after `nbf`), in seconds.
pub const DEFAULT_MAX_LIFETIME: i64 = 3_600;

/// The JWT claims of the object itself, which are not authorization request parameters.
const JWT_CLAIMS: &[&str] = &["iss", "aud", "exp", "nbf", "iat", "jti", "sub"];

/// How request objects are checked.
#[derive(Debug, Clone, Copy)]
pub struct ObjectCheck<'a> {
    /// Our issuer identifier: the object's `aud`.
    pub issuer: &'a str,
    /// The time of the request.
    pub now: UnixTime,
    /// The algorithms accepted (a subset of [`REQUEST_OBJECT_ALGS`]).
    pub algs: &'a [&'static str],
    /// The longest lifetime accepted, in seconds.
    pub max_lifetime: i64,
    /// `nbf` is required, and `exp` at most the lifetime after it (FAPI 2.0 Message Signing
    /// §5.3.1).
    pub require_nbf: bool,
    /// Where keys registered by reference are read; `None`: such clients cannot sign here.
    pub remote_keys: Option<&'a dyn RemoteKeys>,
}

/// The replay marker of a request object's `jti`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedRequestObject;

impl GrantPayload for UsedRequestObject {
    const KIND: GrantKind = GrantKind::RequestObjectJti;
}

fn refuse(why: impl Into<String>) -> OAuthError {
    OAuthError::InvalidRequestObject(why.into().into())
}

/// Verifies the request object `jwt` of `client` and returns the parameters it carries, with
/// the client's `client_id`. RFC 9101 §6.3: these are the request's only parameters.
pub async fn read_request_object(
    grants: &dyn GrantStore,
    client: &Client,
    jwt: &str,
    check: &ObjectCheck<'_>,
) -> Result<Form, OAuthError> {
    // RFC 7516 §9: five parts is a JWE. An encrypted object is not a signed one, and an
    // encrypted `alg: none` object would be unsigned (CVE-13, CVE-62).
    if jwt.bytes().filter(|b| *b == b'.').count() == 4 {
        return Err(refuse(
            "encrypted request objects are not accepted: send it signed (JWS)",
        ));
    }
    let jws = parse_compact(jwt).ok_or_else(|| refuse("not a well-formed compact JWS"))?;
    check_header(&jws, check)?;
    if !signature_verifies(client, &jws, check.remote_keys).await? {
        return Err(refuse(
            "the signature does not verify with the client's registered keys",
        ));
    }
    let claims = &jws.unverified_claims;
    let exp = check_claims(client, claims, check)?;
    if let Some(jti) = claims.get("jti") {
        let jti = jti
            .as_str()
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or_else(|| refuse("`jti` must be a string of 1-256 characters"))?;
        remember_jti(grants, client, jti, exp, check.now).await?;
    }
    parameters(client, claims)
}

/// The header: no extension we do not know, the request object's `typ` if any, an allowed
/// algorithm (RFC 9101 §6.1, §10.8; SEC-38, SEC-39).
fn check_header(jws: &UnverifiedJws<'_>, check: &ObjectCheck<'_>) -> Result<(), OAuthError> {
    let header = &jws.header;
    if header.crit.is_some() {
        return Err(refuse("critical header extensions are not understood"));
    }
    if let Some(typ) = &header.typ {
        let typ = typ.to_ascii_lowercase();
        let typ = typ.strip_prefix("application/").unwrap_or(&typ);
        if typ != REQUEST_OBJECT_TYP && typ != "jwt" {
            return Err(refuse(format!(
                "typ must be {REQUEST_OBJECT_TYP} (RFC 9101 §10.8)"
            )));
        }
    }
    if header.alg.eq_ignore_ascii_case("none") {
        return Err(refuse(
            "unsigned request objects (alg none) are not accepted",
        ));
    }
    if !check.algs.contains(&header.alg.as_str()) {
        return Err(refuse(format!(
            "algorithm {} is not accepted; use one of {}",
            header.alg,
            check.algs.join(", ")
        )));
    }
    Ok(())
}

/// Whether the signature verifies with one of the client's keys: registered by value, or read
/// from its `jwks_uri`, once more fresh when the kept set has none that verifies (the client
/// may have rotated, OIDC Core §10.1.1).
async fn signature_verifies(
    client: &Client,
    jws: &UnverifiedJws<'_>,
    remote: Option<&dyn RemoteKeys>,
) -> Result<bool, OAuthError> {
    let header = &jws.header;
    let verifies = |keys: &[ClientJwk]| {
        keys.iter()
            .filter(|k| header.kid.is_none() || k.kid == header.kid)
            .any(|k| k.verify(&header.alg, jws.signing_input, &jws.signature))
    };
    let unreadable =
        |why: String| refuse(format!("the client's jwks_uri could not be read: {why}"));
    match (&client.jwks_uri, remote) {
        (Some(uri), Some(remote)) => {
            if verifies(&remote.keys(uri, false).await.map_err(unreadable)?) {
                return Ok(true);
            }
            Ok(verifies(&remote.keys(uri, true).await.map_err(unreadable)?))
        }
        (Some(_), None) => Err(refuse("keys by reference cannot be read here")),
        (None, _) if client.jwks.is_empty() => Err(refuse(
            "the client has registered no keys to verify request objects with",
        )),
        (None, _) => Ok(verifies(&client.jwks)),
    }
}

/// A NumericDate claim (SEC-40): absent is `None`; anything but a number is refused.
fn numeric(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, OAuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 1e15)
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or_else(|| refuse(format!("`{name}` is not a number"))),
    }
}

/// The signed claims about the object (RFC 9101 §4, §6.3; FAPI 2.0 Message Signing §5.3.1):
/// `iss` is the client, `aud` is our issuer, `exp` is required and within the lifetime, `nbf`
/// and `iat` are not in the future nor `nbf` older than the lifetime, and the object carries
/// no `request` or `request_uri` of its own. Returns `exp`.
fn check_claims(
    client: &Client,
    claims: &Map<String, Value>,
    check: &ObjectCheck<'_>,
) -> Result<i64, OAuthError> {
    let now = check.now;
    if claims.get("iss").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Err(refuse("`iss` must be the client_id"));
    }
    let names_us = |v: &Value| v.as_str() == Some(check.issuer);
    let aud_ok = match claims.get("aud") {
        // An audience that also names another party would let that party replay the object
        // here (as for assertions): an array holds our issuer alone.
        Some(Value::Array(items)) => !items.is_empty() && items.iter().all(names_us),
        Some(v) => names_us(v),
        None => false,
    };
    if !aud_ok {
        return Err(refuse(format!(
            "`aud` must be the issuer, {}",
            check.issuer
        )));
    }
    let exp = numeric(claims, "exp")?.ok_or_else(|| refuse("`exp` is missing"))?;
    if exp <= now - LEEWAY {
        return Err(refuse("the request object has expired (`exp`)"));
    }
    if exp > now + check.max_lifetime + LEEWAY {
        return Err(refuse(format!(
            "`exp` is more than {} seconds ahead",
            check.max_lifetime
        )));
    }
    let nbf = numeric(claims, "nbf")?;
    if check.require_nbf && nbf.is_none_or(|nbf| exp.saturating_sub(nbf) > check.max_lifetime) {
        return Err(refuse(format!(
            "`nbf` is required, and `exp` at most {} seconds after it",
            check.max_lifetime
        )));
    }
    if let Some(nbf) = nbf {
        if nbf > now + LEEWAY {
            return Err(refuse("the request object is not valid yet (`nbf`)"));
        }
        if nbf < now - check.max_lifetime - LEEWAY {
            return Err(refuse(format!(
                "`nbf` is more than {} seconds ago",
                check.max_lifetime
            )));
        }
    }
    if numeric(claims, "iat")?.is_some_and(|iat| iat > now + LEEWAY) {
        return Err(refuse("`iat` is in the future"));
    }
    // RFC 9101 §5: the object's client_id, when it has one, is the request's.
    if let Some(id) = claims.get("client_id")
        && id.as_str() != Some(client.client_id.as_str())
    {
        return Err(refuse("the object's client_id is not the request's"));
    }
    // RFC 9101 §4: "MUST NOT include the request or request_uri parameters".
    if claims.contains_key("request") || claims.contains_key("request_uri") {
        return Err(refuse(
            "a request object cannot carry request or request_uri",
        ));
    }
    Ok(exp)
}

/// Remembers `jti` until the object expires: the same object twice is refused, on every
/// instance.
async fn remember_jti(
    grants: &dyn GrantStore,
    client: &Client,
    jti: &str,
    exp: i64,
    now: UnixTime,
) -> Result<(), OAuthError> {
    let key = handle_digest(&format!(
        "{}\n{}\n{jti}",
        UsedRequestObject::KIND.as_str(),
        client.client_id
    ));
    let marker = Grant::new(
        key,
        &client.client_id,
        &UsedRequestObject,
        now,
        exp.saturating_add(LEEWAY),
    )?;
    match grants.insert_grant(&marker).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(_)) => Err(refuse(
            "this request object was used already (its jti is spent)",
        )),
        Err(e) => Err(e.into()),
    }
}

/// The authorization request parameters of the object's claims (OIDC Core §6.1: claims with
/// the parameters' names), as form values: strings as they are, numbers and booleans as
/// their JSON text, `resource` arrays as repeated values (RFC 8707 §2), and objects and other
/// arrays (`claims`, `authorization_details`) as JSON text, which is how they travel as
/// parameters.
fn parameters(client: &Client, claims: &Map<String, Value>) -> Result<Form, OAuthError> {
    let mut pairs = vec![("client_id".to_string(), client.client_id.clone())];
    for (name, value) in claims {
        if JWT_CLAIMS.contains(&name.as_str()) || name == "client_id" {
            continue;
        }
        match value {
            Value::Null => {}
            Value::String(s) => pairs.push((name.clone(), s.clone())),
            Value::Array(items) if name == "resource" => {
                for item in items {
                    let uri = item
                        .as_str()
                        .ok_or_else(|| refuse("each `resource` must be a string"))?;
                    pairs.push((name.clone(), uri.to_string()));
                }
            }
            other => pairs.push((name.clone(), other.to_string())),
        }
        if pairs.len() > MAX_PARAMETERS {
            return Err(refuse("the request object carries too many parameters"));
        }
    }
    Ok(Form::from_pairs(pairs))
}
