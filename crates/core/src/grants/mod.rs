//! Grants: one module per grant type, and the checks every grant shares.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod implicit;
pub mod refresh_token;
pub mod scopes;
mod single_use;
pub mod token_exchange;

#[cfg(test)]
mod tests;

use crate::authorize::ClaimsRequest;
use crate::clock::UnixTime;
use crate::events::{Event, Events};
use crate::model::{Client, Grant, Resources, User};
use crate::protocol::OAuthError;
use crate::protocol::OrServerError as _;
use crate::protocol::context::RequestContext;
use crate::protocol::grant_type::GrantType;
use crate::protocol::token::{TokenRequest, TokenResponse};
use crate::store::{GrantStore, UserStore};
use crate::tokens::access_token::{
    AccessTokenRequest, IssuedAccessToken, SignIn, prepare_access_token,
};
use crate::tokens::id_token::{IdTokenRequest, issue_id_token};
use crate::tokens::{KeyRing, SigningAlg};
use crate::userinfo::released_claims;
use scopes::scopes_for_audiences;

/// What a grant needs from the server.
#[derive(Clone, Copy)]
pub struct TokenContext<'a> {
    /// Issuer identifier.
    pub issuer: &'a str,
    /// The time of the request.
    pub now: UnixTime,
    /// Scopes and resources.
    pub resources: &'a Resources,
    /// Signing keys.
    pub ring: &'a KeyRing,
    /// Algorithm for access tokens.
    pub alg: SigningAlg,
    /// Grant store (reference tokens, codes, refresh tokens).
    pub grants: &'a dyn GrantStore,
    /// Registered clients: a presented token lives only while its client is enabled.
    pub clients: &'a dyn crate::store::ClientStore,
    /// Where what happens is told.
    pub events: &'a Events,
    /// When each polling device polled last (RFC 8628 §3.5).
    pub polls: &'a dyn crate::device::PollPacer,
    /// The HTTP request being served, when a grant is redeemed at an endpoint: what proofs of
    /// possession (DPoP, mTLS) are read from; its peer goes into replay events.
    pub http: Option<&'a RequestContext>,
    /// The nonces a DPoP proof may carry, the current one first; empty when the server asks
    /// for none (RFC 9449 §8).
    pub dpop_nonces: &'a [String],
    /// The memory of accepted proofs of a server that is its database's only instance; the
    /// store remembers them otherwise.
    pub dpop_replay: Option<&'a crate::dpop::LocalReplay>,
    /// The request's checked DPoP proof, once [`exchange`] checked it: the key the tokens are
    /// bound to.
    pub dpop: Option<&'a crate::dpop::Proof>,
    /// The thumbprint of the TLS client certificate the tokens are bound to (RFC 8705 §3),
    /// once [`exchange`] decided it.
    pub certificate: Option<&'a str>,
}

impl TokenContext<'_> {
    /// The confirmation of the access tokens issued now: the DPoP key and the certificate the
    /// request binds them to.
    pub fn confirmation(&self) -> Option<crate::tokens::access_token::Confirmation> {
        crate::tokens::access_token::Confirmation::of(
            self.dpop.map(|p| p.jkt.clone()),
            self.certificate.map(str::to_string),
        )
    }

    /// The algorithm of an access token for `audiences`: the first of their APIs that names one
    /// (`[[api_resources]] signing_alg`), else the server's default.
    pub fn access_token_alg(&self, audiences: &[String]) -> crate::tokens::SigningAlg {
        audiences
            .iter()
            .find_map(|a| {
                self.resources
                    .api_resources
                    .iter()
                    .find(|r| &r.name == a)
                    .and_then(|r| r.signing_alg)
            })
            .unwrap_or(self.alg)
    }
}

/// RFC 8705 §3: the certificate a client registered for bound tokens
/// (`tls_client_certificate_bound_access_tokens`) presented with this request, whose thumbprint
/// its access tokens carry; such a client's token request without one is refused.
fn bound_certificate(
    ctx: &TokenContext<'_>,
    client: &Client,
) -> Result<Option<String>, OAuthError> {
    if !client.settings.tls_client_certificate_bound_access_tokens {
        return Ok(None);
    }
    match ctx.http.and_then(|h| h.client_certificate.as_deref()) {
        Some(der) => Ok(Some(crate::clients::mtls::certificate_thumbprint(der))),
        None => Err(OAuthError::InvalidRequest(
            "this client's tokens are bound to its TLS certificate: send the request over \
             mutual TLS"
                .into(),
        )),
    }
}

