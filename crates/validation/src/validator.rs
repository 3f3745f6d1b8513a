//! The token validator: JWTs against the issuer's JWKS, reference tokens by introspection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};
use tokio::sync::{Mutex, RwLock};

use crate::Claims;

/// Longest token accepted before any parsing.
const MAX_TOKEN: usize = 16 * 1024;
/// Entries kept in the introspection cache at most.
const MAX_CACHED: usize = 10_000;
/// Largest JWKS, discovery or introspection body read from the issuer.
const MAX_BODY: usize = 256 * 1024;

/// How to validate tokens. Its `Debug` leaves the introspection secret out.
#[derive(Clone)]
pub struct ValidationConfig {
    /// The issuer identifier, exactly as in the tokens.
    pub issuer: String,
    /// This API's resource name; tokens must carry it in `aud`.
    pub audience: String,
    /// Accepted JWS algorithms (asymmetric only).
    pub algorithms: Vec<Algorithm>,
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    pub leeway: u64,
    /// How long a fetched JWKS is used before it is fetched again.
    pub jwks_max_age: Duration,
    /// An unknown `kid` refetches the JWKS at most this often.
    pub jwks_refetch_interval: Duration,
    /// The API's name and secret for introspection; without them reference tokens are refused.
    pub introspection: Option<(String, String)>,
    /// How long an introspection answer is reused (revocations show after at most this long).
    pub introspection_cache: Duration,
    /// Also ask introspection about JWT access tokens, after their local checks pass, so that
    /// their revocation shows here (after at most `introspection_cache`). Off by default: a
    /// JWT checked locally stays valid until it expires, whatever happens at the issuer.
    pub check_jwt_revocation: bool,
    /// Timeout for calls to the issuer.
    pub http_timeout: Duration,
    /// The API's origin as its clients call it (`https://api.example`): DPoP proofs name it
    /// with the request's path (RFC 9449 §4.2 `htu`). Unset, it is `https://` and the request's
    /// `Host`.
    pub public_url: Option<String>,
    /// Where the issuer's keys come from instead of its JWKS over HTTP: an API served by the
    /// issuer's own process reads them in memory.
    pub key_source: Option<Arc<dyn KeySource>>,
}

/// The issuer's current keys, read without HTTP (the issuer's own process holds them).
pub trait KeySource: Send + Sync {
    /// The key set, as the issuer's JWKS document would give it.
    fn jwks(&self) -> Result<JwkSet, ValidationError>;
}

impl std::fmt::Debug for ValidationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidationConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .field(
                "introspection_as",
                &self.introspection.as_ref().map(|(name, _)| name),
            )
            .finish_non_exhaustive()
    }
}

impl ValidationConfig {
    /// Defaults for `issuer` and this API's `audience`: ES256, RS256, PS256, ES384 and EdDSA, 30 s
    /// leeway, JWKS reused for 5 minutes and refetched at most every 30 s on an unknown kid,
    /// introspection answers reused for 10 s.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            algorithms: vec![
                Algorithm::ES256,
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::ES384,
                Algorithm::EdDSA,
            ],
            leeway: 30,
            jwks_max_age: Duration::from_secs(300),
            jwks_refetch_interval: Duration::from_secs(30),
            introspection: None,
            introspection_cache: Duration::from_secs(10),
            check_jwt_revocation: false,
            http_timeout: Duration::from_secs(5),
            public_url: None,
            key_source: None,
        }
    }

    /// Reads the issuer's keys from `source` rather than over HTTP. They are read again on an
    /// unknown `kid` and at least every second, so a rotation shows at once.
    pub fn with_key_source(mut self, source: Arc<dyn KeySource>) -> Self {
        self.key_source = Some(source);
        self.jwks_max_age = Duration::from_secs(1);
        self.jwks_refetch_interval = Duration::ZERO;
        self
    }

    /// The API's origin as clients call it, which DPoP proofs name (RFC 9449 §4.2 `htu`).
    pub fn with_public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into().trim_end_matches('/').to_string());
        self
    }

    /// Also asks introspection about JWT access tokens (cached like reference tokens), so that a
    /// revoked JWT, or one whose grant, user, client or session has ended, is refused here too.
    /// Needs [`ValidationConfig::with_introspection`].
    pub fn with_jwt_revocation_check(mut self) -> Self {
        self.check_jwt_revocation = true;
        self
    }

    /// Accepts reference tokens, introspecting them as the API `name` with `secret`.
    pub fn with_introspection(
        mut self,
        name: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.introspection = Some((name.into(), secret.into()));
        self
    }
}

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    /// The token is invalid, expired, revoked or not for this API (answered with 401).
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The issuer could not be asked (answered with 503; the token may be fine).
    #[error("issuer unavailable: {0}")]
    Unavailable(String),
}

