//! Second factors on the account page: an authenticator app enrolled by QR code (RFC 6238;
//! the code it shows proves the app holds the secret before the factor counts), recovery
//! codes shown once and kept hashed, and removal. Each change needs a recent sign-in.

use axum::extract::State;
use axum::http::StatusCode;
use tessera_core::events::Event;
use tessera_core::factors::recovery::RecoveryCodes;
use tessera_core::factors::totp::TotpSecret;
use tessera_core::model::{Factor, FactorData, FactorKind};
use tessera_core::protocol::OAuthError;
use tessera_core::sessions::random_id;

use super::{Account, posted_account, render, sign_in_again};
use crate::http::AppState;
use crate::http::ui::error::{Page, PageForm};
use crate::http::ui::flow::see_other;

/// Longest label a user may give a factor.
const MAX_LABEL: usize = 64;
/// The label of an authenticator app the user did not name.
const DEFAULT_LABEL: &str = "Authenticator app";

/// What the enrolment form's secret is bound to (with the session's `sid`): the secret comes
/// back from the form unchanged, or not at all.
fn enrolment_purpose(account: &Account) -> String {
    format!("totp-enrolment:{}", account.session.sid)
}

/// `POST /account/totp/new`: a new secret, shown as a QR code and as text.
pub async fn begin_totp(State(state): State<AppState>, posted: PageForm) -> Page {
    let account = posted_account(&state, &posted).await?;
    if !account.recent {
        return Ok(sign_in_again(&state));
    }
    let secret = TotpSecret::generate()?;
    show_enrolment(&state, &account, &secret.base32(), DEFAULT_LABEL, None)
}

fn show_enrolment(
    state: &AppState,
    account: &Account,
    secret: &str,
    label: &str,
    error: Option<&str>,
) -> Page {
    let totp = TotpSecret::from_base32(secret)
        .ok_or_else(|| OAuthError::internal("showing an enrolment", "a bad secret"))?;
    let issuer = url::Url::parse(&state.config.issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| state.config.issuer.clone());
    let uri = totp.otpauth_uri(&issuer, &account.user.username);
    let qr = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| OAuthError::internal("drawing the enrolment QR code", e.to_string()))?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    let status = match error {
        Some(_) => StatusCode::BAD_REQUEST,
        None => StatusCode::OK,
    };
    Ok(state.pages.render(
        status,
        "account_totp.html",
        minijinja::context! {
            csrf => account.csrf,
            secret,
            secret_sig => state.cookie_mac.sign(&enrolment_purpose(account), secret),
            qr => minijinja::Value::from_safe_string(qr),
            uri,
            label,
            error,
        },
    ))
}

/// `POST /account/totp`: the app's current code confirms the enrolment. The first factor a
/// user enrols comes with recovery codes, shown once.
pub async fn confirm_totp(State(state): State<AppState>, posted: PageForm) -> Page {
    let account = posted_account(&state, &posted).await?;
    if !account.recent {
        return Ok(sign_in_again(&state));
    }
    let field = |name: &str| posted.form.one(name).ok().flatten().unwrap_or_default();
    let (secret, sig, code) = (field("secret"), field("secret_sig"), field("code"));
    let label = match field("label").trim() {
        "" => DEFAULT_LABEL,
        l if l.chars().count() > MAX_LABEL => DEFAULT_LABEL,
        l => l,
    };
    let purpose = enrolment_purpose(&account);
    if !state.cookie_mac.check(&purpose, secret, sig) {
        return Err(super::PageError::ACCOUNT_FORGED);
    }
    let totp = TotpSecret::from_base32(secret).ok_or(super::PageError::ACCOUNT_FORGED)?;
    let now = state.clock.now();
    let Some(step) = totp.verify(code, now, None) else {
        let error = "That code is not right. Enter the code your app shows now.";
        return show_enrolment(&state, &account, secret, label, Some(error));
    };
    let factor = Factor {
        id: random_id()?,
        subject: account.user.subject.clone(),
        label: label.to_string(),
        data: FactorData::Totp {
            secret: totp.base32(),
            last_step: Some(step),
        },
        version: 0,
        created_at: now,
        last_used_at: None,
    };
    state.store.insert_factor(&factor).await?;
    changed(&state, &account, FactorKind::Totp, true);
    let factors = state.store.list_factors(&account.user.subject).await?;
    if factors
        .iter()
        .any(|f| f.kind() == FactorKind::RecoveryCodes)
    {
        return Ok(see_other(&state.account_url("?done=totp")));
    }
    new_recovery_codes(&state, &account).await
}

