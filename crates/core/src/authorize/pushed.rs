//! Pushed authorization requests (RFC 9126) and the resolution of every authorization
//! request: the parameters the checks read come from a pushed request (`request_uri`), a
//! signed request object (`request`, RFC 9101), or the request itself, as the client's and the
//! server's policy allow. It runs with the client known and before its redirect URI is
//! trusted, so its errors are shown on a page (RFC 6749 §4.1.2.1).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::request::AuthorizeError;
use super::request_object::{DEFAULT_MAX_LIFETIME, ObjectCheck, read_request_object};
use crate::clients::assertion::RemoteKeys;
use crate::clock::UnixTime;
use crate::crypto::{handle_digest, random_handle};
use crate::model::{Client, Grant, GrantKind};
use crate::protocol::form::Form;
use crate::protocol::{OAuthError, OrServerError as _};
use crate::store::{GrantPayload, GrantStore};

/// RFC 9126 §2.2: the URN prefix of the `request_uri`s we issue.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The server's policy for authorization requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPolicy {
    /// Every client must push its requests (RFC 9126 §5
    /// `require_pushed_authorization_requests`).
    pub require_pushed: bool,
    /// Every request must be a signed request object (RFC 9101 §10.5
    /// `require_signed_request_object`).
    pub require_signed: bool,
    /// Seconds a `request_uri` lives (RFC 9126 §2.2 `expires_in`).
    pub request_uri_lifetime: u64,
    /// The algorithms request objects may be signed with.
    pub request_object_algs: Vec<&'static str>,
    /// The longest a request object may live, in seconds.
    pub max_request_object_lifetime: i64,
    /// Request objects must carry `nbf` (FAPI 2.0 Message Signing §5.3.1).
    pub require_nbf: bool,
    /// Pushed requests must name their `redirect_uri` (FAPI 2.0 SP §5.3.2.2).
    pub require_pushed_redirect_uri: bool,
}

impl Default for RequestPolicy {
    /// Pushing and signing are each the client's choice unless it registered otherwise;
    /// `request_uri`s live a minute (RFC 9126 §2.2: "short lived").
    fn default() -> Self {
        RequestPolicy {
            require_pushed: false,
            require_signed: false,
            request_uri_lifetime: 60,
            request_object_algs: super::request_object::REQUEST_OBJECT_ALGS.to_vec(),
            max_request_object_lifetime: DEFAULT_MAX_LIFETIME,
            require_nbf: false,
            require_pushed_redirect_uri: false,
        }
    }
}

/// What resolving a request needs from the server.
#[derive(Clone, Copy)]
pub struct Resolver<'a> {
    /// Where pushed requests and request objects' `jti`s are kept.
    pub grants: &'a dyn GrantStore,
    /// Our issuer identifier.
    pub issuer: &'a str,
    /// The time of the request.
    pub now: UnixTime,
    /// Where keys registered by reference are read.
    pub remote_keys: Option<&'a dyn RemoteKeys>,
    /// The server's policy.
    pub policy: &'a RequestPolicy,
}

impl Resolver<'_> {
    fn object_check(&self) -> ObjectCheck<'_> {
        ObjectCheck {
            issuer: self.issuer,
            now: self.now,
            algs: &self.policy.request_object_algs,
            max_lifetime: self.policy.max_request_object_lifetime,
            require_nbf: self.policy.require_nbf,
            remote_keys: self.remote_keys,
        }
    }
}

/// A pushed request as stored: its parameters, and whether they came from a signed request
/// object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedRequest {
    /// The parameters, as the authorization endpoint reads them.
    pub params: Vec<(String, String)>,
    /// They were the claims of a request object signed by the client.
    pub signed: bool,
}

impl GrantPayload for PushedRequest {
    const KIND: GrantKind = GrantKind::PushedRequest;
}

/// The parameters an authorization request stands for.
#[derive(Debug, Clone)]
pub struct Resolved<'p> {
    /// The parameters the checks read.
    pub params: Cow<'p, Form>,
    /// They were pushed (RFC 9126).
    pub pushed: bool,
    /// They were signed by the client (RFC 9101).
    pub signed: bool,
}

/// The parameters of a request's signed request object, if it sent one, else its own; with
/// no `request_uri` (RFC 9126 §2.1: a pushed request cannot refer to another).
pub async fn resolve_pushed<'p>(
    resolver: &Resolver<'_>,
    client: &Client,
    form: &'p Form,
) -> Result<Resolved<'p>, OAuthError> {
    if form.has("request_uri") {
        return Err(OAuthError::InvalidRequest(
            "request_uri cannot be pushed (RFC 9126 §2.1)".into(),
        ));
    }
    resolve_object(resolver, client, form).await
}

