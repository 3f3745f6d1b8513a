//! The authorization endpoint's protocol logic (RFC 6749 §4.1, OIDC Core §3.1.2), without HTTP.

pub mod acr;
pub mod claims;
pub mod decision;
pub mod details;
pub mod flow;
pub mod parked;
pub mod pushed;
pub mod request;
pub mod request_object;
pub mod response;
pub mod response_type;
pub mod steps;

pub use claims::{ClaimsRequest, parse_claims_parameter};
pub use decision::{Consent, Decision, SignedIn, decide};
pub use request::{
    AuthorizationRequest, AuthorizeError, Prompt, ResponseEncryption, ResponseMode, ResponseSigning,
};
pub use response::{AuthorizationResponse, response_location};
pub use response_type::ResponseType;
pub use steps::parse_authorization_request;