/// The token endpoint's one dispatch (RFC 6749 §3.2): the policy every grant shares, then the
/// grant's own handler. A grant type is declared once, in [`GrantType`]; its request variant and
/// its arm here are what the compiler asks for when one is added.
pub async fn exchange(
    ctx: &TokenContext<'_>,
    users: &dyn UserStore,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let grant_type = request.grant_type();
    check_grant_allowed(client, grant_type)?;
    // RFC 9449 §5: a proof, when sent, is checked before the grant, so that a proof the
    // server refuses (a nonce to add) costs the client no code or refresh token.
    let proof = crate::dpop::token_request_proof(ctx, client).await?;
    let certificate = bound_certificate(ctx, client)?;
    let ctx = &TokenContext {
        dpop: proof.as_ref(),
        certificate: certificate.as_deref(),
        ..*ctx
    };
    let response = match request {
        TokenRequest::AuthorizationCode(r) => {
            authorization_code::exchange(ctx, users, client, r).await
        }
        TokenRequest::RefreshToken(r) => refresh_token::exchange(ctx, users, client, r).await,
        TokenRequest::ClientCredentials(r) => client_credentials::exchange(ctx, client, r).await,
        TokenRequest::DeviceCode(r) => device_code::exchange(ctx, users, client, r).await,
        TokenRequest::Ciba(r) => {
            device_code::exchange_decided::<crate::ciba::CibaData>(
                ctx,
                users,
                client,
                &r.auth_req_id,
            )
            .await
        }
        TokenRequest::TokenExchange(r) => token_exchange::exchange(ctx, users, client, r).await,
    }?;
    let client_id = client.client_id.as_str();
    if grant_type == GrantType::RefreshToken && client.settings.refresh_token_rotation {
        ctx.events.emit(Event::RefreshRotated { client_id });
    }
    ctx.events.emit(Event::TokensIssued {
        grant_type,
        client_id,
    });
    Ok(response)
}

/// The policy every grant passes first, in one place so that no grant forgets it: the client
/// is enabled and registered for this grant type (RFC 6749 §5.2 `unauthorized_client`).
pub fn check_grant_allowed(client: &Client, grant_type: GrantType) -> Result<(), OAuthError> {
    if !client.enabled {
        return Err(OAuthError::UnauthorizedClient(
            "the client is disabled".into(),
        ));
    }
    if !client.grant_types.iter().any(|g| g == grant_type.name()) {
        return Err(OAuthError::UnauthorizedClient(
            format!("the client may not use the {grant_type} grant").into(),
        ));
    }
    Ok(())
}

/// A token response (RFC 6749 §5.1) for a bearer access token.
pub(crate) fn bearer_response(
    access: IssuedAccessToken,
    refresh_token: Option<String>,
    id_token: Option<String>,
) -> TokenResponse {
    TokenResponse {
        access_token: access.token,
        token_type: access.token_type,
        expires_in: access.expires_in,
        scope: access.scope,
        refresh_token,
        id_token,
        issued_token_type: None,
        authorization_details: access.authorization_details,
    }
}

/// `invalid_grant` with a fixed description.
pub(crate) fn invalid_grant(why: &'static str) -> OAuthError {
    OAuthError::InvalidGrant(why.into())
}

/// SEC-26: every grant for a user checks that the user still exists and is enabled.
pub(crate) async fn ensure_user_active(
    users: &dyn UserStore,
    subject: &str,
) -> Result<User, OAuthError> {
    users
        .find_user_by_subject(subject)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| invalid_grant("the user can no longer sign in"))
}

/// What a user's tokens carry.
pub(crate) struct UserTokens<'a> {
    pub(crate) user: &'a User,
    /// Claims asked for by name and granted (OIDC Core §5.5).
    pub(crate) claims: &'a ClaimsRequest,
    pub(crate) scopes: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) family: Option<String>,
    pub(crate) sign_in: SignIn,
    /// `acr` was asked for, so the identity token carries it (OIDC Core §2, §5.5.1.1).
    pub(crate) acr_in_id_token: bool,
    pub(crate) nonce: Option<&'a str>,
    /// RFC 9396: what the access token authorizes besides its scopes.
    pub(crate) authorization_details: Vec<serde_json::Value>,
}

/// A user's access and identity tokens, made but not yet stored.
pub(crate) struct PreparedUserTokens {
    pub(crate) access: IssuedAccessToken,
    pub(crate) id_token: Option<String>,
    /// The record of a reference access token: valid once stored.
    pub(crate) record: Option<Grant>,
}