use ValidationError::{Invalid, Unavailable};

struct Metadata {
    jwks_uri: String,
    introspection_endpoint: Option<String>,
}

/// The current instant. The caches age in real time: the validator runs inside other
/// services, which give it no clock to ask.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// Introspection answers by SHA-256 of the token: the claims (None: inactive) and when asked.
type IntrospectionCache = HashMap<Vec<u8>, (Option<Claims>, Instant)>;

struct CachedJwks {
    set: JwkSet,
    fetched: Instant,
}

/// Validates access tokens; share one (in an `Arc`) across requests.
pub struct TokenValidator {
    config: ValidationConfig,
    http: reqwest::Client,
    metadata: RwLock<Option<Arc<Metadata>>>,
    jwks: RwLock<Option<CachedJwks>>,
    last_fetch: Mutex<Option<Instant>>,
    introspected: StdMutex<IntrospectionCache>,
    seen_proofs: crate::dpop::SeenProofs,
}

impl std::fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenValidator")
            .field("issuer", &self.config.issuer)
            .field("audience", &self.config.audience)
            .finish_non_exhaustive()
    }
}

/// Reads a JSON body of at most [`MAX_BODY`] bytes.
async fn read_json(mut response: reqwest::Response) -> Result<Value, ValidationError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Unavailable(format!("reading the issuer's answer: {e}")))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(Unavailable("the issuer's answer is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body)
        .map_err(|e| Unavailable(format!("the issuer's answer is not JSON: {e}")))
}

/// Reference tokens are base64url handles; anything else is refused without asking the issuer.
fn looks_like_handle(token: &str) -> bool {
    (20..=256).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl TokenValidator {
    /// A validator; nothing is fetched until the first token arrives. Fails only if the HTTP
    /// client cannot be built (no TLS backend).
    pub fn new(config: ValidationConfig) -> Result<Self, ValidationError> {
        if config.check_jwt_revocation && config.introspection.is_none() {
            return Err(Unavailable(
                "checking JWT revocation needs introspection credentials (with_introspection)"
                    .into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Unavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            config,
            http,
            metadata: RwLock::new(None),
            jwks: RwLock::new(None),
            last_fetch: Mutex::new(None),
            introspected: StdMutex::new(HashMap::new()),
            seen_proofs: crate::dpop::SeenProofs::default(),
        })
    }

    /// The API's origin for DPoP proofs' `htu`, or `https://` and `host`.
    pub(crate) fn public_url(&self, host: Option<&str>) -> String {
        match &self.config.public_url {
            Some(url) => url.clone(),
            None => format!("https://{}", host.unwrap_or_default()),
        }
    }

    /// Checks the DPoP proof of a request that presents a bound token (RFC 9449 §7.1).
    pub(crate) fn check_proof(
        &self,
        request: &crate::dpop::ProofRequest<'_>,
    ) -> Result<(), ValidationError> {
        crate::dpop::check(request, &self.seen_proofs).map_err(Invalid)
    }

    /// Validates a bearer token.
    pub async fn validate(&self, token: &str) -> Result<Claims, ValidationError> {
        if token.is_empty() || token.len() > MAX_TOKEN {
            return Err(Invalid("empty or oversized token".into()));
        }
        if token.bytes().filter(|b| *b == b'.').count() == 2 {
            let claims = self.validate_jwt(token).await?;
            if self.config.check_jwt_revocation {
                // The issuer's word on revocation; its claims must be this token's.
                let live = self.introspect_cached(token).await?;
                if live.is_none_or(|c| c.subject != claims.subject) {
                    return Err(Invalid("the token has been revoked".into()));
                }
            }
            Ok(claims)
        } else {
            self.validate_reference(token).await
        }
    }

    async fn get_json(&self, url: &str) -> Result<Value, ValidationError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| Unavailable(format!("GET {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(Unavailable(format!("GET {url}: {}", response.status())));
        }
        read_json(response).await
    }

    /// The issuer's metadata, fetched once (OIDC Discovery §4); its `issuer` must match.
    async fn metadata(&self) -> Result<Arc<Metadata>, ValidationError> {
        if let Some(m) = self.metadata.read().await.as_ref() {
            return Ok(m.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer);
        let doc = self.get_json(&url).await?;
        // Discovery §4.3: the issuer in the document must be the one we asked.
        if doc["issuer"].as_str() != Some(self.config.issuer.as_str()) {
            return Err(Unavailable(
                "the discovery document names another issuer".into(),
            ));
        }
        let metadata = Arc::new(Metadata {
            jwks_uri: doc["jwks_uri"]
                .as_str()
                .ok_or_else(|| Unavailable("discovery has no jwks_uri".into()))?
                .to_string(),
            introspection_endpoint: doc["introspection_endpoint"].as_str().map(str::to_string),
        });
        *self.metadata.write().await = Some(metadata.clone());
        Ok(metadata)
    }

    /// The key named `kid`, from the cached JWKS or a refetch. A refetch happens when the
    /// cache is stale or lacks the kid, at most once per `jwks_refetch_interval` whatever the
    /// outcome; concurrent requests wait for the one fetch in flight. When the issuer cannot be
    /// reached, the keys already known keep working.
    async fn key_for(&self, kid: &str) -> Result<DecodingKey, ValidationError> {
        let lookup = |cached: &Option<CachedJwks>| -> (Option<DecodingKey>, bool) {
            match cached {
                None => (None, false),
                Some(c) => (
                    c.set
                        .find(kid)
                        .and_then(|jwk| DecodingKey::from_jwk(jwk).ok()),
                    c.fetched.elapsed() < self.config.jwks_max_age,
                ),
            }
        };
        if let (Some(key), true) = lookup(&*self.jwks.read().await) {
            return Ok(key);
        }
        let mut fetch_error = None;
        {
            let mut last = self.last_fetch.lock().await;
            // Another request may have refreshed the cache while this one waited.
            let (known, fresh) = lookup(&*self.jwks.read().await);
            let allowed = last.is_none_or(|t| t.elapsed() >= self.config.jwks_refetch_interval);
            if !(known.is_some() && fresh) && allowed {
                *last = Some(now());
                match self.fetch_jwks().await {
                    Ok(set) => {
                        *self.jwks.write().await = Some(CachedJwks {
                            set,
                            fetched: now(),
                        })
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot refresh the issuer's JWKS; using the keys already known");
                        fetch_error = Some(e);
                    }
                }
            }
        }
        match (lookup(&*self.jwks.read().await).0, fetch_error) {
            (Some(key), _) => Ok(key),
            (None, Some(e)) if self.jwks.read().await.is_none() => Err(e),
            _ => Err(Invalid("signed with an unknown key".into())),
        }
    }

    async fn fetch_jwks(&self) -> Result<JwkSet, ValidationError> {
        if let Some(source) = &self.config.key_source {
            return source.jwks();
        }
        let uri = self.metadata().await?.jwks_uri.clone();
        serde_json::from_value(self.get_json(&uri).await?)
            .map_err(|e| Unavailable(format!("the JWKS does not parse: {e}")))
    }

    async fn validate_jwt(&self, token: &str) -> Result<Claims, ValidationError> {
        let header = decode_header(token).map_err(|e| Invalid(format!("malformed header: {e}")))?;
        // RFC 9068 §4: typ must be at+jwt, so that an ID token is never taken as an access token.
        let typ = header
            .typ
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if typ != "at+jwt" && typ != "application/at+jwt" {
            return Err(Invalid("not an access token (typ)".into()));
        }
        // RFC 7515 §4.1.11: no critical extensions are understood (SECURITY-STATUS.md SEC-39).
        if header.crit.is_some() {
            return Err(Invalid(
                "critical header extensions are not understood".into(),
            ));
        }
        if !self.config.algorithms.contains(&header.alg) {
            return Err(Invalid("algorithm not allowed".into()));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| Invalid("no kid".into()))?;
        let key = self.key_for(kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.config.leeway;
        validation.validate_nbf = true;
        let data = decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| Invalid(e.to_string()))?;
        Claims::from_map(data.claims).ok_or_else(|| Invalid("sub or exp malformed".into()))
    }

    async fn validate_reference(&self, token: &str) -> Result<Claims, ValidationError> {
        if self.config.introspection.is_none() {
            return Err(Invalid(
                "reference tokens are not accepted by this API".into(),
            ));
        }
        if !looks_like_handle(token) {
            return Err(Invalid("not a reference token".into()));
        }
        let now = jsonwebtoken::get_current_timestamp();
        let claims = self
            .introspect_cached(token)
            .await?
            .ok_or_else(|| Invalid("the token is not active".into()))?;
        if u64::try_from(claims.expires_at).unwrap_or(0) <= now {
            return Err(Invalid("the token has expired".into()));
        }
        Ok(claims)
    }

    /// The introspection answer for `token` (None: inactive), reused for
    /// `introspection_cache`; the cache holds at most [`MAX_CACHED`] answers.
    async fn introspect_cached(&self, token: &str) -> Result<Option<Claims>, ValidationError> {
        let Some((name, secret)) = &self.config.introspection else {
            return Err(Unavailable("no introspection credentials".into()));
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
            .as_ref()
            .to_vec();
        let cached = self.cache()?.get(&digest).cloned();
        let answer = match cached {
            Some((answer, at)) if at.elapsed() < self.config.introspection_cache => answer,
            _ => {
                let answer = self.introspect(token, name, secret).await?;
                let mut cache = self.cache()?;
                if cache.len() >= MAX_CACHED {
                    let ttl = self.config.introspection_cache;
                    cache.retain(|_, (_, at)| at.elapsed() < ttl);
                }
                // When still full, the answer is simply not cached: a flood of tokens cannot
                // evict the answers for legitimate ones.
                if cache.len() < MAX_CACHED {
                    cache.insert(digest, (answer.clone(), now()));
                }
                answer
            }
        };
        Ok(answer)
    }

    fn cache(&self) -> Result<std::sync::MutexGuard<'_, IntrospectionCache>, ValidationError> {
        self.introspected
            .lock()
            .map_err(|_| Unavailable("introspection cache poisoned".into()))
    }

    /// RFC 7662 §2: POST the token, authenticated as the API (RFC 6749 §2.3.1 encoding).
    async fn introspect(
        &self,
        token: &str,
        name: &str,
        secret: &str,
    ) -> Result<Option<Claims>, ValidationError> {
        let endpoint = self
            .metadata()
            .await?
            .introspection_endpoint
            .clone()
            .ok_or_else(|| Unavailable("the issuer offers no introspection endpoint".into()))?;
        let response = self
            .http
            .post(&endpoint)
            .basic_auth(form_encode(name), Some(form_encode(secret)))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| Unavailable(format!("introspection: {e}")))?;
        if !response.status().is_success() {
            return Err(Unavailable(format!(
                "introspection answered {}",
                response.status()
            )));
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| Unavailable(format!("introspection: {e}")))?;
        let Value::Object(map) = body else {
            return Err(Unavailable("introspection answered no JSON object".into()));
        };
        if map.get("active") != Some(&Value::Bool(true)) {
            return Ok(None);
        }
        let for_us = match map.get("aud") {
            Some(Value::String(a)) => a == &self.config.audience,
            Some(Value::Array(list)) => list
                .iter()
                .any(|a| a.as_str() == Some(&self.config.audience)),
            _ => false,
        };
        if !for_us || map.get("iss").and_then(Value::as_str) != Some(&self.config.issuer) {
            return Ok(None);
        }
        Ok(Claims::from_map(map))
    }
}
