//! Access-token validation for APIs protected by Tessera.
//!
//! Put [`TokenValidationLayer`] in front of an axum router: it reads the bearer token
//! (RFC 6750 §2.1), validates it, and hands the verified [`Claims`] to handlers as a request
//! extension. [`RequireScopeLayer`] then refuses tokens without a scope (RFC 6750 §3.1
//! `insufficient_scope`).
//!
//! - JWT access tokens (RFC 9068) are verified against the issuer's JWKS, fetched once and
//!   cached; an unknown `kid` triggers a refetch, at most once per `jwks_refetch_interval`.
//!   Checks: `typ` is `at+jwt`, the algorithm is on the allow-list, `iss`, `aud`, `exp` and
//!   `nbf` with a small leeway.
//! - A token bound to a DPoP key (`cnf.jkt`, RFC 9449) is accepted only with the `DPoP`
//!   scheme and a fresh proof of that key for this request (`htm`, `htu` from
//!   [`ValidationConfig::with_public_url`], `iat`, `ath`, each proof once); as a bearer token
//!   it is refused, and the challenge names the `DPoP` scheme (§7.1).
//! - Reference tokens are sent to the introspection endpoint (RFC 7662), authenticated with the
//!   API's own name and secret; answers are cached briefly (`introspection_cache`), so a
//!   revocation takes effect within that time.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Extension, Router, routing::get};
//! use tessera_validation::{Claims, RequireScopeLayer, TokenValidationLayer, TokenValidator, ValidationConfig};
//!
//! # async fn run() {
//! let validator = Arc::new(
//!     TokenValidator::new(
//!         ValidationConfig::new("https://id.example.com", "urn:api1")
//!             .with_introspection("urn:api1", "api1-secret"),
//!     )
//!     .expect("an HTTP client"),
//! );
//! let app: Router = Router::new()
//!     .route("/api/protected", get(|Extension(claims): Extension<Claims>| async move { claims.subject }))
//!     .layer(RequireScopeLayer::new("api1.read"))
//!     .layer(TokenValidationLayer::new(validator));
//! # }
//! ```

mod claims;
mod dpop;
mod layer;
mod validator;

pub use claims::Claims;
pub use jsonwebtoken::jwk::JwkSet;
pub use layer::{
    ClientCertificate, Guard, GuardLayer, Guarded, HasScope, RequireScopeLayer,
    TokenValidationLayer, ValidToken,
};
pub use validator::{KeySource, TokenValidator, ValidationConfig, ValidationError};
