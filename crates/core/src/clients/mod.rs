//! Clients: the rules a registration meets (RFC 7591 §2, OIDC Registration §2), and client
//! authentication (RFC 6749 §2.3, OIDC Core §9): what the request presents, and the check of it
//! against the registered client.

pub mod assertion;
pub mod authenticate;
pub mod credentials;
pub mod jwk;
pub mod manage;
pub mod metadata;
pub mod mtls;
pub mod registered;
pub mod registration;

pub use assertion::{AssertionAudience, RemoteKeys};
pub use authenticate::{authenticate_api, authenticate_client, secret_digest};
pub use credentials::PresentedCredentials;
pub use metadata::{ClientMetadata, MetadataProblem, ServerOffer, validate_client_metadata};
pub use mtls::PresentedCertificate;
