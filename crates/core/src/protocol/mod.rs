//! The wire vocabulary of OAuth 2.x and OpenID Connect: errors, endpoint paths, metadata.

pub mod context;
pub mod discovery;
pub mod error;
pub mod form;
pub mod grant_type;
pub mod origin;
pub mod pkce;
pub mod redirect;
pub mod scope;
pub mod token;

pub use error::{Cause, OAuthError, OrServerError};

/// Endpoint paths, relative to the issuer. These are a contract: clients find them through
/// discovery, but operators also put them in proxies and firewalls.
pub mod paths {
    /// OpenID Connect Discovery 1.0 §4.
    pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
    /// RFC 8414 §3.
    pub const OAUTH_AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";
    /// The JSON Web Key Set (RFC 7517 §5) with the public signing keys.
    pub const JWKS: &str = "/.well-known/jwks.json";
    /// Authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2).
    pub const AUTHORIZE: &str = "/authorize";
    /// Token endpoint (RFC 6749 §3.2).
    pub const TOKEN: &str = "/token";
    /// Backchannel authentication endpoint (OpenID CIBA Core §7).
    pub const BC_AUTHORIZE: &str = "/bc-authorize";
    /// Where a user approves a backchannel authentication request.
    pub const CIBA_APPROVE: &str = "/ciba/approve";
    /// Pushed authorization request endpoint (RFC 9126 §2).
    pub const PAR: &str = "/par";
    /// Introspection endpoint (RFC 7662 §2).
    pub const INTROSPECT: &str = "/introspect";
    /// Revocation endpoint (RFC 7009 §2).
    pub const REVOKE: &str = "/revoke";
    /// Device authorization endpoint (RFC 8628 §3.1).
    pub const DEVICE_AUTHORIZATION: &str = "/device_authorization";
    /// Where the user enters a device's user code (RFC 8628 §3.3 `verification_uri`).
    pub const DEVICE: &str = "/device";
    /// UserInfo endpoint (OIDC Core §5.3).
    pub const USERINFO: &str = "/userinfo";
    /// Dynamic client registration (RFC 7591 §3); a client's configuration endpoint is under
    /// it (RFC 7592 §2).
    pub const REGISTER: &str = "/register";
    /// The Prometheus exposition.
    pub const METRICS: &str = "/metrics";
    /// The admin API's OpenAPI document.
    pub const ADMIN_OPENAPI: &str = "/admin/openapi.json";
    /// End-session endpoint (OpenID Connect RP-Initiated Logout 1.0 §2).
    pub const END_SESSION: &str = "/end_session";
    /// Where the sign-out confirmation form is posted.
    pub const END_SESSION_CONFIRM: &str = "/end_session/confirm";
    /// The check-session iframe (OpenID Connect Session Management 1.0 §3.2).
    pub const CHECK_SESSION: &str = "/check_session";
    /// Its script.
    pub const CHECK_SESSION_SCRIPT: &str = "/assets/check_session.js";
    /// The login page.
    pub const LOGIN: &str = "/login";
    /// The second-factor page.
    pub const LOGIN_FACTOR: &str = "/login/factor";
    /// The consent page.
    pub const CONSENT: &str = "/consent";
    /// Linking a first upstream sign-in to an existing account.
    pub const FEDERATION_LINK: &str = "/federation/link";
    /// The account page.
    pub const ACCOUNT: &str = "/account";
    /// Signing in again on the account page.
    pub const ACCOUNT_SIGN_IN: &str = "/account/signin";
    /// Changing one's password.
    pub const ACCOUNT_PASSWORD: &str = "/account/password";
    /// Beginning an authenticator app's enrolment.
    pub const ACCOUNT_TOTP_NEW: &str = "/account/totp/new";
    /// Confirming an authenticator app's enrolment.
    pub const ACCOUNT_TOTP: &str = "/account/totp";
    /// New recovery codes.
    pub const ACCOUNT_RECOVERY: &str = "/account/recovery";
    /// Removing a factor.
    pub const ACCOUNT_FACTOR_REMOVE: &str = "/account/factors/remove";
    /// Ending one of one's sessions.
    pub const ACCOUNT_SESSION_END: &str = "/account/sessions/end";
    /// Asking for a password reset link by mail.
    pub const PASSWORD_FORGOT: &str = "/password/forgot";
    /// Where a mailed reset link leads: the form for the new password.
    pub const PASSWORD_RESET: &str = "/password/reset";
    /// Stylesheet of the pages.
    pub const STYLE: &str = "/assets/style.css";
    /// The script of the signed-out page.
    pub const SIGNED_OUT_SCRIPT: &str = "/assets/signed_out.js";
    /// The script of the form_post response page.
    pub const FORM_POST_SCRIPT: &str = "/assets/form_post.js";
}
