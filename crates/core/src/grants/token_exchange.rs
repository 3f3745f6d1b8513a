//! Token exchange (RFC 8693): a service trades a token it was sent, the subject token, for an
//! access token to another API. The new token stands for the subject's user; its `act` claim
//! names who acts for them (§4.1): the holder of the actor token, or the client itself, with
//! the actors before them nested inside. Only a client registered to impersonate gets a token
//! that does not name it. What it may reach is the client's policy (SEC-66): its audiences, no
//! scope beyond the subject's, no longer than the subject token lives.

use serde_json::{Map, Value, json};

use super::scopes::parse_scope;
use super::{TokenContext, bearer_response};
use crate::clock::UnixTime;
use crate::events::Event;
use crate::model::{Client, User};
use crate::protocol::OAuthError;
use crate::protocol::token::{TokenExchangeRequest, TokenResponse};
use crate::store::UserStore;
use crate::tokens::access_token::{AccessTokenRequest, SignIn, prepare_access_token};
use crate::tokens::introspect::{LiveAccessToken, TokenLookup, live_access_token};
use crate::tokens::verify::verify_own_jws;

/// RFC 8693 §3: an access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 8693 §3: an OpenID Connect identity token.
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// The longest subject or actor token read: a longer one is refused, never dropped (CVE-53).
const MAX_TOKEN: usize = 16 * 1024;
/// The most actors a token names, nested (§4.1): a longer chain is refused.
const MAX_ACTORS: usize = 8;

/// A verified subject or actor token.
struct Party {
    sub: String,
    /// The scopes it was granted; `None` for an identity token, which has none.
    scopes: Option<Vec<String>>,
    /// Its own `act` claim: the actors before it.
    act: Option<Value>,
    sign_in: Option<SignIn>,
    family: Option<String>,
    exp: UnixTime,
    /// The client it was issued to.
    client_id: String,
    user: Option<User>,
}

/// RFC 8693 §2.2.2: a subject or actor token that is invalid, or unacceptable by policy, is
/// `invalid_request`.
fn refuse(why: String) -> OAuthError {
    OAuthError::InvalidRequest(why.into())
}

/// Exchanges an authenticated client's request (§2.1) for an access token (§2.2.1).
pub(crate) async fn exchange(
    ctx: &TokenContext<'_>,
    users: &dyn UserStore,
    client: &Client,
    request: &TokenExchangeRequest,
) -> Result<TokenResponse, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::UnauthorizedClient(
            "public clients cannot exchange tokens".into(),
        ));
    }
    // §2.1 requested_token_type: what this server issues is an access token.
    if request
        .requested_token_type
        .as_deref()
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(refuse(format!(
            "only access tokens are issued (requested_token_type {ACCESS_TOKEN_TYPE})"
        )));
    }
    let lookup = TokenLookup {
        issuer: ctx.issuer,
        now: ctx.now,
        ring: ctx.ring,
        grants: ctx.grants,
        clients: ctx.clients,
        users,
    };
    let (token, token_type) = (&request.subject_token, &request.subject_token_type);
    let subject = read_party(&lookup, client, (token, token_type), "subject").await?;
    let Some(user) = subject.user.clone() else {
        return Err(refuse("the subject token does not stand for a user".into()));
    };
    let actor = read_actor(&lookup, client, request).await?;
    let act = actors(client, &subject, actor.as_ref())?;
    let audiences = target_audiences(ctx, client, request)?;
    let access_alg = ctx.access_token_alg(&audiences);
    let scopes = granted_scopes(ctx, client, &subject, &audiences, request.scope.as_deref())?;
    let not_after = actor
        .as_ref()
        .map_or(subject.exp, |a| a.exp.min(subject.exp));
    let (issued, record) = prepare_access_token(
        AccessTokenRequest {
            issuer: ctx.issuer,
            client,
            subject: subject.sub.clone(),
            scopes,
            audiences,
            now: ctx.now,
            family: subject.family.clone(),
            sign_in: Some(subject.sign_in.clone().unwrap_or_default()),
            userinfo_claims: vec![],
            cnf: ctx.confirmation(),
            act: act.clone(),
            not_after: Some(not_after),
            authorization_details: vec![],
        },
        ctx.ring,
        access_alg,
    )?;
    if let Some(record) = record {
        ctx.grants.insert_grant(&record).await?;
    }
    let acting = act
        .as_ref()
        .and_then(|a| a.get("sub"))
        .and_then(Value::as_str);
    ctx.events.emit(Event::TokenExchanged {
        client_id: &client.client_id,
        subject: &user.subject,
        actor: acting,
        impersonation: act == subject.act,
    });
    Ok(TokenResponse {
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
        ..bearer_response(issued, None, None)
    })
}

