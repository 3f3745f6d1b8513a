//! The authorization flow after the request is checked (OIDC Core §3.1.2.3-§3.1.2.5): what the
//! request needs next given the browser's session (a page, an error for the client, or the
//! response), and the response itself. The server only translates [`Next`] into HTTP.

use super::acr::{AcrCheck, AcrLevels, check_acr};
use super::decision::{Consent, Decision, SignedIn, decide};
use super::request::{AuthorizationRequest, Prompt};
use crate::device::{Approval, Decision as DeviceDecision, pending_by_digest};
use crate::grants::TokenContext;
use crate::grants::authorization_code::{CodeData, new_code};
use crate::grants::implicit::{FrontChannelUser, issue_front_channel};
use crate::grants::scopes::user_audiences;
use crate::login::second_factor::{methods_reaching, offered_methods};
use crate::login::{LoginMethod, PriorSignIn};
use crate::model::{Client, Resources, Session};
use crate::protocol::OAuthError;
use crate::protocol::pkce::ChallengeMethod;
use crate::protocol::token::TokenType;
use crate::sessions::{
    Flow, Interaction, PageHandle, Step, browser_state, page_record_write, remembered_consent,
    session_client_write, session_data, session_state,
};
use crate::store::{BatchWrite, FactorStore, UserStore, WriteBatch};
use crate::tokens::access_token::SignIn;
use crate::tokens::id_token::id_token_hint_subject;
use crate::userinfo::{claims_beyond_scopes, grantable_claims};

/// What the flow needs from the server.
#[derive(Clone, Copy)]
pub struct FlowContext<'a> {
    /// Issuing: issuer, time, resources, keys and the grant store.
    pub tokens: TokenContext<'a>,
    /// The users.
    pub users: &'a dyn UserStore,
    /// The users' second factors.
    pub factors: &'a dyn FactorStore,
    /// The authentication context classes offered.
    pub acr_levels: &'a AcrLevels,
}

/// Where an authorization request goes next.
#[derive(Debug)]
pub enum Next {
    /// The user must act: the interaction is to be stored (a write of the batch), waiting on
    /// `step`'s page.
    Interact {
        /// The page.
        step: Step,
        /// The stored interaction.
        handle: PageHandle,
    },
    /// The client is answered with an error at its redirect URI (OIDC Core §3.1.2.6).
    Refuse(OAuthError),
    /// The client is answered with the authorization response.
    Respond(Issued),
    /// A device flow's approval was recorded (a write of the batch): the device gets its
    /// tokens at its next poll, and the user is told to go back to it.
    Approved,
}

