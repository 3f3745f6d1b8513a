//! The authorization endpoint's protocol logic (RFC 6749 §4.1, OIDC Core §3.1.2), without HTTP.

pub mod request;

pub use request::{
    AuthorizationRequest, AuthorizeError, Prompt, ResponseMode, parse_authorization_request,
};
