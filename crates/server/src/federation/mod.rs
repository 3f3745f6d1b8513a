//! The configured external identity providers at run time: their endpoints (OIDC: from the
//! discovery document, whose `issuer` must be the configured one — OIDC Discovery §4.3), their
//! signing keys (read again when a token names a key not seen yet: the upstream rotated), the
//! code exchange and the user-info request. Every call goes through the hardened outbound
//! client; every failure is a [`FederationError`] the pages turn into a clear message.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tessera_core::clients::jwk::ClientJwk;
use tessera_core::federation::{Endpoints, FederationError, Protocol, Provider, UpstreamAuth};

use crate::outbound::{Fetched, Outbound, OutboundPolicy};

/// How long a discovery document is used before it is read again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// How long a key set is used before it is read again.
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// A token naming an unknown key reads the key set again, at most this often.
const KEYS_REFRESH_MIN: Duration = Duration::from_secs(10);

/// One provider with what was read of it.
pub struct Upstream {
    /// As configured.
    pub provider: Provider,
    metadata: Mutex<Option<(Endpoints, Instant)>>,
    keys: Mutex<Option<(Vec<ClientJwk>, Instant)>>,
}

/// Every configured provider.
pub struct Upstreams {
    providers: Vec<Arc<Upstream>>,
    http: Outbound,
    clock: Arc<dyn crate::clock::MonotonicClock>,
}

/// What the token endpoint answered (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug)]
pub struct UpstreamTokens {
    /// The access token, for user info.
    pub access_token: String,
    /// The ID token (OIDC).
    pub id_token: Option<String>,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> FederationError {
    FederationError::Unavailable(format!("{what}: {e}"))
}

fn json_object(fetched: &Fetched, what: &str) -> Result<Map<String, Value>, FederationError> {
    if !fetched.status.is_success() {
        return Err(unavailable(what, format!("status {}", fetched.status)));
    }
    match serde_json::from_slice(&fetched.body) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(unavailable(what, "the answer is not a JSON object")),
    }
}

impl Upstreams {
    /// The providers of `config`, reached under `policy`.
    pub fn new(
        providers: &[Provider],
        policy: OutboundPolicy,
        clock: Arc<dyn crate::clock::MonotonicClock>,
    ) -> anyhow::Result<Upstreams> {
        Ok(Upstreams {
            providers: providers
                .iter()
                .map(|p| {
                    Arc::new(Upstream {
                        provider: p.clone(),
                        metadata: Mutex::new(None),
                        keys: Mutex::new(None),
                    })
                })
                .collect(),
            http: Outbound::new(policy)?,
            clock,
        })
    }

    /// The enabled provider named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Upstream>> {
        self.providers
            .iter()
            .find(|u| u.provider.name == name && u.provider.enabled)
            .cloned()
    }

    /// The enabled providers, in configuration order.
    pub fn enabled(&self) -> impl Iterator<Item = &Provider> {
        self.providers
            .iter()
            .map(|u| &u.provider)
            .filter(|p| p.enabled)
    }

    /// The provider's endpoints: configured, completed from its discovery document (OIDC).
    pub async fn endpoints(&self, up: &Upstream) -> Result<Endpoints, FederationError> {
        let p = &up.provider;
        if p.protocol == Protocol::Oauth2 {
            return Ok(p.endpoints.clone());
        }
        if let Ok(cached) = up.metadata.lock()
            && let Some((endpoints, at)) = cached.as_ref()
            && self.age(*at) < METADATA_TTL
        {
            return Ok(endpoints.clone());
        }
        let issuer = p.issuer.as_deref().unwrap_or_default();
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let fetched = self.http.get_json(&url, None).await;
        let read = fetched
            .map_err(|e| unavailable("reading its discovery document", e))
            .and_then(|f| json_object(&f, "reading its discovery document"));
        let meta = match read {
            Ok(meta) => meta,
            Err(e) => return self.stale_endpoints(up).ok_or(e),
        };
        let endpoints = endpoints_of(p, issuer, &meta)?;
        if let Ok(mut cached) = up.metadata.lock() {
            *cached = Some((endpoints.clone(), self.clock.now()));
        }
        Ok(endpoints)
    }

    fn age(&self, at: Instant) -> Duration {
        self.clock.now().saturating_duration_since(at)
    }

    /// The last endpoints read, however old: an upstream briefly down keeps working.
    fn stale_endpoints(&self, up: &Upstream) -> Option<Endpoints> {
        up.metadata.lock().ok()?.as_ref().map(|(e, _)| e.clone())
    }

    /// The provider's keys, read again when `kid` is not among them (a rotation) or they are
    /// old.
    pub async fn keys(
        &self,
        up: &Upstream,
        jwks_uri: &str,
        kid: Option<&str>,
    ) -> Result<Vec<ClientJwk>, FederationError> {
        if let Ok(cached) = up.keys.lock()
            && let Some((keys, at)) = cached.as_ref()
        {
            let known = kid.is_none_or(|kid| keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
            let fresh = self.age(*at) < KEYS_TTL;
            if (known && fresh) || self.age(*at) < KEYS_REFRESH_MIN {
                return Ok(keys.clone());
            }
        }
        let fetched = self.http.get_json(jwks_uri, None).await;
        let set = fetched
            .map_err(|e| unavailable("reading its keys", e))
            .and_then(|f| json_object(&f, "reading its keys"))?;
        let keys: Vec<ClientJwk> = set
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|k| k.get("use").is_none_or(|u| u == "sig"))
            .filter_map(|k| ClientJwk::from_json(k).ok())
            .collect();
        if let Ok(mut cached) = up.keys.lock() {
            *cached = Some((keys.clone(), self.clock.now()));
        }
        Ok(keys)
    }

    /// Exchanges `code` at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.5) at `now`.
    pub async fn exchange(
        &self,
        up: &Upstream,
        endpoints: &Endpoints,
        (code, verifier, redirect_uri): (&str, &str, &str),
        now: tessera_core::clock::UnixTime,
    ) -> Result<UpstreamTokens, FederationError> {
        let p = &up.provider;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let secret = p.client_secret.expose();
        let assertion;
        let basic = match p.auth_method {
            UpstreamAuth::ClientSecretBasic => Some((p.client_id.as_str(), secret.as_str())),
            UpstreamAuth::ClientSecretPost => {
                form.push(("client_id", &p.client_id));
                form.push(("client_secret", secret));
                None
            }
            UpstreamAuth::PrivateKeyJwt => {
                assertion = client_assertion(p, &endpoints.token, now)?;
                form.push(("client_id", &p.client_id));
                form.push(("client_assertion_type", JWT_BEARER));
                form.push(("client_assertion", &assertion));
                None
            }
        };
        let fetched = self
            .http
            .post_form_as(&endpoints.token, &form, basic)
            .await
            .map_err(|e| unavailable("redeeming the code", e))?;
        if fetched.status.is_client_error() {
            let answer: Value = serde_json::from_slice(&fetched.body).unwrap_or_default();
            let error = answer
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no error code");
            return Err(FederationError::Refused(format!(
                "its token endpoint refused the code: {error}"
            )));
        }
        let body = json_object(&fetched, "redeeming the code")?;
        let text = |n: &str| body.get(n).and_then(Value::as_str).map(str::to_string);
        Ok(UpstreamTokens {
            access_token: text("access_token")
                .ok_or_else(|| unavailable("redeeming the code", "no access_token"))?,
            id_token: text("id_token"),
        })
    }

    /// The user's claims from the user-info endpoint (OIDC Core §5.3; an OAuth 2.0 provider's
    /// profile URL).
    pub async fn userinfo(
        &self,
        url: &str,
        access_token: &str,
    ) -> Result<Map<String, Value>, FederationError> {
        let fetched = self
            .http
            .get_json(url, Some(access_token))
            .await
            .map_err(|e| unavailable("reading the user's profile", e))?;
        json_object(&fetched, "reading the user's profile")
    }
}

