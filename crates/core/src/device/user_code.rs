//! User codes (RFC 8628 §6.1): short enough to type on a phone, from an alphabet without
//! vowels (no words are spelled) and without look-alike characters, compared
//! case-insensitively with dashes and spaces ignored.

use crate::crypto::{RandomError, random_bytes};

/// The alphabet: twenty consonants (RFC 8628 §6.1's example), so a code carries
/// 8 × log2(20) ≈ 34.6 bits.
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a code.
pub const LENGTH: usize = 8;
/// Longest input looked at: a code with dashes and spaces fits; more is not a code.
const MAX_INPUT: usize = 64;

/// A new user code, uniformly drawn, in its normal form (no dash).
pub fn new_user_code() -> Result<String, RandomError> {
    let mut code = String::with_capacity(LENGTH);
    while code.len() < LENGTH {
        for b in random_bytes(2 * LENGTH)? {
            // 240 = 12 × 20: rejecting the rest keeps every character equally likely.
            if b < 240 && code.len() < LENGTH {
                code.push(char::from(ALPHABET[usize::from(b % 20)]));
            }
        }
    }
    Ok(code)
}

/// The normal form of what a user typed, or `None` when it cannot be a user code: letters
/// upper-cased, dashes and whitespace dropped, every character from the alphabet.
pub fn normalize(input: &str) -> Option<String> {
    if input.len() > MAX_INPUT {
        return None;
    }
    let code: String = input
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = code.len() == LENGTH && code.bytes().all(|b| ALPHABET.contains(&b));
    valid.then_some(code)
}

/// How a code is shown: two groups of four (`BCDF-GHJK`).
pub fn display(code: &str) -> String {
    match code.split_at_checked(LENGTH / 2) {
        Some((a, b)) => format!("{a}-{b}"),
        None => code.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_drawn_from_the_alphabet() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let code = new_user_code().unwrap();
            assert_eq!(code.len(), LENGTH);
            assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
            assert_eq!(normalize(&display(&code)), Some(code.clone()));
            seen.insert(code);
        }
        assert_eq!(seen.len(), 200, "codes repeat");
    }

    #[test]
    fn typing_is_forgiven_but_nothing_else() {
        assert_eq!(normalize("bcdf-ghjk"), Some("BCDFGHJK".into()));
        assert_eq!(normalize(" BCDF GHJK "), Some("BCDFGHJK".into()));
        assert_eq!(normalize("B-C-D-F-G-H-J-K"), Some("BCDFGHJK".into()));
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ1",
            "BCDF_GHJK",
            "ＢCDF-GHJK",
            &"-".repeat(100),
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
        assert_eq!(display("BCDFGHJK"), "BCDF-GHJK");
    }
}
