//! Authentication factors beyond the password: what a second factor checks, independent of how
//! it is enrolled, stored or shown.

pub mod recovery;
pub mod totp;