/// RFC 7523 §2.2: the client assertion type.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client assertion for `private_key_jwt` (RFC 7523 §3, OIDC Core §9): issued by and about our
/// client id, for the token endpoint, once (`jti`), for a minute.
fn client_assertion(
    p: &Provider,
    token_endpoint: &str,
    now: tessera_core::clock::UnixTime,
) -> Result<String, FederationError> {
    use tessera_core::crypto::base64url;
    let key = p
        .client_key
        .as_deref()
        .ok_or_else(|| FederationError::Unavailable("no private key is configured".into()))?;
    let jti = tessera_core::sessions::random_id()
        .map_err(|e| FederationError::Unavailable(e.to_string()))?;
    let header = serde_json::json!({"alg": key.alg().name(), "kid": key.kid(), "typ": "JWT"});
    let claims = serde_json::json!({
        "iss": p.client_id, "sub": p.client_id, "aud": token_endpoint,
        "jti": jti, "iat": now, "exp": now + 60,
    });
    let input = format!(
        "{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes())
    );
    let signature = key
        .sign(input.as_bytes())
        .map_err(|e| FederationError::Unavailable(format!("signing the client assertion: {e}")))?;
    Ok(format!("{input}.{}", base64url(&signature)))
}

/// The endpoints of a discovery document, with the configured ones taking precedence.
fn endpoints_of(
    p: &Provider,
    issuer: &str,
    meta: &Map<String, Value>,
) -> Result<Endpoints, FederationError> {
    let text = |n: &str| meta.get(n).and_then(Value::as_str).map(str::to_string);
    // OIDC Discovery §4.3: the issuer in the document is the one it was read from.
    if text("issuer").as_deref() != Some(issuer) {
        return Err(FederationError::Refused(format!(
            "its discovery document names the issuer {:?}, not {issuer}",
            text("issuer").unwrap_or_default()
        )));
    }
    let configured = |c: &str, d: Option<String>| (!c.is_empty()).then(|| c.to_string()).or(d);
    let c = &p.endpoints;
    let authorization = configured(&c.authorization, text("authorization_endpoint"));
    let token = configured(&c.token, text("token_endpoint"));
    let (Some(authorization), Some(token)) = (authorization, token) else {
        return Err(unavailable(
            "reading its discovery document",
            "endpoints are missing",
        ));
    };
    Ok(Endpoints {
        authorization,
        token,
        userinfo: c.userinfo.clone().or_else(|| text("userinfo_endpoint")),
        jwks_uri: text("jwks_uri"),
        end_session: text("end_session_endpoint"),
        iss_parameter: meta.get("authorization_response_iss_parameter_supported")
            == Some(&Value::Bool(true)),
    })
}