/// A successful authorization response, and what the browser keeps of it.
#[derive(Debug)]
pub struct Issued {
    /// The response parameters (RFC 6749 §4.1.2, OIDC Core §3.2.2.5, §3.3.2.5), without `state`
    /// and `iss`, which every response carries.
    pub params: Vec<(&'static str, String)>,
    /// The OP browser state (Session Management 1.0 §3), for the check-session cookie.
    pub browser_state: String,
    /// Seconds until the session ends.
    pub session_lifetime: i64,
}

/// The checks of a parsed request that need the server's resources and levels: the RFC 8707
/// resources must be reachable with the scopes; claims asked for by name are kept when a scope
/// the client may have releases them (OIDC Core §5.5); an essential `acr` that no sign-in here
/// can reach fails at once (§5.5.1.1).
pub fn admit_request(
    ctx: &FlowContext<'_>,
    client: &Client,
    mut request: AuthorizationRequest,
) -> Result<AuthorizationRequest, OAuthError> {
    let t = &ctx.tokens;
    user_audiences(t.issuer, t.resources, &request.scopes, &request.resources)?;
    crate::authorize::details::check_authorization_details(
        &request.authorization_details,
        client,
        &t.resources.authorization_details_types,
    )?;
    for names in [&mut request.claims.userinfo, &mut request.claims.id_token] {
        *names = grantable_claims(names, &client.allowed_scopes, t.resources);
    }
    if let Some(floor) = client_floor(client, ctx.acr_levels) {
        // The client's minimum is essential in every request: the requested values at or
        // above it are kept in their order, the minimum itself last.
        let acr = &mut request.acr;
        acr.values.retain(|v| ctx.acr_levels.at_least(v, floor));
        if !acr.values.iter().any(|v| v == floor) {
            acr.values.push(floor.to_string());
        }
        acr.essential = true;
        // The client relies on the level: its identity tokens say which was reached.
        acr.requested = true;
    }
    if check_acr(ctx.acr_levels, &request.acr, &LoginMethod::best_amr()) == AcrCheck::Unmet {
        let offered: Vec<&str> = ctx.acr_levels.values().collect();
        return Err(OAuthError::UnmetAuthenticationRequirements(
            format!(
                "no sign-in here reaches the essential acr requested; offered: {}",
                offered.join(" ")
            )
            .into(),
        ));
    }
    Ok(request)
}

/// The weakest `acr` level every sign-in for `client` must reach: its `minimum_acr`, or for
/// `require_mfa` the weakest level that asks for `mfa`, whichever is stronger.
fn client_floor<'a>(client: &'a Client, levels: &'a AcrLevels) -> Option<&'a str> {
    let minimum = client.settings.minimum_acr.as_deref();
    let mfa = match client.settings.require_mfa {
        true => levels.weakest_needing(crate::login::MFA),
        false => None,
    };
    match (minimum, mfa) {
        (Some(m), Some(f)) if levels.at_least(f, m) => Some(f),
        (Some(m), _) => Some(m),
        (None, f) => f,
    }
}

/// The claims a request asks for by name beyond what its scopes release: the consent page
/// names them, and remembered consent must cover them.
pub fn named_claims(resources: &Resources, request: &AuthorizationRequest) -> Vec<String> {
    claims_beyond_scopes(
        request
            .claims
            .userinfo
            .iter()
            .chain(&request.claims.id_token),
        &request.scopes,
        resources,
    )
}

/// Decides what `interaction` needs next with the browser's `session`, and does it: the
/// interaction for a page, or the response's code and records, go into `batch`, which the
/// caller commits before it answers.
pub async fn proceed(
    ctx: &FlowContext<'_>,
    client: &Client,
    (interaction, session): (Interaction, Option<Session>),
    batch: &mut WriteBatch,
) -> Result<Next, OAuthError> {
    let now = ctx.tokens.now;
    let session = active_session(ctx, session).await?;
    let request = &interaction.request;
    let hint_subject = match verified_hint(ctx, client, request) {
        Ok(subject) => subject,
        Err(refusal) => return Ok(Next::Refuse(refusal)),
    };
    let consented = match &session {
        Some(s) => remembered_covers(ctx, client, request, &s.subject).await?,
        None => false,
    };
    // A sign-in or consent during this interaction counts only for the user it was for.
    let same_user = |s: &Session| interaction.subject.as_deref() == Some(s.subject.as_str());
    let fresh = |s: &Session| interaction.signed_in() && same_user(s);
    let acr = match &session {
        Some(s) => {
            let check = check_acr(ctx.acr_levels, &request.acr, &session_data(s)?.amr);
            settle_step_up(
                ctx,
                check,
                s,
                fresh(s) || request.prompt.contains(&Prompt::None),
            )
            .await?
        }
        None => AcrCheck::Met(None),
    };
    let signed_in = session.as_ref().map(|s| SignedIn {
        subject: &s.subject,
        auth_time: s.auth_time,
        fresh: fresh(s),
        acr: &acr,
    });
    let consent_given = interaction.consented && session.as_ref().is_some_and(same_user);
    let consent = Consent {
        covered: consented || consent_given,
        fresh: consent_given,
    };
    let decision = decide(
        request,
        client,
        signed_in,
        hint_subject.as_deref(),
        consent,
        now,
    );
    match decision {
        Decision::Fail(e) => Ok(Next::Refuse(e)),
        Decision::Login => interact(interaction, (Step::Login, None), ctx.tokens.now, batch),
        Decision::StepUp => match session {
            Some(s) => step_up(ctx, interaction, &s, batch),
            None => Err(OAuthError::internal(
                "asking for a step-up",
                "the decision to step up came without a session",
            )),
        },
        Decision::Consent => {
            let subject = session.as_ref().map(|s| s.subject.clone());
            interact(interaction, (Step::Consent, subject), ctx.tokens.now, batch)
        }
        Decision::Issue => match (session, acr) {
            (Some(session), AcrCheck::Met(acr)) if interaction.flow == Flow::Device => {
                approve_device(ctx, &interaction, (&session, acr), batch).await
            }
            (Some(session), AcrCheck::Met(acr)) => {
                let request = &interaction.request;
                let issued = issue(ctx, client, (request, &session, acr), batch).await?;
                Ok(Next::Respond(issued))
            }
            _ => Err(OAuthError::internal(
                "issuing an authorization response",
                "the decision to issue came without a session at the required level",
            )),
        },
    }
}

/// Records the approval of the device authorization `interaction` decides (RFC 8628 §3.3) for
/// the session's user, as a write of `batch`; when it was decided or expired meanwhile, the
/// user is told so (`expired_token`).
async fn approve_device(
    ctx: &FlowContext<'_>,
    interaction: &Interaction,
    (session, acr): (&Session, Option<String>),
    batch: &mut WriteBatch,
) -> Result<Next, OAuthError> {
    let t = &ctx.tokens;
    let gone = || {
        Next::Refuse(OAuthError::ExpiredToken(
            "the code has expired or was used already; start again on the device".into(),
        ))
    };
    let Some(device) = &interaction.device else {
        return Err(OAuthError::internal(
            "approving a device",
            "a device interaction without its device",
        ));
    };
    let Some(pending) = pending_by_digest(t.grants, &device.digest, t.now).await? else {
        return Ok(gone());
    };
    let request = &interaction.request;
    let audiences = user_audiences(t.issuer, t.resources, &request.scopes, &request.resources)?;
    let sign_in = session_data(session)?;
    let approval = Approval {
        subject: session.subject.clone(),
        audiences,
        sign_in: SignIn {
            auth_time: session.auth_time,
            amr: sign_in.amr,
            acr,
            idp: sign_in.idp,
            sid: None,
        },
        acr_in_id_token: request.acr.requested,
    };
    batch.push(pending.decide(DeviceDecision::Approved(Box::new(approval)))?);
    Ok(Next::Approved)
}

/// The browser's session, if its user is still active (a disabled or deleted user's session
/// no longer signs anyone in).
async fn active_session(
    ctx: &FlowContext<'_>,
    session: Option<Session>,
) -> Result<Option<Session>, OAuthError> {
    let Some(s) = session else {
        return Ok(None);
    };
    let user = ctx.users.find_user_by_subject(&s.subject).await?;
    Ok(user.filter(|u| !u.disabled).map(|_| s))
}

/// Whether `subject`'s remembered consent covers the request, for a client that asks for it.
async fn remembered_covers(
    ctx: &FlowContext<'_>,
    client: &Client,
    request: &AuthorizationRequest,
    subject: &str,
) -> Result<bool, OAuthError> {
    if !client.settings.require_consent {
        return Ok(false);
    }
    let t = &ctx.tokens;
    let remembered = remembered_consent(t.grants, subject, &client.client_id, t.now).await?;
    Ok(remembered.covers(&request.scopes, &named_claims(t.resources, request)))
}

/// A step-up the request cannot have settles (`AcrCheck::settled`): when it allows no
/// interaction or the user just signed in (`no_step_up`), or when none of the user's factors
/// would reach a wanted level.
async fn settle_step_up(
    ctx: &FlowContext<'_>,
    check: AcrCheck,
    session: &Session,
    no_step_up: bool,
) -> Result<AcrCheck, OAuthError> {
    let AcrCheck::StepUp { wanted, .. } = &check else {
        return Ok(check);
    };
    if no_step_up {
        return Ok(check.settled());
    }
    let factors = ctx.factors.list_factors(&session.subject).await?;
    let prior = prior_sign_in(session)?;
    let offered = offered_methods(&factors);
    let reaching = methods_reaching(ctx.acr_levels, (Some(&prior), &[]), &offered, wanted);
    Ok(match reaching.is_empty() {
        true => check.settled(),
        false => check,
    })
}

/// The session's sign-in, as a step-up adds to it.
fn prior_sign_in(session: &Session) -> Result<PriorSignIn, OAuthError> {
    let data = session_data(session)?;
    Ok(PriorSignIn {
        amr: data.amr,
        idp: data.idp,
        acr: None,
        upstream: data.upstream,
        sid: Some(session.sid.clone()),
    })
}

/// Asks the session's user for a further factor, adding to the session's sign-in.
fn step_up(
    ctx: &FlowContext<'_>,
    mut interaction: Interaction,
    session: &Session,
    batch: &mut WriteBatch,
) -> Result<Next, OAuthError> {
    interaction.methods.clear();
    interaction.prior = Some(prior_sign_in(session)?);
    interaction.subject = Some(session.subject.clone());
    interact(interaction, (Step::Factor, None), ctx.tokens.now, batch)
}

/// After a first factor of `interaction`'s user: the second-factor page (its interaction a
/// write of `batch`) when the user has enrolled a second factor (every sign-in then uses it),
/// `None` when the sign-in is complete.
pub async fn ask_second_factor(
    ctx: &FlowContext<'_>,
    interaction: &Interaction,
    batch: &mut WriteBatch,
) -> Result<Option<Next>, OAuthError> {
    let Some(subject) = &interaction.subject else {
        return Ok(None);
    };
    if interaction.methods.iter().any(|m| m.is_second_factor()) {
        return Ok(None);
    }
    // A sign-in that is multi-factor by its own methods here (a passkey) needs nothing more. An
    // upstream provider's `amr` does not count: the user's own factors here are asked for
    // whatever the provider says of its sign-in.
    let so_far = crate::login::Authenticated::by(None, &interaction.methods, ctx.acr_levels);
    if so_far.amr.iter().any(|m| m == crate::login::MFA) {
        return Ok(None);
    }
    let factors = ctx.factors.list_factors(subject).await?;
    if offered_methods(&factors).is_empty() {
        return Ok(None);
    }
    let next = interact(
        interaction.clone(),
        (Step::Factor, None),
        ctx.tokens.now,
        batch,
    )?;
    Ok(Some(next))
}

/// The `sub` of the request's `id_token_hint`, when it has one that verifies. SEC-44, CVE-25:
/// a hint that fails its checks signs nobody in; without interaction the answer is
/// `login_required`, otherwise `invalid_request`.
fn verified_hint(
    ctx: &FlowContext<'_>,
    client: &Client,
    request: &AuthorizationRequest,
) -> Result<Option<String>, OAuthError> {
    let Some(hint) = &request.id_token_hint else {
        return Ok(None);
    };
    let t = &ctx.tokens;
    match id_token_hint_subject(hint, t.ring, t.issuer, &client.client_id, t.now) {
        Some(subject) => Ok(Some(subject)),
        None if request.prompt.contains(&Prompt::None) => Err(OAuthError::LoginRequired(
            "the id_token_hint is not valid".into(),
        )),
        None => Err(OAuthError::InvalidRequest(
            "the id_token_hint is not valid".into(),
        )),
    }
}

/// The interaction waiting on `step`, stored by `batch`; the consent page is for `subject`.
fn interact(
    mut interaction: Interaction,
    (step, subject): (Step, Option<String>),
    now: crate::clock::UnixTime,
    batch: &mut WriteBatch,
) -> Result<Next, OAuthError> {
    interaction.step = step;
    if step == Step::Consent {
        interaction.subject = subject;
    }
    let (handle, write) = page_record_write(interaction, now)?;
    batch.push(write);
    Ok(Next::Interact { step, handle })
}

/// What the code stands for: the request and the session's sign-in.
fn code_data(
    request: &AuthorizationRequest,
    session: &Session,
    audiences: Vec<String>,
    acr: Option<String>,
) -> Result<CodeData, OAuthError> {
    let sign_in = session_data(session)?;
    let (code_challenge, code_challenge_method) = match &request.code_challenge {
        Some((c, m)) => (Some(c.clone()), *m),
        None => (None, ChallengeMethod::S256),
    };
    Ok(CodeData {
        redirect_uri: request.redirect_uri.clone(),
        redirect_uri_presented: request.redirect_uri_presented,
        scopes: request.scopes.clone(),
        audiences,
        code_challenge,
        code_challenge_method,
        claims: request.claims.clone(),
        nonce: request.nonce.clone(),
        sign_in: SignIn {
            auth_time: session.auth_time,
            amr: sign_in.amr,
            acr,
            idp: sign_in.idp,
            sid: Some(session.sid.clone()),
        },
        acr_in_id_token: request.acr.requested,
        dpop_jkt: request.dpop_jkt.clone(),
        authorization_details: request.authorization_details.clone(),
    })
}

/// Issues the code (RFC 6749 §4.1.2) and the front-channel tokens the response type asks for
/// (OIDC Core §3.2.2.5, §3.3.2.5) for the session's user; `acr` is the authentication context
/// class its tokens carry. The code and the record of the session's client are writes of
/// `batch`.
async fn issue(
    ctx: &FlowContext<'_>,
    client: &Client,
    (request, session, acr): (&AuthorizationRequest, &Session, Option<String>),
    batch: &mut WriteBatch,
) -> Result<Issued, OAuthError> {
    let t = &ctx.tokens;
    let audiences = user_audiences(t.issuer, t.resources, &request.scopes, &request.resources)?;
    let data = code_data(request, session, audiences, acr)?;
    let rt = request.response_type;
    let code = match rt.code {
        true => {
            let (code, grant) = new_code(t, client, &session.subject, &data)?;
            batch.push(BatchWrite::Insert(grant));
            Some(code)
        }
        false => None,
    };
    let mut params: Vec<(&'static str, String)> = Vec::new();
    if rt.is_front_channel() {
        front_channel_params(
            ctx,
            client,
            request,
            (session, &data),
            code.as_deref(),
            &mut params,
        )
        .await?;
    }
    if let Some(code) = code {
        params.insert(0, ("code", code));
    }
    // Session Management 1.0 §3: the client watches this value through the check-session
    // iframe.
    let opbs = browser_state(session)?;
    if let Ok(uri) = url::Url::parse(&request.redirect_uri) {
        let origin = uri.origin().ascii_serialization();
        params.push((
            "session_state",
            session_state(&client.client_id, &origin, &opbs)?,
        ));
    }
    batch.push(session_client_write(session, &client.client_id, t.now)?);
    Ok(Issued {
        params,
        browser_state: opbs,
        session_lifetime: session.absolute_expires_at - t.now,
    })
}

/// The access and identity tokens of an implicit or hybrid response, as parameters.
async fn front_channel_params(
    ctx: &FlowContext<'_>,
    client: &Client,
    request: &AuthorizationRequest,
    (session, data): (&Session, &CodeData),
    code: Option<&str>,
    params: &mut Vec<(&'static str, String)>,
) -> Result<(), OAuthError> {
    // SEC-26: the user behind the session is still active (checked in `proceed`).
    let user = ctx
        .users
        .find_user_by_subject(&session.subject)
        .await?
        .ok_or_else(|| OAuthError::internal("issuing front-channel tokens", "the user is gone"))?;
    let tokens = issue_front_channel(
        &ctx.tokens,
        client,
        request,
        data.audiences.clone(),
        &FrontChannelUser {
            user: &user,
            sign_in: data.sign_in.clone(),
            acr_in_id_token: data.acr_in_id_token,
        },
        code,
    )
    .await?;
    if let Some(access) = tokens.access {
        // RFC 6749 §4.2.2
        params.push(("access_token", access.token));
        params.push(("token_type", TokenType::Bearer.as_str().into()));
        params.push(("expires_in", access.expires_in.to_string()));
        params.push(("scope", access.scope));
    }
    if let Some(id_token) = tokens.id_token {
        params.push(("id_token", id_token));
    }
    Ok(())
}
