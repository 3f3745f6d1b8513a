//! What an authorization request needs next: a sign-in, consent, or nothing more
//! (OIDC Core §3.1.2.3, §3.1.2.4), given the browser's session and the remembered consent.

use super::acr::AcrCheck;
use super::request::{AuthorizationRequest, Prompt};
use crate::clock::UnixTime;
use crate::model::Client;
use crate::protocol::OAuthError;

/// The signed-in user of the browser's session.
#[derive(Debug, Clone, Copy)]
pub struct SignedIn<'a> {
    /// The user.
    pub subject: &'a str,
    /// When they authenticated.
    pub auth_time: UnixTime,
    /// They signed in during this very request, so `prompt=login` and `max_age` are met.
    pub fresh: bool,
    /// How their sign-in stands against the request's `acr` (OIDC Core §5.5.1.1).
    pub acr: &'a AcrCheck,
}

/// The user's consent to what the request asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consent {
    /// Every requested scope and claim is consented to, remembered or just now.
    pub covered: bool,
    /// The consent was given during this request (meets `prompt=consent`).
    pub fresh: bool,
}

/// The next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Show the login page.
    Login,
    /// Ask the signed-in user for the factor that reaches the requested `acr` (a step-up: not a
    /// new password).
    StepUp,
    /// Show the consent page.
    Consent,
    /// Issue the authorization response.
    Issue,
    /// Answer the client with this error (`prompt=none` could not be met, or the hinted user
    /// is not the one signed in).
    Fail(OAuthError),
}