async fn resolve_object<'p>(
    resolver: &Resolver<'_>,
    client: &Client,
    form: &'p Form,
) -> Result<Resolved<'p>, OAuthError> {
    let Some(jwt) = form.one("request")? else {
        return Ok(Resolved {
            params: Cow::Borrowed(form),
            pushed: false,
            signed: false,
        });
    };
    // RFC 9101 §5: the query's client_id is the object's client.
    if form.one("client_id")? != Some(client.client_id.as_str()) {
        return Err(OAuthError::InvalidRequest(
            "client_id must be sent with the request object".into(),
        ));
    }
    let params =
        read_request_object(resolver.grants, client, jwt, &resolver.object_check()).await?;
    Ok(Resolved {
        params: Cow::Owned(params),
        pushed: false,
        signed: true,
    })
}

/// Stores a pushed request and returns its `request_uri` and lifetime (RFC 9126 §2.2). The
/// handle is 256 random bits (§7.1: the `request_uri` must not be guessable).
pub async fn store_pushed(
    resolver: &Resolver<'_>,
    client: &Client,
    resolved: Resolved<'_>,
) -> Result<(String, u64), OAuthError> {
    let handle = random_handle().or_server_error("making a request_uri")?;
    let lifetime = resolver.policy.request_uri_lifetime;
    let pushed = PushedRequest {
        params: resolved.params.into_owned().into_pairs(),
        signed: resolved.signed,
    };
    let expires = resolver
        .now
        .saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX));
    let grant = Grant::new(
        handle_digest(&handle),
        &client.client_id,
        &pushed,
        resolver.now,
        expires,
    )?;
    resolver.grants.insert_grant(&grant).await?;
    Ok((format!("{REQUEST_URI_PREFIX}{handle}"), lifetime))
}

fn page(error: OAuthError) -> AuthorizeError {
    AuthorizeError::Page(error)
}

fn invalid_uri(why: &'static str) -> AuthorizeError {
    page(OAuthError::InvalidRequestUri(why.into()))
}

/// The parameters an authorization request stands for (RFC 9126 §4, RFC 9101 §5-§6):
/// - a `request_uri` of ours is taken once: it must be live and pushed by this client, and its
///   parameters are the request's (the query's others are not read); remote `request_uri`s are
///   not fetched (SEC-42);
/// - a `request` is verified and its claims are the request's parameters;
/// - a client (or server) that requires pushed or signed requests gets nothing else.
pub async fn resolve_request<'p>(
    resolver: &Resolver<'_>,
    client: &Client,
    params: &'p Form,
) -> Result<Resolved<'p>, AuthorizeError> {
    let settings = &client.settings;
    let require_pushed =
        resolver.policy.require_pushed || settings.require_pushed_authorization_requests;
    let require_signed = resolver.policy.require_signed || settings.require_signed_request_object;
    if params.has("request") && params.has("request_uri") {
        return Err(page(OAuthError::InvalidRequest(
            "send request or request_uri, not both".into(),
        )));
    }
    let resolved = match params.one("request_uri").map_err(page)? {
        Some(uri) => take_pushed(resolver, client, uri).await?,
        None if require_pushed => {
            return Err(page(OAuthError::InvalidRequest(
                "this client must push its authorization requests first (RFC 9126): send \
                 request_uri from the pushed authorization request endpoint"
                    .into(),
            )));
        }
        None => resolve_object(resolver, client, params)
            .await
            .map_err(page)?,
    };
    if require_signed && !resolved.signed {
        // RFC 9101 §10.5: a request that is not a signed request object is refused.
        return Err(page(OAuthError::InvalidRequest(
            "this client must send its authorization requests as a signed request object".into(),
        )));
    }
    Ok(resolved)
}

/// Takes the pushed request `uri` (RFC 9126 §4): used once, whether or not what follows
/// succeeds; expired, unknown or another client's is `invalid_request_uri`.
async fn take_pushed<'p>(
    resolver: &Resolver<'_>,
    client: &Client,
    uri: &str,
) -> Result<Resolved<'p>, AuthorizeError> {
    let Some(handle) = uri.strip_prefix(REQUEST_URI_PREFIX) else {
        // Request objects by reference are an SSRF surface and are not fetched (SEC-42).
        return Err(page(OAuthError::RequestUriNotSupported));
    };
    let digest = handle_digest(handle);
    // Another client's attempt neither uses it nor spends it.
    let found = resolver
        .grants
        .find_grant(&digest)
        .await
        .map_err(|e| page(e.into()))?;
    if found.is_some_and(|g| g.client_id != client.client_id) {
        return Err(invalid_uri("the request_uri was pushed by another client"));
    }
    let taken = resolver
        .grants
        .consume_grant(&digest, GrantKind::PushedRequest, resolver.now)
        .await
        .map_err(|e| page(e.into()))?;
    let Some(grant) = taken.filter(|g| g.client_id == client.client_id) else {
        return Err(invalid_uri(
            "the request_uri is unknown, expired or used already",
        ));
    };
    let pushed: PushedRequest = grant.payload().map_err(page)?;
    Ok(Resolved {
        params: Cow::Owned(Form::from_pairs(pushed.params)),
        pushed: true,
        signed: pushed.signed,
    })
}