/// The actor token, when one is sent: one of this client's own (CVE-54: an actor token proves
/// the client's own standing, never another party's).
async fn read_actor(
    lookup: &TokenLookup<'_>,
    client: &Client,
    request: &TokenExchangeRequest,
) -> Result<Option<Party>, OAuthError> {
    let Some((token, token_type)) = &request.actor_token else {
        return Ok(None);
    };
    let actor = read_party(lookup, client, (token, token_type), "actor").await?;
    if actor.client_id != client.client_id {
        return Err(refuse(
            "the actor token was issued to another client".into(),
        ));
    }
    Ok(Some(actor))
}

/// Verifies a presented token of `token_type`: an access token of ours that is live and was
/// issued to the client or for an API it serves, or an identity token of ours issued to the
/// client, unexpired, whose user is active.
async fn read_party(
    lookup: &TokenLookup<'_>,
    client: &Client,
    (token, token_type): (&str, &str),
    role: &str,
) -> Result<Party, OAuthError> {
    if token.len() > MAX_TOKEN {
        return Err(refuse(format!("the {role} token is too large")));
    }
    match token_type {
        ACCESS_TOKEN_TYPE => {
            let live = live_access_token(token, lookup).await?.ok_or_else(|| {
                refuse(format!(
                    "the {role} token is not an active access token of this server"
                ))
            })?;
            let policy = &client.token_exchange;
            let for_client = live.claims.client_id == client.client_id
                || audiences_of(&live.claims.aud)
                    .any(|aud| policy.subject_audiences.iter().any(|a| a == aud));
            if !for_client {
                return Err(refuse(format!(
                    "the {role} token is neither this client's nor for an API it serves \
                     (token_exchange.subject_audiences)"
                )));
            }
            Ok(access_party(live))
        }
        ID_TOKEN_TYPE => id_token_party(lookup, client, token, role).await,
        other => Err(refuse(format!(
            "a {role}_token_type of `{other}` is not accepted: send an access token or an \
             identity token of this server"
        ))),
    }
}

fn audiences_of(aud: &Value) -> impl Iterator<Item = &str> {
    let many = match aud {
        Value::Array(items) => items.as_slice(),
        one => std::slice::from_ref(one),
    };
    many.iter().filter_map(Value::as_str)
}

fn access_party(live: LiveAccessToken) -> Party {
    let c = live.claims;
    let sign_in = c.auth_time.map(|auth_time| SignIn {
        auth_time,
        amr: c.amr.clone(),
        acr: c.acr.clone(),
        idp: c.idp.clone().unwrap_or_else(crate::login::local_idp),
        sid: c.sid.clone(),
    });
    Party {
        sub: c.sub,
        scopes: Some(
            c.scope
                .unwrap_or_default()
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        act: c.act,
        sign_in,
        family: live.family,
        exp: c.exp,
        client_id: c.client_id,
        user: live.user,
    }
}

/// An identity token we signed for this client (OIDC Core §2): `iss` ours, `aud` naming the
/// client, unexpired, its user active.
async fn id_token_party(
    lookup: &TokenLookup<'_>,
    client: &Client,
    token: &str,
    role: &str,
) -> Result<Party, OAuthError> {
    let invalid = || {
        refuse(format!(
            "the {role} token is not a valid identity token of this server for this client"
        ))
    };
    let claims = verify_own_jws(token, lookup.ring, "jwt").ok_or_else(invalid)?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(invalid)?;
    if text("iss") != Some(lookup.issuer)
        || exp <= lookup.now
        || !claims
            .get("aud")
            .is_some_and(|aud| audiences_of(aud).any(|a| a == client.client_id))
    {
        return Err(invalid());
    }
    let sub = text("sub").ok_or_else(invalid)?.to_string();
    let user = lookup
        .users
        .find_user_by_subject(&sub)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(invalid)?;
    let sign_in = id_token_sign_in(&claims).ok_or_else(invalid)?;
    Ok(Party {
        sub,
        scopes: None,
        act: None,
        sign_in: Some(sign_in),
        family: None,
        exp,
        client_id: client.client_id.clone(),
        user: Some(user),
    })
}

fn id_token_sign_in(claims: &Map<String, Value>) -> Option<SignIn> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
    Some(SignIn {
        auth_time: claims.get("auth_time").and_then(Value::as_i64)?,
        amr: claims
            .get("amr")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        acr: text("acr"),
        idp: text("idp").unwrap_or_else(crate::login::local_idp),
        sid: text("sid"),
    })
}

