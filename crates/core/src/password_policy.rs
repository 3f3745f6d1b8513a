//! The password policy for new passwords, wherever they are set (the account page, the CLI,
//! the configuration file), following NIST SP 800-63B §3.1.1.2 (rev. 4; §5.1.1.2 in rev. 3):
//! a minimum length, a generous maximum, any characters, no composition rules, and a check
//! against passwords commonly used or easily guessed (a bundled list of common passwords,
//! words, names and patterns, with the user's own name and e-mail address: zxcvbn's).

/// Fewest characters a new password may have (SP 800-63B: at least eight, fifteen when the
/// password is the only factor; operators who want more configure it).
pub const DEFAULT_MIN_LENGTH: usize = 8;
/// Most bytes a password may have (SP 800-63B: at least 64 characters allowed).
pub const MAX_BYTES: usize = 1024;
/// Characters of a password the guessability estimate looks at (it grows with the square of
/// the length; the rest only makes a password stronger).
const ESTIMATED_CHARS: usize = 100;
/// Fewest guesses a new password must need in zxcvbn's estimate: 10^6, below which it is a
/// common password or a small change of one (zxcvbn score 2 and up).
const MIN_GUESSES: u64 = 1_000_000;

/// Why a new password is refused: a message for the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRefusal {
    /// Too short.
    #[error("the password must have at least {0} characters")]
    TooShort(usize),
    /// Too long.
    #[error("the password must have at most {MAX_BYTES} bytes")]
    TooLong,
    /// Commonly used, or made of the user's name or address.
    #[error(
        "the password is too easy to guess: it is a common password or made of common words, names or your own details; choose another"
    )]
    Guessable,
}

/// Checks a new password for a user known by `context` (username, name, e-mail address).
pub fn check_new_password(
    password: &str,
    min_length: usize,
    context: &[&str],
) -> Result<(), PasswordRefusal> {
    if password.len() > MAX_BYTES {
        return Err(PasswordRefusal::TooLong);
    }
    // SP 800-63B: each Unicode code point counts as one character.
    if password.chars().count() < min_length.max(1) {
        return Err(PasswordRefusal::TooShort(min_length.max(1)));
    }
    let estimated: String = password.chars().take(ESTIMATED_CHARS).collect();
    let context: Vec<&str> = context.iter().copied().filter(|c| !c.is_empty()).collect();
    if zxcvbn::zxcvbn(&estimated, &context).guesses() < MIN_GUESSES {
        return Err(PasswordRefusal::Guessable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_common_and_personal_passwords_are_refused_and_good_ones_pass() {
        let check =
            |p: &str| check_new_password(p, DEFAULT_MIN_LENGTH, &["alice", "alice@example.com"]);
        assert_eq!(check("short"), Err(PasswordRefusal::TooShort(8)));
        for common in [
            "password1",
            "qwertyuiop",
            "iloveyou123",
            "alicealice",
            "12345678",
        ] {
            assert_eq!(check(common), Err(PasswordRefusal::Guessable), "{common}");
        }
        assert_eq!(
            check(&"x".repeat(MAX_BYTES + 1)),
            Err(PasswordRefusal::TooLong)
        );
        for good in [
            "correct horse battery staple",
            "vq7-Ltr9-KpZ2",
            "Zürich Ölkanne Teeglas",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        // Characters, not bytes: eight code points are enough.
        assert_eq!(check_new_password("ñøçµ∂ƒ©˙", 8, &[]), Ok(()));
    }
}
