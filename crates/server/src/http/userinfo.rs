//! `GET` and `POST /userinfo` (OIDC Core §5.3): the signed-in user's claims for a bearer
//! access token, sent in the Authorization header (RFC 6750 §2.1) or, with POST, in the form
//! body (§2.2); never both.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use tessera_core::dpop::check_request_proof;
use tessera_core::protocol::OAuthError;
use tessera_core::protocol::OrServerError as _;
use tessera_core::protocol::context::RequestContext;
use tessera_core::protocol::form::Form;
use tessera_core::protocol::token::TokenType;
use tessera_core::tokens::jws::sign_compact;
use tessera_core::tokens::{KeyRing, SigningAlg};
use tessera_core::userinfo::{Presentation, UserInfo, userinfo};

use tessera_core::store::ClientStore as _;

use super::context::Context;
use super::error::{bearer_error, no_token, resource_error};
use super::form::read_form;
use super::token::with_dpop_nonce;
use super::{AppState, cors};

/// The access token in the Authorization header and its scheme: `Bearer` (RFC 6750 §2.1) or
/// `DPoP` (RFC 9449 §7.1), if any.
fn header_token(headers: &HeaderMap) -> Result<Option<(TokenType, String)>, OAuthError> {
    let Some(value) = super::form::authorization(headers)
        .map_err(|_| OAuthError::InvalidRequest("the Authorization header is malformed".into()))?
    else {
        return Ok(None);
    };
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = [TokenType::Bearer, TokenType::DPoP]
        .into_iter()
        .find(|t| scheme.eq_ignore_ascii_case(t.as_str()));
    // Credentials of another scheme are no access token (RFC 6750 §3.1: a bare challenge).
    let Some(scheme) = scheme else {
        return Ok(None);
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(OAuthError::InvalidRequest(
            "the access token credentials are empty".into(),
        ));
    }
    Ok(Some((scheme, token.to_string())))
}

/// The claims for `token`; readable by the registered origins of the token's client (SEC-64),
/// and by no origin when the token is refused. With the DPoP scheme the request's proof is
/// checked against the request and the token (`ath`) and used up first (RFC 9449 §7.1).
async fn answer(
    state: &AppState,
    request: &RequestContext,
    headers: &HeaderMap,
    (scheme, token): (TokenType, &str),
) -> Response {
    let nonces = state.dpop_nonces();
    let refused = |e| resource_error(e, scheme, &nonces);
    let proof = match scheme {
        TokenType::Bearer => None,
        TokenType::DPoP => {
            let now = state.clock.now();
            match check_request_proof(request, state.proof_replay(), &nonces, None, now).await {
                Ok(Some(proof)) => Some(proof),
                Ok(None) => {
                    return refused(OAuthError::InvalidDpopProof(
                        "the DPoP scheme needs a DPoP proof".into(),
                    ));
                }
                Err(e) => return refused(e),
            }
        }
    };
    let certificate = request
        .client_certificate
        .as_deref()
        .map(tessera_core::clients::mtls::certificate_thumbprint);
    let presented = Presentation {
        scheme,
        proof: proof.as_ref(),
        certificate: certificate.as_deref(),
    };
    let ring = state.keys.current();
    let lookup = state.token_lookup(&ring);
    let resources = state.resources.current();
    let info = match userinfo(token, presented, &lookup, &resources).await {
        Ok(info) => info,
        Err(e) => return refused(e),
    };
    // The token is live, so its client exists.
    let client = match state.clients.find_client(&info.client_id).await {
        Ok(client) => client,
        Err(e) => return refused(e.into()),
    };
    let origin = client
        .as_ref()
        .and_then(|c| cors::allowed_origin(headers, c));
    let no_store = [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ];
    let signing = client.as_ref().and_then(|c| c.userinfo_signed_response_alg);
    let encryption = client.as_ref().and_then(|c| c.userinfo_encryption.clone());
    let mut response = match (signing, client.as_ref().zip(encryption)) {
        (None, None) => (no_store, Json(info.claims)).into_response(),
        // OIDC Core §5.3.2: signed, encrypted, or signed then encrypted; a JWT either way.
        (alg, encrypt) => {
            let body = match alg {
                Some(alg) => signed(state, &ring, alg, info),
                None => serde_json::to_string(&info.claims)
                    .or_server_error("encoding a UserInfo response"),
            };
            let body = body.and_then(|body| match &encrypt {
                Some((client, e)) => {
                    tessera_core::grants::encrypt_for(client, Some(e), &body, alg.map(|_| "JWT"))
                }
                None => Ok(body),
            });
            match body {
                Ok(jwt) => {
                    (no_store, [(header::CONTENT_TYPE, "application/jwt")], jwt).into_response()
                }
                Err(e) => return refused(e),
            }
        }
    };
    if scheme == TokenType::DPoP {
        with_dpop_nonce(&mut response, &nonces);
    }
    cors::allow(response, origin)
}

/// OIDC Core §5.3.2: the claims as a JWT signed with the client's registered algorithm, with
/// `iss` and `aud` (the client) among them.
fn signed(
    state: &AppState,
    ring: &KeyRing,
    alg: SigningAlg,
    info: UserInfo,
) -> Result<String, OAuthError> {
    let key = ring
        .signing_key(alg)
        .or_server_error("finding the UserInfo signing key")?;
    let mut claims = info.claims;
    claims.insert("iss".into(), state.config.issuer.clone().into());
    claims.insert("aud".into(), info.client_id.into());
    sign_compact(key, "JWT", &claims).or_server_error("signing a UserInfo response")
}

/// `GET /userinfo`
pub async fn userinfo_get(
    State(state): State<AppState>,
    Context(request): Context,
    headers: HeaderMap,
) -> Response {
    match header_token(&headers) {
        Ok(Some((scheme, token))) => answer(&state, &request, &headers, (scheme, &token)).await,
        Ok(None) => no_token(),
        Err(e) => bearer_error(e),
    }
}

/// `POST /userinfo`
pub async fn userinfo_post(
    State(state): State<AppState>,
    Context(request): Context,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let in_header = match header_token(&headers) {
        Ok(t) => t,
        Err(e) => return bearer_error(e),
    };
    // A POST without a body is fine when the token is in the header.
    let form = if body.is_empty() && in_header.is_some() {
        Form::default()
    } else {
        match read_form(&headers, &uri, &body) {
            Ok(f) => f,
            Err(e) => return bearer_error(e),
        }
    };
    let in_body = match form.one("access_token") {
        Ok(t) => t.map(str::to_string),
        Err(e) => return bearer_error(e),
    };
    match (in_header, in_body) {
        (Some(_), Some(_)) => bearer_error(OAuthError::InvalidRequest(
            "send the access token in one place only (RFC 6750 §2)".into(),
        )),
        (Some((scheme, token)), None) => answer(&state, &request, &headers, (scheme, &token)).await,
        // RFC 6750 §2.2: a token in the body is a bearer token.
        (None, Some(token)) => {
            answer(&state, &request, &headers, (TokenType::Bearer, &token)).await
        }
        (None, None) => no_token(),
    }
}