/// `POST /account/recovery`: a new set of recovery codes replaces the old one.
pub async fn renew_recovery_codes(State(state): State<AppState>, posted: PageForm) -> Page {
    let account = posted_account(&state, &posted).await?;
    if !account.recent {
        return Ok(sign_in_again(&state));
    }
    new_recovery_codes(&state, &account).await
}

/// Makes, stores and shows (once) a new set of recovery codes; the old set goes.
async fn new_recovery_codes(state: &AppState, account: &Account) -> Page {
    let subject = &account.user.subject;
    let codes = state.passwords.recovery_codes().await?;
    for old in state.store.list_factors(subject).await? {
        if old.kind() == FactorKind::RecoveryCodes {
            state.store.delete_factor(subject, &old.id).await?;
        }
    }
    let factor = Factor {
        id: random_id()?,
        subject: subject.clone(),
        label: "Recovery codes".into(),
        data: FactorData::RecoveryCodes {
            hashes: codes.hashes.clone(),
        },
        version: 0,
        created_at: state.clock.now(),
        last_used_at: None,
    };
    state.store.insert_factor(&factor).await?;
    changed(state, account, FactorKind::RecoveryCodes, true);
    Ok(state.pages.render(
        StatusCode::OK,
        "account_codes.html",
        minijinja::context! { codes => codes.shown },
    ))
}

/// `POST /account/factors/remove`: removes one factor. Recovery codes go with the last
/// authenticator: alone they would be a second factor the user never chose.
pub async fn remove_factor(State(state): State<AppState>, posted: PageForm) -> Page {
    let account = posted_account(&state, &posted).await?;
    if !account.recent {
        return Ok(sign_in_again(&state));
    }
    let id = posted.form.one("id").ok().flatten().unwrap_or_default();
    let subject = &account.user.subject;
    let factors = state.store.list_factors(subject).await?;
    let Some(factor) = factors.iter().find(|f| f.id == id) else {
        let error = "That factor was removed already.";
        return render(&state, StatusCode::OK, &account, None, Some(error)).await;
    };
    state.store.delete_factor(subject, &factor.id).await?;
    changed(&state, &account, factor.kind(), false);
    let authenticators_left = factors
        .iter()
        .any(|f| f.id != factor.id && f.kind() != FactorKind::RecoveryCodes);
    if !authenticators_left {
        for codes in factors
            .iter()
            .filter(|f| f.kind() == FactorKind::RecoveryCodes)
        {
            state.store.delete_factor(subject, &codes.id).await?;
        }
    }
    Ok(see_other(&state.account_url("?done=removed")))
}

fn changed(state: &AppState, account: &Account, kind: FactorKind, enrolled: bool) {
    state.events.emit(Event::FactorChanged {
        subject: &account.user.subject,
        kind,
        enrolled,
    });
}

impl crate::hashing::PasswordCheckers {
    /// A new set of recovery codes, hashed on these threads.
    pub async fn recovery_codes(&self) -> Result<RecoveryCodes, OAuthError> {
        self.run(RecoveryCodes::generate).await?.unwrap_or_else(|| {
            Err(OAuthError::internal(
                "making recovery codes",
                "the hashing job failed",
            ))
        })
    }
}