/// Makes the access token and, when `openid` is granted, the identity token (with `at_hash`)
/// of a user's grant. Nothing is stored: the caller stores `record` in the transaction that
/// consumes the code or refresh token (CVE-22).
pub(crate) fn prepare_user_tokens(
    ctx: &TokenContext<'_>,
    client: &Client,
    tokens: UserTokens<'_>,
) -> Result<PreparedUserTokens, OAuthError> {
    let openid = tokens.scopes.iter().any(|s| s == "openid");
    let subject = tokens.user.subject.as_str();
    // OIDC Core §5.4: with an access token, scope claims come from userinfo unless the client
    // is configured to get them in the identity token; §5.5 id_token claims always do.
    let id_scopes: &[String] = if client.always_include_user_claims_in_id_token {
        &tokens.scopes
    } else {
        &[]
    };
    let user_claims = released_claims(
        tokens.user,
        id_scopes,
        &tokens.claims.id_token,
        ctx.resources,
    );
    let sign_in = tokens.sign_in;
    // SEC-27: the access token's scope is narrowed to its audience.
    let access_alg = ctx.access_token_alg(&tokens.audiences);
    let access_scopes = scopes_for_audiences(ctx.resources, &tokens.scopes, &tokens.audiences);
    let (access, record) = prepare_access_token(
        AccessTokenRequest {
            issuer: ctx.issuer,
            client,
            subject: subject.to_string(),
            scopes: access_scopes,
            audiences: tokens.audiences,
            now: ctx.now,
            family: tokens.family.clone(),
            sign_in: Some(sign_in.clone()),
            userinfo_claims: tokens.claims.userinfo.clone(),
            cnf: ctx.confirmation(),
            act: None,
            not_after: None,
            authorization_details: tokens.authorization_details,
        },
        ctx.ring,
        access_alg,
    )?;
    if !openid {
        return Ok(PreparedUserTokens {
            access,
            id_token: None,
            record,
        });
    }
    let id_token = sign_user_id_token(
        ctx,
        client,
        subject,
        UserIdToken {
            sign_in: &sign_in,
            acr_in_id_token: tokens.acr_in_id_token,
            nonce: tokens.nonce,
            access_token: Some(&access.token),
            code: None,
            user_claims,
        },
    )?;
    Ok(PreparedUserTokens {
        access,
        id_token: Some(id_token),
        record,
    })
}

/// What a user's identity token says beyond the user and the client.
pub(crate) struct UserIdToken<'a> {
    pub(crate) sign_in: &'a SignIn,
    /// `acr` was asked for, so it is included (OIDC Core §2, §5.5.1.1).
    pub(crate) acr_in_id_token: bool,
    pub(crate) nonce: Option<&'a str>,
    /// For `at_hash` (OIDC Core §3.1.3.6, §3.3.2.11).
    pub(crate) access_token: Option<&'a str>,
    /// For `c_hash` (OIDC Core §3.3.2.11).
    pub(crate) code: Option<&'a str>,
    pub(crate) user_claims: serde_json::Map<String, serde_json::Value>,
}

/// `content` encrypted to the client's key when it registered `encryption` (OIDC Core §10.2:
/// signed first, then encrypted, `cty` `JWT` for a nested token); as it is otherwise.
pub fn encrypt_for(
    client: &Client,
    encryption: Option<&crate::model::Encryption>,
    content: &str,
    cty: Option<&str>,
) -> Result<String, OAuthError> {
    let Some(e) = encryption else {
        return Ok(content.to_string());
    };
    let key = encryption_key(client, e)?;
    crate::tokens::jwe::encrypt_compact(content.as_bytes(), key, (&e.alg, &e.enc), cty)
        .or_server_error("encrypting for a client")
}

/// The client's key that `encryption` encrypts to: a key marked for encryption first; a key
/// without `use` only when there is none.
pub fn encryption_key<'c>(
    client: &'c Client,
    encryption: &crate::model::Encryption,
) -> Result<&'c crate::clients::jwk::ClientJwk, OAuthError> {
    let fits =
        |k: &&crate::clients::jwk::ClientJwk| crate::tokens::jwe::encrypts_with(k, &encryption.alg);
    client
        .jwks
        .iter()
        .filter(fits)
        .find(|k| k.use_.as_deref() == Some("enc"))
        .or_else(|| client.jwks.iter().find(fits))
        .ok_or_else(|| {
            OAuthError::internal("encrypting for a client", "it has no key for its algorithm")
        })
}

/// Signs a user's identity token with the client's `id_token_signed_response_alg` (OIDC
/// Registration §2; RS256 by default).
pub(crate) fn sign_user_id_token(
    ctx: &TokenContext<'_>,
    client: &Client,
    subject: &str,
    token: UserIdToken<'_>,
) -> Result<String, OAuthError> {
    let key = ctx
        .ring
        .signing_key(client.id_token_signed_response_alg)
        .or_server_error("finding the signing key")?;
    let sign_in = token.sign_in;
    issue_id_token(
        &IdTokenRequest {
            issuer: ctx.issuer,
            subject,
            client_id: &client.client_id,
            now: ctx.now,
            lifetime: client.settings.identity_token_lifetime,
            auth_time: sign_in.auth_time,
            nonce: token.nonce,
            amr: &sign_in.amr,
            acr: sign_in.acr.as_deref().filter(|_| token.acr_in_id_token),
            idp: &sign_in.idp,
            sid: sign_in.sid.as_deref(),
            access_token: token.access_token,
            code: token.code,
            user_claims: token.user_claims,
        },
        key,
    )
    .or_server_error("signing a token")
    .and_then(|signed| {
        encrypt_for(
            client,
            client.id_token_encryption.as_ref(),
            &signed,
            Some("JWT"),
        )
    })
}