/// The new token's `act` (§4.1): the actor token's subject, else the client itself, with the
/// subject's actors nested under it; the subject's own chain unchanged when the client may
/// impersonate and names no actor.
fn actors(
    client: &Client,
    subject: &Party,
    actor: Option<&Party>,
) -> Result<Option<Value>, OAuthError> {
    let acting = match actor {
        Some(actor) => actor.sub.as_str(),
        None if client.token_exchange.impersonate => return Ok(subject.act.clone()),
        None => client.client_id.as_str(),
    };
    let mut act = Map::new();
    act.insert("sub".into(), json!(acting));
    if let Some(prior) = &subject.act {
        act.insert("act".into(), prior.clone());
    }
    let act = Value::Object(act);
    let mut depth = 0;
    let mut level = Some(&act);
    while let Some(a) = level {
        depth += 1;
        level = a.get("act");
    }
    if depth > MAX_ACTORS {
        return Err(refuse(format!(
            "the chain of actors would be longer than {MAX_ACTORS}"
        )));
    }
    Ok(Some(act))
}

/// The audiences asked for (`audience` and `resource`, §2.1), each one the client may get
/// tokens for and an API we know; the client's only one when it names none (`invalid_target`
/// otherwise, §2.2.2).
fn target_audiences(
    ctx: &TokenContext<'_>,
    client: &Client,
    request: &TokenExchangeRequest,
) -> Result<Vec<String>, OAuthError> {
    let policy = &client.token_exchange.audiences;
    let mut asked: Vec<String> = request
        .audiences
        .iter()
        .chain(&request.resources)
        .cloned()
        .collect();
    asked.dedup();
    if asked.is_empty() {
        return match policy.as_slice() {
            [one] => Ok(vec![one.clone()]),
            _ => Err(OAuthError::InvalidTarget(
                "name the audience (or resource) the token is for".into(),
            )),
        };
    }
    for aud in &asked {
        let known = ctx
            .resources
            .api_resources
            .iter()
            .any(|api| &api.name == aud);
        if !known || !policy.contains(aud) {
            return Err(OAuthError::InvalidTarget(
                format!("`{aud}` is not an audience this client may exchange tokens for").into(),
            ));
        }
    }
    Ok(asked)
}

/// The scope of the new token: what the subject was granted (all of the client's scopes for
/// an identity token), that the client may ask for and that the audiences serve. Asked-for
/// scopes outside that are `invalid_scope`; nothing left is too.
fn granted_scopes(
    ctx: &TokenContext<'_>,
    client: &Client,
    subject: &Party,
    audiences: &[String],
    asked: Option<&str>,
) -> Result<Vec<String>, OAuthError> {
    let served = |scope: &str| {
        ctx.resources
            .api_resources
            .iter()
            .any(|api| audiences.contains(&api.name) && api.scopes.iter().any(|s| s == scope))
    };
    let allowed = |scope: &str| {
        client.allowed_scopes.iter().any(|s| s == scope)
            && subject
                .scopes
                .as_ref()
                .is_none_or(|granted| granted.iter().any(|s| s == scope))
            && served(scope)
    };
    let scopes: Vec<String> = match asked {
        Some(asked) => {
            let asked = parse_scope(asked)?;
            if let Some(s) = asked.iter().find(|s| !allowed(s)) {
                return Err(OAuthError::InvalidScope(
                    format!("scope `{s}` is beyond what the subject token, this client or the audience allows").into(),
                ));
            }
            asked
        }
        None => subject
            .scopes
            .as_ref()
            .unwrap_or(&client.allowed_scopes)
            .iter()
            .filter(|s| allowed(s))
            .cloned()
            .collect(),
    };
    if scopes.is_empty() {
        return Err(OAuthError::InvalidScope(
            "no scope is allowed by the subject token, this client and the audience together"
                .into(),
        ));
    }
    Ok(scopes)
}
