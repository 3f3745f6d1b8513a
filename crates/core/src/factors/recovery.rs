//! Recovery codes: single-use codes a user keeps for when their second factor is lost. They
//! are random (about 49 bits each) and shown once. NIST SP 800-63B §5.1.2.2: look-up secrets
//! of less than 112 bits are stored salted and hashed with a costly function, so each is kept
//! as an Argon2id hash, like a password. Checking one costs a hash per stored code: run it where
//! password checks run.

use crate::crypto::random_bytes;
use crate::passwords::{hash_password, verify_password};
use crate::protocol::{OAuthError, OrServerError as _};

/// Codes issued at a time.
pub const CODES: usize = 10;
/// Characters per code, shown as two groups of five.
const LENGTH: usize = 10;
/// Lower-case letters and digits without look-alikes (no 0/o, 1/l/i): easy to read back.
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";

/// A new set of codes: as the user is shown them once, and as they are stored.
#[derive(Clone)]
pub struct RecoveryCodes {
    /// To show, once: `xxxxx-xxxxx`.
    pub shown: Vec<String>,
    /// To store: one Argon2id hash per code, in the same order.
    pub hashes: Vec<String>,
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes({} codes)", self.shown.len())
    }
}

impl RecoveryCodes {
    /// A new set of [`CODES`] codes.
    pub fn generate() -> Result<RecoveryCodes, OAuthError> {
        let mut shown = Vec::with_capacity(CODES);
        while shown.len() < CODES {
            let code = random_code()?;
            if !shown.contains(&code) {
                shown.push(code);
            }
        }
        let hashes = shown
            .iter()
            .map(|c| hash_password(&normalize(c)).or_server_error("hashing a recovery code"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecoveryCodes { shown, hashes })
    }
}

/// One code, each character drawn without bias (bytes past the last whole multiple of the
/// alphabet's size are drawn again).
fn random_code() -> Result<String, OAuthError> {
    let limit = 256 - 256 % ALPHABET.len();
    let mut chars = Vec::with_capacity(LENGTH);
    while chars.len() < LENGTH {
        for b in random_bytes(LENGTH).or_server_error("drawing random bytes")? {
            if usize::from(b) < limit && chars.len() < LENGTH {
                chars.push(ALPHABET[usize::from(b) % ALPHABET.len()]);
            }
        }
    }
    let (first, second) = chars.split_at(LENGTH / 2);
    Ok(format!(
        "{}-{}",
        String::from_utf8_lossy(first),
        String::from_utf8_lossy(second)
    ))
}

/// A code as typed, made comparable: case, spaces and dashes do not matter.
fn normalize(presented: &str) -> String {
    presented
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `presented` has the shape of a recovery code (however it is typed): only then is
/// it worth checking against the stored hashes.
pub fn looks_like_recovery_code(presented: &str) -> bool {
    let code = normalize(presented);
    code.len() == LENGTH && code.bytes().all(|b| ALPHABET.contains(&b))
}

/// The index of the stored hash `presented` matches, if any. The caller removes the matched
/// one: a code is used once.
pub fn find_recovery_code(hashes: &[String], presented: &str) -> Option<usize> {
    if !looks_like_recovery_code(presented) {
        return None;
    }
    let presented = normalize(presented);
    hashes
        .iter()
        .position(|hash| verify_password(&presented, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_readable_and_found_however_they_are_typed() {
        let codes = RecoveryCodes::generate().unwrap();
        assert_eq!(codes.shown.len(), CODES);
        assert_eq!(codes.hashes.len(), CODES);
        for (i, code) in codes.shown.iter().enumerate() {
            assert_eq!(code.len(), LENGTH + 1);
            assert!(
                code.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)),
                "{code}"
            );
            assert!(codes.hashes[i].starts_with("$argon2id$"), "stored hashed");
            assert!(!codes.hashes[i].contains(&code[..5]));
        }
        // Checking costs a hash per stored code: a few are enough to show it.
        let first = &codes.shown[0];
        assert_eq!(find_recovery_code(&codes.hashes[..2], first), Some(0));
        let typed = format!(" {} ", codes.shown[1].to_uppercase().replace('-', " "));
        assert_eq!(find_recovery_code(&codes.hashes[..2], &typed), Some(1));
        assert_eq!(find_recovery_code(&codes.hashes[..2], "aaaaa-aaaaa"), None);
        assert_eq!(find_recovery_code(&codes.hashes, ""), None);
        assert!(!format!("{codes:?}").contains(&codes.shown[0]));
    }
}
