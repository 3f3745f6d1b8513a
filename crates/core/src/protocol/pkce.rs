//! Proof Key for Code Exchange (RFC 7636). S256 only: `plain` is refused (RFC 9700 §2.1.1,
//! SECURITY-STATUS.md SEC-17), and a missing method is never read as plain.

use crate::crypto::{base64url, constant_time_eq, sha256};

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`.
pub fn is_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.2 with S256: the challenge is base64url(SHA-256(verifier)), 43 characters.
pub fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The S256 challenge of a verifier (RFC 7636 §4.2).
pub fn s256_challenge(verifier: &str) -> String {
    base64url(&sha256(verifier.as_bytes()))
}

/// A stored challenge's method (RFC 7636 §4.3). Only `S256`: `plain` is refused (RFC 9700
/// §2.1.1; SEC-17), since it protects nothing once the authorization request is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ChallengeMethod {
    /// `S256`.
    S256,
}

/// RFC 7636 §4.6: whether `verifier` matches `challenge` under `method`.
pub fn verify_challenge(method: ChallengeMethod, challenge: &str, verifier: &str) -> bool {
    match method {
        ChallengeMethod::S256 => verify_s256(challenge, verifier),
    }
}

/// RFC 7636 §4.6: whether `verifier` matches the stored S256 `challenge`. A malformed verifier
/// never matches.
pub fn verify_s256(challenge: &str, verifier: &str) -> bool {
    is_code_verifier(verifier)
        && constant_time_eq(s256_challenge(verifier).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(s256_challenge(VERIFIER), CHALLENGE);
        assert!(is_s256_challenge(CHALLENGE));
        assert!(verify_s256(CHALLENGE, VERIFIER));
    }

    #[test]
    fn wrong_or_malformed_verifiers_fail() {
        assert!(!verify_s256(CHALLENGE, &VERIFIER.replace('d', "e")));
        // Plain PKCE: the challenge itself as verifier.
        assert!(!verify_s256(CHALLENGE, CHALLENGE));
        for bad in [
            "",
            "short",
            &"a".repeat(129),
            &format!("{}!", &VERIFIER[..43]),
            &format!("{} ", &VERIFIER[..43]),
        ] {
            assert!(!is_code_verifier(bad), "{bad:?}");
            assert!(!verify_s256(CHALLENGE, bad));
        }
        assert!(is_code_verifier(&"~._-".repeat(11)));
    }

    #[test]
    fn challenge_grammar() {
        assert!(!is_s256_challenge(&CHALLENGE[..42]));
        assert!(!is_s256_challenge(&format!("{}=", &CHALLENGE[..42])));
        assert!(!is_s256_challenge(&CHALLENGE.replace('-', "+")));
    }
}