/// What the current state means for the request.
///
/// `hint_subject` is the `sub` of a verified `id_token_hint`.
pub fn decide(
    request: &AuthorizationRequest,
    client: &Client,
    signed_in: Option<SignedIn<'_>>,
    hint_subject: Option<&str>,
    consent: Consent,
    now: UnixTime,
) -> Decision {
    let prompt_none = request.prompt.contains(&Prompt::None);
    let reauthenticate = |s: &SignedIn<'_>| {
        // §3.1.2.1: prompt=login (and select_account, as there is one account per session)
        // asks for a new sign-in; max_age bounds the age of the last one (0: always).
        let prompted = request
            .prompt
            .iter()
            .any(|p| matches!(p, Prompt::Login | Prompt::SelectAccount));
        let too_old = request.max_age.is_some_and(|max| {
            max == 0 || now.saturating_sub(s.auth_time) > crate::clock::seconds(max)
        });
        !s.fresh && (prompted || too_old)
    };
    match signed_in {
        None if prompt_none => {
            return Decision::Fail(OAuthError::LoginRequired(
                "the user is not signed in".into(),
            ));
        }
        None => return Decision::Login,
        // §3.1.2.1 id_token_hint: the request is for the user the hint names.
        Some(s) if hint_subject.is_some_and(|h| h != s.subject) => {
            return if prompt_none || s.fresh {
                Decision::Fail(OAuthError::LoginRequired(
                    "the signed-in user is not the one the id_token_hint names".into(),
                ))
            } else {
                Decision::Login
            };
        }
        Some(s) if reauthenticate(&s) => {
            return if prompt_none {
                Decision::Fail(OAuthError::LoginRequired(
                    "the user must sign in again".into(),
                ))
            } else {
                Decision::Login
            };
        }
        // §5.5.1.1: an essential acr that cannot be met fails the authentication; one that a
        // further factor could reach asks for it (step-up), once. (A voluntary one that cannot
        // be had comes here settled: met at the level reached.)
        Some(s) => match s.acr {
            AcrCheck::Met(_) => {}
            AcrCheck::StepUp { .. } if prompt_none => {
                return Decision::Fail(OAuthError::LoginRequired(
                    "the requested acr needs a stronger sign-in".into(),
                ));
            }
            AcrCheck::StepUp { .. } if !s.fresh => return Decision::StepUp,
            AcrCheck::StepUp { .. } | AcrCheck::Unmet => {
                return Decision::Fail(OAuthError::UnmetAuthenticationRequirements(
                    "the sign-in does not meet the essential acr requested".into(),
                ));
            }
        },
    }
    // §3.1.2.1: prompt=consent asks even clients that skip consent otherwise. RFC 9396: the
    // authorization details of a request (a payment, an account) are the user's to allow
    // each time; remembered consent covers scopes and claims only.
    let wants_consent = !consent.fresh
        && (request.prompt.contains(&Prompt::Consent)
            || !request.authorization_details.is_empty()
            || (client.settings.require_consent && !consent.covered));
    match (wants_consent, prompt_none) {
        (true, true) => Decision::Fail(OAuthError::ConsentRequired(
            "the user has not consented to this request".into(),
        )),
        (true, false) => Decision::Consent,
        (false, _) => Decision::Issue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::ResponseMode;

    fn request(prompt: &[Prompt], max_age: Option<u64>) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "web".into(),
            redirect_uri: "https://app.example/cb".into(),
            redirect_uri_presented: true,
            response_mode: ResponseMode::Query,
            response_type: crate::authorize::ResponseType::CODE,
            scopes: vec!["openid".into()],
            state: None,
            nonce: None,
            code_challenge: None,
            prompt: prompt.to_vec(),
            max_age,
            login_hint: None,
            id_token_hint: None,
            ui_locales: None,
            acr_values: None,
            acr: Default::default(),
            resources: vec![],
            claims: Default::default(),
            idp_hint: None,
            dpop_jkt: None,
            response_alg: None,
            response_encryption: None,
            authorization_details: vec![],
            pushed: false,
        }
    }

    fn client(require_consent: bool) -> Client {
        Client::builder("web")
            .grant_types(&["authorization_code"])
            .scopes(&["openid"])
            .consent(require_consent)
            .lifetimes(60, 60)
            .build()
    }

    const NOW: UnixTime = 1_000_000;

    const MET: AcrCheck = AcrCheck::Met(None);

    fn user(auth_time: UnixTime, fresh: bool) -> Option<SignedIn<'static>> {
        Some(SignedIn {
            subject: "alice",
            auth_time,
            fresh,
            acr: &MET,
        })
    }

    fn consent(covered: bool, fresh: bool) -> Consent {
        Consent { covered, fresh }
    }

    #[test]
    fn steps() {
        let c = client(true);
        let d = |r: &AuthorizationRequest, s, hint, consented| {
            decide(r, &c, s, hint, consent(consented, false), NOW)
        };
        let plain = request(&[], None);
        assert_eq!(d(&plain, None, None, false), Decision::Login);
        assert_eq!(
            d(&plain, user(NOW - 10, false), None, false),
            Decision::Consent
        );
        assert_eq!(
            d(&plain, user(NOW - 10, false), None, true),
            Decision::Issue
        );
        // prompt=none never shows a page.
        let none = request(&[Prompt::None], None);
        assert_eq!(d(&none, None, None, true).code(), "login_required");
        assert_eq!(
            d(&none, user(NOW, false), None, false).code(),
            "consent_required"
        );
        assert_eq!(d(&none, user(NOW, false), None, true), Decision::Issue);
        // prompt=login and max_age force a new sign-in, once.
        let login = request(&[Prompt::Login], None);
        assert_eq!(d(&login, user(NOW, false), None, true), Decision::Login);
        assert_eq!(d(&login, user(NOW, true), None, true), Decision::Issue);
        let aged = request(&[], Some(60));
        assert_eq!(d(&aged, user(NOW - 61, false), None, true), Decision::Login);
        assert_eq!(d(&aged, user(NOW - 59, false), None, true), Decision::Issue);
        let zero = request(&[], Some(0));
        assert_eq!(d(&zero, user(NOW, false), None, true), Decision::Login);
        let none_aged = request(&[Prompt::None], Some(60));
        assert_eq!(
            d(&none_aged, user(NOW - 61, false), None, true).code(),
            "login_required"
        );
        // id_token_hint for another user.
        assert_eq!(
            d(&plain, user(NOW, false), Some("bob"), true),
            Decision::Login
        );
        assert_eq!(
            d(&plain, user(NOW, false), Some("alice"), true),
            Decision::Issue
        );
        assert_eq!(
            d(&none, user(NOW, false), Some("bob"), true).code(),
            "login_required"
        );
        // prompt=consent asks again, once.
        let consent = request(&[Prompt::Consent], None);
        assert_eq!(d(&consent, user(NOW, false), None, true), Decision::Consent);
        assert_eq!(
            decide(
                &consent,
                &c,
                user(NOW, false),
                None,
                self::consent(true, true),
                NOW
            ),
            Decision::Issue
        );
        // require_consent = false skips it.
        let trusted = client(false);
        assert_eq!(
            decide(
                &plain,
                &trusted,
                user(NOW, false),
                None,
                Consent::default(),
                NOW
            ),
            Decision::Issue
        );
        assert_eq!(
            decide(
                &consent,
                &trusted,
                user(NOW, false),
                None,
                Consent::default(),
                NOW
            ),
            Decision::Consent
        );
        // A max_age beyond i64 is simply very long.
        let huge = request(&[], Some(u64::MAX));
        assert_eq!(d(&huge, user(0, false), None, true), Decision::Issue);
    }

    #[test]
    fn unmet_essential_acr_is_an_error_never_ignored() {
        // OIDC Core §5.5.1.1; Unmet Authentication Requirements 1.0.
        let c = client(false);
        let plain = request(&[], None);
        let none = request(&[Prompt::None], None);
        let with = |check: &'static AcrCheck, fresh: bool| {
            Some(SignedIn {
                subject: "alice",
                auth_time: NOW,
                fresh,
                acr: check,
            })
        };
        static STEP_UP: AcrCheck = AcrCheck::StepUp {
            wanted: Vec::new(),
            essential: true,
            reached: None,
        };
        static UNMET: AcrCheck = AcrCheck::Unmet;
        let go = |r: &AuthorizationRequest, s| decide(r, &c, s, None, Consent::default(), NOW);
        assert_eq!(go(&plain, with(&STEP_UP, false)), Decision::StepUp);
        assert_eq!(
            go(&plain, with(&STEP_UP, true)).code(),
            "unmet_authentication_requirements"
        );
        assert_eq!(go(&none, with(&STEP_UP, false)).code(), "login_required");
        assert_eq!(
            go(&plain, with(&UNMET, false)).code(),
            "unmet_authentication_requirements"
        );
        assert_eq!(go(&plain, with(&MET, false)), Decision::Issue);
    }

    impl Decision {
        fn code(&self) -> &'static str {
            match self {
                Decision::Fail(e) => e.code(),
                _ => "no error",
            }
        }
    }
}
