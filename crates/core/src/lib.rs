//! Tessera's protocol core: the OAuth 2.x / OpenID Connect vocabulary, the domain model,
//! signing keys and JOSE, and the store traits with an in-memory implementation.
//!
//! Nothing here knows about HTTP or SQL; the server crate maps these types to the wire and
//! the store crates implement the traits.

pub mod authorize;
pub mod ciba;
pub mod clients;
pub mod clock;
pub mod crypto;
pub mod device;
pub mod dpop;
pub mod events;
pub mod factors;
pub mod federation;
pub mod grants;
pub mod login;
pub mod logout;
pub mod model;
pub mod password_policy;
pub mod password_reset;
pub mod passwords;
pub mod profile;
pub mod protocol;
pub mod resources;
pub mod secret;
pub mod sessions;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tokens;
pub mod userinfo;
pub mod users;

pub use clock::{Clock, FixedClock, SystemClock};
pub use secret::Secret;
