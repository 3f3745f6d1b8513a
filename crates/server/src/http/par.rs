//! `POST /par`, the pushed authorization request endpoint (RFC 9126 §2): a client
//! authenticates as at the token endpoint and pushes its authorization request (its
//! parameters, or a signed request object); the request is checked as the authorization
//! endpoint would check it and stored under a single-use `request_uri` bound to the client.

use std::borrow::Cow;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::authorize::AuthorizeError;
use tessera_core::authorize::flow::admit_request;
use tessera_core::authorize::pushed::{Resolver, resolve_pushed, store_pushed};
use tessera_core::authorize::steps::check_request;
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::form::Form;

use super::AppState;
use super::error::ApiError;
use super::form::FormRequest;

/// The parameters that authenticate the client (RFC 6749 §2.3, RFC 7523 §2.2): RFC 9126 §2.1
/// says they are "not germane to the authorization request itself", so they are not stored.
const CLIENT_AUTHENTICATION: &[&str] =
    &["client_secret", "client_assertion", "client_assertion_type"];

/// RFC 9126 §2.2.
#[derive(Serialize)]
struct PushedResponse {
    request_uri: String,
    expires_in: u64,
}

impl AppState {
    /// What resolving an authorization request needs: the store, the time, the clients' keys
    /// by reference and the server's policy.
    pub fn resolver(&self) -> Resolver<'_> {
        Resolver {
            grants: self.store.as_ref(),
            issuer: &self.config.issuer,
            now: self.clock.now(),
            remote_keys: Some(&self.client_keys),
            policy: &self.config.requests,
        }
    }
}

/// The pushed authorization request endpoint (RFC 9126 §2.1): client authentication first,
/// then the request as the authorization endpoint would check it; 201 with its `request_uri`.
pub async fn post_par(
    State(state): State<AppState>,
    posted: FormRequest,
) -> Result<Response, ApiError> {
    let client = state.authenticate(&posted).await?;
    let resolver = state.resolver();
    let resolved = resolve_pushed(&resolver, &client, &posted.form).await?;
    // RFC 9126 §2.3 with RFC 9101 §10.5: an unsigned push of a client (or server) that
    // requires signed request objects is refused here, with 400 invalid_request.
    let require_signed =
        resolver.policy.require_signed || client.settings.require_signed_request_object;
    if require_signed && !resolved.signed {
        return Err(OAuthError::InvalidRequest(
            "this client must push its authorization requests as a signed request object".into(),
        )
        .into());
    }
    let mut params = match resolved.signed {
        // RFC 9126 §3: with a request object, the object's claims are the request.
        true => resolved.params.clone().into_owned(),
        false => without_credentials(&posted.form),
    };
    bind_to_proof(&state, &posted, &mut params).await?;
    let (client, request) =
        check_request(client, Cow::Borrowed(&params)).map_err(|e| ApiError(into_error(e)))?;
    if resolver.policy.require_pushed_redirect_uri && !request.redirect_uri_presented {
        // FAPI 2.0 SP §5.3.2.2: "shall require the redirect_uri parameter in pushed
        // authorization requests".
        return Err(
            OAuthError::InvalidRequest("the redirect_uri parameter is missing".into()).into(),
        );
    }
    if let Some(e) = tessera_core::profile::request_violation(state.config.profile, &request) {
        return Err(e.into());
    }
    let (ring, live) = (state.keys.current(), state.resources.current());
    admit_request(&state.flow_context((&ring, &live)), &client, request)?;
    let resolved = tessera_core::authorize::pushed::Resolved {
        params: Cow::Owned(params),
        ..resolved
    };
    let (request_uri, expires_in) = store_pushed(&resolver, &client, resolved).await?;
    tracing::info!(client_id = %client.client_id, expires_in, "authorization request pushed");
    Ok((
        StatusCode::CREATED,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(PushedResponse {
            request_uri,
            expires_in,
        }),
    )
        .into_response())
}

fn without_credentials(form: &Form) -> Form {
    CLIENT_AUTHENTICATION
        .iter()
        .fold(form.clone(), |form, name| form.without(name))
}

/// RFC 9449 §10.1: a DPoP proof sent with the pushed request binds the code to its key, as
/// `dpop_jkt` would; both sent must name the same key.
async fn bind_to_proof(
    state: &AppState,
    posted: &FormRequest,
    params: &mut Form,
) -> Result<(), ApiError> {
    let nonces = state.dpop_nonces();
    let proof = tessera_core::dpop::check_request_proof(
        &posted.context,
        state.proof_replay(),
        &nonces,
        None,
        state.clock.now(),
    )
    .await?;
    let Some(proof) = proof else {
        return Ok(());
    };
    match params.one("dpop_jkt")? {
        Some(jkt) if jkt != proof.jkt => Err(OAuthError::InvalidDpopProof(
            "dpop_jkt is not the thumbprint of the DPoP proof's key".into(),
        )
        .into()),
        Some(_) => Ok(()),
        None => {
            let mut pairs = std::mem::take(params).into_pairs();
            pairs.push(("dpop_jkt".into(), proof.jkt));
            *params = Form::from_pairs(pairs);
            Ok(())
        }
    }
}

/// RFC 9126 §2.3: the push is answered directly, as at the token endpoint; nothing is
/// redirected.
fn into_error(e: AuthorizeError) -> OAuthError {
    match e {
        AuthorizeError::Page(error) | AuthorizeError::Redirect { error, .. } => error,
    }
}
